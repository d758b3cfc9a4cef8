import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { pkcs11Provider } from '../src/index.js';
import { createSoftHsmToken, HAVE_SOFTHSM, NEEDS_SOFTHSM, type SoftHsmToken } from './helpers/softhsm.js';

let token: SoftHsmToken | undefined;

afterAll(() => token?.dispose());

describe.skipIf(!HAVE_SOFTHSM)(`provider conformance on SoftHSM2${HAVE_SOFTHSM ? '' : ` (${NEEDS_SOFTHSM})`}`, () => {
  defineProviderConformanceSuite({
    name: 'pkcs11 on SoftHSM2',
    createProvider: () => {
      token = createSoftHsmToken();
      return pkcs11Provider({ module: token.module, tokenLabel: token.label, pin: token.pin, oaepHashes: ['sha1'] });
    },
    test: { describe, it, beforeAll, afterAll },
    algorithms: [
      'RSA-2048',
      'RSA-3072',
      'RSA-4096',
      'ECDSA-P256',
      'ECDSA-P384',
      'ECDSA-P521',
      'ECDH-P256',
      'ECDH-P384',
      'ECDH-P521',
    ],
    // SoftHSM2 2.6 decrypts RSA-OAEP with SHA-1 only (C_DecryptInit answers CKR_ARGUMENTS_BAD for the
    // others): the provider is told so through oaepHashes, as an app on that token would tell it.
    skip: {
      passwords: "token keys are protected by the token's user PIN, not a password of their own",
      machineScope: 'a token has no machine scope: its keys belong to whoever holds the user PIN',
    },
    timeout: 60_000,
  });
});
