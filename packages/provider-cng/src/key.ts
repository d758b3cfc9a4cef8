/**
 * A key in an NCrypt key storage provider, as the provider hands it to the core.
 *
 * @module
 */
import { createPublicKey, KeyObject } from 'node:crypto';
import {
  algorithmInfo,
  digestLength,
  HASH_ALGORITHMS,
  type HashAlgorithm,
  type IsolationReceipt,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  OAEP_HASHES,
  type OaepHash,
  type OperationOptions,
  type ProviderCapabilities,
  type ProviderKey,
  type ProviderSignature,
  type ProviderSignParams,
  type SignatureScheme,
  throwIfAborted,
} from '@keystore/core';
import { checkDigestLength } from '@keystore/core/provider';
import { eccPublicBlobFromKeyObject, privateKeyFromBlob } from './native/blobs.js';
import {
  BCRYPT_ECCPRIVATE_BLOB,
  BCRYPT_ECCPUBLIC_BLOB,
  BCRYPT_RSAFULLPRIVATE_BLOB,
  NCRYPT_PCP_PSS_SALT_SIZE_PROPERTY,
  NCRYPT_TPM_PAD_PSS_IGNORE_SALT,
  NCRYPT_TPM_PSS_SALT_SIZE_HASHSIZE,
  NCRYPT_TPM_PSS_SALT_SIZE_MAXIMUM,
  NTE_BAD_KEY_STATE,
  NTE_NOT_SUPPORTED,
  NTE_PERM,
} from './native/constants.js';
import type { HandleTracker } from './native/handles.js';
import type {
  NCryptBindings,
  NCryptHandle,
  NCryptHashName,
  NCryptKeyHandle,
  NCryptProvHandle,
  NCryptSecretHandle,
} from './native/types.js';

/**
 * The statuses with which a storage provider refuses a plaintext private-key export: the Software
 * KSP on Windows answers NTE_NOT_SUPPORTED (dotnet/corefx#29404, dotnet/runtime#48472), Wine NTE_PERM.
 */
const EXPORT_REFUSED: ReadonlySet<number> = new Set([NTE_NOT_SUPPORTED, NTE_PERM, NTE_BAD_KEY_STATE]);

const NCRYPT_HASH: Readonly<Record<OaepHash, NCryptHashName>> = {
  sha1: 'SHA1',
  sha256: 'SHA256',
  sha384: 'SHA384',
  sha512: 'SHA512',
};

/**
 * Everything an {@link NCryptKey} is made from; the provider fills it in.
 *
 * @since 0.2.0
 */
export interface NCryptKeyInit {
  /** The key's name. */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** The scope. */
  readonly scope: KeyScope;
  /** Whether the key's export policy allows plaintext export. */
  readonly exportable: boolean;
  /** The isolation measured for it. */
  readonly isolation: IsolationReceipt;
  /** The public key. */
  readonly publicKey: KeyObject;
  /** The id of the provider that made or opened it. */
  readonly providerId: string;
  /** The storage provider's name, for messages. */
  readonly storageProvider: string;
  /**
   * What the provider can do: its `operations`, `rsaSignaturePaddings` and `oaepHashes` limit what
   * the key accepts, before any native call.
   */
  readonly capabilities: ProviderCapabilities;
  /**
   * Whether RSA-PSS follows the Platform Crypto Provider's salt rules: the key's TPM makes one salt
   * length only (its "PSS Salt Size" property), which a signature must ask for.
   */
  readonly pssSaltMustEqualDigest: boolean;
  /** The bindings its operations call. */
  readonly ncrypt: NCryptBindings;
  /** The key handle; the key object owns it from now on. */
  readonly keyHandle: NCryptKeyHandle;
  /** The storage provider handle the key was opened through; owned likewise. */
  readonly provHandle: NCryptProvHandle;
  /** Frees both handles if the key object is garbage-collected without `close()`. */
  readonly tracker: HandleTracker;
}

/**
 * A key in an NCrypt key storage provider. It holds its key handle and its storage provider handle
 * until {@link NCryptKey.close} (or, when it is dropped unclosed, until it is garbage-collected).
 * Every input is checked in TypeScript before a native call: a wrong digest length, a hash or
 * padding the key cannot use, a peer key on another curve, an operation the algorithm does not have,
 * and anything beyond the provider's capabilities (an OAEP hash, an RSA padding, an operation it
 * does not list; a PSS salt other than the digest length where the provider allows no other).
 *
 * @since 0.2.0
 */
