/**
 * The `Crypto` facade, and its installation as the process's `globalThis.crypto` for libraries that
 * use the global one.
 *
 * @module
 */
import { webcrypto } from 'node:crypto';
import { type KeyStore, KeyStoreError, type KeyStoreKey, type OpenKeyOptions } from '@keystore/core';
import { type ToCryptoKeyPairOptions, toCryptoKeyPair } from './key-pair.js';
import { KeyStoreSubtle, NodeCryptoKey } from './subtle.js';

/**
 * A `CryptoKeyPair` opened from a key store, with the key it stands for (close it when done).
 *
 * @since 0.1.0
 */
export interface KeyStoreCryptoKeyPair {
  /** The handle to the private key, for the facade's `subtle`. */
  readonly privateKey: webcrypto.CryptoKey;
  /** The public key, an ordinary WebCrypto key. */
  readonly publicKey: webcrypto.CryptoKey;
  /** The keystore key the private handle uses. */
  readonly key: KeyStoreKey;
}

/**
 * What {@link keyStoreCrypto} returns: a WebCrypto `Crypto` whose `subtle` uses keystore keys.
 *
 * @since 0.1.0
 */
export interface KeyStoreCrypto {
  /** Signs, decrypts and derives with keystore handles; Node's subtle for everything else. */
  readonly subtle: webcrypto.SubtleCrypto;
  /** Node's `CryptoKey` class (the handles are not instances of it, but say `[object CryptoKey]`). */
  readonly CryptoKey: typeof webcrypto.CryptoKey;
  /** Node's `crypto.getRandomValues`. */
  getRandomValues<T extends Parameters<webcrypto.Crypto['getRandomValues']>[0]>(array: T): T;
  /** Node's `crypto.randomUUID`. */
  randomUUID(): ReturnType<webcrypto.Crypto['randomUUID']>;
  /**
   * Opens a key of the store given to {@link keyStoreCrypto} and returns its {@link toCryptoKeyPair}
   * pair with the key. Rejects with `ERR_KEYSTORE_INVALID_ARGUMENT` when no store was given.
   */
  openKeyPair(nameOrRef: string, options?: OpenKeyOptions & ToCryptoKeyPairOptions): Promise<KeyStoreCryptoKeyPair>;
}

/**
 * A WebCrypto `Crypto` over keystore keys. Its `subtle` signs (ECDSA signatures in IEEE P1363, as
 * WebCrypto gives them), decrypts (RSA-OAEP), derives bits and keys (ECDH) and exports with the private
 * handles of {@link toCryptoKeyPair}, through the key's own operations: the key's policy, receipt and
 * audit events apply on every use. Every operation on an ordinary `CryptoKey`, and `digest`,
 * `generateKey` and `importKey`, is Node's `crypto.webcrypto.subtle`, unchanged. `getRandomValues`
 * and `randomUUID` are Node's.
 *
 * Errors are WebCrypto's: `InvalidAccessError` for a key used with another algorithm or usage, or
 * exported when it is not exportable; `NotSupportedError` for what the key's provider cannot do;
 * `OperationError` for any other failure of the key. Each has the `KeyStoreError` as `cause`
 * where there is one.
 *
 * @param store Optional: the store {@link KeyStoreCrypto.openKeyPair} opens keys from.
 * @example
 * ```ts
 * import { keyStoreCrypto } from '@keystore/webcrypto';
 *
 * const crypto = keyStoreCrypto(store);
 * const { privateKey, publicKey, key } = await crypto.openKeyPair('signer');
 * const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data);
 * await key.close();
 * ```
 * @since 0.1.0
 */
export function keyStoreCrypto(store?: KeyStore): KeyStoreCrypto {
  const subtle = new KeyStoreSubtle() as unknown as webcrypto.SubtleCrypto;
  return Object.freeze({
    subtle,
    CryptoKey: NodeCryptoKey,
    getRandomValues: <T extends Parameters<webcrypto.Crypto['getRandomValues']>[0]>(array: T): T =>
      webcrypto.getRandomValues(array),
    randomUUID: () => webcrypto.randomUUID(),
    async openKeyPair(nameOrRef: string, options?: OpenKeyOptions & ToCryptoKeyPairOptions) {
      if (store === undefined) {
        throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'openKeyPair needs the store', {
          hint: 'pass the KeyStore to keyStoreCrypto(store)',
        });
      }
      const key = await store.openKey(nameOrRef, options);
      try {
        return { ...(await toCryptoKeyPair(key, options)), key };
      } catch (error) {
        await key.close();
        throw error;
      }
    },
  }) as KeyStoreCrypto;
}

/**
 * The installation made by {@link installGlobalCrypto}.
 *
 * @since 0.1.0
 */
export interface GlobalCryptoInstallation extends Disposable {
  /** Puts back the `globalThis.crypto` that was there before. Idempotent. */
  restore(): void;
}

/**
 * Makes `crypto` the process's `globalThis.crypto` until {@link GlobalCryptoInstallation.restore}.
 * Libraries that call the global `crypto.subtle` (jose does) can then sign with keystore handles;
 * every other call still goes to Node's subtle unchanged, so other code in the process sees no
 * difference. The global is replaced, not patched: Node's own `crypto` object is left as it was.
 *
 * @example
 * ```ts
 * import { SignJWT } from 'jose';
 * import { installGlobalCrypto, keyStoreCrypto, toCryptoKeyPair } from '@keystore/webcrypto';
 *
 * using _ = installGlobalCrypto(keyStoreCrypto());
 * const { privateKey } = await toCryptoKeyPair(key);
 * const jwt = await new SignJWT({ sub: 'me' }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
 * ```
 * @since 0.1.0
 */
export function installGlobalCrypto(crypto: KeyStoreCrypto): GlobalCryptoInstallation {
  if (typeof crypto !== 'object' || crypto === null || !(crypto.subtle instanceof KeyStoreSubtle)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'crypto must come from keyStoreCrypto()');
  }
  const before = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  if (before !== undefined && before.configurable !== true) {
    throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'globalThis.crypto cannot be replaced here');
  }
  Object.defineProperty(globalThis, 'crypto', { value: crypto, configurable: true, enumerable: true, writable: false });
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    if (before === undefined) delete (globalThis as { crypto?: unknown }).crypto;
    else Object.defineProperty(globalThis, 'crypto', before);
  };
  const dispose = (Symbol as { dispose?: typeof Symbol.dispose }).dispose ?? Symbol.for('nodejs.dispose');
  return { restore, [dispose]: restore } as unknown as GlobalCryptoInstallation;
}
