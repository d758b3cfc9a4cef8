/**
 * The in-memory provider: keys are Node `KeyObject`s in a `Map`, isolation `none`. For tests and demos.
 *
 * @module
 */
import {
  constants,
  createPublicKey,
  diffieHellman,
  generateKeyPair,
  KeyObject,
  privateDecrypt,
  randomBytes,
  type ScryptOptions,
  scrypt,
  sign,
  timingSafeEqual,
} from 'node:crypto';
import {
  algorithmInfo,
  HASH_ALGORITHMS,
  type HashAlgorithm,
  isKeyAlgorithm,
  KEY_ALGORITHMS,
  type KeyAlgorithm,
  type KeyScope,
  OAEP_HASHES,
  type OaepHash,
} from '../algorithms.js';
import { KeyStoreError, type KeyStoreErrorCode, throwIfAborted } from '../errors.js';
import { publicKeyMatchesAlgorithm } from '../formats.js';
import {
  checkDigestLength,
  checkKeyName,
  checkPassword as checkPasswordArgument,
  checkProviderScope,
  checkRequest,
  checkScope,
  checkSignal,
} from '../provider/checks.js';
import type {
  IsolationReceipt,
  KeyStoreProvider,
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
} from '../types.js';
import { bytesToBigInt, ecdsaSignDigest, rsaPkcs1SignDigest, rsaPssSignDigest } from './digest-sign.js';

const PROVIDER_ID = 'memory';
const SCRYPT_KEY_LENGTH = 32;
const SCRYPT_OPTIONS: ScryptOptions = { N: 16384, r: 8, p: 1 };
const EVIDENCE = [
  'the private key is a Node.js KeyObject in the JavaScript heap of this process; any code running in the process can read it',
] as const;

interface PasswordHash {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** One stored key. */
interface Entry {
  readonly name: string;
  readonly scope: KeyScope;
  readonly algorithm: KeyAlgorithm;
  readonly exportable: boolean;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly password: PasswordHash | undefined;
}

const VAULT_ENTRIES = new WeakMap<MemoryKeyVault, Map<string, Entry>>();

function entriesOf(vault: MemoryKeyVault): Map<string, Entry> {
  const entries = VAULT_ENTRIES.get(vault);
  if (!entries) throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'vault must be a MemoryKeyVault');
  return entries;
}

/**
 * Where in-memory keys live. Each {@link MemoryProvider} has its own unless one is passed in
 * {@link MemoryProviderOptions.vault}; providers sharing a vault see the same keys, like two
 * processes sharing an OS key store.
 *
 * @example
 * ```ts
 * const vault = new MemoryKeyVault();
 * const a = createMemoryProvider({ vault });
 * const b = createMemoryProvider({ vault });
 * await a.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
 * await b.openKey({ name: 'k', scope: 'user' }); // the same key
 * ```
 * @since 0.1.0
 */
export class MemoryKeyVault {
  constructor() {
    VAULT_ENTRIES.set(this, new Map());
  }

  /** How many keys the vault holds, over both scopes. */
  get size(): number {
    return entriesOf(this).size;
  }

  /** Deletes every key. */
  clear(): void {
    entriesOf(this).clear();
  }
}

/**
 * Options of {@link createMemoryProvider}.
 *
 * @since 0.1.0
 */
export interface MemoryProviderOptions {
  /** Where keys live; pass the same vault to several providers to share keys (default: a new one). */
  vault?: MemoryKeyVault;
}

function fail(code: KeyStoreErrorCode, message: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError(
    code,
    message,
    cause === undefined ? { providerId: PROVIDER_ID } : { providerId: PROVIDER_ID, cause },
  );
}

/**
 * The checks every request that names a key gets, from the provider kit: a request object, its
 * signal (then whether it fired), its name and its scope.
 */
function checkKeyRequest(request: ProviderKeyRequest, what: string): { name: string; scope: KeyScope } {
  const r = checkRequest(request, what, PROVIDER_ID);
  throwIfAborted(checkSignal(r.signal, PROVIDER_ID));
  const name = checkKeyName(r.name, PROVIDER_ID);
  const scope = checkProviderScope(r.scope, PROVIDER_ID);
  return { name, scope };
}

function entryId(scope: KeyScope, name: string): string {
  return `${scope}\0${name}`;
}

function scryptAsync(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, SCRYPT_KEY_LENGTH, SCRYPT_OPTIONS, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16);
  return { salt, hash: await scryptAsync(password, salt) };
}

