/**
 * `@keystore/provider-capi`: legacy CryptoAPI key containers, disabled unless a policy allows them.
 *
 * @module @keystore/provider-capi
 */
/** The provider id. */
export const CAPI_PROVIDER_ID = 'capi';
