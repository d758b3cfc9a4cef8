/**
 * A `SubtleCrypto` that uses keystore private handles through their keys' own operations and passes
 * everything else to Node's `crypto.webcrypto.subtle` unchanged.
 *
 * @module
 */
import { KeyObject, webcrypto } from 'node:crypto';
import { KeyStoreError, type SignOptions } from '@keystore/core';
import { type Binding, bindingOf } from './key-pair.js';

type SubtleCrypto = webcrypto.SubtleCrypto;
type CryptoKey = webcrypto.CryptoKey;

const node = webcrypto.subtle;

/** Node's `CryptoKey` class: a global from Node 19 (the `webcrypto.CryptoKey` export came later). */
export const NodeCryptoKey = (globalThis as unknown as { CryptoKey: typeof webcrypto.CryptoKey }).CryptoKey;

function isCryptoKey(value: unknown): value is CryptoKey {
  return value instanceof NodeCryptoKey;
}

function domError(name: string, message: string, cause?: unknown): DOMException {
  return cause === undefined ? new DOMException(message, name) : new DOMException(message, { name, cause });
}

const CANONICAL: ReadonlyMap<string, string> = new Map(
  ['ECDSA', 'ECDH', 'RSASSA-PKCS1-v1_5', 'RSA-PSS', 'RSA-OAEP', 'SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'].map(
    (name) => [name.toUpperCase(), name],
  ),
);

/** The algorithm's name, canonical where it is one this module knows (WebCrypto names are case-insensitive). */
function algorithmName(algorithm: unknown): string {
  const name = typeof algorithm === 'string' ? algorithm : (algorithm as { name?: unknown } | null)?.name;
  if (typeof name !== 'string') throw new TypeError('the algorithm must be a string or an object with a name');
  return CANONICAL.get(name.toUpperCase()) ?? name;
}

function hashOf(algorithm: unknown): 'sha256' | 'sha384' | 'sha512' {
  const hash = (algorithm as { hash?: unknown }).hash;
  if (hash === undefined) throw new TypeError('the algorithm needs a hash');
  const name = algorithmName(hash);
  if (name === 'SHA-256') return 'sha256';
  if (name === 'SHA-384') return 'sha384';
  if (name === 'SHA-512') return 'sha512';
  throw domError('NotSupportedError', `keystore keys sign with SHA-256, SHA-384 or SHA-512, not ${name}`);
}

function bytesOf(data: unknown, what: string): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${what} must be an ArrayBuffer, a TypedArray or a DataView`);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Checks that the handle is for `name` and allows `usage`, as WebCrypto checks a key. */
function check(binding: Binding, handle: CryptoKey, name: string, usage: webcrypto.KeyUsage): void {
  if (name !== binding.algorithm.name) {
    throw domError('InvalidAccessError', `the key is an ${binding.algorithm.name} key, not for ${name}`);
  }
  if (!handle.usages.includes(usage)) {
    throw domError('InvalidAccessError', `the key's usages do not include ${usage}`);
  }
}

/** A keystore error as the DOMException a WebCrypto user expects, with the keystore error as `cause`. */
function operationError(error: unknown, what: string): unknown {
  if (!KeyStoreError.is(error)) return error;
  const name =
    error.code === 'ERR_KEYSTORE_UNSUPPORTED_OPERATION' || error.code === 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM'
      ? 'NotSupportedError'
      : 'OperationError';
  return domError(name, `${what} failed: ${error.message}`, error);
}

async function sign(binding: Binding, algorithm: unknown, data: Uint8Array): Promise<ArrayBuffer> {
  const name = binding.algorithm.name;
  let options: SignOptions;
  if (name === 'ECDSA') {
    options = { hash: hashOf(algorithm), dsaEncoding: 'ieee-p1363' };
  } else if (name === 'RSA-PSS') {
    const saltLength = (algorithm as { saltLength?: unknown }).saltLength;
    if (typeof saltLength !== 'number') throw new TypeError('RSA-PSS needs a saltLength');
    options = { hash: binding.hash, padding: 'pss', saltLength };
  } else {
    options = { hash: binding.hash, padding: 'pkcs1' };
  }
  try {
    return toArrayBuffer(await binding.key.sign(data, options));
  } catch (error) {
    throw operationError(error, 'signing');
  }
}

async function decrypt(binding: Binding, algorithm: unknown, data: Uint8Array): Promise<ArrayBuffer> {
  const label = (algorithm as { label?: unknown }).label;
  if (label !== undefined && bytesOf(label, 'label').byteLength > 0) {
    throw domError('NotSupportedError', 'keystore keys decrypt RSA-OAEP without a label only');
  }
  try {
    return toArrayBuffer(await binding.key.decrypt(data, { hash: binding.hash }));
  } catch (error) {
    throw operationError(error, 'decrypting');
  }
}

