/**
 * What the CryptoAPI provider can do: one table, answered at run time and printed in
 * `docs/providers/capi.md`.
 *
 * @module
 */
import type { ProviderCapabilities } from '@keystore/core';

/**
 * The capabilities of the CryptoAPI provider: RSA-2048/3072/4096 keys that sign (PKCS#1 v1.5 only)
 * and decrypt (RSA-OAEP with SHA-1 only), in the user or machine scope, exportable when created so,
 * importable, without passwords or prompts, and marked `legacyCryptoApi` so that the policy denies it
 * unless `legacyCryptoApi` is `allow`.
 *
 * @since 0.2.0
 */
export const CAPI_CAPABILITIES: ProviderCapabilities = Object.freeze({
  algorithms: Object.freeze(['RSA-2048', 'RSA-3072', 'RSA-4096'] as const),
  operations: Object.freeze(['sign', 'decrypt'] as const),
  scopes: Object.freeze(['user', 'machine'] as const),
  exportableKeys: true,
  passwords: false,
  legacyCryptoApi: true,
  rsaSignaturePaddings: Object.freeze(['pkcs1'] as const),
  oaepHashes: Object.freeze(['sha1'] as const),
  importKeys: true,
  userPrompt: false,
});
