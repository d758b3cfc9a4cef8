// CSRs, certificates and JWTs from keys of the in-memory provider, judged by openssl, Node's
// X509Certificate and jose.
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
import { describe } from 'vitest';
import { defineInteropSuite, HAVE_OPENSSL } from './helpers/interop.js';

describe.skipIf(!HAVE_OPENSSL)(
  `in-memory provider: openssl, Node and jose accept what the keys sign${HAVE_OPENSSL ? '' : ' (needs openssl on the PATH)'}`,
  () => {
    defineInteropSuite({
      open: () =>
        createTestKeyStore({
          providers: [createMemoryProvider()],
          policy: { minimumIsolation: 'none' },
          machinePolicy: null,
          registryPolicy: null,
        }),
      close: async (store) => store?.close(),
      algorithms: ['ECDSA-P256', 'ECDSA-P384', 'ECDSA-P521', 'RSA-2048'],
    });
  },
);
