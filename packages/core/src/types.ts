/**
 * The interfaces: what an app calls ({@link KeyStore}, {@link KeyStoreKey}) and what a provider
 * implements ({@link KeyStoreProvider}, {@link ProviderKey}).
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
}

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

/**
 * Options of {@link KeyStoreKey.sign} and {@link KeyStoreKey.signDigest}.
 *
 * @since 0.1.0
 */
export interface SignOptions extends OperationOptions {
  /** The hash (default `sha256`). */
  hash?: HashAlgorithm;
  /** RSA padding (default `pkcs1`). */
  padding?: RsaPadding;
  /** PSS salt length in bytes (default: the digest length). */
  saltLength?: number;
  /** ECDSA encoding (default `der`, like Node's `crypto.sign`). */
  dsaEncoding?: DsaEncoding;
}

/**
 * Options of {@link KeyStoreKey.verify}: the same as for signing. Verification runs in software
 * from the public key; an already aborted `signal` rejects it with `ERR_KEYSTORE_CANCELLED`.
 *
 * @since 0.1.0
 */
export type VerifyOptions = SignOptions;

/**
 * Options of {@link KeyStoreKey.decrypt}.
 *
 * @since 0.1.0
 */
export interface DecryptOptions extends OperationOptions {
  /** The OAEP hash (default `sha256`). */
  hash?: OaepHash;
}

/**
 * Public key export formats: SPKI DER, SPKI PEM, or JWK.
 *
 * @since 0.1.0
 */
export type PublicKeyFormat = 'der' | 'pem' | 'jwk';

/**
 * A public JWK.
 *
 * @since 0.1.0
 */
export interface PublicJwk {
  readonly kty: 'RSA' | 'EC';
  readonly n?: string;
  readonly e?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly [member: string]: unknown;
}

/**
 * A key opened or created through a {@link KeyStore}.
 *
 * @example
 * ```ts
 * await using key = await store.createKey('signing', { algorithm: 'ECDSA-P256' });
 * const signature = await key.sign(Buffer.from('hello'));
 * crypto.verify('sha256', Buffer.from('hello'), key.publicKey, signature); // true
 * ```
 * @since 0.1.0
 */
export interface KeyStoreKey extends AsyncDisposable {
  /** A stable reference string that {@link KeyStore.openKey} accepts (`keystore:<provider>:<scope>:<name>`). */
  readonly ref: string;
  /** The key's name. */
  readonly name: string;
  /** Id of the provider holding it. */
  readonly providerId: string;
  /** The algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** The scope. */
  readonly scope: KeyScope;
  /** Whether the private key can be exported. */
  readonly exportable: boolean;
  /** The isolation the provider actually achieved for this key. */
  readonly isolation: IsolationReceipt;
  /** The public key. */
  readonly publicKey: KeyObject;
  /** Exports the public key as SPKI DER, SPKI PEM, or JWK. */
  exportPublicKey(format: 'der'): Buffer;
  exportPublicKey(format: 'pem'): string;
  exportPublicKey(format: 'jwk'): PublicJwk;
  exportPublicKey(format: PublicKeyFormat): Buffer | string | PublicJwk;
  /** Hashes `data` and signs it. */
  sign(data: Uint8Array, options?: SignOptions): Promise<Buffer>;
  /** Signs a digest made with `options.hash`; its length is checked first. */
  signDigest(digest: Uint8Array, options?: SignOptions): Promise<Buffer>;
  /** Verifies a signature in software from the public key. */
  verify(data: Uint8Array, signature: Uint8Array, options?: VerifyOptions): Promise<boolean>;
  /** RSA-OAEP decryption. */
  decrypt(ciphertext: Uint8Array, options?: DecryptOptions): Promise<Buffer>;
  /** ECDH: the raw shared secret with a peer's public key. */
  deriveSecret(peer: KeyObject, options?: OperationOptions): Promise<Buffer>;
  /** Exports the private key, when the key is exportable and the policy allows it. */
  exportPrivateKey(options?: OperationOptions): Promise<KeyObject>;
  /** Releases native handles; later operations reject with `ERR_KEYSTORE_KEY_CLOSED`. Idempotent. */
  close(): Promise<void>;
}

/**
 * One key in a listing.
 *
 * @since 0.1.0
 */
