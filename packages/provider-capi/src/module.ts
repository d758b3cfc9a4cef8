/**
 * `@keystore/provider-capi/module`: the CryptoAPI provider for apps that use an inversify container.
 *
 * @module @keystore/provider-capi/module
 */
/** The provider id. */
export const CAPI_MODULE_PROVIDER_ID = 'capi';
