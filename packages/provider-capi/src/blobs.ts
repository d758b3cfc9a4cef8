/**
 * CryptoAPI key blobs and byte order. CryptoAPI writes RSA numbers, signatures and ciphertexts
 * little-endian; Node, OpenSSL and every other provider use big-endian. The conversions happen here,
 * at the boundary, so callers see the same bytes as from any other provider.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { type KeyAlgorithm, KeyStoreError } from '@keystore/core';
import {
  CALG_RSA_KEYX,
  CALG_RSA_SIGN,
  CUR_BLOB_VERSION,
  PRIVATEKEYBLOB,
  PUBLICKEYBLOB,
  RSA1_MAGIC,
  RSA2_MAGIC,
} from './constants.js';

/** `BLOBHEADER` (8 bytes) + `RSAPUBKEY` (12 bytes). */
const HEADER_BYTES = 20;
/** The largest modulus CryptoAPI's Microsoft CSPs generate. */
const MAX_BITS = 16384;

/**
 * What a `PUBLICKEYBLOB` says.
 *
 * @since 0.2.0
 */
export interface PublicBlobInfo {
  /** The public key. */
  readonly publicKey: KeyObject;
  /** The modulus length in bits. */
  readonly bits: number;
  /** `aiKeyAlg` of the blob header: `CALG_RSA_KEYX` (0xA400) or `CALG_RSA_SIGN` (0x2400). */
  readonly keyAlg: number;
}

/**
 * A reversed copy of `bytes`: little-endian ⇄ big-endian.
 *
 * @example
 * ```ts
 * reverseBytes(Buffer.from([1, 2, 3])); // <Buffer 03 02 01>
 * ```
 * @since 0.2.0
 */
export function reverseBytes(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  for (let i = 0, j = bytes.length - 1; j >= 0; i++, j--) out[i] = bytes[j] as number;
  return out;
}

function malformed(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `CryptoAPI returned a malformed key blob: ${message}`, {
    providerId: 'capi',
    hint: 'the key container may be corrupt; delete it and issue a new key',
  });
}

/** A base64url big-endian number from a little-endian slice, without leading zero bytes. */
function b64FromLe(blob: Buffer, offset: number, length: number, minimal: boolean): string {
  const be = reverseBytes(blob.subarray(offset, offset + length));
  let start = 0;
  if (minimal) while (start < be.length - 1 && be[start] === 0) start++;
  const text = be.subarray(start).toString('base64url');
  be.fill(0);
  return text;
}

function exponentB64(e: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(e >>> 0);
  let start = 0;
  while (start < 3 && bytes[start] === 0) start++;
  return bytes.subarray(start).toString('base64url');
}

interface Header {
  readonly bits: number;
  readonly exponent: number;
  readonly keyAlg: number;
}

function readHeader(blob: Buffer, type: number, magic: number): Header {
  if (!Buffer.isBuffer(blob) || blob.length < HEADER_BYTES) throw malformed('shorter than its header');
  if (blob[0] !== type) throw malformed(`blob type ${blob[0]}, expected ${type}`);
  if (blob[1] !== CUR_BLOB_VERSION) throw malformed(`blob version ${blob[1]}, expected ${CUR_BLOB_VERSION}`);
  const keyAlg = blob.readUInt32LE(4);
  if (blob.readUInt32LE(8) !== magic) throw malformed('not an RSA key');
  const bits = blob.readUInt32LE(12);
  if (bits === 0 || bits % 8 !== 0 || bits > MAX_BITS) throw malformed(`modulus of ${bits} bits`);
  const exponent = blob.readUInt32LE(16);
  if (exponent < 3 || exponent % 2 === 0) throw malformed(`public exponent ${exponent}`);
  return { bits, exponent, keyAlg };
}

/**
 * Reads a `PUBLICKEYBLOB` (`BLOBHEADER`, `RSAPUBKEY` `RSA1`, little-endian modulus) into a public
 * `KeyObject` (SPKI, through a JWK).
 *
 * @throws `KeyStoreError` `ERR_KEYSTORE_NATIVE_FAILURE` for a malformed blob.
 * @since 0.2.0
 */
export function publicKeyFromBlob(blob: Buffer): PublicBlobInfo {
  const { bits, exponent, keyAlg } = readHeader(blob, PUBLICKEYBLOB, RSA1_MAGIC);
  const modulusBytes = bits / 8;
  if (blob.length < HEADER_BYTES + modulusBytes) throw malformed('shorter than its modulus');
  const jwk: JsonWebKey = {
    kty: 'RSA',
    n: b64FromLe(blob, HEADER_BYTES, modulusBytes, true),
    e: exponentB64(exponent),
  };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: jwk, format: 'jwk' });
  } catch (cause) {
    throw Object.assign(malformed('Node.js rejects its public key'), { cause });
  }
  if (publicKey.asymmetricKeyDetails?.modulusLength !== bits) {
    throw malformed(`the modulus is shorter than the ${bits} bits the blob says`);
  }
  return { publicKey, bits, keyAlg };
}

