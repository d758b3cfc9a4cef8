/**
 * The core's provider conformance suite, run against the TPM provider's Windows backend over the
 * NCrypt double in Platform Crypto Provider mode (PSS: one salt length, named by "PSS Salt Size";
 * SHA-384/512 PSS refused with NTE_NOT_SUPPORTED): what pcp.windows.test.ts runs on a Windows machine
 * with a TPM, with the same algorithms and skips, here on any OS.
 */
import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createNCryptDouble, createSystemDouble } from '../../provider-cng/test/helpers/ncrypt-double.js';
import { pcpProvider } from '../src/index.js';

const ncrypt = createNCryptDouble();
ncrypt.pcpPss = { tpmSalt: 'hash', saltSizeProperty: 2 };
const system = Object.assign(createSystemDouble({}), {
  tpmManufacturer: () => ({ ok: true as const, value: 'IFX' }),
});
const provider = pcpProvider({ bindings: { ncrypt: () => ncrypt, system: () => system } });

defineProviderConformanceSuite({
  name: 'tpm (Platform Crypto Provider) over the NCrypt double',
  test: { describe, it, beforeAll, afterAll },
  createProvider: () => provider,
  algorithms: ['RSA-2048', 'ECDSA-P256'],
  skip: {
    exportable: 'a TPM private key never leaves the TPM',
    derive: 'the TPM provider does not offer ECDH',
    importKey:
      'the Platform Crypto Provider takes no plaintext private key (importKeys: false): importKey refuses before any native call',
    passwords: 'PCP key passwords (PCP_USAGEAUTH) are not supported by this provider yet',
    machineScope: 'machine-scope TPM keys need an elevated runner; covered by the CNG machine-scope tests',
  },
  keyNamePrefix: 'pcp-double-',
});
