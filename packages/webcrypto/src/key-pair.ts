/**
 * `CryptoKey` handles to keystore keys: the private half stays in its provider; the public half is
 * a real WebCrypto public key.
 *
 * @module
 */
import { webcrypto } from 'node:crypto';
import { KeyStoreError, type KeyStoreKey } from '@keystore/core';

type CryptoKey = webcrypto.CryptoKey;
type KeyUsage = webcrypto.KeyUsage;

/**
 * The WebCrypto algorithm an RSA key is used with: each WebCrypto key has one.
 *
 * @since 0.1.0
 */
export type RsaWebCryptoAlgorithm = 'RSASSA-PKCS1-v1_5' | 'RSA-PSS' | 'RSA-OAEP';

/**
 * A WebCrypto hash name.
 *
 * @since 0.1.0
 */
export type WebCryptoHash = 'SHA-256' | 'SHA-384' | 'SHA-512';

/**
 * Options of {@link toCryptoKeyPair}.
 *
 * @since 0.1.0
 */
export interface ToCryptoKeyPairOptions {
  /** For RSA keys: the algorithm the pair is for (default `RSASSA-PKCS1-v1_5`). Ignored for EC keys. */
  algorithm?: RsaWebCryptoAlgorithm;
  /** For RSA keys: the hash bound to the key, as WebCrypto binds it (default `SHA-256`). */
  hash?: WebCryptoHash;
}

/** What a private handle stands for. */
export interface Binding {
  readonly key: KeyStoreKey;
  readonly algorithm: Readonly<Record<string, unknown>> & { readonly name: string };
  /** The hash of an RSA key, as Node's crypto names it. */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | undefined;
}

/** Private handles made by this module, and what each stands for. A handle cannot be forged. */
const bindings = new WeakMap<object, Binding>();

/** The binding of a keystore private handle, or `undefined` for anything else. */
export function bindingOf(value: unknown): Binding | undefined {
  return typeof value === 'object' && value !== null ? bindings.get(value) : undefined;
}

const CURVES: Readonly<Record<string, string>> = { P256: 'P-256', P384: 'P-384', P521: 'P-521' };
const HASHES: Readonly<Record<WebCryptoHash, 'sha256' | 'sha384' | 'sha512'>> = {
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};
const RSA_ALGORITHMS: readonly RsaWebCryptoAlgorithm[] = ['RSASSA-PKCS1-v1_5', 'RSA-PSS', 'RSA-OAEP'];

/** The private half of a keystore key as a `CryptoKey`: algorithm, usages and extractability, no key material. */
class KeyStoreCryptoKey implements CryptoKey {
  readonly type = 'private' as const;
  readonly extractable: boolean;
  readonly algorithm: webcrypto.KeyAlgorithm;
  readonly usages: KeyUsage[];

  constructor(binding: Binding, usages: KeyUsage[]) {
    this.extractable = binding.key.exportable;
    this.algorithm = Object.freeze({ ...binding.algorithm }) as webcrypto.KeyAlgorithm;
    this.usages = usages;
    Object.freeze(this);
  }

  get [Symbol.toStringTag](): string {
    return 'CryptoKey';
  }
}

function invalid(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

function bigIntBytes(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

interface Shape {
  algorithm: Record<string, unknown> & { name: string };
  hash: Binding['hash'];
  privateUsages: KeyUsage[];
  publicUsages: KeyUsage[];
}

function shapeOf(key: KeyStoreKey, options: ToCryptoKeyPairOptions | undefined): Shape {
  const [family, curve] = key.algorithm.split('-') as [string, string];
  if (family === 'ECDSA') {
    return {
      algorithm: { name: 'ECDSA', namedCurve: CURVES[curve] },
      hash: undefined,
      privateUsages: ['sign'],
      publicUsages: ['verify'],
    };
  }
  if (family === 'ECDH') {
    return {
      algorithm: { name: 'ECDH', namedCurve: CURVES[curve] },
      hash: undefined,
      privateUsages: ['deriveBits', 'deriveKey'],
      publicUsages: [],
    };
  }
  const name = options?.algorithm ?? 'RSASSA-PKCS1-v1_5';
  if (!RSA_ALGORITHMS.includes(name)) {
    throw invalid(`algorithm must be RSASSA-PKCS1-v1_5, RSA-PSS or RSA-OAEP, not ${String(name)}`);
  }
  const hash = options?.hash ?? 'SHA-256';
  if (!(hash in HASHES)) throw invalid(`hash must be SHA-256, SHA-384 or SHA-512, not ${String(hash)}`);
  const details = key.publicKey.asymmetricKeyDetails;
  const oaep = name === 'RSA-OAEP';
  return {
    algorithm: {
      name,
      modulusLength: details?.modulusLength,
      publicExponent: bigIntBytes(details?.publicExponent ?? 65537n),
      hash: { name: hash },
    },
    hash: HASHES[hash],
    privateUsages: oaep ? ['decrypt', 'unwrapKey'] : ['sign'],
    publicUsages: oaep ? ['encrypt', 'wrapKey'] : ['verify'],
  };
}

/**
 * A `CryptoKeyPair` for a keystore key. The private `CryptoKey` is a handle: the subtle of
 * {@link keyStoreCrypto} signs, decrypts and derives bits with it through the key's own operations,
 * so the key's policy, isolation receipt and audit events apply on every use, and the private key
 * never enters the process. Its `extractable` is the key's `exportable`. The public `CryptoKey` is
 * an ordinary WebCrypto public key (extractable), usable with any `SubtleCrypto`.
 *
 * ECDSA keys give `{ name: 'ECDSA', namedCurve }`, ECDH keys `{ name: 'ECDH', namedCurve }`, RSA keys
 * the algorithm of `options.algorithm` with `modulusLength`, `publicExponent` and `hash`. The pair
 * does not own `key`: close the key when done with the pair.
 *
 * @example
 * ```ts
 * import { keyStoreCrypto, toCryptoKeyPair } from '@keystore/webcrypto';
 *
 * const key = await store.createKey('signer', { algorithm: 'ECDSA-P256' });
 * const { privateKey, publicKey } = await toCryptoKeyPair(key);
 * const subtle = keyStoreCrypto().subtle;
 * const signature = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data);
 * await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, signature, data); // true
 * ```
 * @throws `KeyStoreError` `ERR_KEYSTORE_INVALID_ARGUMENT` for an unknown RSA algorithm or hash.
 * @since 0.1.0
 */
export async function toCryptoKeyPair(
  key: KeyStoreKey,
  options?: ToCryptoKeyPairOptions,
): Promise<webcrypto.CryptoKeyPair> {
  if (typeof key !== 'object' || key === null || typeof key.sign !== 'function' || key.publicKey === undefined) {
    throw invalid('key must be a KeyStoreKey', 'open or create it with a KeyStore first');
  }
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalid('options must be an object');
  }
  const shape = shapeOf(key, options);
  const binding: Binding = { key, algorithm: shape.algorithm, hash: shape.hash };
  const privateKey = new KeyStoreCryptoKey(binding, shape.privateUsages);
  bindings.set(privateKey, binding);
  const importAlgorithm =
    shape.hash === undefined ? shape.algorithm : { name: shape.algorithm.name, hash: shape.algorithm.hash };
  const publicKey = await webcrypto.subtle.importKey(
    'spki',
    key.exportPublicKey('der'),
    importAlgorithm as unknown as webcrypto.EcKeyImportParams,
    true,
    shape.publicUsages,
  );
  return { privateKey, publicKey };
}
