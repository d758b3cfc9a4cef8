/**
 * A CryptoAPI key as the provider hands it to the core.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import {
  HASH_ALGORITHMS,
  type HashAlgorithm,
  type IsolationReceipt,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  type OaepHash,
  type OperationOptions,
  type ProviderKey,
  type ProviderSignature,
  type ProviderSignParams,
  throwIfAborted,
} from '@keystore/core';
import { checkDigestLength } from '@keystore/core/provider';
import { privateKeyFromBlob, reverseBytes } from './blobs.js';
import {
  AT_KEYEXCHANGE,
  AT_SIGNATURE,
  CALG_SHA_256,
  CALG_SHA_384,
  CALG_SHA_512,
  CRYPT_OAEP,
  HP_HASHVAL,
  PRIVATEKEYBLOB,
} from './constants.js';
import type { AdvapiBindings, CryptKeyHandle, CryptProvHandle } from './native/advapi32.js';
import { capiError } from './status.js';

/**
 * Which of a container's two key pairs a key is: `keyExchange` (`AT_KEYEXCHANGE`: signs and
 * decrypts) or `signature` (`AT_SIGNATURE`: signs only).
 *
 * @since 0.2.0
 */
export type CapiKeySpec = 'keyExchange' | 'signature';

/**
 * Where a key's private-key operations run: `auto` (RSA-2048 signatures and decryptions on the
 * calling thread, where one takes 2–4 ms; larger keys on a worker thread) or `worker` (always on a
 * worker thread). Key generation always runs on a worker thread.
 *
 * @since 0.2.0
 */
export type CapiThreading = 'auto' | 'worker';

const HASH_ALG: Readonly<Record<HashAlgorithm, number>> = {
  sha256: CALG_SHA_256,
  sha384: CALG_SHA_384,
  sha512: CALG_SHA_512,
};

/** The native handles of an open key, released together. */
interface Handles {
  readonly native: AdvapiBindings;
  readonly prov: CryptProvHandle;
  readonly key: CryptKeyHandle;
}

function release(handles: Handles): void {
  try {
    handles.native.CryptDestroyKey(handles.key);
  } finally {
    handles.native.CryptReleaseContext(handles.prov);
  }
}

/** Releases the handles of a key dropped without `close()` (its provider and the container registry hold it weakly). */
const dropped = new FinalizationRegistry<Handles>(release);

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, { providerId: 'capi' });
}

function unsupported(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', message, { providerId: 'capi', hint });
}

/**
 * What {@link CapiKey}'s constructor takes.
 *
 * @since 0.2.0
 */
export interface CapiKeyInit {
  /** The key's (and its container's) name. */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** The scope (`machine`: a `CRYPT_MACHINE_KEYSET` container). */
  readonly scope: KeyScope;
  /** Whether CryptoAPI lets the private key be exported (`CRYPT_EXPORT` in `KP_PERMISSIONS`). */
  readonly exportable: boolean;
  /** The key pair of the container it is. */
  readonly keySpec: CapiKeySpec;
  /** The isolation receipt. */
  readonly isolation: IsolationReceipt;
  /** The public key. */
  readonly publicKey: KeyObject;
  /** Where private-key operations run. */
  readonly threading: CapiThreading;
  /**
   * Called before each {@link CapiKey.exportPrivateKey}, which it refuses by rejecting: the provider
   * judges the machine policy there again (its `exportable.export` rule, and whether it still allows
   * the provider). Omitted: nothing is judged before CryptoAPI is asked.
   */
  readonly beforeExport?: (signal: AbortSignal | undefined) => Promise<void>;
}

/**
 * A key in a CryptoAPI container, holding the container's context and key handles until
 * {@link CapiKey.close}. Inputs are checked in TypeScript before any native call; operations on one
 * key run one at a time.
 *
 * > [!WARNING]
 * > CryptoAPI keeps the private key in this process's memory while the key is open.
 *
 * @since 0.2.0
 */
