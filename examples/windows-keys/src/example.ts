/**
 * The Windows example: a key in the strongest store the machine offers. The key store is given the
 * TPM provider (the Platform Crypto Provider on Windows), the CNG provider (keys used only inside
 * LSASS) and the legacy CryptoAPI provider; the policy prefers TPM, then CNG, and never goes below
 * the isolation floor. CryptoAPI is given but refused throughout: no policy here allows it. It prints
 * why each provider was selected or refused, creates an RSA-2048 key, shows the isolation the key
 * actually got and how it was measured, signs, verifies with `node:crypto`, and deletes the key.
 *
 * Under Wine, CNG runs inside the process, so its keys are `in-process`: below the default floor
 * (`os-isolated`). `--floor in-process` lowers the floor for the run, and the example says so; it
 * also says what Wine cannot do (it keeps no CNG keys, so there is nothing to delete).
 *
 * `main.ts` is the command-line entry that loads this file; see the README for how to run it.
 */
import { verify } from 'node:crypto';
import {
  createKeyStore,
  ISOLATION_LEVELS,
  type IsolationLevel,
  isIsolationLevel,
  KeyStoreError,
  type ProviderVerdict,
} from '@keystore/core';
import { capiProvider } from '@keystore/provider-capi';
import { cngProvider } from '@keystore/provider-cng';
import { tpmProvider } from '@keystore/provider-tpm';

/** A command line the example cannot use: the entry prints it on one line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The floor from `--floor LEVEL` (default `os-isolated`, the SDK's own default); anything else is a {@link UsageError}. */
export function floorFrom(argv: readonly string[]): IsolationLevel {
  let floor: IsolationLevel = 'os-isolated';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg !== '--floor') throw new UsageError(`unknown argument '${arg}'`);
    const value = argv[++i];
    if (value === undefined || !isIsolationLevel(value)) {
      throw new UsageError(
        `--floor takes one of ${ISOLATION_LEVELS.join(', ')}${value === undefined ? '' : ` (got '${value}')`}`,
      );
    }
    floor = value;
  }
  return floor;
}

/** The Wine version when the CNG provider reports it runs on Wine's ncrypt, else null. */
function wineVersionOf(verdicts: readonly ProviderVerdict[]): string | null {
  const details = verdicts.find((v) => v.providerId === 'cng')?.details;
  if (details?.platform !== 'wine') return null;
  return typeof details.wineVersion === 'string' ? details.wineVersion : 'unknown';
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
    const wine = wineVersionOf(explanation.providers);
    if (wine !== null) {
      log(
        `NOTE: running under Wine ${wine}, not Windows. Wine has no TPM, and its CNG runs inside this process ` +
          '(in-process, below the default floor os-isolated) and keeps no keys: a key lives only as long as its ' +
          'handle and cannot be opened or deleted later. On Windows the same run uses the TPM or LSASS.',
      );
    }
    for (const verdict of explanation.providers) {
      const status = verdict.selected ? 'selected' : verdict.eligible ? 'eligible' : 'refused';
      log(`${verdict.providerId}: ${status}: ${verdict.reasons.join('; ')}`);
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
      if (!KeyStoreError.is(err)) throw err;
      if (wine !== null && key.providerId === 'cng') {
        // Wine's CNG has no NCryptDeleteKey, and it never stored the key: closing the handle ended it.
        log(
          `Not deleted, and nothing to delete: Wine's CNG kept no key (it ended when its handle was closed) and has no NCryptDeleteKey (${err.code}).`,
        );
      } else {
        log(`Not deleted (${err.code}): ${err.message}`);
      }
    }
    return valid;
  } finally {
    await store.close();
  }
}
// End example
