/**
 * Key and signature formats: ECDSA signatures between ASN.1 DER and IEEE P1363, and public keys as
 * SPKI DER, SPKI PEM or JWK.
 *
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { algorithmInfo, type DsaEncoding, type KeyAlgorithm } from './algorithms.js';
import { KeyStoreError } from './errors.js';
import type { PublicJwk } from './types.js';

const MAX_FIELD_BYTES = 256;

function invalid(message: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, cause === undefined ? {} : { cause });
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function checkFieldBytes(fieldBytes: number): void {
  if (!Number.isSafeInteger(fieldBytes) || fieldBytes < 1 || fieldBytes > MAX_FIELD_BYTES) {
    throw invalid(`fieldBytes must be an integer from 1 to ${MAX_FIELD_BYTES}`);
  }
}

/** Encodes a DER length. */
function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  if (length < 0x100) return [0x81, length];
  return [0x82, length >> 8, length & 0xff];
}

/** The bytes of an unsigned big-endian integer as DER INTEGER content: minimal, non-negative. */
function integerContent(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  if ((trimmed[0]! & 0x80) === 0) return trimmed;
  const padded = new Uint8Array(trimmed.length + 1);
  padded.set(trimmed, 1);
  return padded;
}

/**
 * Reads a DER length at `offset`; returns the length and the offset after it. Rejects indefinite
 * and non-minimal lengths.
 */
function readLength(der: Uint8Array, offset: number): [number, number] {
  if (offset >= der.length) throw invalid('DER signature is truncated');
  const first = der[offset]!;
  if (first < 0x80) return [first, offset + 1];
  const count = first & 0x7f;
  if (count === 0 || count > 2) throw invalid('DER signature has an unsupported length encoding');
  if (offset + 1 + count > der.length) throw invalid('DER signature is truncated');
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + der[offset + 1 + i]!;
  if (length < 0x80 || length < 256 ** (count - 1)) throw invalid('DER signature has a non-minimal length');
  return [length, offset + 1 + count];
}

/** Reads one DER INTEGER at `offset` into `out` (left-padded to `fieldBytes`); returns the next offset. */
function readInteger(der: Uint8Array, offset: number, end: number, out: Buffer, at: number, fieldBytes: number) {
  if (offset >= end || der[offset] !== 0x02) throw invalid('DER signature: expected an INTEGER');
  const [length, contentStart] = readLength(der, offset + 1);
  const contentEnd = contentStart + length;
  if (length === 0 || contentEnd > end) throw invalid('DER signature: INTEGER has a wrong length');
  const first = der[contentStart]!;
  if ((first & 0x80) !== 0) throw invalid('DER signature: negative INTEGER');
  let valueStart = contentStart;
  if (first === 0 && length > 1) {
    if ((der[contentStart + 1]! & 0x80) === 0) throw invalid('DER signature: non-minimal INTEGER');
    valueStart++;
  }
  const valueLength = contentEnd - valueStart;
  if (valueLength > fieldBytes) throw invalid(`DER signature: INTEGER longer than ${fieldBytes} bytes`);
  out.set(der.subarray(valueStart, contentEnd), at + fieldBytes - valueLength);
  return contentEnd;
}

/**
 * Converts an ECDSA signature from IEEE P1363 (`r‖s`, each a fixed-size big-endian field element)
 * to ASN.1 DER (`SEQUENCE { INTEGER r, INTEGER s }`), the encoding `crypto.verify` and OpenSSL
 * expect by default.
 *
 * @param signature - `r‖s`; its length must be even and not zero.
 * @returns The DER encoding.
 * @throws `KeyStoreError` with `ERR_KEYSTORE_INVALID_ARGUMENT` when the input is not bytes or its length is odd.
 * @example
 * ```ts
 * const p1363 = crypto.sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
 * crypto.verify('sha256', data, publicKey, p1363ToDer(p1363)); // true
 * ```
 * @since 0.1.0
 */
