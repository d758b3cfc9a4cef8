/**
 * The checks every binding makes in TypeScript before a native call: handles, flags, strings, digest
 * and data lengths, padding, property values. A bad argument throws `ERR_KEYSTORE_INVALID_ARGUMENT`
 * here, so it never reaches ncrypt.dll (where a zero handle or a wrong length can crash the process).
 * Pure functions: no koffi, testable on any platform.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import {
  NCRYPT_MAX_ALG_ID_LENGTH,
  NCRYPT_MAX_KEY_NAME_LENGTH,
  NCRYPT_MAX_PROPERTY_DATA,
  NCRYPT_MAX_PROPERTY_NAME,
} from './constants.js';
import type { NCryptHashName, NCryptPadding, NCryptPropertyValue, NCryptUiPolicy } from './types.js';

/**
 * The digest length of each hash NCrypt padding structures name.
 *
 * @since 0.2.0
 */
export const NCRYPT_HASH_LENGTHS: Readonly<Record<NCryptHashName, number>> = Object.freeze({
  SHA1: 20,
  SHA256: 32,
  SHA384: 48,
  SHA512: 64,
});

/**
 * The longest digest accepted by `signHash`/`verifySignature` (SHA-512).
 *
 * @since 0.2.0
 */
export const MAX_DIGEST_LENGTH = 64;

/**
 * The longest input accepted by `encrypt`/`decrypt` and the longest signature accepted by
 * `verifySignature`: the modulus of a 16384-bit RSA key, the largest CNG makes.
 *
 * @since 0.2.0
 */
export const MAX_RSA_BLOCK_LENGTH = 2048;

/**
 * The largest key blob accepted by `importKey` (an RSA-16384 full private blob is about 9 KiB).
 *
 * @since 0.2.0
 */
export const MAX_BLOB_LENGTH = 64 * 1024;

/**
 * The longest OAEP label accepted.
 *
 * @since 0.2.0
 */
export const MAX_OAEP_LABEL_LENGTH = 4096;

/**
 * The operation a padding is checked for.
 *
 * @since 0.2.0
 */
export type PaddingUse = 'sign' | 'verify' | 'encrypt' | 'decrypt';

