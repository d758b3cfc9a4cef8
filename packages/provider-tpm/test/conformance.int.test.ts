import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { tpmProvider } from '../src/index.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

let tpm: SwtpmInstance | undefined;

afterAll(async () => {
  await tpm?.dispose();
});

describe.skipIf(!HAVE_SWTPM)(`provider conformance on swtpm${HAVE_SWTPM ? '' : ` (${NEEDS_SWTPM})`}`, () => {
  defineProviderConformanceSuite({
    name: 'tpm on swtpm',
    createProvider: async () => {
      tpm = await startSwtpm();
      return tpmProvider({ configFile: tpm.configFile });
    },
    test: { describe, it, beforeAll, afterAll },
    algorithms: ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048'],
    skip: {
      exportable: 'the private part of a TPM key never leaves the TPM (fixedTPM); keys cannot be created exportable',
    },
    timeout: 30_000,
  });
});