async function deriveBits(binding: Binding, algorithm: unknown, length: number | null): Promise<ArrayBuffer> {
  const peer = (algorithm as { public?: unknown }).public;
  if (!isCryptoKey(peer) || peer.type !== 'public') {
    throw new TypeError('ECDH needs the peer public CryptoKey as algorithm.public');
  }
  if (peer.algorithm.name !== 'ECDH') throw domError('InvalidAccessError', 'the peer key is not an ECDH key');
  let secret: Buffer;
  try {
    secret = await binding.key.deriveSecret(KeyObject.from(peer));
  } catch (error) {
    throw operationError(error, 'deriving bits');
  }
  if (length === null || length === undefined) return toArrayBuffer(secret);
  if (length > secret.byteLength * 8)
    throw domError('OperationError', `the shared secret is shorter than ${length} bits`);
  const out = secret.subarray(0, Math.ceil(length / 8));
  if (length % 8 !== 0) out[out.length - 1] = (out[out.length - 1] ?? 0) & (0xff << (8 - (length % 8)));
  return toArrayBuffer(out);
}

/** The length in bits that `deriveKey` derives for a key of `algorithm` (AES and HMAC with a length). */
function derivedLength(algorithm: unknown): number {
  const name = algorithmName(algorithm).toUpperCase();
  const length = (algorithm as { length?: unknown }).length;
  if ((name.startsWith('AES-') || name === 'HMAC') && typeof length === 'number') return length;
  throw domError('NotSupportedError', 'deriveKey from a keystore key needs an AES key or an HMAC key with a length');
}

async function exportPrivate(binding: Binding, format: string): Promise<ArrayBuffer | webcrypto.JsonWebKey> {
  if (format !== 'pkcs8' && format !== 'jwk') {
    throw domError('InvalidAccessError', `a private key cannot be exported as ${format}`);
  }
  let key: KeyObject;
  try {
    key = await binding.key.exportPrivateKey();
  } catch (error) {
    if (!KeyStoreError.is(error)) throw error;
    throw domError('InvalidAccessError', `the key cannot be exported: ${error.message}`, error);
  }
  if (format === 'jwk') return key.export({ format: 'jwk' }) as webcrypto.JsonWebKey;
  return toArrayBuffer(key.export({ format: 'der', type: 'pkcs8' }));
}

/** The handle as a Node `CryptoKey`, for wrapping (extractable keys only; the export is checked as usual). */
async function exportedHandle(binding: Binding, handle: CryptoKey): Promise<CryptoKey> {
  const pkcs8 = (await exportPrivate(binding, 'pkcs8')) as ArrayBuffer;
  return node.importKey(
    'pkcs8',
    pkcs8,
    binding.algorithm as unknown as webcrypto.EcKeyImportParams,
    true,
    handle.usages,
  );
}

function privateOnly(what: string): DOMException {
  return domError('InvalidAccessError', `a keystore key is a private key; ${what} takes a public key`);
}

/**
 * The `subtle` of {@link keyStoreCrypto}. Operations on keystore handles go through the key's own
 * operations; every other call is Node's, unchanged.
 */
export class KeyStoreSubtle implements SubtleCrypto {
  async sign(algorithm: webcrypto.AlgorithmIdentifier, key: CryptoKey, data: webcrypto.BufferSource) {
    const binding = bindingOf(key);
    if (binding === undefined) return node.sign(algorithm as webcrypto.EcdsaParams, key, data);
    const name = algorithmName(algorithm);
    check(binding, key, name, 'sign');
    return sign(binding, algorithm, bytesOf(data, 'data'));
  }

  async verify(
    algorithm: webcrypto.AlgorithmIdentifier,
    key: CryptoKey,
    signature: webcrypto.BufferSource,
    data: webcrypto.BufferSource,
  ) {
    if (bindingOf(key) !== undefined) throw privateOnly('verify');
    return node.verify(algorithm as webcrypto.EcdsaParams, key, signature, data);
  }

  async encrypt(algorithm: webcrypto.AlgorithmIdentifier, key: CryptoKey, data: webcrypto.BufferSource) {
    if (bindingOf(key) !== undefined) throw privateOnly('encrypt');
    return node.encrypt(algorithm as webcrypto.RsaOaepParams, key, data);
  }

  async decrypt(algorithm: webcrypto.AlgorithmIdentifier, key: CryptoKey, data: webcrypto.BufferSource) {
    const binding = bindingOf(key);
    if (binding === undefined) return node.decrypt(algorithm as webcrypto.RsaOaepParams, key, data);
    check(binding, key, algorithmName(algorithm), 'decrypt');
    return decrypt(binding, algorithm, bytesOf(data, 'data'));
  }

  async deriveBits(algorithm: webcrypto.AlgorithmIdentifier, baseKey: CryptoKey, length?: number | null) {
    const binding = bindingOf(baseKey);
    if (binding === undefined)
      return node.deriveBits(algorithm as webcrypto.EcdhKeyDeriveParams, baseKey, length as number);
    check(binding, baseKey, algorithmName(algorithm), 'deriveBits');
    return deriveBits(binding, algorithm, length ?? null);
  }

