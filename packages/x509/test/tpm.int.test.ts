// CSRs, certificates and JWTs from TPM keys on swtpm (ECDSA-P256, ECDSA-P384, RSA-2048), signed in
// the TPM through the WebCrypto facade and judged by openssl, Node's X509Certificate and jose.
import { createTestKeyStore } from '@keystore/core/testing';
import { tpmProvider } from '@keystore/provider-tpm';
import { describe } from 'vitest';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from '../../provider-tpm/test/helpers/swtpm.js';
import { defineInteropSuite, HAVE_OPENSSL } from './helpers/interop.js';

const READY = HAVE_SWTPM && HAVE_OPENSSL;
if (process.env.KEYSTORE_REQUIRE_SWTPM === '1' && !HAVE_OPENSSL) {
  throw new Error('KEYSTORE_REQUIRE_SWTPM=1 but openssl is missing, so the TPM interop checks cannot run');
}

describe.skipIf(!READY)(
  `TPM keys on swtpm: openssl, Node and jose accept what they sign${READY ? '' : ` (${NEEDS_SWTPM}; and openssl)`}`,
  () => {
    let tpm: SwtpmInstance | undefined;
    defineInteropSuite({
      open: async () => {
        tpm = await startSwtpm();
        return createTestKeyStore({
          providers: [tpmProvider({ configFile: tpm.configFile })],
          policy: { minimumIsolation: 'none' },
          machinePolicy: null,
          registryPolicy: null,
        });
      },
      close: async (store) => {
        await store?.close();
        await tpm?.dispose();
      },
      algorithms: ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048'],
    });
  },
);
