// The provider conformance suite against the real provider, executing inside Windows Node under Wine
// (advapi32/rsaenh as Wine implements them), driven from here through the Wine harness.
import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startWineProvider, type WineProvider, wine } from '../../../test-support/wine.js';

let remote: WineProvider | undefined;

afterAll(async () => {
  await remote?.stop();
});

describe.skipIf(!wine.available)(`provider conformance: capi in Windows Node (needs Wine: ${wine.reason})`, () => {
  defineProviderConformanceSuite({
    name: 'capi in Windows Node under Wine',
    createProvider: async () => {
      // The machine policy (file and registry) is the business of wine.int.test.ts: none here.
      remote = await startWineProvider({
        module: 'packages/provider-capi/dist/index.cjs',
        options: { testPolicySources: { machinePolicy: null, registryPolicy: null } },
      });
      return remote;
    },
    test: { describe, it, beforeAll, afterAll },
    algorithms: ['RSA-2048', 'RSA-3072', 'RSA-4096'],
    skip: {
      pss: 'CryptoAPI signs RSA with PKCS#1 v1.5 only (CryptSignHash has no PSS)',
      passwords: 'CryptoAPI key containers have no passwords (CRYPT_USER_PROTECTED shows a prompt instead)',
    },
    timeout: 60_000,
  });
});
