/**
 * `@keystore/provider-cng`: keys in Windows CNG's Microsoft Software Key Storage Provider, generated
 * and used only inside LSASS (the CNG key isolation service), with an isolation receipt measured at
 * run time: `os-isolated`, `os-protected` (LSASS running as a protected process now),
 * `virtualization` (VBS keys, when the floor is above what an ordinary key gets), `in-process` under
 * Wine.
 *
 * The engine ({@link NCryptKeyStorage}) is parameterized by the storage provider's name, capability
 * limits and isolation measurement, so other NCrypt key storage providers (the Platform Crypto
 * Provider) are built on it.
 *
 * Guide: {@link "CNG provider" | the CNG provider}.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { cngProvider } from '@keystore/provider-cng';
 *
 * const store = await createKeyStore({ providers: [cngProvider()] });
 * await using key = await store.createKey('signing', { algorithm: 'ECDSA-P256' });
 * ```
 * @module @keystore/provider-cng
 */

export { CNG_CAPABILITIES } from './capabilities.js';
export type { NCryptKeyInit } from './key.js';
export { NCryptKey } from './key.js';
export {
  assertKeyName,
  isValidKeyName,
  KEY_NAME_RULE,
  keyAlgorithmOf,
  MAX_KEY_NAME_LENGTH,
  ncryptAlgorithmId,
} from './names.js';
export type { IsolationMeasurement, IsolationPosture } from './posture.js';
export { describeProtection, measureSoftwareKspPosture, VBS_KEYS_MIN_BUILD } from './posture.js';
export type { CngProviderOptions } from './provider.js';
export { CNG_PROVIDER_ID, CngProvider, cngProvider, createProvider } from './provider.js';
export type { NCryptBindingSources, NCryptKeyStorageConfig } from './storage.js';
export { keyUsage, NCryptKeyStorage } from './storage.js';
