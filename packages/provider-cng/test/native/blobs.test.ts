/**
 * The CNG key blob codecs, pure: round trips through Node-generated keys, malformed blobs, and
 * random buffers.
 */
import { constants, generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BCRYPT_ECCKEY_BLOB_SIZE,
  BCRYPT_RSAKEY_BLOB_SIZE,
  blobCurve,
  describeBlob,
  eccPrivateBlobFromKeyObject,
  eccPublicBlobFromKeyObject,
  privateKeyFromBlob,
  publicKeyFromBlob,
  rsaFullPrivateBlobFromKeyObject,
  rsaPublicBlobFromKeyObject,
} from '../../src/native/blobs.js';
import {
  BCRYPT_ECDH_PRIVATE_GENERIC_MAGIC,
  BCRYPT_ECDH_PUBLIC_P384_MAGIC,
  BCRYPT_ECDSA_PRIVATE_P521_MAGIC,
  BCRYPT_ECDSA_PUBLIC_GENERIC_MAGIC,
  BCRYPT_ECDSA_PUBLIC_P256_MAGIC,
  BCRYPT_RSAFULLPRIVATE_MAGIC,
  BCRYPT_RSAPRIVATE_MAGIC,
  BCRYPT_RSAPUBLIC_MAGIC,
} from '../../src/native/constants.js';

function codeOf(fn: () => unknown): KeyStoreErrorCode | 'returned' | 'not a KeyStoreError' {
  try {
    fn();
    return 'returned';
  } catch (err) {
    return KeyStoreError.is(err) ? err.code : 'not a KeyStoreError';
  }
}

const jwkOf = (key: KeyObject) => key.export({ format: 'jwk' });
const data = Buffer.from('blob round trip');

/** The RSA2 blob Windows exports as RSAPRIVATEBLOB: the RSA3 layout without dp, dq, qi, d. */
function rsa2From(rsa3: Buffer): Buffer {
  const cbPublicExp = rsa3.readUInt32LE(8);
  const cbModulus = rsa3.readUInt32LE(12);
  const cbPrime1 = rsa3.readUInt32LE(16);
  const cbPrime2 = rsa3.readUInt32LE(20);
  const out = Buffer.from(rsa3.subarray(0, BCRYPT_RSAKEY_BLOB_SIZE + cbPublicExp + cbModulus + cbPrime1 + cbPrime2));
  out.writeUInt32LE(BCRYPT_RSAPRIVATE_MAGIC, 0);
  return out;
}

describe('RSA blobs', () => {
  for (const bits of [2048, 3072, 4096]) {
    describe(`RSA-${bits}`, () => {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
      const full = rsaFullPrivateBlobFromKeyObject(privateKey);

      it('writes an RSA3 header whose lengths add up to the blob', () => {
        expect(full.readUInt32LE(0)).toBe(BCRYPT_RSAFULLPRIVATE_MAGIC);
        expect(full.readUInt32LE(4)).toBe(bits);
        const cbPublicExp = full.readUInt32LE(8);
        const cbModulus = full.readUInt32LE(12);
        const cbPrime1 = full.readUInt32LE(16);
        const cbPrime2 = full.readUInt32LE(20);
        expect(cbPublicExp).toBe(3); // 65537
        expect(cbModulus).toBe(bits / 8);
        expect(full.length).toBe(24 + cbPublicExp + 2 * cbModulus + 3 * cbPrime1 + 2 * cbPrime2);
        expect(full.subarray(24, 24 + cbPublicExp).toString('hex')).toBe('010001');
        expect(describeBlob(full)).toEqual({ family: 'rsa', kind: 'RSA3', private: true, bits });
      });

      it('reads back the public key from RSA1, RSA2 and RSA3 blobs', () => {
        const rsa1 = rsaPublicBlobFromKeyObject(publicKey);
        expect(rsa1.readUInt32LE(0)).toBe(BCRYPT_RSAPUBLIC_MAGIC);
        for (const blob of [rsa1, rsa2From(full), full]) {
          expect(jwkOf(publicKeyFromBlob(blob))).toEqual(jwkOf(publicKey));
        }
        expect(blobCurve(rsa1)).toBeUndefined();
      });

      it('reads back a private key from RSA3 (as exported) and RSA2 (CRT computed) that signs for the public key', () => {
        for (const blob of [full, rsa2From(full)]) {
          const restored = privateKeyFromBlob(blob);
          expect(restored.type).toBe('private');
          expect(jwkOf(restored)).toEqual(jwkOf(privateKey));
          const signature = sign('sha256', data, restored);
          expect(verify('sha256', data, publicKey, signature)).toBe(true);
          const pss = sign('sha256', data, { key: restored, padding: constants.RSA_PKCS1_PSS_PADDING });
          expect(verify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING }, pss)).toBe(true);
        }
      });
    });
  }

  it('pads a modulus whose bit length is not a multiple of 8 and keeps BitLength exact', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2050 });
    const blob = rsaFullPrivateBlobFromKeyObject(privateKey);
    expect(blob.readUInt32LE(4)).toBe(2050);
    expect(blob.readUInt32LE(12)).toBe(257);
    expect(jwkOf(publicKeyFromBlob(blob))).toEqual(jwkOf(publicKey));
    expect(jwkOf(privateKeyFromBlob(blob))).toEqual(jwkOf(privateKey));
  });

  it('refuses keys it cannot encode with INVALID_ARGUMENT', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    expect(codeOf(() => rsaFullPrivateBlobFromKeyObject(ec.privateKey))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => rsaFullPrivateBlobFromKeyObject(rsa.publicKey))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => rsaFullPrivateBlobFromKeyObject(pss.privateKey))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => rsaFullPrivateBlobFromKeyObject(null as unknown as KeyObject))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
  });
});