export function p1363ToDer(signature: Uint8Array): Buffer {
  if (!isBytes(signature)) throw invalid('signature must be a Uint8Array');
  if (signature.length === 0 || signature.length % 2 !== 0 || signature.length > 2 * MAX_FIELD_BYTES) {
    throw invalid('an IEEE P1363 signature must have an even, non-zero length');
  }
  const half = signature.length / 2;
  const r = integerContent(signature.subarray(0, half));
  const s = integerContent(signature.subarray(half));
  const rLength = derLength(r.length);
  const sLength = derLength(s.length);
  const body = 1 + rLength.length + r.length + 1 + sLength.length + s.length;
  const seqLength = derLength(body);
  const out = Buffer.allocUnsafe(1 + seqLength.length + body);
  let offset = 0;
  out[offset++] = 0x30;
  for (const b of seqLength) out[offset++] = b;
  out[offset++] = 0x02;
  for (const b of rLength) out[offset++] = b;
  out.set(r, offset);
  offset += r.length;
  out[offset++] = 0x02;
  for (const b of sLength) out[offset++] = b;
  out.set(s, offset);
  return out;
}

/**
 * Converts an ECDSA signature from ASN.1 DER to IEEE P1363 (`r‖s`), left-padding `r` and `s` to
 * `fieldBytes` each (32 for P-256, 48 for P-384, 66 for P-521; see `algorithmInfo(…).fieldBytes`).
 * Parsing is strict: trailing bytes, wrong lengths, negative or non-minimally encoded integers,
 * and integers longer than `fieldBytes` are rejected.
 *
 * @param signature - The DER signature.
 * @param fieldBytes - The size of one field element in bytes.
 * @returns `r‖s`, `2 * fieldBytes` long.
 * @throws `KeyStoreError` with `ERR_KEYSTORE_INVALID_ARGUMENT` for malformed input.
 * @example
 * ```ts
 * const der = crypto.sign('sha384', data, privateKey); // a P-384 key
 * derToP1363(der, 48).length; // 96
 * ```
 * @since 0.1.0
 */
export function derToP1363(signature: Uint8Array, fieldBytes: number): Buffer {
  if (!isBytes(signature)) throw invalid('signature must be a Uint8Array');
  checkFieldBytes(fieldBytes);
  if (signature.length < 8 || signature[0] !== 0x30) throw invalid('DER signature: expected a SEQUENCE');
  const [length, bodyStart] = readLength(signature, 1);
  const end = bodyStart + length;
  if (end !== signature.length) throw invalid('DER signature: SEQUENCE length does not match the input');
  const out = Buffer.alloc(2 * fieldBytes);
  const afterR = readInteger(signature, bodyStart, end, out, 0, fieldBytes);
  const afterS = readInteger(signature, afterR, end, out, fieldBytes, fieldBytes);
  if (afterS !== end) throw invalid('DER signature: unexpected bytes after s');
  return out;
}

/**
 * Converts an ECDSA signature between encodings; returns a copy when `from` and `to` are equal (after
 * checking the input is well formed).
 *
 * @param signature - The signature in the `from` encoding.
 * @param from - Its encoding.
 * @param to - The encoding wanted.
 * @param fieldBytes - The size of one field element in bytes.
 * @throws `KeyStoreError` with `ERR_KEYSTORE_INVALID_ARGUMENT` for malformed input or an unknown encoding.
 * @example
 * ```ts
 * const der = convertEcdsaSignature(p1363, 'ieee-p1363', 'der', 32);
 * ```
 * @since 0.1.0
 */
export function convertEcdsaSignature(
  signature: Uint8Array,
  from: DsaEncoding,
  to: DsaEncoding,
  fieldBytes: number,
): Buffer {
  if (from !== 'der' && from !== 'ieee-p1363') throw invalid(`unknown ECDSA encoding: ${String(from)}`);
  if (to !== 'der' && to !== 'ieee-p1363') throw invalid(`unknown ECDSA encoding: ${String(to)}`);
  if (from === 'der') {
    const p1363 = derToP1363(signature, fieldBytes);
    return to === 'der' ? Buffer.from(signature) : p1363;
  }
  checkFieldBytes(fieldBytes);
  if (!isBytes(signature) || signature.length !== 2 * fieldBytes) {
    throw invalid(`an IEEE P1363 signature for this curve must be ${2 * fieldBytes} bytes long`);
  }
  return to === 'ieee-p1363' ? Buffer.from(signature) : p1363ToDer(signature);
}

function isKeyObject(value: unknown): value is KeyObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as KeyObject).type === 'string' &&
    typeof (value as KeyObject).export === 'function'
  );
}