export class CapiKey implements ProviderKey {
  /** The key's name (the container's name). */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** The scope. */
  readonly scope: KeyScope;
  /** Whether CryptoAPI lets the private key be exported. */
  readonly exportable: boolean;
  /** The container's key pair this key is. */
  readonly keySpec: CapiKeySpec;
  /** The isolation achieved: always `in-process`. */
  readonly isolation: IsolationReceipt;
  /** The public key. */
  readonly publicKey: KeyObject;
  /** The modulus length in bytes: the length of signatures and ciphertexts. */
  readonly modulusBytes: number;
  #handles: Handles | null;
  readonly #offload: boolean;
  #tail: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  /** Why the key's container is gone, once {@link CapiKey.retire} was called. */
  #deleted: string | undefined;
  readonly #onClose: ((key: CapiKey) => void) | undefined;
  readonly #beforeExport: ((signal: AbortSignal | undefined) => Promise<void>) | undefined;

  /** @internal */
  constructor(
    init: CapiKeyInit,
    native: AdvapiBindings,
    prov: CryptProvHandle,
    key: CryptKeyHandle,
    onClose?: (key: CapiKey) => void,
  ) {
    this.name = init.name;
    this.algorithm = init.algorithm;
    this.scope = init.scope;
    this.exportable = init.exportable;
    this.keySpec = init.keySpec;
    this.isolation = init.isolation;
    this.publicKey = init.publicKey;
    const bits = init.publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    this.modulusBytes = Math.ceil(bits / 8);
    this.#offload = init.threading === 'worker' || bits > 2048;
    this.#handles = { native, prov, key };
    this.#onClose = onClose;
    this.#beforeExport = init.beforeExport;
    dropped.register(this, this.#handles, this);
  }

  #open(): Handles {
    if (this.#deleted !== undefined) {
      throw new KeyStoreError('ERR_KEYSTORE_KEY_NOT_FOUND', this.#deleted, {
        providerId: 'capi',
        hint: 'open or create the key again by its name',
      });
    }
    if (this.#handles === null) {
      throw new KeyStoreError('ERR_KEYSTORE_KEY_CLOSED', `the CryptoAPI key "${this.name}" was closed`, {
        providerId: 'capi',
      });
    }
    return this.#handles;
  }

  /** Runs `fn` after the key's earlier operations, with its handles (checked again when it starts). */
  #run<T>(fn: (handles: Handles) => T | Promise<T>): Promise<T> {
    const next = this.#tail.then(() => fn(this.#open()));
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /** Signs a digest with PKCS#1 v1.5 (the only RSA signature CryptoAPI makes); the signature comes back big-endian. */
  async signDigest(digest: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature> {
    this.#open();
    throwIfAborted(options?.signal);
    if (!((digest as unknown) instanceof Uint8Array)) throw invalid('the digest must be a Buffer or Uint8Array');
    if (typeof params !== 'object' || params === null) throw invalid('signature parameters are required');
    const hash = params.hash;
    if (!HASH_ALGORITHMS.includes(hash)) {
      throw invalid(`unsupported hash ${JSON.stringify(hash)}: use one of ${HASH_ALGORITHMS.join(', ')}`);
    }
    checkDigestLength(digest, hash, 'capi');
    if (params.padding !== 'pkcs1') {
      if (params.padding === 'pss') {
        throw unsupported(
          'CryptoAPI signs RSA with PKCS#1 v1.5 padding only, not PSS',
          'use padding pkcs1, or move the key to CNG, which signs with PSS',
        );
      }
      throw invalid(`unsupported RSA padding ${JSON.stringify(params.padding)}: use pkcs1`);
    }
    const value = Buffer.from(digest);
    const spec = this.keySpec === 'signature' ? AT_SIGNATURE : AT_KEYEXCHANGE;
    return this.#run(async ({ native, prov }) => {
      const created = native.CryptCreateHash(prov, HASH_ALG[hash]);
      if (created.status !== 0 || created.value === undefined) {
        throw capiError(created.status, `create a ${hash} hash object for key "${this.name}"`);
      }
      const hashHandle = created.value;
      try {
        const set = native.CryptSetHashParam(hashHandle, HP_HASHVAL, value);
        if (set !== 0) throw capiError(set, `set the ${hash} digest for key "${this.name}"`);
        const signed = this.#offload
          ? await native.CryptSignHashWAsync(hashHandle, spec, this.modulusBytes)
          : native.CryptSignHashW(hashHandle, spec, this.modulusBytes);
        if (signed.status !== 0 || signed.value === undefined) {
          throw capiError(signed.status, `sign with key "${this.name}"`);
        }
        return { signature: this.#bigEndian(signed.value) };
      } finally {
        native.CryptDestroyHash(hashHandle);
      }
    });
  }

  /** A little-endian number as big-endian, left-padded to the modulus length. */
  #bigEndian(little: Buffer): Buffer {
    if (little.length > this.modulusBytes) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_NATIVE_FAILURE',
        `CryptoAPI returned ${little.length} bytes for a ${this.modulusBytes}-byte modulus`,
        { providerId: 'capi' },
      );
    }
    const out = Buffer.alloc(this.modulusBytes);
    reverseBytes(little).copy(out, this.modulusBytes - little.length);
    return out;
  }

  /**
   * RSA-OAEP decryption with SHA-1 (`CRYPT_OAEP`: CryptoAPI has no other OAEP hash). The ciphertext
   * is big-endian, as Node's `publicEncrypt` makes it; only `keyExchange` keys decrypt.
   */
  async decrypt(ciphertext: Buffer, hash: OaepHash, options?: OperationOptions): Promise<Buffer> {
    this.#open();
    throwIfAborted(options?.signal);
    if (this.keySpec !== 'keyExchange') {
      throw unsupported(
        `the CryptoAPI key "${this.name}" is an AT_SIGNATURE key, which signs only`,
        'decrypt with an AT_KEYEXCHANGE key (the keySpec keyExchange this provider creates by default)',
      );
    }
    if (hash !== 'sha1') {
      throw unsupported(
        `CryptoAPI decrypts RSA-OAEP with SHA-1 only (CRYPT_OAEP), not ${String(hash)}`,
        'encrypt with oaepHash sha1 and pass { hash: "sha1" }, or move the key to CNG for OAEP with SHA-2',
      );
    }
    if (!((ciphertext as unknown) instanceof Uint8Array))
      throw invalid('the ciphertext must be a Buffer or Uint8Array');
    if (ciphertext.length !== this.modulusBytes) {
      throw invalid(`an RSA-OAEP ciphertext for this key is ${this.modulusBytes} bytes, not ${ciphertext.length}`);
    }
    const little = reverseBytes(ciphertext);
    return this.#run(async ({ native, key }) => {
      try {
        const result = this.#offload
          ? await native.CryptDecryptAsync(key, little, CRYPT_OAEP)
          : native.CryptDecrypt(key, little, CRYPT_OAEP);
        if (result.status !== 0 || result.value === undefined) {
          throw capiError(result.status, `decrypt with key "${this.name}"`);
        }
        return result.value;
      } finally {
        little.fill(0);
      }
    });
  }

  /**
   * Exports the private key (`PRIVATEKEYBLOB`). The provider first judges the machine policy again
   * (`ERR_KEYSTORE_POLICY_VIOLATION` when it sets `exportable.export` to `false` or no longer allows
   * the provider); CryptoAPI itself refuses keys created without `CRYPT_EXPORTABLE`
   * (`NTE_BAD_KEY_STATE`, as `ERR_KEYSTORE_NOT_EXPORTABLE`). A key store checks its own policy before
   * calling this.
   */
  async exportPrivateKey(options?: OperationOptions): Promise<KeyObject> {
    this.#open();
    const signal = options?.signal;
    throwIfAborted(signal);
    if (this.#beforeExport !== undefined) {
      await this.#beforeExport(signal);
      this.#open();
    }
    return this.#run(({ native, key }) => {
      const exported = native.CryptExportKey(key, PRIVATEKEYBLOB);
      if (exported.status !== 0 || exported.value === undefined) {
        throw capiError(exported.status, `export the private key of "${this.name}"`);
      }
      try {
        return privateKeyFromBlob(exported.value);
      } finally {
        exported.value.fill(0);
      }
    });
  }

  /** Destroys the key handle and releases the container context once running operations end. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      const handles = this.#handles;
      this.#closing = (async () => {
        await this.#tail;
        this.#handles = null;
        dropped.unregister(this);
        if (handles !== null) release(handles);
        this.#onClose?.(this);
      })();
      // Operations queued from now on find no handles and reject with KEY_CLOSED.
      this.#tail = this.#closing;
    }
    return this.#closing;
  }

  /**
   * Closes the key because its container is being deleted (or was, by someone else): operations
   * not yet started reject with `ERR_KEYSTORE_KEY_NOT_FOUND` and `reason` as message; the one
   * running, if any, ends first (its native handles are never freed under it). Resolves once the
   * handles are released.
   *
   * @internal
   */
  retire(reason: string): Promise<void> {
    this.#deleted ??= reason;
    return this.close();
  }

  /** Same as {@link CapiKey.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
