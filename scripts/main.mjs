// `npm start`: builds the packages quietly (their output is shown only when the build fails), then
// runs `keystore doctor` (what this machine offers, under the default policy and any machine policy),
// then the basic example under its explicit development policy.
//
// The build runs as `npm run build` through the npm that started this script (npm_execpath), or the
// `npm` on PATH when the script is run directly.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const node = process.execPath;

console.log('This builds the keystore packages, then shows two things: what this machine offers for keeping');
console.log('private keys (`keystore doctor`: every provider, and why it qualifies or not under the default');
console.log('policy), and the basic example creating, using and deleting a key under a development policy.');
console.log('');

const npmCli = process.env.npm_execpath;
const build =
  npmCli && /\.[cm]?js$/.test(npmCli)
    ? { command: node, args: [npmCli, 'run', 'build'] }
    : { command: process.platform === 'win32' ? 'npm.cmd' : 'npm', args: ['run', 'build'] };
process.stdout.write('Building the packages (this can take a few minutes; output shown only if the build fails)… ');
const built = spawnSync(build.command, build.args, {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
  shell: process.platform === 'win32',
});
if (built.error || built.status !== 0) {
  console.log('failed.');
  const why = built.error ? built.error.message : `exit code ${built.status ?? `signal ${built.signal}`}`;
  process.stderr.write(built.stdout ?? '');
  process.stderr.write(built.stderr ?? '');
  console.error(`\nnpm start: \`npm run build\` failed (${why}); its output is above.`);
  process.exit(built.status || 1);
}
console.log('done.');
console.log('');

console.log('$ keystore doctor');
const doctor = spawnSync(node, ['packages/cli/dist/bin.js', 'doctor'], { cwd: root, stdio: 'inherit' });
if (doctor.status === 3) {
  console.log('');
  console.log('(doctor exit 3: no installed provider meets the default isolation floor on this machine.');
  console.log(' The example below therefore runs under an explicit development policy.)');
} else if (doctor.status !== 0) {
  console.error(`keystore doctor failed with exit code ${doctor.status}`);
  process.exit(doctor.status ?? 1);
}

console.log('');
console.log('$ node examples/basic/dist/main.js');
const example = spawnSync(node, ['examples/basic/dist/main.js'], { cwd: root, stdio: 'inherit' });
process.exit(example.status ?? 1);
