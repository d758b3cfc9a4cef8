// `npm run bench`: every benchmark of the repository, each reporting ratios against a baseline
// measured in the same run. `npm run bench -- startup memory` runs only the parts named (core,
// startup, memory, pool, tpm, capi, pkcs11). The TPM parts (tpm, pool, and memory's TPM row) run when
// swtpm is present; the CryptoAPI one when Wine and mingw-w64 are; the PKCS#11 one when SoftHSM2, gcc
// and p11-kit's header are.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PARTS = ['core', 'startup', 'memory', 'pool', 'tpm', 'capi', 'pkcs11'];
const asked = process.argv.slice(2);
const unknown = asked.filter((p) => !PARTS.includes(p));
if (unknown.length > 0) {
  console.error(`unknown benchmark part(s): ${unknown.join(', ')}; the parts are: ${PARTS.join(', ')}`);
  process.exit(2);
}
const parts = asked.length > 0 ? PARTS.filter((p) => asked.includes(p)) : PARTS;

let first = true;
for (const part of parts) {
  const file = fileURLToPath(new URL(`./${part}.mjs`, import.meta.url));
  if (!existsSync(file)) continue;
  if (!first) console.log('');
  first = false;
  const mod = await import(`./${part}.mjs`);
  if (typeof mod.run === 'function') await mod.run();
}