async function checkPassword(entry: Entry, password: string | undefined): Promise<void> {
  if (entry.password === undefined) return;
  if (typeof password !== 'string') {
    throw fail('ERR_KEYSTORE_ACCESS_DENIED', 'the key has a password and none was given');
  }
  const hash = await scryptAsync(password, entry.password.salt);
  if (!timingSafeEqual(hash, entry.password.hash)) throw fail('ERR_KEYSTORE_ACCESS_DENIED', 'wrong key password');
}

function generate(algorithm: KeyAlgorithm): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  const info = algorithmInfo(algorithm);
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: KeyObject, privateKey: KeyObject) =>
      err
        ? reject(fail('ERR_KEYSTORE_NATIVE_FAILURE', 'key generation failed', err))
        : resolve({ publicKey, privateKey });
    if (info.family === 'rsa') generateKeyPair('rsa', { modulusLength: info.bits }, done);
    else generateKeyPair('ec', { namedCurve: info.namedCurve! }, done);
  });
}

function receipt(): IsolationReceipt {
  return { level: 'none', providerId: PROVIDER_ID, measuredAt: new Date().toISOString(), evidence: EVIDENCE };
}

const CAPABILITIES: ProviderCapabilities = Object.freeze({
  algorithms: KEY_ALGORITHMS,
  operations: Object.freeze(['sign', 'decrypt', 'derive'] as const),
  scopes: Object.freeze(['user', 'machine'] as const),
  exportableKeys: true,
  passwords: true,
  legacyCryptoApi: false,
  rsaSignaturePaddings: Object.freeze(['pkcs1', 'pss'] as const),
  oaepHashes: OAEP_HASHES,
  importKeys: true,
});

function closedError(): KeyStoreError {
  return fail('ERR_KEYSTORE_KEY_CLOSED', 'the key was closed');
}

/** A handle on one stored key. */
class MemoryKey implements ProviderKey {
  readonly name: string;
  readonly algorithm: KeyAlgorithm;
  readonly scope: KeyScope;
  readonly exportable: boolean;
  readonly isolation: IsolationReceipt;
  readonly publicKey: KeyObject;
  readonly #entries: Map<string, Entry>;
  readonly #id: string;
  readonly #entry: Entry;
  readonly #rsa: boolean;
  readonly #canSign: boolean;
  #closed = false;
  #d: bigint | undefined;

  constructor(entries: Map<string, Entry>, entry: Entry) {
    this.name = entry.name;
    this.algorithm = entry.algorithm;
    this.scope = entry.scope;
    this.exportable = entry.exportable;
    this.isolation = receipt();
    this.publicKey = entry.publicKey;
    this.#entries = entries;
    this.#id = entryId(entry.scope, entry.name);
    this.#entry = entry;
    const info = algorithmInfo(entry.algorithm);
    this.#rsa = info.family === 'rsa';
    this.#canSign = info.operations.includes('sign');
  }

  /** The private key, once the handle is checked to be open, not cancelled, and its key not deleted. */
  #use(options: OperationOptions | undefined): KeyObject {
    if (this.#closed) throw closedError();
    throwIfAborted(options?.signal);
    if (this.#entries.get(this.#id) !== this.#entry) throw fail('ERR_KEYSTORE_KEY_NOT_FOUND', 'the key was deleted');
    return this.#entry.privateKey;
  }

  #unsupported(operation: string): KeyStoreError {
    return fail('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `a ${this.algorithm} key cannot ${operation}`);
  }

  async signMessage(data: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature> {
    const key = this.#use(options);
    if (!this.#canSign) throw this.#unsupported('sign');
    const hash = params.hash;
    if (!HASH_ALGORITHMS.includes(hash)) throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'unknown hash');
    try {
      if (!this.#rsa) return { signature: sign(hash, data, key), dsaEncoding: 'der' };
      if (params.padding === 'pss') {
        const pss = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength };
        return { signature: sign(hash, data, pss) };
      }
      return { signature: sign(hash, data, key) };
    } catch (cause) {
      throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'the data or signature parameters were refused', cause);
    }
  }

  async signDigest(digest: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature> {
    const key = this.#use(options);
    if (!this.#canSign) throw this.#unsupported('sign');
    const hash: HashAlgorithm = params.hash;
    if (!HASH_ALGORITHMS.includes(hash)) throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'unknown hash');
    if (!Buffer.isBuffer(digest)) throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'the digest must be a Buffer');
    checkDigestLength(digest, hash, PROVIDER_ID);
    const info = algorithmInfo(this.algorithm);
    if (!this.#rsa) {
      this.#d ??= bytesToBigInt(Buffer.from(key.export({ format: 'jwk' }).d as string, 'base64url'));
      return {
        signature: ecdsaSignDigest(info.namedCurve!, info.fieldBytes!, this.#d, digest),
        dsaEncoding: 'ieee-p1363',
      };
    }
    if (params.padding === 'pss') {
      if (!Number.isSafeInteger(params.saltLength) || params.saltLength < 0) {
        throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'the PSS salt length must be a non-negative integer');
      }
      return { signature: rsaPssSignDigest(key, info.bits, hash, digest, params.saltLength) };
    }
    if (params.padding !== 'pkcs1') throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'padding must be pkcs1 or pss');
    return { signature: rsaPkcs1SignDigest(key, hash, digest) };
  }