  async deriveKey(
    algorithm: webcrypto.AlgorithmIdentifier,
    baseKey: CryptoKey,
    derivedKeyAlgorithm: webcrypto.AlgorithmIdentifier,
    extractable: boolean,
    keyUsages: readonly webcrypto.KeyUsage[],
  ) {
    const binding = bindingOf(baseKey);
    if (binding === undefined) {
      return node.deriveKey(
        algorithm as webcrypto.EcdhKeyDeriveParams,
        baseKey,
        derivedKeyAlgorithm as webcrypto.AesDerivedKeyParams,
        extractable,
        keyUsages as webcrypto.KeyUsage[],
      );
    }
    check(binding, baseKey, algorithmName(algorithm), 'deriveKey');
    const bits = await deriveBits(binding, algorithm, derivedLength(derivedKeyAlgorithm));
    return node.importKey('raw', bits, derivedKeyAlgorithm as webcrypto.AesKeyAlgorithm, extractable, [...keyUsages]);
  }

  async digest(algorithm: webcrypto.AlgorithmIdentifier, data: webcrypto.BufferSource) {
    return node.digest(algorithm, data);
  }

  async exportKey(format: 'jwk', key: CryptoKey): Promise<webcrypto.JsonWebKey>;
  async exportKey(format: Exclude<webcrypto.KeyFormat, 'jwk'>, key: CryptoKey): Promise<ArrayBuffer>;
  async exportKey(format: webcrypto.KeyFormat, key: CryptoKey): Promise<ArrayBuffer | webcrypto.JsonWebKey>;
  async exportKey(format: webcrypto.KeyFormat, key: CryptoKey): Promise<ArrayBuffer | webcrypto.JsonWebKey> {
    const binding = bindingOf(key);
    if (binding === undefined) return node.exportKey(format as 'spki', key);
    return exportPrivate(binding, format);
  }

  async generateKey(
    algorithm: webcrypto.AlgorithmIdentifier,
    extractable: boolean,
    keyUsages: readonly webcrypto.KeyUsage[],
    // biome-ignore lint/suspicious/noExplicitAny: the overloads of Node's generateKey, passed through
  ): Promise<any> {
    return node.generateKey(algorithm, extractable, keyUsages as webcrypto.KeyUsage[]);
  }

  async importKey(
    format: webcrypto.KeyFormat,
    keyData: webcrypto.JsonWebKey | webcrypto.BufferSource,
    algorithm: webcrypto.AlgorithmIdentifier,
    extractable: boolean,
    keyUsages: readonly webcrypto.KeyUsage[],
  ): Promise<CryptoKey> {
    return (node.importKey as (...args: unknown[]) => Promise<CryptoKey>)(
      format,
      keyData,
      algorithm,
      extractable,
      keyUsages,
    );
  }

  async wrapKey(
    format: webcrypto.KeyFormat,
    key: CryptoKey,
    wrappingKey: CryptoKey,
    wrapAlgorithm: webcrypto.AlgorithmIdentifier,
  ): Promise<ArrayBuffer> {
    if (bindingOf(wrappingKey) !== undefined) throw privateOnly('wrapKey');
    const binding = bindingOf(key);
    const inner = binding === undefined ? key : await exportedHandle(binding, key);
    return node.wrapKey(format, inner, wrappingKey, wrapAlgorithm as webcrypto.RsaOaepParams);
  }

  async unwrapKey(
    format: webcrypto.KeyFormat,
    wrappedKey: webcrypto.BufferSource,
    unwrappingKey: CryptoKey,
    unwrapAlgorithm: webcrypto.AlgorithmIdentifier,
    unwrappedKeyAlgorithm: webcrypto.AlgorithmIdentifier,
    extractable: boolean,
    keyUsages: readonly webcrypto.KeyUsage[],
  ): Promise<CryptoKey> {
    const binding = bindingOf(unwrappingKey);
    if (binding === undefined) {
      return (node.unwrapKey as (...args: unknown[]) => Promise<CryptoKey>)(
        format,
        wrappedKey,
        unwrappingKey,
        unwrapAlgorithm,
        unwrappedKeyAlgorithm,
        extractable,
        keyUsages,
      );
    }
    check(binding, unwrappingKey, algorithmName(unwrapAlgorithm), 'unwrapKey');
    const bytes = new Uint8Array(await decrypt(binding, unwrapAlgorithm, bytesOf(wrappedKey, 'wrappedKey')));
    const data = format === 'jwk' ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as webcrypto.JsonWebKey) : bytes;
    return (node.importKey as (...args: unknown[]) => Promise<CryptoKey>)(
      format,
      data,
      unwrappedKeyAlgorithm,
      extractable,
      keyUsages,
    );
  }
}
