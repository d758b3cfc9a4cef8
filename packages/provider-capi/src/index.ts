/**
 * `@keystore/provider-capi`: legacy CryptoAPI key containers (`advapi32.dll`), disabled unless a
 * policy allows them. CryptoAPI loads a key's private part into the app's own process, where anyone
 * running as the same user can read it, so its keys are `in-process` and the policy denies the
 * provider by default: it serves only when the effective policy says `legacyCryptoApi: "allow"` and
 * its floor is at most `in-process`. Use it to reach old containers and move their keys to CNG.
 *
 * Guides: {@link "CryptoAPI provider" | the CryptoAPI provider},
 * {@link "Moving keys from CryptoAPI to CNG" | moving keys to CNG}.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { capiProvider } from '@keystore/provider-capi';
 *
 * const store = await createKeyStore({
 *   providers: [capiProvider()],
 *   policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' },
 * });
 * for (const info of (await store.listKeys({ provider: 'capi' })).keys) console.log(info.ref, info.algorithm);
 * ```
 * @module @keystore/provider-capi
 */

export type { PublicBlobInfo } from './blobs.js';
export {
  privateBlobFromKey,
  privateKeyFromBlob,
  publicKeyFromBlob,
  reverseBytes,
  rsaAlgorithmOfBits,
} from './blobs.js';
export { CAPI_CAPABILITIES } from './capabilities.js';
export type { MachineVerdict } from './gate.js';
export { machinePolicyRefusals, machineRequestRefusals } from './gate.js';
export type { CapiKeyInit, CapiKeySpec, CapiThreading } from './key.js';
export { CapiKey } from './key.js';
export {
  CONTAINER_NAME_RULE,
  isOpenableContainerName,
  isValidKeyName,
  KEY_NAME_RULE,
  MAX_CONTAINER_NAME_LENGTH,
  MAX_KEY_NAME_LENGTH,
} from './names.js';
export type {
  AdvapiBindings,
  CryptHashHandle,
  CryptKeyHandle,
  CryptProvHandle,
  NativeResult,
} from './native/advapi32.js';
export type { CapiProviderOptions } from './provider.js';
export { CapiProvider, capiProvider, createProvider } from './provider.js';
export { capiStatusName } from './status.js';
export {
  LEGACY_CRYPTOAPI_WARNING_CODE,
  LEGACY_CRYPTOAPI_WARNING_TYPE,
  migrationCommand,
} from './warning.js';

/**
 * The provider id.
 *
 * @since 0.2.0
 */
export const CAPI_PROVIDER_ID = 'capi';
