/**
 * The Windows example: a key in the strongest store the machine offers. The key store is given the
 * TPM provider (the Platform Crypto Provider on Windows), the CNG provider (keys used only inside
 * LSASS) and the legacy CryptoAPI provider; the policy prefers TPM, then CNG, and never goes below
 * the isolation floor. CryptoAPI is given but refused throughout: no policy here allows it. It prints
 * why each provider was chosen or refused, creates an RSA-2048 key, shows the isolation the key
 * actually got and how it was measured, signs, verifies with `node:crypto`, and deletes the key.
 *
 * ```sh
 * npm run build && node examples/windows-keys/dist/main.js                     # on Windows
 * npm run build && scripts/wine/node.sh examples/windows-keys/dist/main.js --floor in-process   # under Wine
 * ```
 *
 * Under Wine, CNG runs inside the process, so its keys are `in-process`: below the default floor
 * (`os-isolated`). `--floor in-process` lowers the floor for the run, and the example says so.
 */
import { verify } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createKeyStore, type IsolationLevel, isIsolationLevel, KeyStoreError } from '@keystore/core';
import { capiProvider } from '@keystore/provider-capi';
import { cngProvider } from '@keystore/provider-cng';
import { tpmProvider } from '@keystore/provider-tpm';

/** The floor from `--floor LEVEL` (default `os-isolated`, the SDK's own default). */
export function floorFrom(argv: readonly string[]): IsolationLevel {
  const i = argv.indexOf('--floor');
  const value = i >= 0 ? argv[i + 1] : undefined;
  if (value === undefined) return 'os-isolated';
  if (!isIsolationLevel(value)) throw new Error(`--floor takes an isolation level, not ${value}`);
  return value;
}

// Begin example
/** Runs the example, writing what happens to `log`. Returns true when a key was made and its signature verified. */
export async function main(argv: readonly string[] = [], log: (line: string) => void = console.log): Promise<boolean> {
  const floor = floorFrom(argv);
  if (floor !== 'os-isolated') log(`NOTE: the isolation floor is lowered to ${floor} for this run (--floor).`);
  const store = await createKeyStore({
    providers: [tpmProvider(), cngProvider(), capiProvider()],
    policy: { minimumIsolation: floor, providers: { prefer: ['tpm', 'cng'] } },
  });
  try {
    const explanation = await store.explain({ algorithm: 'RSA-2048' });
    for (const verdict of explanation.providers) {
      log(`${verdict.providerId}: ${verdict.eligible ? 'eligible' : 'refused'}: ${verdict.reasons.join('; ')}`);
    }
    let key: Awaited<ReturnType<typeof store.createKey>>;
    try {
      key = await store.createKey(`example-windows-${process.pid}`, { algorithm: 'RSA-2048' });
    } catch (err) {
      if (KeyStoreError.is(err, 'ERR_KEYSTORE_NO_PROVIDER')) {
        log(`No provider can keep the key at ${floor} or better here; nothing was created.`);
        return false;
      }
      throw err;
    }
    log(`Created ${key.ref}: isolation ${key.isolation.level}`);
    for (const line of key.isolation.evidence) log(`  ${line}`);
    const message = Buffer.from('signed where the app cannot read the key');
    const signature = await key.sign(message);
    const valid = verify('sha256', message, key.publicKey, signature);
    log(`Signature verified with node:crypto: ${valid ? 'valid' : 'INVALID'}`);
    await key.close();
    try {
      await store.deleteKey(key.ref);
      log(`Deleted ${key.ref}`);
    } catch (err) {
      // Wine's CNG keeps no keys and has no NCryptDeleteKey: there is nothing to delete.
      if (!KeyStoreError.is(err)) throw err;
      log(`Not deleted (${err.code}): ${err.message}`);
    }
    return valid;
  } finally {
    await store.close();
  }
}
// End example

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (ok) => process.exit(ok ? 0 : 1),
    (err: unknown) => {
      console.error(err);
      process.exit(2);
    },
  );
}
