/**
 * koffi is loaded through the SDK's one loader (`@keystore/provider-cng/native`), which configures
 * it before any library is loaded, and only at the provider's first use: importing the package or
 * making a provider loads nothing native.
 */
import { koffiSetup } from '@keystore/provider-cng/native';
import { afterAll, describe, expect, it } from 'vitest';
import { pkcs11Provider } from '../src/index.js';
import { createSoftHsmToken, HAVE_SOFTHSM, NEEDS_SOFTHSM, type SoftHsmToken } from './helpers/softhsm.js';

describe.skipIf(!HAVE_SOFTHSM)(`koffi loading on SoftHSM2${HAVE_SOFTHSM ? '' : ` (${NEEDS_SOFTHSM})`}`, () => {
  let token: SoftHsmToken | undefined;
  afterAll(() => token?.dispose());

  it('loads koffi through the shared loader at first use, not at import or construction', async () => {
    token = createSoftHsmToken();
    const provider = pkcs11Provider({ module: token.module, tokenLabel: token.label, pin: token.pin });
    expect(koffiSetup()).toBeUndefined();
    try {
      const probe = await provider.probe();
      expect(probe.available).toBe(true);
      // The shared loader ran, and raised koffi's async stack before the module was loaded.
      expect(koffiSetup()).toMatchObject({ applied: true });
    } finally {
      await provider.close?.();
    }
  });
});