describe('ECC blobs', () => {
  const curves = [
    { curve: 'P-256', size: 32, hash: 'sha256' },
    { curve: 'P-384', size: 48, hash: 'sha384' },
    { curve: 'P-521', size: 66, hash: 'sha512' },
  ] as const;
  for (const { curve, size, hash } of curves) {
    describe(curve, () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });

      for (const usage of ['ECDSA', 'ECDH'] as const) {
        it(`${usage}: public and private blobs round-trip; cbKey is the field size`, () => {
          const pub = eccPublicBlobFromKeyObject(publicKey, usage);
          const priv = eccPrivateBlobFromKeyObject(privateKey, usage);
          expect(pub.readUInt32LE(4)).toBe(size);
          expect(pub.length).toBe(BCRYPT_ECCKEY_BLOB_SIZE + 2 * size);
          expect(priv.length).toBe(BCRYPT_ECCKEY_BLOB_SIZE + 3 * size);
          expect(describeBlob(pub)).toEqual({ family: 'ec', usage, private: false, curve, fieldSize: size });
          expect(describeBlob(priv)).toEqual({ family: 'ec', usage, private: true, curve, fieldSize: size });
          expect(blobCurve(priv)).toBe(curve);
          // The public blob from a private key is the same as from its public key.
          expect(eccPublicBlobFromKeyObject(privateKey, usage).equals(pub)).toBe(true);
          for (const blob of [pub, priv]) expect(jwkOf(publicKeyFromBlob(blob))).toEqual(jwkOf(publicKey));
          const restored = privateKeyFromBlob(priv);
          expect(jwkOf(restored)).toEqual(jwkOf(privateKey));
          const signature = sign(hash, data, restored);
          expect(verify(hash, data, publicKey, signature)).toBe(true);
        });
      }

      it('reads a generic-magic blob by cbKey, or by a matching curve hint; a contradicting hint is refused', () => {
        const pub = eccPublicBlobFromKeyObject(publicKey, 'ECDSA');
        pub.writeUInt32LE(BCRYPT_ECDSA_PUBLIC_GENERIC_MAGIC, 0);
        expect(blobCurve(pub)).toBeUndefined();
        expect(jwkOf(publicKeyFromBlob(pub))).toEqual(jwkOf(publicKey));
        expect(jwkOf(publicKeyFromBlob(pub, curve))).toEqual(jwkOf(publicKey));
        const other = curve === 'P-256' ? 'P-384' : 'P-256';
        expect(codeOf(() => publicKeyFromBlob(pub, other))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
        const priv = eccPrivateBlobFromKeyObject(privateKey, 'ECDH');
        priv.writeUInt32LE(BCRYPT_ECDH_PRIVATE_GENERIC_MAGIC, 0);
        expect(jwkOf(privateKeyFromBlob(priv, curve))).toEqual(jwkOf(privateKey));
      });
    });
  }

  it('writes the documented magics', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    expect(eccPublicBlobFromKeyObject(p256.publicKey, 'ECDSA').readUInt32LE(0)).toBe(BCRYPT_ECDSA_PUBLIC_P256_MAGIC);
    expect(eccPublicBlobFromKeyObject(p384.publicKey, 'ECDH').readUInt32LE(0)).toBe(BCRYPT_ECDH_PUBLIC_P384_MAGIC);
    expect(eccPrivateBlobFromKeyObject(p521.privateKey, 'ECDSA').readUInt32LE(0)).toBe(BCRYPT_ECDSA_PRIVATE_P521_MAGIC);
  });

  it('refuses keys and usages it cannot encode with INVALID_ARGUMENT', () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    expect(codeOf(() => eccPublicBlobFromKeyObject(k1.publicKey, 'ECDSA'))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => eccPublicBlobFromKeyObject(ed.publicKey, 'ECDSA'))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => eccPrivateBlobFromKeyObject(p256.publicKey, 'ECDSA'))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => eccPublicBlobFromKeyObject(p256.publicKey, 'ECDHE' as 'ECDH'))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(
      codeOf(() => publicKeyFromBlob(eccPublicBlobFromKeyObject(p256.publicKey, 'ECDSA'), 'P-224' as 'P-256')),
    ).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => privateKeyFromBlob(eccPublicBlobFromKeyObject(p256.publicKey, 'ECDSA')))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(codeOf(() => publicKeyFromBlob('not a buffer' as unknown as Buffer))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });
});

