import { run } from './index.js';

// A reader that goes away early (`keystore doctor | head -1`) is not an error of this command.
const ignoreClosedPipe = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
};
process.stdout.on('error', ignoreClosedPipe);
process.stderr.on('error', ignoreClosedPipe);

process.exitCode = await run(process.argv.slice(2));
