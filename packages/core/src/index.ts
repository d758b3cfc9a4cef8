/**
 * `@keystore/core`: one {@link KeyStore} interface over every key store, isolation levels, the
 * policy engine, provider selection, typed errors and key formats. This entry point has no side
 * effects and does not load a dependency-injection container; see `@keystore/core/di` for that
 * and `@keystore/core/testing` for the in-memory provider and the provider conformance suite.
 *
 * @module @keystore/core
 */

// --- isolation (owner: foundation) ---
export {
  compareIsolation,
  ISOLATION_LEVELS,
  isAtLeast,
  isIsolationLevel,
  isolationRank,
  strongerIsolation,
  weakerIsolation,
} from './isolation.js';
export type { IsolationLevel } from './isolation.js';

// --- algorithms (owner: foundation) ---
export {
  algorithmInfo,
  digestLength,
  HASH_ALGORITHMS,
  isKeyAlgorithm,
  KEY_ALGORITHMS,
  KEY_OPERATIONS,
  KEY_SCOPES,
  OAEP_HASHES,
} from './algorithms.js';
export type {
  AlgorithmInfo,
  DsaEncoding,
  HashAlgorithm,
  KeyAlgorithm,
  KeyOperation,
  KeyScope,
  OaepHash,
  RsaPadding,
} from './algorithms.js';

// --- errors (owner: foundation) ---
export { KEYSTORE_ERROR_CODES, KeyStoreError, throwIfAborted } from './errors.js';
export type { KeyStoreErrorCode, KeyStoreErrorOptions, PolicyIssue, ProviderRefusal } from './errors.js';

// --- interfaces (owner: foundation) ---
export type {
  CreateKeyOptions,
  DecryptOptions,
  EffectivePolicy,
  IsolationReceipt,
  KeyInfo,
  KeyStore,
  KeyStoreKey,
  KeyStorePolicy,
  KeyStoreProvider,
  ListKeysOptions,
  OpenKeyOptions,
  OperationOptions,
  PolicySource,
  ProbeResult,
  ProviderCapabilities,
  ProviderCreateRequest,
  ProviderKey,
  ProviderKeyInfo,
  ProviderKeyRequest,
  ProviderSignature,
  ProviderSignParams,
  ProviderVerdict,
  PublicJwk,
  PublicKeyFormat,
  ResolvedPolicy,
  SelectionExplanation,
  SelectionRequest,
  SignOptions,
  VerifyOptions,
} from './types.js';

// --- policy (owner: policy) ---

// --- formats (owner: formats) ---

// --- selection, key store, audit (owner: keystore) ---
