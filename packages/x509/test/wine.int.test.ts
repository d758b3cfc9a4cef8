// CSRs, certificates and JWTs signed by CNG and CryptoAPI keys in Windows Node under Wine (the
// providers' calls run there; the facade, @peculiar/x509 and the checks run here), judged by openssl,
// Node's X509Certificate and jose. Wine 8.0's ncrypt makes RSA keys only (no ECC); CryptoAPI signs
// PKCS#1 v1.5 only (no PSS).
import { createTestKeyStore } from '@keystore/core/testing';
import { describe } from 'vitest';
import { startWineProvider, type WineProvider, wine } from '../../../test-support/wine.js';
import { defineInteropSuite, HAVE_OPENSSL } from './helpers/interop.js';

const READY = wine.available && HAVE_OPENSSL;
const because = READY ? '' : ` (needs Wine: ${wine.reason}; and openssl)`;

for (const [id, module, jws, extra] of [
  ['cng', 'packages/provider-cng/dist/index.cjs', ['RS256', 'PS256'], {}],
  ['capi', 'packages/provider-capi/dist/index.cjs', ['RS256'], { legacyCryptoApi: 'allow' as const }],
] as const) {
  describe.skipIf(!READY)(
    `${id} keys in Windows Node under Wine: openssl, Node and jose accept what they sign${because}`,
    () => {
      let remote: WineProvider | undefined;
      defineInteropSuite({
        open: async () => {
          remote = await startWineProvider({
            module,
            ...(id === 'capi' ? { options: { testPolicySources: { machinePolicy: null, registryPolicy: null } } } : {}),
          });
          return createTestKeyStore({
            providers: [remote],
            policy: { minimumIsolation: 'none', ...extra },
            machinePolicy: null,
            registryPolicy: null,
          });
        },
        close: async (store) => {
          await store?.close();
          await remote?.stop();
        },
        algorithms: ['RSA-2048'],
        jws: { 'RSA-2048': jws },
      });
    },
  );
}
