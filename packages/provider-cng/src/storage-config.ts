/**
 * What makes one NCrypt-based provider ({@link NCryptKeyStorage}): its id, key storage provider,
 * capabilities, isolation measurement and native bindings.
 *
 * @module
 */
import type { ProviderCapabilities } from '@keystore/core';
import type { NCryptBindings, WindowsSystemBindings } from './native/types.js';
import type { IsolationMeasurement } from './posture.js';

/**
 * Where an NCrypt-based provider gets its native bindings: the real ones (loaded on first use), or a
 * test's double of the same interfaces.
 *
 * @since 0.2.0
 */
export interface NCryptBindingSources {
  /** Returns the ncrypt.dll bindings; throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` where there are none. */
  readonly ncrypt: () => NCryptBindings;
  /** Returns the posture bindings (kernel32, advapi32, ntdll, tbs). */
  readonly system: () => WindowsSystemBindings;
}

/**
 * What makes one NCrypt-based provider: its id and name, the key storage provider it opens, what it
 * can do, and how its isolation is measured.
 *
 * @example
 * ```ts
 * // The TPM provider's Windows backend, built on the same engine:
 * const pcp = new NCryptKeyStorage({
 *   id: 'tpm',
 *   displayName: 'TPM 2.0 (Microsoft Platform Crypto Provider)',
 *   storageProvider: 'Microsoft Platform Crypto Provider',
 *   capabilities: { ...CNG_CAPABILITIES, algorithms: ['RSA-2048', 'ECDSA-P256'], operations: ['sign', 'decrypt'], exportableKeys: false },
 *   // Its own measurement: unavailable unless Tbsi_GetDeviceInfo finds a TPM 2.0; level hardware.
 *   measure: (system) => {
 *     const tpm = system.tpmDeviceInfo();
 *     const present = tpm.ok && tpm.value.tpmVersion === 2;
 *     return {
 *       available: present,
 *       level: 'hardware',
 *       best: 'hardware',
 *       virtualization: 'unavailable',
 *       reasons: present ? [] : ['no TPM 2.0 on this machine'],
 *       evidence: ['the key was generated inside the TPM and never leaves it'],
 *       details: {},
 *     };
 *   },
 *   virtualIsolation: false,
 *   // The PCP's TPM makes one RSA-PSS salt length (its keys' "PSS Salt Size").
 *   pssSaltMustEqualDigest: true,
 * });
 * ```
 * @since 0.2.0
 */
export interface NCryptKeyStorageConfig {
  /** The provider id (`cng`, `tpm`). */
  readonly id: string;
  /** A human-readable name. */
  readonly displayName: string;
  /** The key storage provider's name, as `NCryptOpenStorageProvider` takes it. */
  readonly storageProvider: string;
  /** What it can do; `algorithms` is also the limit of what it creates and imports. */
  readonly capabilities: ProviderCapabilities;
  /** Measures the isolation now (and whether the storage provider can serve at all). */
  readonly measure: IsolationMeasurement;
  /**
   * Whether the storage provider can make keys protected by virtualization-based security
   * (`NCRYPT_USE_VIRTUAL_ISOLATION_FLAG`). When it can, a request whose floor is above the level an
   * ordinary key gets now (`measure().level`) and at most `virtualization` gets a VBS key, checked
   * after it is made.
   */
  readonly virtualIsolation: boolean;
  /**
   * Whether RSA-PSS follows the Microsoft Platform Crypto Provider's salt rules (the name is older
   * than the rule): the key's TPM makes one salt length, which its "PSS Salt Size" property names
   * (the digest length on TPMs built to spec 1.16 and later, the maximum before). When the property
   * names it, another `saltLength` is refused with `ERR_KEYSTORE_UNSUPPORTED_OPERATION` before the
   * signature is asked, and the signature is asked with `NCRYPT_TPM_PAD_PSS_IGNORE_SALT`; when it
   * does not, the TPM answers (`TPM_E_PCP_UNSUPPORTED_PSS_SALT` for a salt it cannot make).
   * Default false.
   *
   * @since 0.2.0
   */
  readonly pssSaltMustEqualDigest?: boolean;
  /** The native bindings; the real ones by default. */
  readonly bindings?: NCryptBindingSources;
}
