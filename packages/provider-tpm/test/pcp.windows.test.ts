// The Platform Crypto Provider backend on real Windows with a TPM 2.0: the conformance suite over
// real TPM keys, and the TPM's limits as typed errors. It has not run from this repository's CI (no
// Windows there); the Windows workflow runs it, and it skips itself when the runner has no TPM.
import { KeyStoreError } from '@keystore/core';
import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pcpProvider } from '../src/index.js';

const onWindows = process.platform === 'win32';
const probe = onWindows ? await pcpProvider().probe() : undefined;
const reason = !onWindows
  ? 'needs Windows'
  : probe?.available
    ? `TPM found: ${JSON.stringify(probe.details ?? {})}`
    : `needs Windows with a TPM 2.0: ${probe?.reasons.join('; ')}`;
const ready = onWindows && probe?.available === true;

describe.skipIf(!ready)(`Platform Crypto Provider limits (${reason})`, () => {
  it('refuses RSA-4096 with a typed error before reaching the TPM', async () => {
    const provider = pcpProvider();
    const err = await provider
      .createKey({ name: 'pcp-4096', algorithm: 'RSA-4096', scope: 'user', exportable: false })
      .catch((e: unknown) => e);
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM')).toBe(true);
  });

  it("receipts each key with the level probe() measured, backed by the TPM's evidence", async () => {
    const provider = pcpProvider();
    const name = `pcp-receipt-${process.pid}`;
    const key = await provider.createKey({ name, algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    try {
      expect(key.isolation.level).toBe(probe?.isolation);
      expect(key.isolation.evidence.join(' ')).toMatch(/Tbsi_GetDeviceInfo reports a TPM 2\.0/);
      if (key.isolation.level === 'hardware') expect(probe?.details?.manufacturer).toBeTypeOf('string');
    } finally {
      await key.close();
      await provider.deleteKey({ name, scope: 'user' });
    }
  });
});

defineProviderConformanceSuite({
  name: `tpm (Platform Crypto Provider) on Windows (${reason})`,
  test: {
    describe: (name, fn) => describe.skipIf(!ready)(name, fn),
    it,
    beforeAll,
    afterAll,
  },
  createProvider: () => pcpProvider(),
  algorithms: ['RSA-2048', 'ECDSA-P256'],
  skip: {
    exportable: 'a TPM private key never leaves the TPM',
    derive: 'the TPM provider does not offer ECDH',
    importKey:
      'the Platform Crypto Provider takes no plaintext private key (importKeys: false): importKey refuses before any native call',
    passwords: 'PCP key passwords (PCP_USAGEAUTH) are not supported by this provider yet',
    machineScope: 'machine-scope TPM keys need an elevated runner; covered by the CNG machine-scope tests',
  },
  keyNamePrefix: `pcp-${process.pid}-`,
  timeout: 120_000,
});