/**
 * Reads a `PRIVATEKEYBLOB` (`RSA2`: modulus, prime1, prime2, exponent1, exponent2, coefficient,
 * privateExponent, all little-endian) into a private `KeyObject`. The caller wipes `blob`.
 *
 * @throws `KeyStoreError` `ERR_KEYSTORE_NATIVE_FAILURE` for a malformed blob.
 * @since 0.2.0
 */
export function privateKeyFromBlob(blob: Buffer): KeyObject {
  const { bits, exponent } = readHeader(blob, PRIVATEKEYBLOB, RSA2_MAGIC);
  const full = bits / 8;
  const half = Math.ceil(bits / 16);
  if (blob.length < HEADER_BYTES + 2 * full + 5 * half) throw malformed('shorter than its fields');
  let offset = HEADER_BYTES;
  const take = (length: number, minimal: boolean): string => {
    const text = b64FromLe(blob, offset, length, minimal);
    offset += length;
    return text;
  };
  const n = take(full, true);
  const p = take(half, true);
  const q = take(half, true);
  const dp = take(half, true);
  const dq = take(half, true);
  const qi = take(half, true);
  const d = take(full, true);
  try {
    return createPrivateKey({ key: { kty: 'RSA', n, e: exponentB64(exponent), d, p, q, dp, dq, qi }, format: 'jwk' });
  } catch (cause) {
    throw Object.assign(malformed('Node.js rejects its private key'), { cause });
  }
}

/** Writes the big-endian base64url number `b64` little-endian into `out` at `offset`, `length` bytes wide. */
function writeLe(out: Buffer, offset: number, length: number, b64: string | undefined, what: string): void {
  const be = Buffer.from(b64 ?? '', 'base64url');
  try {
    let start = 0;
    while (start < be.length && be[start] === 0) start++;
    const significant = be.length - start;
    if (significant > length) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the private key's ${what} does not fit CryptoAPI's ${length}-byte field (an RSA key with primes of unequal size?)`,
        { providerId: 'capi', hint: 'CryptoAPI stores RSA keys whose two primes are each half the modulus long' },
      );
    }
    for (let i = 0; i < significant; i++) out[offset + i] = be[be.length - 1 - i] as number;
  } finally {
    be.fill(0);
  }
}

/**
 * Builds a `PRIVATEKEYBLOB` for `CryptImportKey` from an RSA private key of 2048, 3072 or 4096 bits,
 * for the key spec `AT_KEYEXCHANGE` (`keyExchange`) or `AT_SIGNATURE` (`signature`). The caller wipes
 * the result.
 *
 * @throws `KeyStoreError` `ERR_KEYSTORE_INVALID_ARGUMENT` when `key` is not a private RSA key;
 *   `ERR_KEYSTORE_UNSUPPORTED_ALGORITHM` for another size, a public exponent above 2³²−1 or unequal primes.
 * @since 0.2.0
 */
export function privateBlobFromKey(key: KeyObject, keySpec: 'keyExchange' | 'signature'): Buffer {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'CryptoAPI imports RSA private keys only', {
      providerId: 'capi',
    });
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (rsaAlgorithmOfBits(bits) === undefined) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      `the CryptoAPI provider imports RSA keys of 2048, 3072 or 4096 bits, not ${bits}`,
      { providerId: 'capi' },
    );
  }
  const exponent = key.asymmetricKeyDetails?.publicExponent ?? 0n;
  if (exponent > 0xffffffffn) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      'CryptoAPI stores the RSA public exponent in 32 bits; this key has a larger one',
      { providerId: 'capi' },
    );
  }
  const jwk = key.export({ format: 'jwk' });
  const full = bits / 8;
  const half = bits / 16;
  const blob = Buffer.alloc(HEADER_BYTES + 2 * full + 5 * half);
  try {
    blob[0] = PRIVATEKEYBLOB;
    blob[1] = CUR_BLOB_VERSION;
    blob.writeUInt32LE(keySpec === 'signature' ? CALG_RSA_SIGN : CALG_RSA_KEYX, 4);
    blob.writeUInt32LE(RSA2_MAGIC, 8);
    blob.writeUInt32LE(bits, 12);
    blob.writeUInt32LE(Number(exponent), 16);
    let offset = HEADER_BYTES;
    const fields: Array<[string | undefined, number, string]> = [
      [jwk.n, full, 'modulus'],
      [jwk.p, half, 'first prime'],
      [jwk.q, half, 'second prime'],
      [jwk.dp, half, 'first CRT exponent'],
      [jwk.dq, half, 'second CRT exponent'],
      [jwk.qi, half, 'CRT coefficient'],
      [jwk.d, full, 'private exponent'],
    ];
    for (const [value, length, what] of fields) {
      writeLe(blob, offset, length, value, what);
      offset += length;
    }
    return blob;
  } catch (error) {
    blob.fill(0);
    throw error;
  }
}

/**
 * The key algorithm of an RSA modulus length, when the SDK has one (`RSA-2048`, `RSA-3072`, `RSA-4096`).
 *
 * @since 0.2.0
 */
export function rsaAlgorithmOfBits(bits: number): KeyAlgorithm | undefined {
  if (bits === 2048) return 'RSA-2048';
  if (bits === 3072) return 'RSA-3072';
  if (bits === 4096) return 'RSA-4096';
  return undefined;
}