export interface KeyInfo {
  /** The reference string. */
  readonly ref: string;
  /** The key's name. */
  readonly name: string;
  /** The provider's id. */
  readonly providerId: string;
  /** The scope. */
  readonly scope: KeyScope;
  /** The algorithm, when the provider can tell. */
  readonly algorithm?: KeyAlgorithm;
}

/**
 * Options of {@link KeyStore.createKey}.
 *
 * @since 0.1.0
 */
export interface CreateKeyOptions extends OperationOptions {
  /** The algorithm. */
  algorithm: KeyAlgorithm;
  /** The scope (default `user`). */
  scope?: KeyScope;
  /** Whether the private key may be exported later (default `false`; the policy must allow it). */
  exportable?: boolean;
  /** Use this provider (it must still satisfy the policy). */
  provider?: string;
  /** A password protecting the key, where the provider supports it. */
  password?: string;
  /**
   * Ask the OS to prompt the user whenever the key is used. Only providers whose capabilities say
   * `userPrompt` are selected when it is given.
   *
   * @since 0.2.0
   */
  userPrompt?: UserPromptOptions;
}

/**
 * Options of {@link KeyStore.importKey}.
 *
 * @since 0.2.0
 */
export interface ImportKeyOptions extends OperationOptions {
  /**
   * The algorithm to import the key as. An EC private key fits both the `ECDSA-*` and the `ECDH-*`
   * algorithm of its curve: the default is `ECDSA-*`; pass `ECDH-P256` (…) for a key-agreement key.
   * For an RSA key it may be omitted; when given, it must match the key's size.
   */
  algorithm?: KeyAlgorithm;
  /** The scope (default `user`). */
  scope?: KeyScope;
  /** Whether the private key may be exported again later (default `false`; the policy must allow it). */
  exportable?: boolean;
  /** Import into this provider (it must still satisfy the policy). */
  provider?: string;
  /** A password protecting the imported key, where the provider supports it. */
  password?: string;
  /** Ask the OS to prompt the user whenever the imported key is used (see {@link CreateKeyOptions.userPrompt}). */
  userPrompt?: UserPromptOptions;
}

/**
 * Options of {@link KeyStore.openKey} and {@link KeyStore.deleteKey}.
 *
 * @since 0.1.0
 */
export interface OpenKeyOptions extends OperationOptions {
  /** Look only in this provider. */
  provider?: string;
  /** The scope (default `user`). */
  scope?: KeyScope;
  /** The key's password, if it has one. */
  password?: string;
}

/**
 * Options of {@link KeyStore.listKeys}.
 *
 * @since 0.1.0
 */
export interface ListKeysOptions extends OperationOptions {
  /** List only this provider's keys. */
  provider?: string;
  /** List only this scope. */
  scope?: KeyScope;
}

/**
 * A request to select a provider, for {@link KeyStore.explain}.
 *
 * @since 0.1.0
 */
export interface SelectionRequest {
  /** The algorithm (selection ignores algorithms when omitted). */
  algorithm?: KeyAlgorithm;
  /** The scope (default `user`). */
  scope?: KeyScope;
  /** Whether an exportable key is asked for. */
  exportable?: boolean;
  /** Restrict selection to this provider. */
  provider?: string;
  /** Whether the key needs a password. */
  password?: boolean;
  /**
   * Whether the key is to be protected by an OS prompt (only providers whose capabilities say
   * `userPrompt` qualify).
   *
   * @since 0.2.0
   */
  userPrompt?: boolean;
  /**
   * Whether an existing private key is to be imported (only providers whose capabilities say
   * `importKeys` and that implement {@link KeyStoreProvider.importKey} qualify).
   *
   * @since 0.2.0
   */
  importKey?: boolean;
}

/**
 * One provider's verdict in a selection.
 *
 * @since 0.1.0
 */
