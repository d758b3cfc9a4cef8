/**
 * The provider-facing interfaces: what a provider implements ({@link KeyStoreProvider},
 * {@link ProviderKey}) and the requests and results it exchanges with the key store.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import type {
  DsaEncoding,
  HashAlgorithm,
  KeyAlgorithm,
  KeyOperation,
  KeyScope,
  OaepHash,
  RsaPadding,
} from './algorithms.js';
import type { KeyStoreError, KeyStoreErrorCode } from './errors.js';
import type { IsolationLevel } from './isolation.js';
import type { KeyInfo } from './keystore-types.js';

/**
 * Options every async operation takes.
 *
 * @since 0.1.0
 */
export interface OperationOptions {
  /** Cancels the operation; it then rejects with `ERR_KEYSTORE_CANCELLED`. */
  signal?: AbortSignal;
}

/**
 * The isolation a provider actually achieved for one key, measured when the key was created or
 * opened; never the level the provider hoped for.
 * See {@link "Isolation levels and receipts" | isolation levels and receipts}.
 *
 * @since 0.1.0
 */
export interface IsolationReceipt {
  /** The level achieved. */
  readonly level: IsolationLevel;
  /** Id of the provider that measured it. */
  readonly providerId: string;
  /** When it was measured (ISO 8601). */
  readonly measuredAt: string;
  /** What was measured and how, one sentence each (e.g. "simulated TPM (manufacturer IBM): …"). */
  readonly evidence: readonly string[];
  /**
   * `declared` when the level is not measured but declared by the machine policy (a PKCS#11 module
   * the policy vouches for: software cannot look behind a module); `measured` or absent otherwise.
   *
   * @since 0.3.0
   */
  readonly basis?: 'measured' | 'declared';
}

/**
 * What a provider can do.
 *
 * @since 0.1.0
 */
export interface ProviderCapabilities {
  /** Algorithms it can create keys for. */
  readonly algorithms: readonly KeyAlgorithm[];
  /** Operations it can perform (per key, the algorithm narrows this). */
  readonly operations: readonly KeyOperation[];
  /** Scopes it can store keys in. */
  readonly scopes: readonly KeyScope[];
  /** Whether it can create keys whose private part can be exported. */
  readonly exportableKeys: boolean;
  /** Whether keys can carry a password. */
  readonly passwords: boolean;
  /** True for a legacy CryptoAPI provider, which the policy denies unless `legacyCryptoApi` is `allow`. */
  readonly legacyCryptoApi: boolean;
  /** RSA padding modes it can sign with. */
  readonly rsaSignaturePaddings: readonly RsaPadding[];
  /** OAEP hashes it can decrypt with. */
  readonly oaepHashes: readonly OaepHash[];
  /** Whether it can import existing private keys ({@link KeyStoreProvider.importKey}). @since 0.2.0 */
  readonly importKeys?: boolean;
  /** Whether keys can be protected by an OS prompt ({@link ProviderCreateRequest.userPrompt}). @since 0.2.0 */
  readonly userPrompt?: boolean;
  /**
   * The hashes it signs with, per signature scheme, where it cannot sign with every hash (a scheme
   * not listed signs with every hash). A signature with another hash is refused with
   * `ERR_KEYSTORE_UNSUPPORTED_ALGORITHM` before the key store is asked. The TPM provider on Windows
   * lists `{ pss: ['sha256'], ecdsa: ['sha256'] }`. @since 0.3.0
   */
  readonly signatureHashes?: Readonly<Partial<Record<SignatureScheme, readonly HashAlgorithm[]>>>;
}

/**
 * A signature scheme, for {@link ProviderCapabilities.signatureHashes}: RSA PKCS#1 v1.5, RSA-PSS, or
 * ECDSA.
 *
 * @since 0.3.0
 */
export type SignatureScheme = 'pkcs1' | 'pss' | 'ecdsa';

/**
 * The answer of {@link KeyStoreProvider.probe}: a cheap look at whether the provider can serve here.
 *
 * @since 0.1.0
 */
