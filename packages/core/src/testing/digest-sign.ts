/**
 * Signing a precomputed digest in software, for the in-memory provider: Node's `crypto.sign` only
 * signs messages, so the paddings (RFC 8017) and ECDSA (FIPS 186-4) are done here. Not constant
 * time: fit for tests and demos, like the in-memory provider itself.
 *
 * @module
 * @internal
 */
import { constants, createECDH, createHash, type KeyObject, privateEncrypt, randomBytes } from 'node:crypto';
import type { HashAlgorithm } from '../algorithms.js';
import { KeyStoreError } from '../errors.js';

/** DER of `DigestInfo` up to the digest itself (RFC 8017 §9.2, note 1). */
const DIGEST_INFO_PREFIX: Readonly<Record<HashAlgorithm, Buffer>> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

/** RSASSA-PKCS1-v1_5 over a digest: `privateEncrypt` with block type 1 over `DigestInfo ‖ digest`. */
export function rsaPkcs1SignDigest(privateKey: KeyObject, hash: HashAlgorithm, digest: Buffer): Buffer {
  return privateEncrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
    Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]),
  );
}

/** MGF1 (RFC 8017 §B.2.1) with `hash`. */
function mgf1(hash: HashAlgorithm, seed: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  const counter = Buffer.alloc(4);
  for (let i = 0, offset = 0; offset < length; i++) {
    counter.writeUInt32BE(i);
    const block = createHash(hash).update(seed).update(counter).digest();
    offset += block.copy(out, offset, 0, Math.min(block.length, length - offset));
  }
  return out;
}

/**
 * RSASSA-PSS over a digest: EMSA-PSS encoding (RFC 8017 §9.1.1, MGF1 with the same hash) and the
 * raw RSA private operation.
 */
export function rsaPssSignDigest(
  privateKey: KeyObject,
  modulusBits: number,
  hash: HashAlgorithm,
  digest: Buffer,
  saltLength: number,
): Buffer {
  const hLen = digest.length;
  const emBits = modulusBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (emLen < hLen + saltLength + 2) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      `a PSS salt of ${saltLength} bytes is too long for this key`,
    );
  }
  const salt = randomBytes(saltLength);
  const h = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const dbLength = emLen - hLen - 1;
  const db = Buffer.alloc(dbLength);
  db[dbLength - saltLength - 1] = 0x01;
  salt.copy(db, dbLength - saltLength);
  const mask = mgf1(hash, h, dbLength);
  for (let i = 0; i < dbLength; i++) db[i] = db[i]! ^ mask[i]!;
  db[0] = db[0]! & (0xff >> (8 * emLen - emBits));
  const k = Math.ceil(modulusBits / 8);
  const em = Buffer.alloc(k);
  db.copy(em, k - emLen);
  h.copy(em, k - emLen + dbLength);
  em[k - 1] = 0xbc;
  return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, em);
}

/** Orders of the NIST curves' base points. */
const CURVE_ORDER: Readonly<Record<string, { n: bigint; bits: number }>> = {
  prime256v1: { n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n, bits: 256 },
  secp384r1: {
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    bits: 384,
  },
  secp521r1: {
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    bits: 521,
  },
};

/** Big-endian unsigned bytes to a bigint. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0
    ? 0n
    : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')}`);
}

function bigIntToBytes(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

function modInverse(a: bigint, n: bigint): bigint {
  let [oldR, r] = [a % n, n];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % n) + n) % n;
}

/**
 * ECDSA over a digest (FIPS 186-4 §6.4): a fresh random `k` for every signature, `R = kG` from
 * Node's ECDH point multiplication, `r = R.x mod n`, `s = k⁻¹(e + r·d) mod n`, where `e` is the
 * leftmost bits of the digest, as many as `n` has. Returns IEEE P1363 `r‖s`.
 */
export function ecdsaSignDigest(namedCurve: string, fieldBytes: number, d: bigint, digest: Buffer): Buffer {
  const curve = CURVE_ORDER[namedCurve];
  if (!curve) throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM', `unsupported curve ${namedCurve}`);
  const { n, bits } = curve;
  let e = bytesToBigInt(digest);
  if (digest.length * 8 > bits) e >>= BigInt(digest.length * 8 - bits);
  const topMask = 0xff >> (fieldBytes * 8 - bits);
  const ecdh = createECDH(namedCurve);
  for (;;) {
    const kBytes = randomBytes(fieldBytes);
    kBytes[0] = kBytes[0]! & topMask;
    const k = bytesToBigInt(kBytes);
    if (k === 0n || k >= n) continue;
    ecdh.setPrivateKey(kBytes);
    const point = ecdh.getPublicKey(); // 0x04 ‖ X ‖ Y
    const r = bytesToBigInt(point.subarray(1, 1 + fieldBytes)) % n;
    if (r === 0n) continue;
    const s = (modInverse(k, n) * ((e + r * d) % n)) % n;
    if (s === 0n) continue;
    return Buffer.concat([bigIntToBytes(r, fieldBytes), bigIntToBytes(s, fieldBytes)]);
  }
}
