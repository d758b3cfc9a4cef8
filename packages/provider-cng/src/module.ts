/**
 * `@keystore/provider-cng/module`: the CNG provider for apps that use an inversify container.
 *
 * @module @keystore/provider-cng/module
 */
/** The provider id. */
export const CNG_MODULE_PROVIDER_ID = 'cng';
