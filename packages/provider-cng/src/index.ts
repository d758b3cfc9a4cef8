/**
 * `@keystore/provider-cng`: keys in Windows CNG's Microsoft Software Key Storage Provider.
 *
 * @module @keystore/provider-cng
 */
/** The provider id. */
export const CNG_PROVIDER_ID = 'cng';
