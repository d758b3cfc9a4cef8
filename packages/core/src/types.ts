/**
 * The interfaces: what an app calls ({@link KeyStore}, {@link KeyStoreKey}) and what a provider
 * implements ({@link KeyStoreProvider}, {@link ProviderKey}).
 *
 * The declarations live in `provider-types.ts`, `keystore-types.ts` and `policy-types.ts`; this
 * module re-exports them so every import path stays the same.
 *
 * @module
 */

export type {
  CreateKeyOptions,
  DecryptOptions,
  ImportKeyOptions,
  KeyInfo,
  KeyStore,
  KeyStoreKey,
  ListKeysOptions,
  OpenKeyOptions,
  ProviderVerdict,
  PublicJwk,
  PublicKeyFormat,
  SelectionExplanation,
  SelectionRequest,
  SignOptions,
  VerifyOptions,
} from './keystore-types.js';
export type {
  DeclaredPkcs11Module,
  EffectivePolicy,
  KeyStorePolicy,
  MachinePolicySource,
  Pkcs11ModuleDeclaration,
  PolicyOverride,
  PolicySource,
  ResolvedPolicy,
} from './policy-types.js';
export type {
  IsolationReceipt,
  KeyList,
  KeyStoreProvider,
  ListKeysFailure,
  OperationOptions,
  ProbeResult,
  ProviderCapabilities,
  ProviderCreateRequest,
  ProviderImportRequest,
  ProviderKey,
  ProviderKeyInfo,
  ProviderKeyRequest,
  ProviderSignature,
  ProviderSignParams,
  SignatureScheme,
  UserPromptOptions,
} from './provider-types.js';
