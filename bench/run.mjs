// `npm run bench`: every benchmark of the repository, each reporting ratios against a baseline
// measured in the same run. The TPM benchmark runs when its package and swtpm are present; the
// CryptoAPI one when Wine and mingw-w64 are; the PKCS#11 one when SoftHSM2, gcc and p11-kit's header are.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { run: core } = await import('./core.mjs');
await core();

const tpm = fileURLToPath(new URL('./tpm.mjs', import.meta.url));
if (existsSync(tpm)) {
  console.log('');
  const mod = await import('./tpm.mjs');
  if (typeof mod.run === 'function') await mod.run();
}

const capi = fileURLToPath(new URL('./capi.mjs', import.meta.url));
if (existsSync(capi)) {
  console.log('');
  const mod = await import('./capi.mjs');
  if (typeof mod.run === 'function') await mod.run();
}

const pkcs11 = fileURLToPath(new URL('./pkcs11.mjs', import.meta.url));
if (existsSync(pkcs11)) {
  console.log('');
  const mod = await import('./pkcs11.mjs');
  if (typeof mod.run === 'function') await mod.run();
}
