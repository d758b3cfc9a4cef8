// Blob conversions and byte order: pure functions, checked against blobs written independently by
// the test double (as rsaenh writes them) and against Node's own RSA.
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, sign, verify } from 'node:crypto';
import { KeyStoreError } from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  privateBlobFromKey,
  privateKeyFromBlob,
  publicKeyFromBlob,
  reverseBytes,
  rsaAlgorithmOfBits,
} from '../src/blobs.js';
import { privateBlobOf, publicBlobOf } from './helpers/advapi-double.js';

const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 });

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (err) {
    return KeyStoreError.is(err) ? err.code : `not a KeyStoreError: ${String(err)}`;
  }
  return undefined;
}

describe('reverseBytes', () => {
  it('reverses, returns a new buffer, and is its own inverse', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const out = reverseBytes(bytes);
        expect(out.length).toBe(bytes.length);
        for (let i = 0; i < bytes.length; i++) expect(out[i]).toBe(bytes[bytes.length - 1 - i]);
        expect(reverseBytes(out).equals(Buffer.from(bytes))).toBe(true);
        if (bytes.length > 0) expect(out.buffer).not.toBe(bytes.buffer);
      }),
    );
  });

  it('turns a little-endian CryptoAPI signature into one Node verifies', () => {
    const data = Buffer.from('byte order');
    const bigEndian = sign('sha256', data, rsa2048.privateKey);
    const littleEndian = reverseBytes(bigEndian);
    expect(verify('sha256', data, rsa2048.publicKey, littleEndian)).toBe(false);
    expect(verify('sha256', data, rsa2048.publicKey, reverseBytes(littleEndian))).toBe(true);
  });
});

describe('PUBLICKEYBLOB → KeyObject', () => {
  for (const [bits, pair] of [
    [2048, rsa2048],
    [3072, rsa3072],
  ] as const) {
    it(`reads an RSA-${bits} blob into the same public key (AT_KEYEXCHANGE and AT_SIGNATURE headers)`, () => {
      for (const spec of [1, 2] as const) {
        const info = publicKeyFromBlob(publicBlobOf(pair.publicKey, spec));
        expect(info.bits).toBe(bits);
        expect(info.keyAlg).toBe(spec === 1 ? 0xa400 : 0x2400);
        expect(info.publicKey.equals(pair.publicKey)).toBe(true);
      }
    });
  }

  it('keeps an exponent other than 65537', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    expect(publicKeyFromBlob(publicBlobOf(pair.publicKey)).publicKey.equals(pair.publicKey)).toBe(true);
  });

  it('rejects malformed blobs with NATIVE_FAILURE', () => {
    const good = publicBlobOf(rsa2048.publicKey);
    const mutate = (f: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      f(b);
      return b;
    };
    const cases = [
      good.subarray(0, 19), // shorter than the header
      good.subarray(0, 100), // shorter than the modulus
      mutate((b) => (b[0] = 7)), // a private blob type
      mutate((b) => (b[1] = 3)), // another version
      mutate((b) => b.write('RSA2', 8, 'latin1')), // another magic
      mutate((b) => b.writeUInt32LE(0, 12)), // no modulus
      mutate((b) => b.writeUInt32LE(2047, 12)), // not whole bytes
      mutate((b) => b.writeUInt32LE(65536, 12)), // too large
      mutate((b) => b.writeUInt32LE(65536, 16)), // even exponent
      mutate((b) => b.writeUInt32LE(4096, 12)), // says more bits than it holds
    ];
    for (const blob of cases) expect(codeOf(() => publicKeyFromBlob(blob))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
  });

  it('throws only KeyStoreErrors on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, plausible) => {
        const blob = Buffer.from(bytes);
        if (plausible && blob.length >= 20) {
          blob[0] = 6;
          blob[1] = 2;
          blob.write('RSA1', 8, 'latin1');
        }
        const code = codeOf(() => publicKeyFromBlob(blob));
        expect(code === undefined || code === 'ERR_KEYSTORE_NATIVE_FAILURE').toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('PRIVATEKEYBLOB ⇄ KeyObject', () => {
  it('writes the same bytes rsaenh writes, for both key specs', () => {
    expect(privateBlobFromKey(rsa2048.privateKey, 'keyExchange').equals(privateBlobOf(rsa2048.privateKey, 1))).toBe(
      true,
    );
    expect(privateBlobFromKey(rsa3072.privateKey, 'signature').equals(privateBlobOf(rsa3072.privateKey, 2))).toBe(true);
  });

  it('wipes the big-endian copy of every field it reads from a private blob', () => {
    // Each field is reversed into a buffer of its own and encoded with toString('base64url'): the
    // buffers encoded are captured, and must hold only zeros once the key is read.
    const copies: Buffer[] = [];
    const blob = privateBlobOf(rsa2048.privateKey);
    const original = Buffer.prototype.toString;
    Buffer.prototype.toString = function (this: Buffer, ...args: unknown[]) {
      if (args[0] === 'base64url') copies.push(this);
      return (original as (...a: unknown[]) => string).apply(this, args);
    } as typeof Buffer.prototype.toString;
    try {
      privateKeyFromBlob(blob);
    } finally {
      Buffer.prototype.toString = original;
    }
    // n, p, q, dp, dq, qi and d (the public exponent, at most 4 bytes, is no secret)
    const fields = copies.filter((c) => c.length > 4);
    expect(fields).toHaveLength(7);
    for (const copy of fields) expect(copy.every((b) => b === 0)).toBe(true);
  });

  it('reads a blob back into a private key that decrypts what its public key encrypted', () => {
    const key = privateKeyFromBlob(privateBlobOf(rsa2048.privateKey));
    expect(key.type).toBe('private');
    const plaintext = Buffer.from('round trip');
    const ciphertext = publicEncrypt({ key: rsa2048.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, plaintext);
    expect(privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING }, ciphertext).equals(plaintext)).toBe(true);
  });

  it('round-trips through both directions', () => {
    const back = privateKeyFromBlob(privateBlobFromKey(rsa3072.privateKey, 'keyExchange'));
    expect(back.export({ format: 'jwk' })).toEqual(rsa3072.privateKey.export({ format: 'jwk' }));
  });

  it('refuses what CryptoAPI cannot hold, with typed errors', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(codeOf(() => privateBlobFromKey(ec.privateKey, 'keyExchange'))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => privateBlobFromKey(rsa2048.publicKey, 'keyExchange'))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => privateBlobFromKey(small.privateKey, 'keyExchange'))).toBe(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    );
  });

  it('rejects a truncated private blob with NATIVE_FAILURE', () => {
    const blob = privateBlobOf(rsa2048.privateKey);
    expect(codeOf(() => privateKeyFromBlob(blob.subarray(0, blob.length - 1)))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(codeOf(() => privateKeyFromBlob(publicBlobOf(rsa2048.publicKey)))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
  });
});

describe('rsaAlgorithmOfBits', () => {
  it('names the three sizes the SDK has, and nothing else', () => {
    expect(rsaAlgorithmOfBits(2048)).toBe('RSA-2048');
    expect(rsaAlgorithmOfBits(3072)).toBe('RSA-3072');
    expect(rsaAlgorithmOfBits(4096)).toBe('RSA-4096');
    for (const bits of [0, 512, 1024, 1536, 2047, 8192]) expect(rsaAlgorithmOfBits(bits)).toBeUndefined();
  });
});
