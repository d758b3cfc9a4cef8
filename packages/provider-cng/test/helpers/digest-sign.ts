/**
 * Signing a precomputed digest in software, for the NCrypt double: Node's `crypto.sign` signs
 * messages, while `NCryptSignHash` signs digests. RSASSA-PKCS1-v1_5 and RSASSA-PSS per RFC 8017,
 * ECDSA per FIPS 186-4 with a random k. Not constant time: for tests only.
 */
import { constants, createECDH, createHash, type KeyObject, privateEncrypt, randomBytes } from 'node:crypto';

export type DigestHash = 'SHA1' | 'SHA256' | 'SHA384' | 'SHA512';

const NODE_HASH: Record<DigestHash, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' };

/** DER of DigestInfo before the digest (RFC 8017 §9.2, note 1). */
const DIGEST_INFO: Record<DigestHash, string> = {
  SHA1: '3021300906052b0e03021a05000414',
  SHA256: '3031300d060960864801650304020105000420',
  SHA384: '3041300d060960864801650304020205000430',
  SHA512: '3051300d060960864801650304020305000440',
};

export function nodeHash(hash: DigestHash): string {
  return NODE_HASH[hash];
}

export function pkcs1SignDigest(privateKey: KeyObject, hash: DigestHash, digest: Buffer): Buffer {
  const info = Buffer.concat([Buffer.from(DIGEST_INFO[hash], 'hex'), digest]);
  return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, info);
}

function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0, total = 0; total < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    blocks.push(block);
    total += block.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

export function pssSignDigest(privateKey: KeyObject, hash: DigestHash, digest: Buffer, saltLength: number): Buffer {
  const modBits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  const h = NODE_HASH[hash];
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = digest.length;
  if (emLen < hLen + saltLength + 2) throw new RangeError('salt too long');
  const salt = randomBytes(saltLength);
  const mHash = createHash(h).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.alloc(emLen - hLen - 1);
  db[db.length - saltLength - 1] = 1;
  salt.copy(db, db.length - saltLength);
  const mask = mgf1(h, mHash, db.length);
  for (let i = 0; i < db.length; i++) db[i] = (db[i] as number) ^ (mask[i] as number);
  db[0] = (db[0] as number) & (0xff >> (8 * emLen - emBits));
  const k = Math.ceil(modBits / 8);
  const em = Buffer.concat([Buffer.alloc(k - emLen), db, mHash, Buffer.from([0xbc])]);
  return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, em);
}

const ORDERS: Record<string, bigint> = {
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp384r1: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  secp521r1:
    0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};
const BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

function toBig(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
}

function toBytes(value: bigint, size: number): Buffer {
  return Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex');
}

function inverse(a: bigint, n: bigint): bigint {
  let [r0, r1] = [a % n, n];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % n) + n) % n;
}

/** ECDSA over a digest; returns r‖s, each `size` bytes big-endian (what NCryptSignHash returns). */
export function ecdsaSignDigest(privateKey: KeyObject, digest: Buffer): Buffer {
  const curve = privateKey.asymmetricKeyDetails?.namedCurve ?? '';
  const n = ORDERS[curve];
  const bits = BITS[curve];
  if (n === undefined || bits === undefined) throw new RangeError(`curve ${curve}`);
  const size = Math.ceil(bits / 8);
  const jwk = privateKey.export({ format: 'jwk' });
  const d = toBig(Buffer.from(jwk.d ?? '', 'base64url'));
  let e = toBig(digest);
  if (digest.length * 8 > bits) e >>= BigInt(digest.length * 8 - bits);
  const ecdh = createECDH(curve);
  for (;;) {
    const kBytes = randomBytes(size);
    kBytes[0] = (kBytes[0] as number) & (0xff >> (size * 8 - bits));
    const k = toBig(kBytes);
    if (k === 0n || k >= n) continue;
    ecdh.setPrivateKey(kBytes);
    const r = toBig(ecdh.getPublicKey().subarray(1, 1 + size)) % n;
    if (r === 0n) continue;
    const s = (inverse(k, n) * ((e + r * d) % n)) % n;
    if (s === 0n) continue;
    return Buffer.concat([toBytes(r, size), toBytes(s, size)]);
  }
}
