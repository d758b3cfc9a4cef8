/**
 * Codecs between CNG key blobs (`BCRYPT_RSAKEY_BLOB`, `BCRYPT_ECCKEY_BLOB`) and Node `KeyObject`s,
 * through JWK. Pure TypeScript: no koffi, no Windows. Every length in a header is checked against
 * the buffer before anything is read; a malformed blob (which comes from Windows) throws
 * `ERR_KEYSTORE_NATIVE_FAILURE`, bad caller input throws `ERR_KEYSTORE_INVALID_ARGUMENT`.
 *
 * Layouts (all header fields little-endian DWORDs, all numbers after them big-endian):
 * - RSA: `{Magic, BitLength, cbPublicExp, cbModulus, cbPrime1, cbPrime2}` (24 bytes), then
 *   e, n (RSA1); + p, q (RSA2); + dp, dq, qi (sized like p, q, p), d (sized like n) (RSA3).
 * - ECC: `{dwMagic, cbKey}` (8 bytes), then X, Y (public) and d (private), `cbKey` bytes each.
 *
 * @module
 */
import { createECDH, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { KeyStoreError } from '@keystore/core';
import {
  BCRYPT_ECDH_PRIVATE_GENERIC_MAGIC,
  BCRYPT_ECDH_PRIVATE_P256_MAGIC,
  BCRYPT_ECDH_PRIVATE_P384_MAGIC,
  BCRYPT_ECDH_PRIVATE_P521_MAGIC,
  BCRYPT_ECDH_PUBLIC_GENERIC_MAGIC,
  BCRYPT_ECDH_PUBLIC_P256_MAGIC,
  BCRYPT_ECDH_PUBLIC_P384_MAGIC,
  BCRYPT_ECDH_PUBLIC_P521_MAGIC,
  BCRYPT_ECDSA_PRIVATE_GENERIC_MAGIC,
  BCRYPT_ECDSA_PRIVATE_P256_MAGIC,
  BCRYPT_ECDSA_PRIVATE_P384_MAGIC,
  BCRYPT_ECDSA_PRIVATE_P521_MAGIC,
  BCRYPT_ECDSA_PUBLIC_GENERIC_MAGIC,
  BCRYPT_ECDSA_PUBLIC_P256_MAGIC,
  BCRYPT_ECDSA_PUBLIC_P384_MAGIC,
  BCRYPT_ECDSA_PUBLIC_P521_MAGIC,
  BCRYPT_RSAFULLPRIVATE_MAGIC,
  BCRYPT_RSAPRIVATE_MAGIC,
  BCRYPT_RSAPUBLIC_MAGIC,
} from './constants.js';

/**
 * A NIST curve CNG names in its ECC blob magics.
 *
 * @since 0.2.0
 */
export type BlobCurve = 'P-256' | 'P-384' | 'P-521';

/**
 * What an ECC blob is for: ECDSA (sign) or ECDH (key agreement); the magic says which.
 *
 * @since 0.2.0
 */
export type EccBlobUsage = 'ECDSA' | 'ECDH';

/**
 * `sizeof(BCRYPT_RSAKEY_BLOB)`: the RSA blob header (checked against the SDK headers by the layout test).
 *
 * @since 0.2.0
 */
export const BCRYPT_RSAKEY_BLOB_SIZE = 24;

/**
 * `sizeof(BCRYPT_ECCKEY_BLOB)`: the ECC blob header (checked against the SDK headers by the layout test).
 *
 * @since 0.2.0
 */
export const BCRYPT_ECCKEY_BLOB_SIZE = 8;

/** Smallest and largest RSA modulus CNG handles, in bits. */
const RSA_MIN_BITS = 512;
const RSA_MAX_BITS = 16384;

const CURVES: Readonly<Record<BlobCurve, { readonly size: number; readonly openssl: string }>> = {
  'P-256': { size: 32, openssl: 'prime256v1' },
  'P-384': { size: 48, openssl: 'secp384r1' },
  'P-521': { size: 66, openssl: 'secp521r1' },
};

interface EccMagicInfo {
  readonly usage: EccBlobUsage;
  readonly private: boolean;
  /** Undefined for the generic magics: the curve is not in the blob. */
  readonly curve: BlobCurve | undefined;
}

const ECC_MAGICS: ReadonlyMap<number, EccMagicInfo> = new Map<number, EccMagicInfo>([
  [BCRYPT_ECDSA_PUBLIC_P256_MAGIC, { usage: 'ECDSA', private: false, curve: 'P-256' }],
  [BCRYPT_ECDSA_PRIVATE_P256_MAGIC, { usage: 'ECDSA', private: true, curve: 'P-256' }],
  [BCRYPT_ECDSA_PUBLIC_P384_MAGIC, { usage: 'ECDSA', private: false, curve: 'P-384' }],
  [BCRYPT_ECDSA_PRIVATE_P384_MAGIC, { usage: 'ECDSA', private: true, curve: 'P-384' }],
  [BCRYPT_ECDSA_PUBLIC_P521_MAGIC, { usage: 'ECDSA', private: false, curve: 'P-521' }],
  [BCRYPT_ECDSA_PRIVATE_P521_MAGIC, { usage: 'ECDSA', private: true, curve: 'P-521' }],
  [BCRYPT_ECDSA_PUBLIC_GENERIC_MAGIC, { usage: 'ECDSA', private: false, curve: undefined }],
  [BCRYPT_ECDSA_PRIVATE_GENERIC_MAGIC, { usage: 'ECDSA', private: true, curve: undefined }],
  [BCRYPT_ECDH_PUBLIC_P256_MAGIC, { usage: 'ECDH', private: false, curve: 'P-256' }],
  [BCRYPT_ECDH_PRIVATE_P256_MAGIC, { usage: 'ECDH', private: true, curve: 'P-256' }],
  [BCRYPT_ECDH_PUBLIC_P384_MAGIC, { usage: 'ECDH', private: false, curve: 'P-384' }],
  [BCRYPT_ECDH_PRIVATE_P384_MAGIC, { usage: 'ECDH', private: true, curve: 'P-384' }],
  [BCRYPT_ECDH_PUBLIC_P521_MAGIC, { usage: 'ECDH', private: false, curve: 'P-521' }],
  [BCRYPT_ECDH_PRIVATE_P521_MAGIC, { usage: 'ECDH', private: true, curve: 'P-521' }],
  [BCRYPT_ECDH_PUBLIC_GENERIC_MAGIC, { usage: 'ECDH', private: false, curve: undefined }],
  [BCRYPT_ECDH_PRIVATE_GENERIC_MAGIC, { usage: 'ECDH', private: true, curve: undefined }],
]);

/**
 * What a blob's header says it is.
 *
 * @since 0.2.0
 */
export type BlobDescription =
  | {
      /** An RSA blob. */
      readonly family: 'rsa';
      /** `RSA1` (public), `RSA2` (private), `RSA3` (full private). */
      readonly kind: 'RSA1' | 'RSA2' | 'RSA3';
      /** Whether it holds the private key. */
      readonly private: boolean;
      /** `BitLength`: the modulus length in bits. */
      readonly bits: number;
    }
  | {
      /** An ECC blob. */
      readonly family: 'ec';
      /** ECDSA or ECDH, from the magic. */
      readonly usage: EccBlobUsage;
      /** Whether it holds the private scalar. */
      readonly private: boolean;
      /** The curve the magic names, or `undefined` for a generic magic. */
      readonly curve: BlobCurve | undefined;
      /** `cbKey`: the field size in bytes. */
      readonly fieldSize: number;
    };

function malformed(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `malformed CNG key blob: ${message}`, {
    hint: 'Windows returned a key blob this SDK cannot read; report it with the key algorithm and provider',
  });
}