  /**
   * RSA-OAEP. A ciphertext that does not decrypt (wrong key, wrong hash, corrupted) rejects with
   * `ERR_KEYSTORE_INVALID_ARGUMENT`, the OpenSSL error only as `cause`.
   */
  async decrypt(ciphertext: Buffer, hash: OaepHash, options?: OperationOptions): Promise<Buffer> {
    const key = this.#use(options);
    if (!this.#rsa) throw this.#unsupported('decrypt');
    if (!OAEP_HASHES.includes(hash)) throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'unknown OAEP hash');
    if (!Buffer.isBuffer(ciphertext) || ciphertext.length !== algorithmInfo(this.algorithm).bits / 8) {
      throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'the ciphertext length must equal the modulus length');
    }
    try {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext);
    } catch (cause) {
      throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'the ciphertext does not decrypt with this key and hash', cause);
    }
  }

  async deriveSecret(peer: KeyObject, options?: OperationOptions): Promise<Buffer> {
    const key = this.#use(options);
    if (!algorithmInfo(this.algorithm).operations.includes('derive')) throw this.#unsupported('derive');
    const curve = algorithmInfo(this.algorithm).namedCurve;
    const ok =
      typeof peer === 'object' &&
      peer !== null &&
      (peer.type === 'public' || peer.type === 'private') &&
      peer.asymmetricKeyType === 'ec' &&
      peer.asymmetricKeyDetails?.namedCurve === curve;
    if (!ok) throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', `the peer must be an EC key on ${curve}`);
    const publicKey = peer.type === 'private' ? createPublicKey(peer) : peer;
    try {
      return diffieHellman({ privateKey: key, publicKey });
    } catch (cause) {
      throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'the peer key cannot be used for ECDH', cause);
    }
  }

  async exportPrivateKey(options?: OperationOptions): Promise<KeyObject> {
    const key = this.#use(options);
    if (!this.exportable) throw fail('ERR_KEYSTORE_NOT_EXPORTABLE', 'the key was created non-exportable');
    return key;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/**
 * A {@link KeyStoreProvider} that keeps keys in JavaScript memory: isolation `none`, every algorithm
 * and operation, both scopes, exportable keys, passwords (stored as scrypt hashes) and importing
 * existing keys. For an app's own tests and for demos; never for real keys.
 *
 * > [!NOTE]
 * > A policy must allow `minimumIsolation: 'none'` before a key store will select this provider.
 *
 * Errors: requests are checked by the provider kit's rules (`@keystore/core/provider`), as in the
 * other providers: a bad name rejects with `ERR_KEYSTORE_INVALID_NAME` (1 to 255 characters, no
 * control characters, not starting with `keystore:`), a bad scope or signal with
 * `ERR_KEYSTORE_INVALID_ARGUMENT` (a missing scope is `user`); a wrong or missing password with
 * `ERR_KEYSTORE_ACCESS_DENIED` (on open; deleting needs no password); a ciphertext that does not
 * decrypt with `ERR_KEYSTORE_INVALID_ARGUMENT`. A handle whose key was deleted rejects with
 * `ERR_KEYSTORE_KEY_NOT_FOUND`.
 *
 * @example
 * ```ts
 * import { createMemoryProvider } from '@keystore/core/testing';
 * const provider = createMemoryProvider();
 * const key = await provider.createKey({ name: 'demo', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
 * ```
 * @since 0.1.0
 */
export class MemoryProvider implements KeyStoreProvider {
  /** Always `memory`. */
  readonly id = PROVIDER_ID;
  /** `In-memory (testing only)`. */
  readonly displayName = 'In-memory (testing only)';
  /**
   * Every algorithm and operation, both scopes, exportable keys, passwords, PKCS#1 and PSS, every
   * OAEP hash, key import.
   */
  readonly capabilities: ProviderCapabilities = CAPABILITIES;
  readonly #entries: Map<string, Entry>;

  constructor(options: MemoryProviderOptions = {}) {
    this.#entries = entriesOf(options.vault ?? new MemoryKeyVault());
  }

  /** Always available, with isolation `none`. */
  async probe(_options?: OperationOptions): Promise<ProbeResult> {
    return {
      available: true,
      isolation: 'none',
      reasons: [
        'key bytes live in JavaScript memory of this process (isolation none); use it for tests and demos only',
      ],
      details: { platform: process.platform, persistent: false },
    };
  }

  async createKey(request: ProviderCreateRequest): Promise<ProviderKey> {
    const { id, name, scope } = this.#checkNew(request, 'createKey');
    const { publicKey, privateKey } = await generate(request.algorithm);
    return this.#store(request, id, name, scope, privateKey, publicKey);
  }

  /**
   * Imports a private key (a Node `KeyObject`) under a new name; it must fit `request.algorithm`.
   * The vault keeps the `KeyObject` itself.
   *
   * @since 0.2.0
   */
  async importKey(request: ProviderImportRequest): Promise<ProviderKey> {
    const { id, name, scope } = this.#checkNew(request, 'importKey');
    const { privateKey } = request;
    if (!(privateKey instanceof KeyObject) || privateKey.type !== 'private') {
      throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', 'privateKey must be a private KeyObject');
    }
    if (!publicKeyMatchesAlgorithm(privateKey, request.algorithm)) {
      throw fail('ERR_KEYSTORE_INVALID_ARGUMENT', `the private key does not fit ${request.algorithm}`);
    }
    return this.#store(request, id, name, scope, privateKey, createPublicKey(privateKey));
  }

  /** Checks a create or import request: signal, name, scope, algorithm, password, free name. */
  #checkNew(request: ProviderCreateRequest, what: string): { id: string; name: string; scope: KeyScope } {
    const { name, scope } = checkKeyRequest(request, what);
    if (!isKeyAlgorithm(request.algorithm)) {
      throw fail('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM', `unknown algorithm ${String(request.algorithm)}`);
    }
    checkPasswordArgument(request.password, PROVIDER_ID);
    const id = entryId(scope, name);
    if (this.#entries.has(id)) {
      throw fail('ERR_KEYSTORE_KEY_EXISTS', `a key named "${name}" exists in the ${scope} scope`);
    }
    return { id, name, scope };
  }

  /** Stores a new entry (checking again that the name is free) and returns a handle on it. */
  async #store(
    request: ProviderCreateRequest,
    id: string,
    name: string,
    scope: KeyScope,
    privateKey: KeyObject,
    publicKey: KeyObject,
  ): Promise<ProviderKey> {
    const password = request.password === undefined ? undefined : await hashPassword(request.password);
    throwIfAborted(request.signal);
    if (this.#entries.has(id)) {
      throw fail('ERR_KEYSTORE_KEY_EXISTS', `a key named "${name}" exists in the ${scope} scope`);
    }
    const entry: Entry = {
      name,
      scope,
      algorithm: request.algorithm,
      exportable: request.exportable === true,
      privateKey,
      publicKey,
      password,
    };
    this.#entries.set(id, entry);
    return new MemoryKey(this.#entries, entry);
  }

  async openKey(request: ProviderKeyRequest): Promise<ProviderKey> {
    const entry = this.#find(request, 'openKey');
    await checkPassword(entry, request.password);
    throwIfAborted(request.signal);
    return new MemoryKey(this.#entries, entry);
  }

  async listKeys(options: OperationOptions & { scope?: KeyScope } = {}): Promise<ProviderKeyInfo[]> {
    throwIfAborted(checkSignal(options.signal, PROVIDER_ID));
    const scope = checkScope(options.scope, PROVIDER_ID);
    const out: ProviderKeyInfo[] = [];
    for (const entry of this.#entries.values()) {
      if (scope === undefined || entry.scope === scope) {
        out.push({ name: entry.name, scope: entry.scope, algorithm: entry.algorithm });
      }
    }
    return out;
  }

  async deleteKey(request: ProviderKeyRequest): Promise<void> {
    const entry = this.#find(request, 'deleteKey');
    this.#entries.delete(entryId(entry.scope, entry.name));
  }

  /** Nothing to release; keys stay in the vault and handles already given out stay usable. */
  async close(): Promise<void> {}

  #find(request: ProviderKeyRequest, what: string): Entry {
    const { name, scope } = checkKeyRequest(request, what);
    const entry = this.#entries.get(entryId(scope, name));
    if (!entry) throw fail('ERR_KEYSTORE_KEY_NOT_FOUND', `no key named "${name}" in the ${scope} scope`);
    return entry;
  }
}

/**
 * Creates an in-memory provider (see {@link MemoryProvider}).
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { createMemoryProvider } from '@keystore/core/testing';
 * const store = await createKeyStore({ providers: [createMemoryProvider()], policy: { minimumIsolation: 'none' } });
 * ```
 * @since 0.1.0
 */
export function createMemoryProvider(options?: MemoryProviderOptions): MemoryProvider {
  return new MemoryProvider(options);
}
