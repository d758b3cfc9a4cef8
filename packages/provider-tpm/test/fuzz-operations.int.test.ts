// The seeded operation fuzzer (runOperationFuzz from @keystore/core/testing) over the TPM provider
// on swtpm: random interleavings of create, open, list, sign, verify, decrypt, delete, export and
// close, with concurrent calls, aborted signals and stores closed mid-flight. The provider runs in
// this process: a native crash ends the test run, which fails it.
import type { KeyStore } from '@keystore/core';
import { createTestKeyStore, runOperationFuzz } from '@keystore/core/testing';
import { afterAll, describe, it } from 'vitest';
import { expectCleanFuzz } from '../../../test-support/fuzz.js';
import { tpmProvider } from '../src/index.js';
import { SIGN_PATHS } from './helpers/sign-paths.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const SEED = process.env.KEYSTORE_FUZZ_SEED === undefined ? 20261202 : Number(process.env.KEYSTORE_FUZZ_SEED);
const OPERATIONS = 2000;

const simulators: SwtpmInstance[] = [];

afterAll(async () => {
  for (const tpm of simulators) await tpm.dispose();
});

/** A store over a fresh TPM provider on the simulator; every store sees the same TPM's keys. */
function tpmStore(configFile: string, loadedKeys: number): Promise<KeyStore> {
  return createTestKeyStore({
    providers: [tpmProvider({ configFile, loadedKeys })],
    policy: { minimumIsolation: 'in-process' },
    machinePolicy: null,
    registryPolicy: null,
  });
}

const TITLE = `operation fuzz: tpm on swtpm, sign path $name${HAVE_SWTPM ? '' : ` (${NEEDS_SWTPM})`}`;

describe.skipIf(!HAVE_SWTPM).each(SIGN_PATHS)(TITLE, ({ name, loadedKeys }) => {
  it(`${OPERATIONS} random operations: no crash, no hang, only KeyStoreErrors, no key lost`, async () => {
    const tpm = await startSwtpm();
    simulators.push(tpm);
    const configFile = tpm.configFile;
    const report = await runOperationFuzz({
      openStore: () => tpmStore(configFile, loadedKeys),
      // ECDSA-P256 most often: RSA-2048 key generation on the simulator takes seconds.
      algorithms: ['ECDSA-P256', 'ECDSA-P256', 'ECDSA-P256', 'ECDSA-P384', 'RSA-2048'],
      // The TPM provider imports no keys; the store's refusal of an import is exercised elsewhere.
      weights: { import: 0 },
      seed: SEED,
      operations: OPERATIONS,
      timeLimitMs: 150_000,
      callLimitMs: 30_000,
    });
    expectCleanFuzz(`tpm on swtpm (${name})`, report, OPERATIONS);
  }, 240_000);
});