function invalid(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

function asBlob(blob: unknown): Buffer {
  if (!(blob instanceof Uint8Array)) throw invalid('a key blob must be a Buffer or Uint8Array');
  return Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
}

const b64u = (bytes: Buffer): string => bytes.toString('base64url');

/** Big-endian unsigned integer without leading zero bytes (at least one byte). */
function minimal(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** Left-pads a big-endian integer to `size` bytes; throws if it does not fit. */
function leftPad(bytes: Buffer, size: number, what: string): Buffer {
  const value = minimal(bytes);
  if (value.length > size) throw invalid(`${what} is ${value.length} bytes, more than the ${size} its field holds`);
  const out = Buffer.alloc(size);
  value.copy(out, size - value.length);
  return out;
}

const toBigInt = (bytes: Buffer): bigint => (bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`));

function fromBigInt(value: bigint, size: number): Buffer {
  const hex = value.toString(16);
  const bytes = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
  return leftPad(bytes, size, 'a computed value');
}

function gcd(a: bigint, b: bigint): bigint {
  let [x, y] = [a, b];
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw malformed('the RSA private exponent cannot be computed (e is not invertible)');
  return ((oldS % m) + m) % m;
}

interface RsaParts {
  readonly kind: 'RSA1' | 'RSA2' | 'RSA3';
  readonly bits: number;
  readonly e: Buffer;
  readonly n: Buffer;
  readonly p?: Buffer;
  readonly q?: Buffer;
  readonly dp?: Buffer;
  readonly dq?: Buffer;
  readonly qi?: Buffer;
  readonly d?: Buffer;
}

interface EccParts {
  readonly info: EccMagicInfo;
  readonly fieldSize: number;
  readonly x: Buffer;
  readonly y: Buffer;
  readonly d?: Buffer;
}

function rsaKind(magic: number): RsaParts['kind'] | undefined {
  if (magic === BCRYPT_RSAPUBLIC_MAGIC) return 'RSA1';
  if (magic === BCRYPT_RSAPRIVATE_MAGIC) return 'RSA2';
  if (magic === BCRYPT_RSAFULLPRIVATE_MAGIC) return 'RSA3';
  return undefined;
}

function parseRsa(blob: Buffer, kind: RsaParts['kind']): RsaParts {
  if (blob.length < BCRYPT_RSAKEY_BLOB_SIZE) {
    throw malformed(`an RSA blob needs a ${BCRYPT_RSAKEY_BLOB_SIZE}-byte header, got ${blob.length} bytes`);
  }
  const bits = blob.readUInt32LE(4);
  const cbPublicExp = blob.readUInt32LE(8);
  const cbModulus = blob.readUInt32LE(12);
  const cbPrime1 = blob.readUInt32LE(16);
  const cbPrime2 = blob.readUInt32LE(20);
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
    throw malformed(`BitLength ${bits} is outside ${RSA_MIN_BITS}..${RSA_MAX_BITS}`);
  }
  if (cbModulus !== Math.ceil(bits / 8)) throw malformed(`cbModulus ${cbModulus} does not match BitLength ${bits}`);
  if (cbPublicExp < 1 || cbPublicExp > cbModulus) throw malformed(`cbPublicExp ${cbPublicExp} is out of range`);
  const hasPrimes = kind !== 'RSA1';
  if (hasPrimes && (cbPrime1 < 1 || cbPrime1 > cbModulus || cbPrime2 < 1 || cbPrime2 > cbModulus)) {
    throw malformed(`cbPrime1 ${cbPrime1} / cbPrime2 ${cbPrime2} are out of range`);
  }
  // Each field's length comes from the header; the sum must be the buffer's length exactly.
  const fields: [string, number][] = [
    ['e', cbPublicExp],
    ['n', cbModulus],
  ];
  if (hasPrimes) fields.push(['p', cbPrime1], ['q', cbPrime2]);
  if (kind === 'RSA3') fields.push(['dp', cbPrime1], ['dq', cbPrime2], ['qi', cbPrime1], ['d', cbModulus]);
  const expected = fields.reduce((sum, [, size]) => sum + size, BCRYPT_RSAKEY_BLOB_SIZE);
  if (blob.length !== expected) {
    throw malformed(`the ${kind} header announces ${expected} bytes, the blob has ${blob.length}`);
  }
  const parts: Record<string, Buffer> = {};
  let offset = BCRYPT_RSAKEY_BLOB_SIZE;
  for (const [name, size] of fields) {
    parts[name] = blob.subarray(offset, offset + size);
    offset += size;
  }
  const n = parts.n!;
  if (n[0] === 0) throw malformed('the modulus has a leading zero byte, so BitLength is wrong');
  return { kind, bits, ...parts } as unknown as RsaParts;
}

function parseEcc(blob: Buffer, info: EccMagicInfo, curveHint: BlobCurve | undefined): EccParts & { curve: BlobCurve } {
  if (blob.length < BCRYPT_ECCKEY_BLOB_SIZE) {
    throw malformed(`an ECC blob needs an ${BCRYPT_ECCKEY_BLOB_SIZE}-byte header, got ${blob.length} bytes`);
  }
  const fieldSize = blob.readUInt32LE(4);
  const bySize = (Object.keys(CURVES) as BlobCurve[]).find((c) => CURVES[c].size === fieldSize);
  if (bySize === undefined) throw malformed(`cbKey ${fieldSize} is not the field size of P-256, P-384 or P-521`);
  if (info.curve !== undefined && info.curve !== bySize) {
    throw malformed(`the magic names ${info.curve} but cbKey is ${fieldSize}`);
  }
  if (curveHint !== undefined && curveHint !== bySize) {
    throw malformed(`the blob holds a ${bySize} key (cbKey ${fieldSize}), not ${curveHint}`);
  }
  const count = info.private ? 3 : 2;
  const expected = BCRYPT_ECCKEY_BLOB_SIZE + count * fieldSize;
  if (blob.length !== expected) {
    throw malformed(`the header announces ${expected} bytes, the blob has ${blob.length}`);
  }
  const at = (i: number) =>
    blob.subarray(BCRYPT_ECCKEY_BLOB_SIZE + i * fieldSize, BCRYPT_ECCKEY_BLOB_SIZE + (i + 1) * fieldSize);
  return { info, fieldSize, curve: bySize, x: at(0), y: at(1), ...(info.private ? { d: at(2) } : {}) };
}

function assertCurveHint(curveHint: unknown): BlobCurve | undefined {
  if (curveHint === undefined) return undefined;
  if (typeof curveHint !== 'string' || !Object.hasOwn(CURVES, curveHint)) {
    throw invalid(`curveHint must be 'P-256', 'P-384' or 'P-521', not ${JSON.stringify(curveHint)}`);
  }
  return curveHint as BlobCurve;
}

function importJwk(jwk: JsonWebKey, isPrivate: boolean): KeyObject {
  try {
    return isPrivate ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
  } catch (cause) {
    const err = malformed(`Node rejected the key (${(cause as Error).message})`);
    Object.defineProperty(err, 'cause', { value: cause });
    throw err;
  }
}

/**
 * What a CNG key blob's header says it is (family, private or public, size, curve), after checking
 * that its lengths match the buffer.
 *
 * @example
 * ```ts
 * describeBlob(blob); // { family: 'ec', usage: 'ECDSA', private: false, curve: 'P-256', fieldSize: 32 }
 * ```
 * @since 0.2.0
 */
export function describeBlob(blob: Buffer | Uint8Array): BlobDescription {
  const buf = asBlob(blob);
  if (buf.length < 4) throw malformed(`${buf.length} bytes is too short for a key blob`);
  const magic = buf.readUInt32LE(0);
  const kind = rsaKind(magic);
  if (kind !== undefined) {
    const parts = parseRsa(buf, kind);
    return { family: 'rsa', kind, private: kind !== 'RSA1', bits: parts.bits };
  }
  const info = ECC_MAGICS.get(magic);
  if (info === undefined) throw malformed(`unknown magic 0x${magic.toString(16).padStart(8, '0')}`);
  const parts = parseEcc(buf, info, undefined);
  return { family: 'ec', usage: info.usage, private: info.private, curve: info.curve, fieldSize: parts.fieldSize };
}

/**
 * The curve an ECC blob's magic names, or `undefined` for an RSA blob and for the generic magics
 * (`ECDP`/`ECKP`…, which the Platform Crypto Provider can return: read the key's `ECCCurveName`
 * property then). Throws for a malformed blob.
 *
 * @since 0.2.0
 */
export function blobCurve(blob: Buffer | Uint8Array): BlobCurve | undefined {
  const description = describeBlob(blob);
  return description.family === 'ec' ? description.curve : undefined;
}

/**
 * The public key of a CNG key blob: `BCRYPT_RSAKEY_BLOB` (RSA1/RSA2/RSA3: e and n) or
 * `BCRYPT_ECCKEY_BLOB` (every ECDSA/ECDH magic, public or private: X and Y).
 *
 * @param curveHint The curve when the blob has a generic magic (from the key's `ECCCurveName`);
 *   without it the curve follows from `cbKey`, and Node checks that the point is on it. When given
 *   for a blob whose magic or size names another curve, the blob is refused.
 * @example
 * ```ts
 * const publicKey = publicKeyFromBlob(ncrypt.exportKey(key, 'RSAPUBLICBLOB'));
 * publicKey.export({ format: 'pem', type: 'spki' });
 * ```
 * @since 0.2.0
 */
export function publicKeyFromBlob(blob: Buffer | Uint8Array, curveHint?: BlobCurve): KeyObject {
  const buf = asBlob(blob);
  const hint = assertCurveHint(curveHint);
  if (buf.length < 4) throw malformed(`${buf.length} bytes is too short for a key blob`);
  const magic = buf.readUInt32LE(0);
  const kind = rsaKind(magic);
  if (kind !== undefined) {
    if (hint !== undefined) throw invalid('curveHint applies to ECC blobs, and this is an RSA blob');
    const { e, n } = parseRsa(buf, kind);
    return importJwk({ kty: 'RSA', n: b64u(minimal(n)), e: b64u(minimal(e)) }, false);
  }
  const info = ECC_MAGICS.get(magic);
  if (info === undefined) throw malformed(`unknown magic 0x${magic.toString(16).padStart(8, '0')}`);
  const { curve, x, y } = parseEcc(buf, info, hint);
  return importJwk({ kty: 'EC', crv: curve, x: b64u(x), y: b64u(y) }, false);
}

/**
 * The private key of an exported private blob: `RSAFULLPRIVATEBLOB` (RSA3), `RSAPRIVATEBLOB` (RSA2:
 * the CRT values are computed) or `ECCPRIVATEBLOB`, as a Node private `KeyObject`. The parts are
 * checked for consistency (p·q = n; d·G = (X, Y)) before Node sees them.
 *
 * @param curveHint As for {@link publicKeyFromBlob}.
 * @since 0.2.0
 */
export function privateKeyFromBlob(blob: Buffer | Uint8Array, curveHint?: BlobCurve): KeyObject {
  const buf = asBlob(blob);
  const hint = assertCurveHint(curveHint);
  if (buf.length < 4) throw malformed(`${buf.length} bytes is too short for a key blob`);
  const magic = buf.readUInt32LE(0);
  const kind = rsaKind(magic);
  if (kind !== undefined) {
    if (hint !== undefined) throw invalid('curveHint applies to ECC blobs, and this is an RSA blob');
    if (kind === 'RSA1') throw invalid('an RSAPUBLICBLOB holds no private key: export RSAFULLPRIVATEBLOB');
    const parts = parseRsa(buf, kind);
    const n = toBigInt(parts.n);
    const e = toBigInt(parts.e);
    const p = toBigInt(parts.p!);
    const q = toBigInt(parts.q!);
    if (p < 2n || q < 2n || p * q !== n) throw malformed('the primes do not multiply to the modulus');
    let d: bigint;
    let dp: bigint;
    let dq: bigint;
    let qi: bigint;
    if (kind === 'RSA3') {
      d = toBigInt(parts.d!);
      dp = toBigInt(parts.dp!);
      dq = toBigInt(parts.dq!);
      qi = toBigInt(parts.qi!);
      if (dp !== d % (p - 1n) || dq !== d % (q - 1n) || (qi * q) % p !== 1n) {
        throw malformed('the CRT values do not match the private exponent and primes');
      }
    } else {
      // d = e⁻¹ mod λ(n), λ(n) = lcm(p − 1, q − 1): the smallest d, as OpenSSL computes it.
      const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
      d = modInverse(e, lambda);
      dp = d % (p - 1n);
      dq = d % (q - 1n);
      qi = modInverse(q, p);
    }
    const size = parts.n.length;
    const int = (v: bigint) => b64u(minimal(fromBigInt(v, size)));
    return importJwk(
      {
        kty: 'RSA',
        n: b64u(minimal(parts.n)),
        e: b64u(minimal(parts.e)),
        d: int(d),
        p: int(p),
        q: int(q),
        dp: int(dp),
        dq: int(dq),
        qi: int(qi),
      },
      true,
    );
  }
  const info = ECC_MAGICS.get(magic);
  if (info === undefined) throw malformed(`unknown magic 0x${magic.toString(16).padStart(8, '0')}`);
  if (!info.private) throw invalid('an ECCPUBLICBLOB holds no private key: export ECCPRIVATEBLOB');
  const { curve, x, y, d } = parseEcc(buf, info, hint);
  // Check that d belongs to (X, Y): Node would otherwise keep a public point that is not d·G.
  let derived: Buffer;
  try {
    const ecdh = createECDH(CURVES[curve].openssl);
    ecdh.setPrivateKey(d!);
    derived = ecdh.getPublicKey();
  } catch (cause) {
    const err = malformed(`the private scalar is not valid for ${curve}`);
    Object.defineProperty(err, 'cause', { value: cause });
    throw err;
  }
  if (!derived.equals(Buffer.concat([Buffer.from([4]), x, y]))) {
    throw malformed('the private scalar does not belong to the public point');
  }
  return importJwk({ kty: 'EC', crv: curve, x: b64u(x), y: b64u(y), d: b64u(d!) }, true);
}

function rsaJwk(key: unknown, wantPrivate: boolean): { jwk: JsonWebKey; bits: number } {
  if (
    typeof key !== 'object' ||
    key === null ||
    (key as KeyObject).asymmetricKeyType !== 'rsa' ||
    (wantPrivate && (key as KeyObject).type !== 'private')
  ) {
    throw invalid(`expected an RSA ${wantPrivate ? 'private ' : ''}KeyObject (type 'rsa', not 'rsa-pss')`);
  }
  const k = key as KeyObject;
  const bits = k.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
    throw invalid(`an RSA key of ${bits} bits is outside what CNG accepts (${RSA_MIN_BITS}..${RSA_MAX_BITS})`);
  }
  const jwk = k.export({ format: 'jwk' });
  if (wantPrivate && (jwk as { oth?: unknown }).oth !== undefined) {
    throw invalid('multi-prime RSA keys cannot be imported into CNG');
  }
  return { jwk, bits };
}

const fromB64u = (value: string | undefined, what: string): Buffer => {
  if (typeof value !== 'string') throw invalid(`the key has no ${what}`);
  return Buffer.from(value, 'base64url');
};

/**
 * A `BCRYPT_RSAFULLPRIVATE_BLOB` (RSA3) for `NCryptImportKey`, from a Node RSA private key.
 *
 * @example
 * ```ts
 * const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
 * const handle = await ncrypt.importKey(prov, 'RSAFULLPRIVATEBLOB', rsaFullPrivateBlobFromKeyObject(privateKey), null, 0);
 * ```
 * @since 0.2.0
 */
export function rsaFullPrivateBlobFromKeyObject(key: KeyObject): Buffer {
  const { jwk, bits } = rsaJwk(key, true);
  const cbModulus = Math.ceil(bits / 8);
  const e = minimal(fromB64u(jwk.e, 'e'));
  const n = leftPad(fromB64u(jwk.n, 'n'), cbModulus, 'n');
  const p = minimal(fromB64u(jwk.p, 'p'));
  const q = minimal(fromB64u(jwk.q, 'q'));
  const half = Math.ceil(bits / 16);
  const cbPrime1 = Math.max(half, p.length);
  const cbPrime2 = Math.max(half, q.length);
  const header = Buffer.alloc(BCRYPT_RSAKEY_BLOB_SIZE);
  header.writeUInt32LE(BCRYPT_RSAFULLPRIVATE_MAGIC, 0);
  header.writeUInt32LE(bits, 4);
  header.writeUInt32LE(e.length, 8);
  header.writeUInt32LE(cbModulus, 12);
  header.writeUInt32LE(cbPrime1, 16);
  header.writeUInt32LE(cbPrime2, 20);
  return Buffer.concat([
    header,
    e,
    n,
    leftPad(p, cbPrime1, 'p'),
    leftPad(q, cbPrime2, 'q'),
    leftPad(fromB64u(jwk.dp, 'dp'), cbPrime1, 'dp'),
    leftPad(fromB64u(jwk.dq, 'dq'), cbPrime2, 'dq'),
    leftPad(fromB64u(jwk.qi, 'qi'), cbPrime1, 'qi'),
    leftPad(fromB64u(jwk.d, 'd'), cbModulus, 'd'),
  ]);
}

/**
 * A `BCRYPT_RSAPUBLIC_BLOB` (RSA1) from a Node RSA key (public, or private whose public half is used).
 *
 * @since 0.2.0
 */
export function rsaPublicBlobFromKeyObject(key: KeyObject): Buffer {
  const { jwk, bits } = rsaJwk(key, false);
  const cbModulus = Math.ceil(bits / 8);
  const e = minimal(fromB64u(jwk.e, 'e'));
  const header = Buffer.alloc(BCRYPT_RSAKEY_BLOB_SIZE);
  header.writeUInt32LE(BCRYPT_RSAPUBLIC_MAGIC, 0);
  header.writeUInt32LE(bits, 4);
  header.writeUInt32LE(e.length, 8);
  header.writeUInt32LE(cbModulus, 12);
  return Buffer.concat([header, e, leftPad(fromB64u(jwk.n, 'n'), cbModulus, 'n')]);
}

function eccMagic(curve: BlobCurve, usage: EccBlobUsage, isPrivate: boolean): number {
  for (const [magic, info] of ECC_MAGICS) {
    if (info.curve === curve && info.usage === usage && info.private === isPrivate) return magic;
  }
  /* c8 ignore next */
  throw invalid(`no magic for ${usage} ${curve}`);
}

function eccJwk(key: unknown, usage: unknown, wantPrivate: boolean): { jwk: JsonWebKey; curve: BlobCurve } {
  if (usage !== 'ECDSA' && usage !== 'ECDH') throw invalid(`usage must be 'ECDSA' or 'ECDH', not ${String(usage)}`);
  if (
    typeof key !== 'object' ||
    key === null ||
    (key as KeyObject).asymmetricKeyType !== 'ec' ||
    (wantPrivate && (key as KeyObject).type !== 'private')
  ) {
    throw invalid(`expected an EC ${wantPrivate ? 'private ' : ''}KeyObject`);
  }
  const k = key as KeyObject;
  const named = k.asymmetricKeyDetails?.namedCurve;
  const curve = (Object.keys(CURVES) as BlobCurve[]).find((c) => CURVES[c].openssl === named);
  if (curve === undefined) throw invalid(`CNG blobs hold P-256, P-384 or P-521 keys, not ${String(named)}`);
  return { jwk: k.export({ format: 'jwk' }), curve };
}

function eccBlob(magic: number, size: number, parts: Buffer[]): Buffer {
  const header = Buffer.alloc(BCRYPT_ECCKEY_BLOB_SIZE);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(size, 4);
  return Buffer.concat([header, ...parts.map((p, i) => leftPad(p, size, ['X', 'Y', 'd'][i]!))]);
}

/**
 * A `BCRYPT_ECCPRIVATE_BLOB` for `NCryptImportKey`, from a Node EC private key on P-256, P-384 or
 * P-521, with the ECDSA or ECDH magic of its curve.
 *
 * @since 0.2.0
 */
export function eccPrivateBlobFromKeyObject(key: KeyObject, usage: EccBlobUsage): Buffer {
  const { jwk, curve } = eccJwk(key, usage, true);
  const size = CURVES[curve].size;
  return eccBlob(eccMagic(curve, usage, true), size, [
    fromB64u(jwk.x, 'x'),
    fromB64u(jwk.y, 'y'),
    fromB64u(jwk.d, 'd'),
  ]);
}

/**
 * A `BCRYPT_ECCPUBLIC_BLOB` from a Node EC key (public, or private whose public half is used), e.g.
 * to import an ECDH peer's public key for `NCryptSecretAgreement`.
 *
 * @since 0.2.0
 */
export function eccPublicBlobFromKeyObject(key: KeyObject, usage: EccBlobUsage): Buffer {
  const { jwk, curve } = eccJwk(key, usage, false);
  const size = CURVES[curve].size;
  return eccBlob(eccMagic(curve, usage, false), size, [fromB64u(jwk.x, 'x'), fromB64u(jwk.y, 'y')]);
}
