/**
 * `@keystore/provider-cng/native`: the typed Windows bindings (ncrypt.dll, tbs.dll and the posture
 * calls), shared with other providers that speak NCrypt (the TPM provider's Platform Crypto Provider
 * backend). koffi is imported only below this entry point, and only when a binding is first loaded.
 *
 * @module @keystore/provider-cng/native
 */
export type {
  NCryptBindings,
  NCryptHandle,
  NCryptHashName,
  NCryptKeyHandle,
  NCryptKeyNameInfo,
  NCryptPadding,
  NCryptPropertyValue,
  NCryptProvHandle,
  NCryptSecretHandle,
  NCryptUiPolicy,
  PostureReading,
  TpmDeviceInfo,
  WindowsSystemBindings,
} from './types.js';