export interface ProbeResult {
  /** Whether the provider can serve on this machine now. */
  readonly available: boolean;
  /** The strongest isolation its keys would get here now (`none` when unavailable). */
  readonly isolation: IsolationLevel;
  /** Why it is unavailable, or what limits its isolation; sentences a person can act on. */
  readonly reasons: readonly string[];
  /** Facts for `keystore doctor` (platform, device manufacturer, firmware, simulator …). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A request to create a key, as a provider receives it (already checked against the policy).
 *
 * @since 0.1.0
 */
export interface ProviderCreateRequest extends OperationOptions {
  /** The key's name, unique per provider and scope. */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** The scope. */
  readonly scope: KeyScope;
  /** Whether the private key may be exported later. */
  readonly exportable: boolean;
  /** An optional password protecting the key; never logged. */
  readonly password?: string;
  /**
   * The effective isolation floor. A provider that reaches higher levels only when asked (CNG's
   * virtualization-based keys) uses it to decide how to create the key, and fails with a typed error
   * rather than create a key below it.
   *
   * @since 0.2.0
   */
  readonly minimumIsolation?: IsolationLevel;
  /**
   * Ask the OS to prompt the user when the key is used (CNG's `NCRYPT_UI_POLICY`). Only providers
   * whose capabilities say `userPrompt` accept it.
   *
   * @since 0.2.0
   */
  readonly userPrompt?: UserPromptOptions;
}

/**
 * What the OS shows when a key protected by a user prompt is created or used.
 *
 * @since 0.2.0
 */
export interface UserPromptOptions {
  /** A name for the key shown in the prompt. */
  readonly friendlyName?: string;
  /** A sentence saying what the key is for. */
  readonly description?: string;
  /** Require a password (strong protection) rather than a consent prompt. */
  readonly forceHighProtection?: boolean;
}

/**
 * A request to import an existing private key, as a provider receives it (already checked against
 * the policy). `algorithm` is derived from `privateKey` by the core.
 *
 * @since 0.2.0
 */
export interface ProviderImportRequest extends ProviderCreateRequest {
  /** The private key to import; the provider keeps it as `exportable` says. */
  readonly privateKey: KeyObject;
}

/**
 * A request to open, delete or list keys, as a provider receives it.
 *
 * @since 0.1.0
 */
export interface ProviderKeyRequest extends OperationOptions {
  /** The key's name. */
  readonly name: string;
  /** The scope. */
  readonly scope: KeyScope;
  /** The key's password, if it has one. */
  readonly password?: string;
}

/**
 * One entry of a provider's key listing.
 *
 * @since 0.1.0
 */
export interface ProviderKeyInfo {
  /** The key's name. */
  readonly name: string;
  /** The scope. */
  readonly scope: KeyScope;
  /** The algorithm, when the provider can tell. */
  readonly algorithm?: KeyAlgorithm;
}

/**
 * A provider that could not list its keys, in a {@link KeyList}: the other providers' keys are still
 * listed, so one provider that cannot list (Wine's CNG, a TPM that went away) does not hide the rest.
 *
 * @since 0.3.0
 */
export interface ListKeysFailure {
  /** The provider's id. */
  readonly provider: string;
  /** The error's code (`ERR_KEYSTORE_UNSUPPORTED_OPERATION`, `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` …). */
  readonly code: KeyStoreErrorCode;
  /** The error's message. */
  readonly message: string;
  /** The error itself, with its hint and cause. */
  readonly error: KeyStoreError;
}

/**
 * What {@link KeyStore.listKeys} found: the keys of every provider that answered, and one entry per
 * provider that could not list. An empty `errors` means every provider answered.
 *
 * @since 0.3.0
 */
export interface KeyList {
  /** The keys, provider by provider, best-ranked provider first (the order selection tries them). */
  readonly keys: readonly KeyInfo[];
  /** The providers that could not list, and why. */
  readonly errors: readonly ListKeysFailure[];
}

/**
 * Parameters of a signature over a digest, already validated and defaulted by the core.
 *
 * @since 0.1.0
 */
export interface ProviderSignParams {
  /** The hash the digest was made with. */
  readonly hash: HashAlgorithm;
  /** RSA padding (ignored for EC keys). */
  readonly padding: RsaPadding;
  /** PSS salt length in bytes (the digest length unless the caller chose otherwise). */
  readonly saltLength: number;
}

/**
 * A signature as a provider returns it. ECDSA signatures say which encoding they are in; the core
 * converts to what the caller asked for.
 *
 * @since 0.1.0
 */
export interface ProviderSignature {
  /** The signature bytes (RSA: big-endian, as Node's `crypto.verify` expects). */
  readonly signature: Buffer;
  /** For ECDSA: the encoding of `signature`. */
  readonly dsaEncoding?: DsaEncoding;
}

/**
 * A key as a provider hands it to the core. The core wraps it in a {@link KeyStoreKey}, adding
 * validation, format conversion, policy checks and audit events.
 *
 * @since 0.1.0
 */
export interface ProviderKey {
  /** The key's name. */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** The scope. */
  readonly scope: KeyScope;
  /** Whether the private key can be exported. */
  readonly exportable: boolean;
  /** The isolation achieved for this key. */
  readonly isolation: IsolationReceipt;
  /** The public key. */
  readonly publicKey: KeyObject;
  /** Signs a digest made with `params.hash`. The core checks the digest length before calling. */
  signDigest(digest: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature>;
  /**
   * Optional fast path: signs the message itself (the provider hashes). The core uses it when present
   * for `sign()`; `signDigest` must still work.
   */
  signMessage?(data: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature>;
  /** RSA-OAEP decryption. */
  decrypt?(ciphertext: Buffer, hash: OaepHash, options?: OperationOptions): Promise<Buffer>;
  /** ECDH: the raw shared secret (the X coordinate, big-endian, field size). */
  deriveSecret?(peer: KeyObject, options?: OperationOptions): Promise<Buffer>;
  /** Exports the private key (only when `exportable`); the core checks policy first. */
  exportPrivateKey?(options?: OperationOptions): Promise<KeyObject>;
  /** Releases native handles. Idempotent. */
  close(): Promise<void>;
}

/**
 * What a provider implements: a tiny interface, so a new key store plugs in with a few methods.
 *
 * @since 0.1.0
 */
export interface KeyStoreProvider {
  /** A short stable id (`memory`, `cng`, `capi`, `tpm`). */
  readonly id: string;
  /** A human-readable name. */
  readonly displayName: string;
  /** What it can do. */
  readonly capabilities: ProviderCapabilities;
  /** A cheap check of whether it can serve here and with what isolation. Never throws. */
  probe(options?: OperationOptions): Promise<ProbeResult>;
  /** Creates a key; rejects with `ERR_KEYSTORE_KEY_EXISTS` when the name is taken. */
  createKey(request: ProviderCreateRequest): Promise<ProviderKey>;
  /** Opens a key; rejects with `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none. */
  openKey(request: ProviderKeyRequest): Promise<ProviderKey>;
  /** Lists keys in a scope (both scopes it supports when omitted). */
  listKeys(options?: OperationOptions & { scope?: KeyScope }): Promise<ProviderKeyInfo[]>;
  /** Deletes a key; rejects with `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none. */
  deleteKey(request: ProviderKeyRequest): Promise<void>;
  /**
   * Imports an existing private key under a new name; rejects with `ERR_KEYSTORE_KEY_EXISTS` when the
   * name is taken. Present only on providers whose capabilities say `importKeys`.
   *
   * @since 0.2.0
   */
  importKey?(request: ProviderImportRequest): Promise<ProviderKey>;
  /** Releases everything the provider holds (contexts, pools). Optional and idempotent. */
  close?(): Promise<void>;
}
