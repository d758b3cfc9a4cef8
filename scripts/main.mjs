// `npm start`: runs `keystore doctor` (what this machine offers, under the default
// policy and any machine policy), then the basic example under its explicit development policy.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const node = process.execPath;

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
