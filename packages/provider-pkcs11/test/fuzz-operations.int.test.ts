// The seeded operation fuzzer (runOperationFuzz from @keystore/core/testing) over the PKCS#11 provider
// on SoftHSM2: random interleavings of create, open, list, sign, verify, decrypt, derive, delete,
// export and close, with concurrent calls, aborted signals and stores closed mid-flight. The module
// runs in this process: a native crash ends the test run, which fails it.
import type { KeyStore } from '@keystore/core';
import { createTestKeyStore, runOperationFuzz } from '@keystore/core/testing';
import { afterAll, describe, it } from 'vitest';
import { expectCleanFuzz } from '../../../test-support/fuzz.js';
import { pkcs11Provider } from '../src/index.js';
import { createSoftHsmToken, HAVE_SOFTHSM, NEEDS_SOFTHSM, type SoftHsmToken } from './helpers/softhsm.js';

const SEED = process.env.KEYSTORE_FUZZ_SEED === undefined ? 20261202 : Number(process.env.KEYSTORE_FUZZ_SEED);
const OPERATIONS = 2000;

let token: SoftHsmToken | undefined;
afterAll(() => token?.dispose());

/** A store over a fresh provider on the token; every store sees the same token's keys. */
function store(t: SoftHsmToken): Promise<KeyStore> {
  return createTestKeyStore({
    // SoftHSM2 2.6 decrypts RSA-OAEP with SHA-1 only.
    providers: [pkcs11Provider({ module: t.module, tokenLabel: t.label, pin: t.pin, oaepHashes: ['sha1'] })],
    policy: { minimumIsolation: 'in-process' },
    machinePolicy: null,
    registryPolicy: null,
    env: {},
  });
}

describe.skipIf(!HAVE_SOFTHSM)(`operation fuzz: pkcs11 on SoftHSM2${HAVE_SOFTHSM ? '' : ` (${NEEDS_SOFTHSM})`}`, () => {
  it(`${OPERATIONS} random operations: no crash, no hang, only KeyStoreErrors, no key lost`, async () => {
    token = createSoftHsmToken();
    const t = token;
    const report = await runOperationFuzz({
      openStore: () => store(t),
      algorithms: ['ECDSA-P256', 'ECDSA-P256', 'ECDSA-P384', 'ECDH-P256', 'RSA-2048'],
      seed: SEED,
      operations: OPERATIONS,
      timeLimitMs: 150_000,
      callLimitMs: 30_000,
    });
    expectCleanFuzz('pkcs11 on SoftHSM2', report, OPERATIONS);
  }, 240_000);
});
