/**
 * `@keystore/provider-pkcs11`: keys on a PKCS#11 token (an HSM, a smart card, SoftHSM2) through the
 * vendor's module, loaded with koffi. The package README says what works and what was tested where.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { pkcs11Provider } from '@keystore/provider-pkcs11';
 * const store = await createKeyStore({
 *   providers: [pkcs11Provider({ module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'app', pinEnv: 'APP_TOKEN_PIN' })],
 * });
 * const key = await store.createKey('signing', { algorithm: 'ECDSA-P256' });
 * ```
 * @module @keystore/provider-pkcs11
 */

export { createProvider, PKCS11_ENV } from './env.js';
export { Pkcs11Key } from './key.js';
export type { Pkcs11ProviderOptions } from './options.js';
export { KEY_NAME_RULE, resolvePin } from './options.js';
export { PKCS11_CAPABILITIES, Pkcs11Provider, pkcs11Provider } from './provider.js';
export { Secret } from './secret.js';
