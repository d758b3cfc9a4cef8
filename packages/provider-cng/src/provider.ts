/**
 * The CNG provider: keys in the Microsoft Software Key Storage Provider, used only inside LSASS.
 *
 * @module
 */
import { CNG_CAPABILITIES } from './capabilities.js';
import { MS_KEY_STORAGE_PROVIDER } from './native/constants.js';
import { measureSoftwareKspPosture } from './posture.js';
import { type NCryptBindingSources, NCryptKeyStorage } from './storage.js';

/**
 * The CNG provider's id.
 *
 * @since 0.2.0
 */
export const CNG_PROVIDER_ID = 'cng';

/**
 * Options of {@link CngProvider}.
 *
 * @since 0.2.0
 */
export interface CngProviderOptions {
  /**
   * A replacement for the native bindings: for tests of the provider's logic over a double of the
   * function tables. Production code leaves it unset (ncrypt.dll and the posture calls are loaded on
   * first use).
   */
  bindings?: NCryptBindingSources;
}

/**
 * Keys in Windows CNG's Microsoft Software Key Storage Provider: persisted under their name in the
 * user's or the machine's key store, generated and used only inside LSASS (the CNG key isolation
 * service). Each key's receipt is measured at run time: `os-isolated`, `os-protected` when LSASS
 * runs as a protected process now, `virtualization` for keys made with
 * `NCRYPT_USE_VIRTUAL_ISOLATION_FLAG` when the floor is above what an ordinary key gets, and
 * `in-process` under Wine, whose ncrypt runs inside the app (or where no LSASS is found).
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { cngProvider } from '@keystore/provider-cng';
 *
 * const store = await createKeyStore({ providers: [cngProvider()] });
 * await using key = await store.createKey('signing', { algorithm: 'ECDSA-P256' });
 * console.log(key.isolation.level); // 'os-isolated' (or 'os-protected' with LSA protection on)
 * ```
 * @since 0.2.0
 */
export class CngProvider extends NCryptKeyStorage {
  constructor(options: CngProviderOptions = {}) {
    super({
      id: CNG_PROVIDER_ID,
      displayName: 'Windows CNG (Microsoft Software Key Storage Provider)',
      storageProvider: MS_KEY_STORAGE_PROVIDER,
      capabilities: CNG_CAPABILITIES,
      measure: measureSoftwareKspPosture,
      virtualIsolation: true,
      ...(options?.bindings === undefined ? {} : { bindings: options.bindings }),
    });
  }
}

/**
 * Creates a {@link CngProvider}.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { cngProvider } from '@keystore/provider-cng';
 * const store = await createKeyStore({ providers: [cngProvider()], policy: { minimumIsolation: 'os-protected' } });
 * ```
 * @since 0.2.0
 */
export function cngProvider(options?: CngProviderOptions): CngProvider {
  return new CngProvider(options);
}

/**
 * The entry point the `keystore` CLI calls on every installed `@keystore/provider-*` package. Off
 * Windows the provider's `probe()` answers unavailable, with the reason.
 *
 * @since 0.2.0
 */
export function createProvider(options?: CngProviderOptions): CngProvider {
  return new CngProvider(options);
}
