// The seeded operation fuzzer (runOperationFuzz from @keystore/core/testing) over the CryptoAPI
// provider executing inside Windows Node under Wine, driven from here: random interleavings of
// create, import, open, list, sign, verify, decrypt, delete, export and close, with concurrent
// calls, aborted signals and stores closed mid-flight. Each store gets its own Windows Node process
// (a closed provider stays closed); keys persist in the Wine prefix across them. A Windows Node
// process that dies is a crash: its calls then reject, and it no longer answers a probe.
import type { KeyStore } from '@keystore/core';
import { createTestKeyStore, runOperationFuzz } from '@keystore/core/testing';
import { afterAll, describe, it } from 'vitest';
import { expectCleanFuzz } from '../../../test-support/fuzz.js';
import { startWineProvider, type WineProvider, wine } from '../../../test-support/wine.js';

const SEED = process.env.KEYSTORE_FUZZ_SEED === undefined ? 20261202 : Number(process.env.KEYSTORE_FUZZ_SEED);
const OPERATIONS = 2000;

const agents: WineProvider[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

/**
 * A store over the CryptoAPI provider in a new Windows Node process. The provider is disabled by
 * default: the app policy allows legacy CryptoAPI and lowers the floor to what it reaches.
 */
async function capiStore(): Promise<KeyStore> {
  const remote = await startWineProvider({
    module: 'packages/provider-capi/dist/index.cjs',
    options: { testPolicySources: { machinePolicy: null, registryPolicy: null } },
  });
  agents.push(remote);
  return createTestKeyStore({
    providers: [remote],
    policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' },
    machinePolicy: null,
    registryPolicy: null,
  });
}

/** Whether every Windows Node process started still answers (a probe never rejects unless it is gone). */
async function agentsAlive(): Promise<boolean> {
  const answers = await Promise.all(
    agents.map((a) =>
      a.probe().then(
        () => true,
        () => false,
      ),
    ),
  );
  return answers.every(Boolean);
}

describe.skipIf(!wine.available)(`operation fuzz: capi in Windows Node (needs Wine: ${wine.reason})`, () => {
  it(`${OPERATIONS} random operations: no crash, no hang, only KeyStoreErrors, no key lost`, async () => {
    const report = await runOperationFuzz({
      openStore: capiStore,
      isAlive: agentsAlive,
      // RSA only (CryptoAPI's enhanced provider); RSA-2048 most often, as larger keys take long to make.
      algorithms: ['RSA-2048', 'RSA-2048', 'RSA-2048', 'RSA-3072'],
      // PKCS#1 v1.5 only: CryptSignHash has no PSS. Each closed store costs a Windows Node start.
      paddings: ['pkcs1'],
      weights: { closeStore: 0.15 },
      seed: SEED,
      operations: OPERATIONS,
      timeLimitMs: 150_000,
      callLimitMs: 30_000,
    });
    expectCleanFuzz('capi under Wine', report, OPERATIONS);
  }, 240_000);
});