describe('malformed blobs', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa3 = rsaFullPrivateBlobFromKeyObject(rsa.privateKey);
  const ecPriv = eccPrivateBlobFromKeyObject(ec.privateKey, 'ECDSA');
  const withField = (blob: Buffer, offset: number, value: number) => {
    const copy = Buffer.from(blob);
    copy.writeUInt32LE(value, offset);
    return copy;
  };

  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['three bytes', Buffer.from([0x52, 0x53, 0x41])],
    ['an unknown magic', withField(rsa3, 0, 0x12345678)],
    ['an RSA header cut short', rsa3.subarray(0, 20)],
    ['an RSA blob cut short', rsa3.subarray(0, rsa3.length - 1)],
    ['an RSA blob with a byte too many', Buffer.concat([rsa3, Buffer.alloc(1)])],
    ['cbModulus larger than the buffer', withField(rsa3, 12, 0x7fffffff)],
    ['cbPublicExp of 0xFFFFFFFF', withField(rsa3, 8, 0xffffffff)],
    ['cbPrime1 of 0xFFFFFFFF', withField(rsa3, 16, 0xffffffff)],
    ['a BitLength that contradicts cbModulus', withField(rsa3, 4, 4096)],
    ['a BitLength of 0', withField(rsa3, 4, 0)],
    ['an ECC header cut short', ecPriv.subarray(0, 6)],
    ['an ECC blob cut short', ecPriv.subarray(0, ecPriv.length - 1)],
    ['cbKey larger than the buffer', withField(ecPriv, 4, 0x10000)],
    ['cbKey of another curve than the magic', withField(ecPriv, 4, 48)],
    ['cbKey of no NIST curve', withField(ecPriv, 4, 33)],
  ];
  for (const [what, blob] of cases) {
    it(`${what}: NATIVE_FAILURE from every reader, no out-of-range read`, () => {
      expect(codeOf(() => publicKeyFromBlob(blob))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
      expect(codeOf(() => privateKeyFromBlob(blob))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
      expect(codeOf(() => describeBlob(blob))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
      expect(codeOf(() => blobCurve(blob))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    });
  }

  it('refuses private blobs whose parts do not belong together', () => {
    // Another key's modulus in an otherwise valid RSA3 blob: p·q ≠ n.
    const other = rsaFullPrivateBlobFromKeyObject(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    const mixed = Buffer.from(rsa3);
    other.copy(mixed, 24 + 3, 24 + 3, 24 + 3 + 256);
    expect(codeOf(() => privateKeyFromBlob(mixed))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    // A flipped bit in d (the last field): the CRT values no longer match.
    const badD = Buffer.from(rsa3);
    badD[badD.length - 1]! ^= 1;
    expect(codeOf(() => privateKeyFromBlob(badD))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    // Another scalar with the same public point.
    const badScalar = Buffer.from(ecPriv);
    badScalar[badScalar.length - 1]! ^= 1;
    expect(codeOf(() => privateKeyFromBlob(badScalar))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    // A point that is not on the curve.
    const offCurve = eccPublicBlobFromKeyObject(ec.publicKey, 'ECDSA');
    offCurve[offCurve.length - 1]! ^= 1;
    expect(codeOf(() => publicKeyFromBlob(offCurve))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
  });

  it('random buffers: every reader returns or throws a KeyStoreError, never anything else', () => {
    const readers = [publicKeyFromBlob, privateKeyFromBlob, describeBlob, blobCurve];
    const allowed = new Set(['returned', 'ERR_KEYSTORE_NATIVE_FAILURE', 'ERR_KEYSTORE_INVALID_ARGUMENT']);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (bytes) => {
        const blob = Buffer.from(bytes);
        for (const read of readers) expect(allowed.has(codeOf(() => read(blob)))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('random headers with known magics and random lengths: only KeyStoreErrors', () => {
    const magics = [
      BCRYPT_RSAPUBLIC_MAGIC,
      BCRYPT_RSAPRIVATE_MAGIC,
      BCRYPT_RSAFULLPRIVATE_MAGIC,
      BCRYPT_ECDSA_PUBLIC_P256_MAGIC,
      BCRYPT_ECDSA_PRIVATE_P521_MAGIC,
      BCRYPT_ECDSA_PUBLIC_GENERIC_MAGIC,
      BCRYPT_ECDH_PRIVATE_GENERIC_MAGIC,
    ];
    const allowed = new Set(['returned', 'ERR_KEYSTORE_NATIVE_FAILURE', 'ERR_KEYSTORE_INVALID_ARGUMENT']);
    fc.assert(
      fc.property(
        fc.constantFrom(...magics),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 600 }), fc.constant(0xffffffff)), { minLength: 5, maxLength: 5 }),
        fc.integer({ min: 0, max: 2000 }),
        (magic, fields, bodyLength) => {
          const blob = Buffer.concat([Buffer.alloc(24), randomBytes(bodyLength)]);
          blob.writeUInt32LE(magic, 0);
          fields.forEach((value, i) => {
            blob.writeUInt32LE(value, 4 + 4 * i);
          });
          for (const read of [publicKeyFromBlob, privateKeyFromBlob, describeBlob]) {
            expect(allowed.has(codeOf(() => read(blob)))).toBe(true);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