export class NCryptKey implements ProviderKey {
  /** The key's name. */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** The scope. */
  readonly scope: KeyScope;
  /** Whether the private key can be exported (the key's export policy allows plaintext export). */
  readonly exportable: boolean;
  /** The isolation achieved for this key. */
  readonly isolation: IsolationReceipt;
  /** The public key. */
  readonly publicKey: KeyObject;
  readonly #providerId: string;
  readonly #storageProvider: string;
  readonly #capabilities: ProviderCapabilities;
  readonly #pssSaltMustEqualDigest: boolean;
  readonly #ncrypt: NCryptBindings;
  readonly #tracker: HandleTracker;
  readonly #key: NCryptKeyHandle;
  readonly #prov: NCryptProvHandle;
  #closed = false;
  #freed = false;
  #busy = 0;

  /** @internal */
  constructor(init: NCryptKeyInit) {
    this.name = init.name;
    this.algorithm = init.algorithm;
    this.scope = init.scope;
    this.exportable = init.exportable;
    this.isolation = init.isolation;
    this.publicKey = init.publicKey;
    this.#providerId = init.providerId;
    this.#storageProvider = init.storageProvider;
    this.#capabilities = init.capabilities;
    this.#pssSaltMustEqualDigest = init.pssSaltMustEqualDigest;
    this.#ncrypt = init.ncrypt;
    this.#tracker = init.tracker;
    this.#key = init.keyHandle;
    this.#prov = init.provHandle;
    this.#tracker.track(this, [init.keyHandle, init.provHandle]);
  }

