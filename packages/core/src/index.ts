/**
 * `@keystore/core`: one {@link KeyStore} interface over every key store, isolation levels, the
 * policy engine, provider selection, typed errors and key formats. This entry point has no side
 * effects and does not load a dependency-injection container; see `@keystore/core/di` for that
 * and `@keystore/core/testing` for the in-memory provider and the provider conformance suite;
 * `@keystore/core/provider` is the kit for writing a provider (request checks, probe answers).
 *
 * Guides: {@link "Isolation levels and receipts" | isolation levels}, {@link "Policy reference" | the policy},
 * {@link "Provider selection" | provider selection}, {@link "Errors" | errors}, {@link "Security model" | the security model}.
 *
 * @module @keystore/core
 */

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
  AuditAction,
  AuditEvent,
  AuditKeyEvent,
  AuditOperation,
  AuditPolicyDecisionEvent,
  AuditPolicyOverrideEvent,
} from './audit.js';
export { AUDIT_CHANNEL_NAME, auditChannel } from './audit.js';
export type { KeyStoreErrorCode, KeyStoreErrorOptions, PolicyIssue, ProviderRefusal } from './errors.js';
export { KEYSTORE_ERROR_CODES, KeyStoreError, throwIfAborted } from './errors.js';
export {
  algorithmOfPublicKey,
  convertEcdsaSignature,
  derToP1363,
  exportPublicKey,
  importPublicKey,
  p1363ToDer,
  publicKeyMatchesAlgorithm,
} from './formats.js';
export type { IsolationLevel } from './isolation.js';
export {
  compareIsolation,
  ISOLATION_LEVELS,
  isAtLeast,
  isIsolationLevel,
  isolationRank,
  strongerIsolation,
  weakerIsolation,
} from './isolation.js';
export type { CreateKeyStoreOptions } from './keystore.js';
export { createKeyStore } from './keystore.js';
export type {
  EffectivePolicyJson,
  LoadMachinePolicyOptions,
  LoadRegistryPolicyOptions,
  MachinePolicyFiles,
  MergePoliciesOptions,
  PolicyField,
  PolicyRequest,
  RegistryKeyContents,
  RegistryPolicyValue,
  RegistryReader,
  RegistryValue,
  ResolvePolicyOptions,
} from './policy/index.js';
export {
  DEFAULT_POLICY,
  loadMachinePolicy,
  loadPolicyFile,
  loadRegistryPolicy,
  MACHINE_POLICY_ENV,
  machinePolicyPath,
  mergePolicies,
  POLICY_FIELDS,
  POLICY_SCHEMA,
  parsePolicy,
  policyToJson,
  REGISTRY_POLICY_KEY,
  REGISTRY_POLICY_VALUES,
  REGISTRY_TIMEOUT_MS,
  readRegistryKey,
  requestViolations,
  resolvePolicy,
  validatePolicy,
} from './policy/index.js';
export { providerPolicyReasons } from './policy-reasons.js';
export type { KeyRefParts } from './ref.js';
export { formatKeyRef, isKeyRef, isProviderId, KEY_REF_PREFIX, parseKeyRef } from './ref.js';
export type { SelectionCandidate } from './selection.js';
export { PROBE_TIMEOUT_MS, probeAll, selectProvider } from './selection.js';
export type {
  CreateKeyOptions,
  DeclaredPkcs11Module,
  DecryptOptions,
  EffectivePolicy,
  ImportKeyOptions,
  IsolationReceipt,
  KeyInfo,
  KeyList,
  KeyStore,
  KeyStoreKey,
  KeyStorePolicy,
  KeyStoreProvider,
  ListKeysFailure,
  ListKeysOptions,
  MachinePolicySource,
  OpenKeyOptions,
  OperationOptions,
  Pkcs11ModuleDeclaration,
  PolicyOverride,
  PolicySource,
  ProbeResult,
  ProviderCapabilities,
  ProviderCreateRequest,
  ProviderImportRequest,
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
  SignatureScheme,
  SignOptions,
  UserPromptOptions,
  VerifyOptions,
} from './types.js';