function toPublic(key: KeyObject): KeyObject {
  if (!isKeyObject(key)) throw invalid('key must be a KeyObject');
  if (key.type === 'public') return key;
  if (key.type === 'private') return createPublicKey(key);
  throw invalid('a secret key has no public key');
}

function checkFamily(key: KeyObject): KeyObject {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec') throw invalid(`only RSA and EC keys are supported, not ${String(type)}`);
  return key;
}

/**
 * Exports a public key as SPKI DER (`'der'`), SPKI PEM (`'pem'`) or a JWK (`'jwk'`). A private
 * `KeyObject` is first reduced to its public key: private parts are never exported.
 *
 * @param key - An RSA or EC key, public or private.
 * @param format - The format wanted.
 * @throws `KeyStoreError` with `ERR_KEYSTORE_INVALID_ARGUMENT` for a secret key, a key that is
 *   neither RSA nor EC, or an unknown format.
 * @example
 * ```ts
 * const pem = exportPublicKey(key.publicKey, 'pem'); // '-----BEGIN PUBLIC KEY-----\n…'
 * const jwk = exportPublicKey(key.publicKey, 'jwk'); // { kty: 'EC', crv: 'P-256', x: '…', y: '…' }
 * ```
 * @since 0.1.0
 */
export function exportPublicKey(key: KeyObject, format: 'der'): Buffer;
export function exportPublicKey(key: KeyObject, format: 'pem'): string;
export function exportPublicKey(key: KeyObject, format: 'jwk'): PublicJwk;
export function exportPublicKey(key: KeyObject, format: 'der' | 'pem' | 'jwk'): Buffer | string | PublicJwk;
export function exportPublicKey(key: KeyObject, format: 'der' | 'pem' | 'jwk'): Buffer | string | PublicJwk {
  const publicKey = checkFamily(toPublic(key));
  switch (format) {
    case 'der':
      return publicKey.export({ type: 'spki', format: 'der' });
    case 'pem':
      return publicKey.export({ type: 'spki', format: 'pem' }) as string;
    case 'jwk': {
      const jwk = publicKey.export({ format: 'jwk' });
      return jwk.kty === 'RSA'
        ? { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }
        : { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
    }
    default:
      throw invalid(`unknown public key format: ${String(format)}`);
  }
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const PEM_PUBLIC = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/;

function importPem(pem: string): KeyObject {
  const text = pem.trim();
  if (!PEM_PUBLIC.test(`${text}\n`)) throw invalid('expected a PEM "PUBLIC KEY" (SPKI) block');
  try {
    return createPublicKey({ key: text, format: 'pem' });
  } catch (cause) {
    throw invalid('the PEM block is not a valid public key', cause);
  }
}

function importDer(der: Uint8Array): KeyObject {
  // Node ignores bytes after the outer SEQUENCE; reject them so one key has one encoding.
  if (der.length < 2 || der[0] !== 0x30) throw invalid('expected SPKI DER (a SEQUENCE)');
  let end: number;
  try {
    const [length, start] = readLength(der, 1);
    end = start + length;
  } catch (cause) {
    throw invalid('SPKI DER has a malformed length', cause);
  }
  if (end !== der.length) throw invalid('SPKI DER length does not match the input');
  try {
    return createPublicKey({
      key: Buffer.from(der.buffer, der.byteOffset, der.byteLength),
      format: 'der',
      type: 'spki',
    });
  } catch (cause) {
    throw invalid('the bytes are not a valid SPKI public key', cause);
  }
}

function importJwk(jwk: PublicJwk): KeyObject {
  for (const member of PRIVATE_JWK_MEMBERS) {
    if (member in jwk) throw invalid(`a public JWK must not have the private member "${member}"`);
  }
  let key: Record<string, string>;
  if (jwk.kty === 'RSA') {
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw invalid('an RSA JWK needs string "n" and "e"');
    key = { kty: 'RSA', n: jwk.n, e: jwk.e };
  } else if (jwk.kty === 'EC') {
    if (jwk.crv !== 'P-256' && jwk.crv !== 'P-384' && jwk.crv !== 'P-521') {
      throw invalid('an EC JWK needs "crv" P-256, P-384 or P-521');
    }
    if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw invalid('an EC JWK needs string "x" and "y"');
    key = { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  } else {
    throw invalid('a JWK must have "kty" RSA or EC');
  }
  try {
    return createPublicKey({ key, format: 'jwk' });
  } catch (cause) {
    throw invalid('the JWK is not a valid public key', cause);
  }
}

/**
 * Imports a public key from SPKI DER bytes, a PEM `PUBLIC KEY` block (as a string, or as bytes of
 * PEM text), or a public JWK (an object, or its JSON text). Only RSA and EC keys are accepted;
 * anything carrying private key material is refused.
 *
 * @param input - The encoded public key.
 * @returns The public `KeyObject`.
 * @throws `KeyStoreError` with `ERR_KEYSTORE_INVALID_ARGUMENT` when the input is not a valid RSA or EC public key.
 * @example
 * ```ts
 * const key = importPublicKey(fs.readFileSync('peer.pem', 'utf8'));
 * key.equals(importPublicKey(exportPublicKey(key, 'jwk'))); // true
 * ```
 * @since 0.1.0
 */
export function importPublicKey(input: Uint8Array | string | PublicJwk): KeyObject {
  let key: KeyObject;
  if (typeof input === 'string') {
    const text = input.trim();
    if (text.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        throw invalid('the JWK text is not valid JSON', cause);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw invalid('a JWK must be an object');
      key = importJwk(parsed as PublicJwk);
    } else {
      key = importPem(text);
    }
  } else if (isBytes(input)) {
    const looksLikePem = input.length > 10 && Buffer.from(input.subarray(0, 10)).toString('latin1') === '-----BEGIN';
    key = looksLikePem ? importPem(Buffer.from(input).toString('utf8')) : importDer(input);
  } else if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    key = importJwk(input);
  } else {
    throw invalid('expected SPKI DER bytes, a PEM string or a JWK object');
  }
  return checkFamily(key);
}

const CURVE_ALGORITHM: Readonly<Record<string, KeyAlgorithm>> = {
  prime256v1: 'ECDSA-P256',
  secp384r1: 'ECDSA-P384',
  secp521r1: 'ECDSA-P521',
};

const RSA_ALGORITHM: Readonly<Record<number, KeyAlgorithm>> = {
  2048: 'RSA-2048',
  3072: 'RSA-3072',
  4096: 'RSA-4096',
};

/**
 * The algorithm of a key (public or private), or `null` when it is none of the SDK's algorithms
 * (another RSA size, another curve, another key type). An EC key cannot tell whether it is meant
 * for ECDSA or ECDH, so an EC key on a supported curve answers with the `ECDSA-*` member; use
 * {@link publicKeyMatchesAlgorithm} to check a key against an `ECDH-*` algorithm.
 *
 * @example
 * ```ts
 * algorithmOfPublicKey(crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey); // 'ECDSA-P384'
 * ```
 * @since 0.1.0
 */
export function algorithmOfPublicKey(key: KeyObject): KeyAlgorithm | null {
  if (!isKeyObject(key) || key.type === 'secret') return null;
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return RSA_ALGORITHM[details?.modulusLength ?? 0] ?? null;
  if (key.asymmetricKeyType === 'ec') return CURVE_ALGORITHM[details?.namedCurve ?? ''] ?? null;
  return null;
}

/**
 * True when `key` (public or private) fits `algorithm`: an RSA key of exactly that modulus size, or
 * an EC key on that curve. An EC key matches both the `ECDSA-*` and the `ECDH-*` algorithm of its
 * curve, since the key itself does not say which it is for.
 *
 * @example
 * ```ts
 * publicKeyMatchesAlgorithm(key.publicKey, 'ECDH-P256'); // true for any P-256 key
 * ```
 * @since 0.1.0
 */
export function publicKeyMatchesAlgorithm(key: KeyObject, algorithm: KeyAlgorithm): boolean {
  if (!isKeyObject(key) || key.type === 'secret') return false;
  let info: ReturnType<typeof algorithmInfo>;
  try {
    info = algorithmInfo(algorithm);
  } catch {
    return false;
  }
  const details = key.asymmetricKeyDetails;
  if (info.family === 'rsa') return key.asymmetricKeyType === 'rsa' && details?.modulusLength === info.bits;
  return key.asymmetricKeyType === 'ec' && details?.namedCurve === info.namedCurve;
}