function invalid(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

/**
 * Checks an NCrypt handle: a `bigint` in 1 … 2^64 − 1 (`0n` is never a valid handle, and crashes some
 * implementations).
 *
 * @param what Names the argument in the message (e.g. `key handle`).
 * @since 0.2.0
 */
export function checkHandle<T extends bigint>(handle: T, what = 'handle'): T {
  if (typeof handle !== 'bigint') throw invalid(`the ${what} must be a bigint, got ${typeof handle}`);
  if (handle === 0n) throw invalid(`the ${what} is zero (NULL)`, 'use a handle returned by the bindings, not 0n');
  if (handle < 0n || handle > 0xffffffffffffffffn) throw invalid(`the ${what} is not a 64-bit unsigned value`);
  return handle;
}

/**
 * Checks a `DWORD` (flags, lengths): an integer in 0 … 2^32 − 1. `undefined` becomes 0.
 *
 * @since 0.2.0
 */
export function checkDword(value: number | undefined, what = 'flags'): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw invalid(`the ${what} must be an integer from 0 to 0xFFFFFFFF, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks a string passed to NCrypt as `LPCWSTR`: a string, not empty (unless `allowEmpty`), without
 * NUL characters (which would cut it short in C), and at most `maxLength` UTF-16 code units.
 *
 * @since 0.2.0
 */
export function checkWideString(
  value: string,
  what: string,
  options: { readonly maxLength?: number; readonly allowEmpty?: boolean } = {},
): string {
  if (typeof value !== 'string') throw invalid(`the ${what} must be a string, got ${typeof value}`);
  if (value.length === 0 && !options.allowEmpty) throw invalid(`the ${what} is empty`);
  if (value.includes('\0')) throw invalid(`the ${what} contains a NUL character`);
  const max = options.maxLength ?? 32767;
  if (value.length > max) throw invalid(`the ${what} is ${value.length} characters long; the limit is ${max}`);
  return value;
}

/**
 * Checks a property name (at most `NCRYPT_MAX_PROPERTY_NAME` = 64 characters, no NUL).
 *
 * @since 0.2.0
 */
export function checkPropertyName(name: string): string {
  return checkWideString(name, 'property name', { maxLength: NCRYPT_MAX_PROPERTY_NAME });
}

/**
 * Checks a key name (at most `NCRYPT_MAX_KEY_NAME_LENGTH` = 512 characters, no NUL).
 *
 * @since 0.2.0
 */
export function checkKeyName(name: string): string {
  return checkWideString(name, 'key name', { maxLength: NCRYPT_MAX_KEY_NAME_LENGTH });
}

/**
 * Checks an algorithm id or blob type (at most `NCRYPT_MAX_ALG_ID_LENGTH` = 512 characters, no NUL).
 *
 * @since 0.2.0
 */
export function checkAlgorithmId(id: string, what = 'algorithm id'): string {
  return checkWideString(id, what, { maxLength: NCRYPT_MAX_ALG_ID_LENGTH });
}

/**
 * Checks `dwLegacyKeySpec`: 0, `AT_KEYEXCHANGE` (1) or `AT_SIGNATURE` (2).
 *
 * @since 0.2.0
 */
export function checkLegacyKeySpec(spec: number): number {
  if (spec !== 0 && spec !== 1 && spec !== 2) {
    throw invalid(`dwLegacyKeySpec must be 0, AT_KEYEXCHANGE (1) or AT_SIGNATURE (2), got ${String(spec)}`);
  }
  return spec;
}

/**
 * Checks a byte buffer's type and length: `min` … `max` bytes.
 *
 * @since 0.2.0
 */
export function checkBytes(value: Buffer, what: string, min: number, max: number): Buffer {
  if (!Buffer.isBuffer(value)) throw invalid(`the ${what} must be a Buffer`);
  if (value.length < min) throw invalid(`the ${what} is ${value.length} bytes; at least ${min} are needed`);
  if (value.length > max) throw invalid(`the ${what} is ${value.length} bytes; at most ${max} are accepted`);
  return value;
}

function checkHashName(hash: unknown): NCryptHashName {
  if (typeof hash !== 'string' || !Object.hasOwn(NCRYPT_HASH_LENGTHS, hash)) {
    throw invalid(`unknown hash ${JSON.stringify(hash)}: use SHA1, SHA256, SHA384 or SHA512`);
  }
  return hash as NCryptHashName;
}

/**
 * Checks a padding description for an operation: the kind fits the operation (PSS only for
 * signatures, OAEP only for encryption), the hash is one NCrypt knows, the PSS salt length is an
 * integer from 0 to 1024 and an OAEP label is a Buffer of at most 4096 bytes.
 *
 * @since 0.2.0
 */
export function checkPadding(padding: NCryptPadding, use: PaddingUse): NCryptPadding {
  if (typeof padding !== 'object' || padding === null) throw invalid('the padding must be an object');
  const signing = use === 'sign' || use === 'verify';
  switch (padding.kind) {
    case 'none':
      return padding;
    case 'pkcs1':
      if (padding.hash !== undefined) checkHashName(padding.hash);
      return padding;
    case 'pss':
      if (!signing) throw invalid('PSS padding is for signatures; use pkcs1 or oaep to encrypt');
      checkHashName(padding.hash);
      if (!Number.isInteger(padding.saltLength) || padding.saltLength < 0 || padding.saltLength > 1024) {
        throw invalid(`the PSS salt length must be an integer from 0 to 1024, got ${String(padding.saltLength)}`);
      }
      return padding;
    case 'oaep':
      if (signing) throw invalid('OAEP padding is for encryption; use pkcs1 or pss to sign');
      checkHashName(padding.hash);
      if (padding.label !== undefined) checkBytes(padding.label, 'OAEP label', 0, MAX_OAEP_LABEL_LENGTH);
      return padding;
    default:
      throw invalid(`unknown padding kind ${JSON.stringify((padding as { kind?: unknown }).kind)}`);
  }
}

/**
 * Checks a digest for `signHash`/`verifySignature`: 1 … 64 bytes, and exactly the hash's length when
 * the padding names a hash.
 *
 * @since 0.2.0
 */
export function checkDigest(digest: Buffer, padding: NCryptPadding): Buffer {
  checkBytes(digest, 'digest', 1, MAX_DIGEST_LENGTH);
  if (typeof padding !== 'object' || padding === null) throw invalid('the padding must be an object');
  const named = padding.kind === 'pss' || padding.kind === 'pkcs1' ? padding.hash : undefined;
  const hash = named === undefined ? undefined : checkHashName(named);
  if (hash !== undefined && digest.length !== NCRYPT_HASH_LENGTHS[hash]) {
    throw invalid(`a ${hash} digest is ${NCRYPT_HASH_LENGTHS[hash]} bytes, not ${digest.length}`);
  }
  return digest;
}

/**
 * Checks a value for `NCryptSetProperty`: a DWORD, a string without NUL, or a Buffer of at most
 * `NCRYPT_MAX_PROPERTY_DATA` bytes.
 *
 * @since 0.2.0
 */
export function checkPropertyValue(value: NCryptPropertyValue): NCryptPropertyValue {
  if (typeof value === 'number') return checkDword(value, 'property value');
  if (typeof value === 'string') return checkWideString(value, 'property value', { allowEmpty: true });
  if (Buffer.isBuffer(value)) return checkBytes(value, 'property value', 0, NCRYPT_MAX_PROPERTY_DATA);
  throw invalid('a property value must be a number (DWORD), a string or a Buffer');
}

/**
 * Checks an `NCRYPT_UI_POLICY`: flags a DWORD, each text a string without NUL when given.
 *
 * @since 0.2.0
 */
export function checkUiPolicy(policy: NCryptUiPolicy): NCryptUiPolicy {
  if (typeof policy !== 'object' || policy === null) throw invalid('the UI policy must be an object');
  checkDword(policy.flags, 'UI policy flags');
  for (const field of ['creationTitle', 'friendlyName', 'description'] as const) {
    const text = policy[field];
    if (text !== undefined) checkWideString(text, `UI policy ${field}`, { allowEmpty: true, maxLength: 4096 });
  }
  return policy;
}