  #error(code: ConstructorParameters<typeof KeyStoreError>[0], message: string, hint?: string, cause?: unknown) {
    return new KeyStoreError(code, message, {
      providerId: this.#providerId,
      ...(hint === undefined ? {} : { hint }),
      ...(cause === undefined ? {} : { cause }),
      ...(KeyStoreError.is(cause) && cause.nativeStatus !== undefined
        ? { nativeStatus: cause.nativeStatus, nativeName: cause.nativeName }
        : {}),
    });
  }

  #unsupported(message: string, hint?: string): KeyStoreError {
    return this.#error('ERR_KEYSTORE_UNSUPPORTED_OPERATION', message, hint);
  }

  #invalid(message: string): KeyStoreError {
    return this.#error('ERR_KEYSTORE_INVALID_ARGUMENT', message);
  }

  /** Refuses an operation the provider does not list, with `ERR_KEYSTORE_UNSUPPORTED_OPERATION`. */
  #assertOperation(operation: ProviderCapabilities['operations'][number]): void {
    if (!this.#capabilities.operations.includes(operation)) {
      throw this.#unsupported(`the ${this.#providerId} provider cannot ${operation} (${this.#storageProvider})`);
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw this.#error('ERR_KEYSTORE_KEY_CLOSED', `the key "${this.name}" was closed`);
    }
  }

  /** Runs an operation on the handles; a `close()` meanwhile frees them when the last one ends. */
  async #use<T>(fn: (key: NCryptKeyHandle, prov: NCryptProvHandle) => Promise<T>): Promise<T> {
    this.#assertOpen();
    this.#busy++;
    try {
      return await fn(this.#key, this.#prov);
    } finally {
      this.#busy--;
      if (this.#closed && this.#busy === 0) this.#free();
    }
  }

  #free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#tracker.untrack(this);
    for (const handle of [this.#key, this.#prov] as NCryptHandle[]) {
      try {
        this.#ncrypt.freeObject(handle);
      } catch {
        // Nothing more can be done about a handle NCrypt refuses to free.
      }
    }
  }

  /**
   * Signs a digest: RSA with PKCS#1 v1.5 or PSS (salt `params.saltLength`), big-endian as Node
   * expects; ECDSA as IEEE P1363 `r‖s`, as NCrypt returns it.
   */
  async signDigest(digest: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature> {
    this.#assertOpen();
    throwIfAborted(options?.signal);
    const info = algorithmInfo(this.algorithm);
    if (!info.operations.includes('sign')) {
      throw this.#unsupported(
        `the key "${this.name}" is ${this.algorithm}: it derives secrets and cannot sign`,
        'create an ECDSA key to sign',
      );
    }
    this.#assertOperation('sign');
    if (!((digest as unknown) instanceof Uint8Array)) throw this.#invalid('the digest must be a Buffer');
    if (typeof params !== 'object' || params === null) throw this.#invalid('signDigest needs params');
    const hash = params.hash;
    if (!HASH_ALGORITHMS.includes(hash)) {
      throw this.#invalid(`unsupported hash ${JSON.stringify(hash)}: use one of ${HASH_ALGORITHMS.join(', ')}`);
    }
    checkDigestLength(digest, hash, this.#providerId);
    const data = Buffer.from(digest);
    if (info.family === 'ec') {
      this.#assertSignatureHash('ecdsa', hash);
      const signature = await this.#use((key) => this.#ncrypt.signHash(key, data, { kind: 'none' }));
      const expected = 2 * (info.fieldBytes ?? 0);
      if (signature.length !== expected) {
        throw this.#error(
          'ERR_KEYSTORE_NATIVE_FAILURE',
          `NCryptSignHash returned ${signature.length} bytes for a ${this.algorithm} signature, not ${expected}`,
        );
      }
      return { signature, dsaEncoding: 'ieee-p1363' };
    }
    const padding = this.#signPadding(hash, params);
    const signature = await this.#use((key) => {
      if (padding.kind !== 'pss' || !this.#pssSaltMustEqualDigest) return this.#ncrypt.signHash(key, data, padding);
      return this.#ncrypt.signHash(key, data, padding, this.#tpmPssFlags(key, hash, padding.saltLength));
    });
    if (signature.length !== info.bits / 8) {
      throw this.#error(
        'ERR_KEYSTORE_NATIVE_FAILURE',
        `NCryptSignHash returned ${signature.length} bytes for an RSA-${info.bits} signature, not ${info.bits / 8}`,
      );
    }
    return { signature };
  }

  #signPadding(hash: HashAlgorithm, params: ProviderSignParams) {
    const bits = algorithmInfo(this.algorithm).bits;
    if (params.padding !== 'pkcs1' && params.padding !== 'pss') {
      throw this.#invalid(`unsupported RSA padding ${JSON.stringify(params.padding)}: use pkcs1 or pss`);
    }
    if (!this.#capabilities.rsaSignaturePaddings.includes(params.padding)) {
      throw this.#unsupported(
        `${this.#storageProvider} does not sign with RSA padding ${params.padding}`,
        `use ${this.#capabilities.rsaSignaturePaddings.join(' or ')}`,
      );
    }
    this.#assertSignatureHash(params.padding, hash);
    if (params.padding === 'pkcs1') return { kind: 'pkcs1', hash: NCRYPT_HASH[hash] } as const;
    const saltLength = params.saltLength;
    const hLen = digestLength(hash);
    // EMSA-PSS (RFC 8017 §9.1.1): emLen ≥ hLen + sLen + 2, emLen = ⌈(modBits − 1) / 8⌉.
    const max = Math.ceil((bits - 1) / 8) - hLen - 2;
    if (!Number.isInteger(saltLength) || saltLength < 0 || saltLength > max) {
      throw this.#invalid(
        `a PSS salt for an RSA-${bits} key and ${hash} is an integer from 0 to ${max} bytes, not ${String(saltLength)}`,
      );
    }
    return { kind: 'pss', hash: NCRYPT_HASH[hash], saltLength } as const;
  }

  /** Refuses a hash the provider does not sign with in `scheme` (`capabilities.signatureHashes`). */
  #assertSignatureHash(scheme: SignatureScheme, hash: HashAlgorithm): void {
    const hashes = this.#capabilities.signatureHashes?.[scheme];
    if (hashes === undefined || hashes.includes(hash)) return;
    const label = { pkcs1: 'RSA PKCS#1 v1.5', pss: 'RSA-PSS', ecdsa: 'ECDSA' }[scheme];
    throw this.#error(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      `${this.#storageProvider} does not sign ${label} with ${hash}`,
      scheme === 'pss'
        ? `sign with ${hashes.join(' or ')}, or with PKCS#1 v1.5 (the Platform Crypto Provider answers NTE_NOT_SUPPORTED to PSS with SHA-384/512)`
        : `sign with ${hashes.join(' or ')}`,
    );
  }

  /**
   * The flags of a PSS signature on the Platform Crypto Provider. The key's TPM makes one salt length
   * (its "PSS Salt Size" property: the digest length on TPMs built to spec 1.16 and later, the
   * maximum before) and refuses any other with TPM_E_PCP_UNSUPPORTED_PSS_SALT. When the property
   * says which, a salt of another length is refused here, with the reason, and the signature is asked
   * with NCRYPT_TPM_PAD_PSS_IGNORE_SALT (the TPM's salt, which is the one asked for). When it does
   * not say (0, or unreadable before Windows 10 1809), the call goes to the TPM as asked, and a salt
   * it cannot make comes back as TPM_E_PCP_UNSUPPORTED_PSS_SALT.
   */
  #tpmPssFlags(key: NCryptKeyHandle, hash: HashAlgorithm, saltLength: number): number {
    let size: number | undefined;
    try {
      size = this.#ncrypt.getDwordProperty(key, NCRYPT_PCP_PSS_SALT_SIZE_PROPERTY);
    } catch {
      size = undefined;
    }
    const hLen = digestLength(hash);
    const max = Math.ceil((algorithmInfo(this.algorithm).bits - 1) / 8) - hLen - 2;
    const tpm =
      size === NCRYPT_TPM_PSS_SALT_SIZE_HASHSIZE
        ? { salt: hLen, what: `the digest length (${hLen} bytes for ${hash})`, era: 'spec 1.16 or later' }
        : size === NCRYPT_TPM_PSS_SALT_SIZE_MAXIMUM
          ? { salt: max, what: `the maximum (${max} bytes for ${hash} and this key)`, era: 'a spec before 1.16' }
          : undefined;
    if (tpm === undefined) return 0;
    if (saltLength !== tpm.salt) {
      throw this.#unsupported(
        `this key's TPM (built to ${tpm.era}) signs RSA-PSS with a salt of ${tpm.what} only, not ${saltLength}: its "PSS Salt Size" property reads ${size}`,
        `pass saltLength ${tpm.salt}, or sign with PKCS#1 v1.5`,
      );
    }
    return NCRYPT_TPM_PAD_PSS_IGNORE_SALT;
  }

  /**
   * RSA-OAEP decryption with SHA-1, SHA-256, SHA-384 or SHA-512 (MGF1 with the same hash, no label),
   * as far as the provider's `oaepHashes` allow.
   */
  async decrypt(ciphertext: Buffer, hash: OaepHash, options?: OperationOptions): Promise<Buffer> {
    this.#assertOpen();
    throwIfAborted(options?.signal);
    const info = algorithmInfo(this.algorithm);
    if (info.family !== 'rsa') {
      throw this.#unsupported(`the key "${this.name}" is ${this.algorithm}: only RSA keys decrypt`);
    }
    this.#assertOperation('decrypt');
    if (!OAEP_HASHES.includes(hash)) {
      throw this.#invalid(`unsupported OAEP hash ${JSON.stringify(hash)}: use one of ${OAEP_HASHES.join(', ')}`);
    }
    if (!this.#capabilities.oaepHashes.includes(hash)) {
      throw this.#unsupported(
        `${this.#storageProvider} does not decrypt RSA-OAEP with ${hash}`,
        `use ${this.#capabilities.oaepHashes.join(', ') || 'another provider'}`,
      );
    }
    if (!((ciphertext as unknown) instanceof Uint8Array)) throw this.#invalid('the ciphertext must be a Buffer');
    const size = info.bits / 8;
    if (ciphertext.length !== size) {
      throw this.#invalid(
        `an RSA-OAEP ciphertext for an RSA-${info.bits} key is ${size} bytes, not ${ciphertext.length}`,
      );
    }
    const data = Buffer.from(ciphertext);
    return this.#use((key) => this.#ncrypt.decrypt(key, data, { kind: 'oaep', hash: NCRYPT_HASH[hash] }));
  }

  /**
   * ECDH with a peer's public key on the same curve: the raw shared secret (the X coordinate,
   * big-endian, one field element long). NCrypt returns it little-endian; it is reversed here.
   */
  async deriveSecret(peer: KeyObject, options?: OperationOptions): Promise<Buffer> {
    this.#assertOpen();
    throwIfAborted(options?.signal);
    const info = algorithmInfo(this.algorithm);
    if (!info.operations.includes('derive')) {
      throw this.#unsupported(
        `the key "${this.name}" is ${this.algorithm}: only ECDH keys derive secrets`,
        'create an ECDH key for key agreement',
      );
    }
    this.#assertOperation('derive');
    if (!(peer instanceof KeyObject) || peer.type !== 'public' || peer.asymmetricKeyType !== 'ec') {
      throw this.#invalid('the peer must be an EC public KeyObject');
    }
    const curve = peer.asymmetricKeyDetails?.namedCurve;
    if (curve !== info.namedCurve) {
      throw this.#invalid(`the peer key is on ${String(curve)}, but the key "${this.name}" is on ${info.curve}`);
    }
    const fieldBytes = info.fieldBytes ?? 0;
    const peerBlob = eccPublicBlobFromKeyObject(peer, 'ECDH');
    const raw = await this.#use(async (key, prov) => {
      throwIfAborted(options?.signal);
      const peerHandle = await this.#ncrypt.importKey(prov, BCRYPT_ECCPUBLIC_BLOB, peerBlob, null, 0);
      let secret: NCryptSecretHandle | undefined;
      try {
        throwIfAborted(options?.signal);
        secret = await this.#ncrypt.secretAgreement(key, peerHandle);
        throwIfAborted(options?.signal);
        return await this.#ncrypt.deriveRawSecret(secret);
      } finally {
        if (secret !== undefined) this.#ncrypt.freeObject(secret);
        this.#ncrypt.freeObject(peerHandle);
      }
    });
    const bigEndian = Buffer.from(raw).reverse();
    raw.fill(0);
    let start = 0;
    while (bigEndian.length - start > fieldBytes && bigEndian[start] === 0) start++;
    const trimmed = bigEndian.subarray(start);
    if (trimmed.length > fieldBytes) {
      throw this.#error(
        'ERR_KEYSTORE_NATIVE_FAILURE',
        `NCryptDeriveKey returned ${raw.length} bytes for a ${info.curve} secret, more than ${fieldBytes}`,
      );
    }
    const out = Buffer.alloc(fieldBytes);
    trimmed.copy(out, fieldBytes - trimmed.length);
    bigEndian.fill(0);
    return out;
  }

  /**
   * Exports the private key (`RSAFULLPRIVATEBLOB` or `ECCPRIVATEBLOB`) as a `KeyObject`. A key whose
   * export policy does not allow plaintext export is refused with `ERR_KEYSTORE_NOT_EXPORTABLE`
   * before any native call, and so is an export the storage provider refuses. Providers refuse with
   * different statuses: the Software KSP on Windows answers `NTE_NOT_SUPPORTED` (as .NET's `CngKey`
   * sees it), Wine `NTE_PERM`, and a key in a state that forbids it `NTE_BAD_KEY_STATE`; all three
   * are `ERR_KEYSTORE_NOT_EXPORTABLE`.
   */
  async exportPrivateKey(options?: OperationOptions): Promise<KeyObject> {
    this.#assertOpen();
    throwIfAborted(options?.signal);
    if (!this.exportable) {
      throw this.#error(
        'ERR_KEYSTORE_NOT_EXPORTABLE',
        `the key "${this.name}" is not exportable: its export policy does not allow plaintext export`,
        'create the key with exportable: true (and a policy that allows it) if its private key must leave the key store',
      );
    }
    const info = algorithmInfo(this.algorithm);
    const rsa = info.family === 'rsa';
    const blob = await this.#use(async (key) => {
      try {
        return this.#ncrypt.exportKey(key, rsa ? BCRYPT_RSAFULLPRIVATE_BLOB : BCRYPT_ECCPRIVATE_BLOB);
      } catch (err) {
        if (KeyStoreError.is(err) && err.nativeStatus !== undefined && EXPORT_REFUSED.has(err.nativeStatus)) {
          throw this.#error(
            'ERR_KEYSTORE_NOT_EXPORTABLE',
            `${this.#storageProvider} refused to export the private key of "${this.name}"`,
            'its export policy does not allow plaintext export',
            err,
          );
        }
        throw err;
      }
    });
    try {
      const privateKey = privateKeyFromBlob(blob, info.curve);
      if (!createPublicKey(privateKey).equals(this.publicKey)) {
        throw this.#error(
          'ERR_KEYSTORE_NATIVE_FAILURE',
          `the private key exported for "${this.name}" does not belong to its public key`,
        );
      }
      return privateKey;
    } finally {
      blob.fill(0);
    }
  }

  /**
   * Frees the key handle and the storage provider handle (after operations in flight end). Idempotent;
   * later operations reject with `ERR_KEYSTORE_KEY_CLOSED`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#busy === 0) this.#free();
  }

  /** Same as {@link NCryptKey.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
