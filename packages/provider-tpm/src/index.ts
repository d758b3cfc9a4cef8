/**
 * `@keystore/provider-tpm`: keys in a TPM 2.0. On Linux it calls tpm2-tss FAPI
 * (`libtss2-fapi.so.1`) through koffi; a key named `N` lives at FAPI path `HS/SRK/N`. On Windows it
 * uses the Microsoft Platform Crypto Provider through NCrypt (the engine of `@keystore/provider-cng`),
 * with the TPM's presence read from the TPM Base Services.
 *
 * Guide: {@link "TPM provider" | the TPM provider}.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { tpmProvider } from '@keystore/provider-tpm';
 * const store = await createKeyStore({ providers: [tpmProvider()], policy: { minimumIsolation: 'hardware' } });
 * const key = await store.createKey('login', { algorithm: 'ECDSA-P256' });
 * ```
 * @module @keystore/provider-tpm
 */

export type { FapiProfileName, WriteFapiConfigOptions } from './config.js';
export { deviceTcti, swtpmTcti, writeFapiConfig } from './config.js';
export type { TpmDeviceInfo } from './device.js';
export { VIRTUAL_TPM_MANUFACTURERS } from './device.js';
export { TpmKey } from './key.js';
export type { FapiKeyPath } from './names.js';
export { fapiPathForKey, isValidKeyName, KEY_NAME_RULE, MAX_KEY_NAME_LENGTH, parseFapiKeyPath } from './names.js';
export type {
  FapiAuthRegistration,
  FapiAuthSource,
  FapiBindings,
  FapiContextHandle,
  FapiResult,
  FapiSignature,
} from './native/fapi.js';
export type { TpmProviderOptions, TpmTimeouts } from './options.js';
export { createProvider, TpmProvider, tpmProvider } from './provider.js';
export { tss2RcName } from './rc.js';
export type { ParsedTcti, TctiAssessment, TctiFileChecks } from './tcti.js';
export { assessTcti, parseTcti } from './tcti.js';
export type { PcpProviderOptions } from './windows.js';
export { measurePlatformCryptoPosture, PCP_CAPABILITIES, pcpProvider } from './windows.js';
