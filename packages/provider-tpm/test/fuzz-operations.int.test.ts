// The seeded operation fuzzer (runOperationFuzz from @keystore/core/testing) over the TPM provider
// on swtpm: random interleavings of create, open, list, sign, verify, decrypt, delete, export and
// close, with concurrent calls, aborted signals and stores closed mid-flight. The provider runs in
// this process: a native crash ends the test run, which fails it.
import { createKeyStore, type KeyStore } from '@keystore/core';
import { formatFuzzFailures, formatFuzzReport, runOperationFuzz } from '@keystore/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { tpmProvider } from '../src/index.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const SEED = process.env.KEYSTORE_FUZZ_SEED === undefined ? 20261202 : Number(process.env.KEYSTORE_FUZZ_SEED);
const OPERATIONS = 2000;

let tpm: SwtpmInstance | undefined;

afterAll(async () => {
  await tpm?.dispose();
});

/**
 * The store, except that a listing in which the provider could not list (`errors`: the store was
 * closed during the list, the TPM failed) rejects with that error. The store answers such a listing
 * with the keys of the providers that did answer, here none; the fuzzer reads only `keys`, and would
 * take the empty answer for every key lost.
 */
function listingFailuresReject(store: KeyStore): KeyStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'listKeys') {
        return async (options?: Parameters<KeyStore['listKeys']>[0]) => {
          const list = await target.listKeys(options);
          const failed = list.errors[0];
          if (failed) {
            throw failed.error;
          }
          return list;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A store over a fresh TPM provider on the simulator; every store sees the same TPM's keys. */
async function tpmStore(configFile: string): Promise<KeyStore> {
  const store = await createKeyStore({
    providers: [tpmProvider({ configFile })],
    policy: { minimumIsolation: 'in-process' },
    machinePolicy: null,
    registryPolicy: null,
  });
  return listingFailuresReject(store);
}

describe.skipIf(!HAVE_SWTPM)(`operation fuzz: tpm on swtpm${HAVE_SWTPM ? '' : ` (${NEEDS_SWTPM})`}`, () => {
  it(`${OPERATIONS} random operations: no crash, no hang, only KeyStoreErrors, no key lost`, async () => {
    tpm = await startSwtpm();
    const configFile = tpm.configFile;
    const report = await runOperationFuzz({
      openStore: () => tpmStore(configFile),
      // ECDSA-P256 most often: RSA-2048 key generation on the simulator takes seconds.
      algorithms: ['ECDSA-P256', 'ECDSA-P256', 'ECDSA-P256', 'ECDSA-P384', 'RSA-2048'],
      // The TPM provider imports no keys; the store's refusal of an import is exercised elsewhere.
      weights: { import: 0 },
      seed: SEED,
      operations: OPERATIONS,
      timeLimitMs: 150_000,
      callLimitMs: 30_000,
    });
    console.log(formatFuzzReport('tpm on swtpm', report), JSON.stringify(report.byCode));
    const failures = formatFuzzFailures(report, `KEYSTORE_FUZZ_SEED=${report.seed}`);
    expect(report.crashes, failures).toBe(0);
    expect(report.hangs, failures).toBe(0);
    expect(report.untypedErrors, failures).toBe(0);
    expect(report.keysLost, failures).toBe(0);
    expect(report.unexpectedKeys, failures).toBe(0);
    expect(report.wrongResults, failures).toBe(0);
    expect(report.operations, failures).toBe(OPERATIONS);
  }, 240_000);
});
