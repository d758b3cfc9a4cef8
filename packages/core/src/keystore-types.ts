/**
 * The app-facing interfaces: what an app calls ({@link KeyStore}, {@link KeyStoreKey}), their
 * options, and the selection explanation.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import type { DsaEncoding, HashAlgorithm, KeyAlgorithm, KeyScope, OaepHash, RsaPadding } from './algorithms.js';
import type { IsolationLevel } from './isolation.js';
import type { EffectivePolicy, PolicyOverride } from './policy-types.js';
import type {
  IsolationReceipt,
  KeyList,
  KeyStoreProvider,
  OperationOptions,
  UserPromptOptions,
} from './provider-types.js';

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
 * {@link "Provider selection" | Provider selection} tells which provider serves a call, and
 * {@link "Policy reference" | the policy guide} what the policy may require.
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
