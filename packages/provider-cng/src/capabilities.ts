/**
 * What the CNG provider can do: one table, answered by the provider at run time and shown in
 * `docs/providers/cng.md` (a test compares the two).
 *
 * @module
 */
import type { ProviderCapabilities } from '@keystore/core';

/**
 * The capabilities of the CNG provider (Microsoft Software Key Storage Provider): every algorithm
 * of the SDK, signing (PKCS#1 v1.5 and PSS for RSA, ECDSA), RSA-OAEP decryption with SHA-1 to
 * SHA-512, ECDH, both scopes, exportable keys when asked, imports, and user prompts
 * (`NCRYPT_UI_POLICY`). No passwords: a key protected by the OS asks for its own password through
 * a user prompt with `forceHighProtection`.
 *
 * @since 0.2.0
 */
export const CNG_CAPABILITIES: ProviderCapabilities = Object.freeze({
  algorithms: Object.freeze([
    'RSA-2048',
    'RSA-3072',
    'RSA-4096',
    'ECDSA-P256',
    'ECDSA-P384',
    'ECDSA-P521',
    'ECDH-P256',
    'ECDH-P384',
    'ECDH-P521',
  ] as const),
  operations: Object.freeze(['sign', 'decrypt', 'derive'] as const),
  scopes: Object.freeze(['user', 'machine'] as const),
  exportableKeys: true,
  passwords: false,
  legacyCryptoApi: false,
  rsaSignaturePaddings: Object.freeze(['pkcs1', 'pss'] as const),
  oaepHashes: Object.freeze(['sha1', 'sha256', 'sha384', 'sha512'] as const),
  importKeys: true,
  userPrompt: true,
});