export interface ProviderVerdict {
  /** The provider's id. */
  readonly providerId: string;
  /** Whether it was the one chosen. */
  readonly selected: boolean;
  /** Whether it qualified (the chosen one and any runner-up). */
  readonly eligible: boolean;
  /** Whether its probe said it is available. */
  readonly available: boolean;
  /** The isolation it can achieve here. */
  readonly isolation: IsolationLevel;
  /** Its rank in the order tried (0 first), or `null` when it did not qualify. */
  readonly rank: number | null;
  /** Why it was chosen or refused, one sentence each. */
  readonly reasons: readonly string[];
  /** The probe's details. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * The result of {@link KeyStore.explain}.
 *
 * @since 0.1.0
 */
export interface SelectionExplanation {
  /** The request explained, with defaults applied. */
  readonly request: Readonly<SelectionRequest>;
  /** The id of the provider that would serve, or `null`. */
  readonly selected: string | null;
  /** The effective isolation floor. */
  readonly minimumIsolation: IsolationLevel;
  /** A verdict for every registered provider, in the order tried. */
  readonly providers: readonly ProviderVerdict[];
  /**
   * The machine policy sources replaced or dropped for this store (the test hatch only); empty
   * when every machine policy applies.
   *
   * @since 0.3.0
   */
  readonly policyOverrides: readonly PolicyOverride[];
}

/**
 * The API an app uses: one interface over every provider, under one policy.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * const store = await createKeyStore({ providers: [provider], policy: { minimumIsolation: 'hardware' } });
 * const key = await store.createKey('login', { algorithm: 'ECDSA-P256' });
 * console.log(key.isolation.level);
 * ```
 * @since 0.1.0
 */
export interface KeyStore extends AsyncDisposable {
  /** The effective policy (defaults, app, machine merged). */
  readonly policy: EffectivePolicy;
  /** The registered providers. */
  readonly providers: readonly KeyStoreProvider[];
  /** Creates a key with the best provider the policy allows. */
  createKey(name: string, options: CreateKeyOptions): Promise<KeyStoreKey>;
  /**
   * Imports an existing private key (a Node `KeyObject`) into the best provider the policy allows
   * that can import keys, under the same policy checks as {@link KeyStore.createKey}. The algorithm
   * is derived from the key (`options.algorithm` picks ECDH for an EC key). The imported key is
   * non-exportable unless `options.exportable` asks otherwise (and the policy allows it).
   *
   * @example
   * ```ts
   * const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
   * await using key = await store.importKey('imported', privateKey);
   * key.exportable; // false: the private key no longer leaves the key store
   * ```
   * @since 0.2.0
   */
  importKey(name: string, privateKey: KeyObject, options?: ImportKeyOptions): Promise<KeyStoreKey>;
  /** Opens a key by name or by reference string. */
  openKey(nameOrRef: string, options?: OpenKeyOptions): Promise<KeyStoreKey>;
  /**
   * Lists the keys of every provider the policy allows (or of one, with `options.provider`). A provider
   * that fails to list does not fail the call: its error is in `errors` and the others' keys are in
   * `keys`. With `options.provider`, that provider's failure is thrown instead. Cancellation
   * (`ERR_KEYSTORE_CANCELLED`) always throws.
   *
   * @example
   * ```ts
   * const { keys, errors } = await store.listKeys();
   * for (const k of keys) console.log(k.ref);
   * for (const e of errors) console.warn(`${e.provider} could not list: ${e.message} (${e.code})`);
   * ```
   * @since 0.1.0 (returns a {@link KeyList} since 0.3.0; it returned `KeyInfo[]` before)
   */
  listKeys(options?: ListKeysOptions): Promise<KeyList>;
  /** Deletes a key by name or by reference string. */
  deleteKey(nameOrRef: string, options?: OpenKeyOptions): Promise<void>;
  /** Says, for every provider, whether it would serve `request` and why. */
  explain(request?: SelectionRequest, options?: OperationOptions): Promise<SelectionExplanation>;
  /** Closes every provider; `await using store = await createKeyStore(…)` does it for you. */
  close(): Promise<void>;
}

/**
 * A policy document: what the app asks for, or what a machine's owners require. Every field is
 * optional; omitted fields take the built-in defaults. See the JSON Schema shipped as
 * `@keystore/core/policy.schema.json`.
 *
 * @since 0.1.0
 */
export interface KeyStorePolicy {
  /** JSON Schema reference, ignored. */
  $schema?: string;
  /** The isolation floor (default `os-isolated`). */
  minimumIsolation?: IsolationLevel;
  /** Which providers may serve, and in which order they are preferred. */
  providers?: {
    /** Only these may serve (default: all). */
    allow?: string[];
    /** These may never serve. */
    deny?: string[];
    /** Try these first, in this order; the rest follow by isolation. */
    prefer?: string[];
  };
  /** Whether legacy CryptoAPI providers may serve (default `deny`). */
  legacyCryptoApi?: 'allow' | 'deny';
  /** Exportable private keys (default: neither). */
  exportable?: {
    /** Whether keys may be created exportable. */
    create?: boolean;
    /** Whether private keys may be exported. */
    export?: boolean;
  };
  /** Algorithms keys may be created with (default: all). */
  allowedAlgorithms?: KeyAlgorithm[];
  /** The smallest RSA modulus in bits (default 2048). */
  minimumRsaBits?: number;
  /** Scopes keys may live in (default: both). */
  allowedScopes?: KeyScope[];
}

/**
 * Where an effective field's value came from: the built-in defaults, the app's policy, the machine
 * policy file at the fixed path (`machine`), the additional machine policy file named by
 * `KEYSTORE_MACHINE_POLICY` (`machine-env`, since 0.3.0), or (on Windows, since 0.2.0) the machine
 * policy in the registry (`HKLM\SOFTWARE\Policies\keystore`).
 *
 * @since 0.1.0
 */
export type PolicySource = 'default' | 'app' | MachinePolicySource;

/**
 * One of the machine policy sources, every one of which caps the app: the file at the fixed path
 * (`machine`), the additional file `KEYSTORE_MACHINE_POLICY` names (`machine-env`), the registry key
 * on Windows (`registry`).
 *
 * @since 0.3.0
 */
export type MachinePolicySource = 'machine' | 'machine-env' | 'registry';

/**
 * A machine policy source that was replaced or dropped, which only the test hatch of
 * `@keystore/core/testing` can do: recorded in {@link EffectivePolicy.overrides}, shown by
 * `explain()` and `keystore doctor`, and published as a `policy.override` audit event.
 *
 * @since 0.3.0
 */
export interface PolicyOverride {
  /** The machine source that was overridden. */
  readonly source: MachinePolicySource;
  /** How: an option given in code, or the environment. */
  readonly by: 'option' | 'environment';
  /** The option's name (e.g. `machinePolicy`), or the environment variable's. */
  readonly name: string;
  /** What the override does, one sentence. */
  readonly detail: string;
}

/**
 * The effective policy: every field filled in.
 *
 * @since 0.1.0
 */
export interface ResolvedPolicy {
  readonly minimumIsolation: IsolationLevel;
  readonly providers: {
    /** `null` means every provider. */
    readonly allow: readonly string[] | null;
    readonly deny: readonly string[];
    readonly prefer: readonly string[];
  };
  readonly legacyCryptoApi: 'allow' | 'deny';
  readonly exportable: { readonly create: boolean; readonly export: boolean };
  readonly allowedAlgorithms: readonly KeyAlgorithm[];
  readonly minimumRsaBits: number;
  readonly allowedScopes: readonly KeyScope[];
}

/**
 * The effective policy with the source of each field (keyed by JSON pointer, e.g. `/providers/allow`),
 * the machine policy's file when one was read, and the registry key when a machine policy was read
 * from the registry.
 *
 * @since 0.1.0
 */
export interface EffectivePolicy extends ResolvedPolicy {
  /** Source of each field, keyed by JSON pointer. */
  readonly sources: Readonly<Record<string, PolicySource>>;
  /**
   * The machine policy file at the fixed path that was read (`/etc/keystore/policy.json`,
   * `%ProgramData%\keystore\policy.json`), or `null` when there is none.
   */
  readonly machinePolicyPath: string | null;
  /**
   * The additional machine policy file named by `KEYSTORE_MACHINE_POLICY` that was read, or `null`.
   *
   * @since 0.3.0
   */
  readonly machineEnvPolicyPath: string | null;
  /**
   * The registry key a machine policy was read from (`HKLM\SOFTWARE\Policies\keystore`), or
   * `null` when none was (not Windows, no such key, or none asked for).
   *
   * @since 0.2.0
   */
  readonly registryPolicyKey: string | null;
  /**
   * The machine policy sources that were replaced or dropped (only the test hatch of
   * `@keystore/core/testing` can); empty in production.
   *
   * @since 0.3.0
   */
  readonly overrides: readonly PolicyOverride[];
}
