import { run } from './index.js';

// A reader that goes away early (`keystore doctor | head -1`) is not an error of this command.
const ignoreClosedPipe = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
};
process.stdout.on('error', ignoreClosedPipe);
process.stderr.on('error', ignoreClosedPipe);

// Ctrl-C (or SIGTERM) cancels the running key-store operation, which then ends with
// ERR_KEYSTORE_CANCELLED and exit code 130; a second Ctrl-C ends the process at once.
const interrupt = new AbortController();
const onSignal = (name: NodeJS.Signals) => {
  interrupt.abort(new Error(`interrupted by ${name}`));
  process.once(name, () => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

process.exitCode = await run(process.argv.slice(2), { signal: interrupt.signal });
