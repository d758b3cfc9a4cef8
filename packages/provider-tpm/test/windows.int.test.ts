// The TPM provider inside Windows Node under Wine: tpmProvider() picks the Platform Crypto Provider
// backend there, and asks the TPM Base Services for real (Tbsi_GetDeviceInfo). Wine has no TPM, so
// this shows the backend saying so, with the status, instead of trusting NCryptOpenStorageProvider
// (which Wine lets open for any name). The manufacturer query (TPM2_GetCapability through TBS) runs
// for real too, and gets the same answer.
import { describe, expect, it } from 'vitest';
import { runWineScript, wine } from '../../../test-support/wine.js';

describe.skipIf(!wine.available)(`TPM provider on Windows Node under Wine (needs Wine: ${wine.reason})`, () => {
  it('is the Platform Crypto Provider backend, and reports no TPM from Tbsi_GetDeviceInfo', async () => {
    const run = await runWineScript(`
      const { tpmProvider, TpmProvider } = require('@keystore/provider-tpm');
      const native = require('@keystore/provider-cng/native');
      (async () => {
        const provider = tpmProvider();
        const probe = await provider.probe();
        let create;
        try {
          await provider.createKey({ name: 'pcp-under-wine', algorithm: 'RSA-2048', scope: 'user', exportable: false });
          create = 'created';
        } catch (err) {
          create = { code: err.code, message: err.message };
        }
        const opened = native.loadNCrypt().openStorageProvider(native.MS_PLATFORM_CRYPTO_PROVIDER);
        const manufacturer = native.loadWindowsSystem().tpmManufacturer();
        console.log(JSON.stringify({
          fapi: provider instanceof TpmProvider,
          id: provider.id,
          storageProvider: provider.storageProvider,
          probe,
          create,
          providerOpens: opened !== 0n,
          manufacturer,
        }));
      })().catch((err) => { console.error(err); process.exit(1); });
    `);
    expect(run.code, run.stderr).toBe(0);
    const out = run.json as {
      fapi: boolean;
      id: string;
      storageProvider: string;
      probe: { available: boolean; isolation: string; reasons: string[] };
      create: { code: string };
      providerOpens: boolean;
      manufacturer: { ok: boolean; status: number };
    };
    expect(out.fapi).toBe(false);
    expect(out.id).toBe('tpm');
    expect(out.storageProvider).toBe('Microsoft Platform Crypto Provider');
    // Wine opens the Platform Crypto Provider by name although there is no TPM …
    expect(out.providerOpens).toBe(true);
    // … and the backend still says unavailable, from the TPM Base Services' answer.
    expect(out.probe.available).toBe(false);
    expect(out.probe.isolation).toBe('none');
    expect(out.probe.reasons.join(' ')).toMatch(/TBS_E_TPM_NOT_FOUND \(0x8028400f\)/);
    expect(out.create.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    // TPM2_GetCapability through Tbsi_Context_Create / Tbsip_Submit_Command: no TPM to answer.
    expect(out.manufacturer).toMatchObject({ ok: false, status: 0x8028400f });
  });

  // The package loads provider-cng's engine only when tpmProvider() picks this backend (the import
  // does not: test-support/test/lazy-loading.test.ts); an ES module app must get the same copy that its own `import '@keystore/provider-cng'` gives (one
  // NCryptKeyStorage class, one @keystore/core), and a CommonJS app the CommonJS one.
  it('loads the CNG engine at tpmProvider(), the same copy an ES module app or a CommonJS app imports', async () => {
    const run = await runWineScript(`
      (async () => {
        const esm = await import('@keystore/provider-tpm');
        const provider = esm.tpmProvider();
        const cngEsm = await import('@keystore/provider-cng');
        const coreEsm = await import('@keystore/core');
        const error = await provider.createKey({ name: 'x', algorithm: 'RSA-2048', scope: 'user', exportable: false }).catch((e) => e);
        const cjs = require('@keystore/provider-tpm').tpmProvider();
        console.log(JSON.stringify({
          esmSameClass: provider instanceof cngEsm.NCryptKeyStorage,
          esmSameCore: error instanceof coreEsm.KeyStoreError,
          cjsSameClass: cjs instanceof require('@keystore/provider-cng').NCryptKeyStorage,
        }));
      })().catch((err) => { console.error(err); process.exit(1); });
    `);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/ExperimentalWarning/);
    expect(run.json).toEqual({ esmSameClass: true, esmSameCore: true, cjsSameClass: true });
  });
});
