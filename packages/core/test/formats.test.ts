import crypto, { type KeyObject } from 'node:crypto';
import {
  algorithmOfPublicKey,
  convertEcdsaSignature,
  derToP1363,
  exportPublicKey,
  importPublicKey,
  KeyStoreError,
  p1363ToDer,
  publicKeyMatchesAlgorithm,
} from '@keystore/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

const p1363FieldBytes = { prime256v1: 32, secp384r1: 48, secp521r1: 66 } as const;

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(KeyStoreError.is(thrown), `expected a KeyStoreError, got ${String(thrown)}`).toBe(true);
  expect((thrown as KeyStoreError).code).toBe(code);
}

const CURVES = [
  { curve: 'P-256', namedCurve: 'prime256v1', fieldBytes: 32, hash: 'sha256' },
  { curve: 'P-384', namedCurve: 'secp384r1', fieldBytes: 48, hash: 'sha384' },
  { curve: 'P-521', namedCurve: 'secp521r1', fieldBytes: 66, hash: 'sha512' },
] as const;

describe('ECDSA signatures: DER <-> IEEE P1363', () => {
  for (const { curve, namedCurve, fieldBytes, hash } of CURVES) {
    describe(curve, () => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve });

      it('converts Node signatures both ways, byte for byte', () => {
        for (let i = 0; i < 40; i++) {
          const data = crypto.randomBytes(i * 7);
          const der = crypto.sign(hash, data, { key: privateKey, dsaEncoding: 'der' });
          const p1363 = derToP1363(der, fieldBytes);
          expect(p1363.length).toBe(2 * fieldBytes);
          expect(crypto.verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363)).toBe(true);
          expect(p1363ToDer(p1363).equals(der)).toBe(true);

          const native = crypto.sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
          const nativeDer = p1363ToDer(native);
          expect(crypto.verify(hash, data, publicKey, nativeDer)).toBe(true);
          expect(derToP1363(nativeDer, fieldBytes).equals(native)).toBe(true);
        }
      });

      it('converts with convertEcdsaSignature in every direction', () => {
        const data = Buffer.from('message');
        const der = crypto.sign(hash, data, privateKey);
        const p1363 = convertEcdsaSignature(der, 'der', 'ieee-p1363', fieldBytes);
        expect(crypto.verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363)).toBe(true);
        expect(convertEcdsaSignature(p1363, 'ieee-p1363', 'der', fieldBytes).equals(der)).toBe(true);
        expect(convertEcdsaSignature(der, 'der', 'der', fieldBytes).equals(der)).toBe(true);
        expect(convertEcdsaSignature(p1363, 'ieee-p1363', 'ieee-p1363', fieldBytes).equals(p1363)).toBe(true);
        expectCode(
          () => convertEcdsaSignature(p1363.subarray(2), 'ieee-p1363', 'der', fieldBytes),
          'ERR_KEYSTORE_INVALID_ARGUMENT',
        );
      });
    });
  }

  it('uses the long-form DER length for P-521 sequences over 127 bytes', () => {
    const p1363 = Buffer.alloc(132, 0xff);
    const der = p1363ToDer(p1363);
    // 0x30 0x81 len: two INTEGERs of 2 + 67 bytes each (a 0x00 pad before the high bit).
    expect([...der.subarray(0, 3)]).toEqual([0x30, 0x81, 138]);
    expect(der.length).toBe(141);
    expect(derToP1363(der, 66).equals(p1363)).toBe(true);
  });

  it('round-trips random r and s (leading zeros, high bits, zero values) for every field size', () => {
    const field = fc.constantFrom(32, 48, 66);
    const element = (size: number) =>
      fc.oneof(
        fc.uint8Array({ minLength: size, maxLength: size }),
        fc.uint8Array({ minLength: size, maxLength: size }).map((b) => {
          b.fill(0, 0, Math.min(size, (b[0] ?? 0) % 5));
          return b;
        }),
        fc.uint8Array({ minLength: size, maxLength: size }).map((b) => {
          b[0] = b[0]! | 0x80;
          return b;
        }),
        fc.constant(new Uint8Array(size)),
      );
    fc.assert(
      fc.property(
        field.chain((size) => fc.tuple(fc.constant(size), element(size), element(size))),
        ([size, r, s]) => {
          const p1363 = Buffer.concat([r, s]);
          const der = p1363ToDer(p1363);
          expect(derToP1363(der, size).equals(p1363)).toBe(true);
          // DER is canonical: converting back yields the same bytes.
          expect(p1363ToDer(derToP1363(der, size)).equals(der)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ['prime256v1', 'sha256', 300],
    ['secp384r1', 'sha384', 100],
    ['secp521r1', 'sha512', 100],
  ] as const)(
    'agrees with Node on random %s r and s: what Node encodes as DER, we encode the same, byte for byte',
    (namedCurve, hash, runs) => {
      // Node signs in DER. Its r and s, as P1363, are what Node itself accepts as the same signature
      // (checked with Node's verify, so the expected value does not come from our decoder alone);
      // DER is canonical, so our encoding of them must be Node's bytes exactly. Random r and s cover
      // high bits (a 0x00 pad), leading zero bytes and, for P-521, the long length form.
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve });
      for (let i = 0; i < runs; i++) {
        const data = crypto.randomBytes(16);
        const nodeDer = crypto.sign(hash, data, privateKey);
        const p1363 = derToP1363(nodeDer, p1363FieldBytes[namedCurve]);
        expect(crypto.verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363)).toBe(true);
        expect(p1363ToDer(p1363).toString('hex')).toBe(nodeDer.toString('hex'));
      }
    },
  );

  it('encodes fixed r and s as DER says: a high bit gets a 0x00 pad, leading zero bytes are dropped', () => {
    const r = Buffer.alloc(32, 0);
    r[31] = 0x01;
    const s = Buffer.alloc(32, 0xff);
    expect(p1363ToDer(Buffer.concat([r, s])).toString('hex')).toBe(`3026020101022100${'ff'.repeat(32)}`);
  });

  it('accepts only canonical DER: whatever parses re-encodes to the same bytes, the rest is a typed error', () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
    const valid = crypto.sign('sha512', Buffer.from('x'), privateKey);
    const mutated = fc
      .tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), fc.integer({ min: -2, max: 2 }))
      .map(([at, xor, resize]) => {
        const bytes = Buffer.from(valid);
        bytes[at] = bytes[at]! ^ xor;
        return resize >= 0 ? Buffer.concat([bytes, Buffer.alloc(resize)]) : bytes.subarray(0, bytes.length + resize);
      });
    const anyBytes = fc.uint8Array({ maxLength: 150 }).map((b) => Buffer.from(b));
    fc.assert(
      fc.property(fc.oneof(mutated, anyBytes), (input) => {
        let p1363: Buffer;
        try {
          p1363 = derToP1363(input, 66);
        } catch (err) {
          expect(KeyStoreError.is(err, 'ERR_KEYSTORE_INVALID_ARGUMENT')).toBe(true);
          return;
        }
        expect(p1363ToDer(p1363).equals(input)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  describe('rejects malformed DER with ERR_KEYSTORE_INVALID_ARGUMENT', () => {
    const valid = p1363ToDer(Buffer.concat([Buffer.alloc(32, 0x11), Buffer.alloc(32, 0x22)]));
    const cases: Array<[string, number[] | Buffer]> = [
      ['empty input', []],
      ['not a SEQUENCE', [0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
      ['trailing bytes', [...valid, 0x00]],
      ['SEQUENCE length too long', [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
      ['SEQUENCE length too short', [0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
      ['INTEGER length runs past the end', [0x30, 0x06, 0x02, 0x05, 0x01, 0x02, 0x01, 0x01]],
      ['zero-length INTEGER', [0x30, 0x06, 0x02, 0x00, 0x02, 0x02, 0x01, 0x01]],
      ['negative r', [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]],
      ['negative s', [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0xff]],
      ['non-minimal r (needless 0x00)', [0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]],
      ['non-minimal s (needless 0x00 0x00)', [0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x03, 0x00, 0x00, 0x80]],
      ['wrong tag for s', [0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x01]],
      ['third INTEGER', [0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
      ['missing s', [0x30, 0x06, 0x02, 0x04, 0x01, 0x02, 0x03, 0x04]],
      ['indefinite length', [0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00]],
      ['non-minimal long-form length', [0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
      ['long-form length with leading zero', [0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
      [
        'two-byte length for a short body',
        [0x30, 0x82, 0x00, 0x8a, ...p1363ToDer(Buffer.alloc(132, 0xff)).subarray(3)],
      ],
      ['three-byte length', [0x30, 0x83, 0x00, 0x00, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
      [
        'r longer than the field',
        Buffer.concat([
          Buffer.from([0x30, 0x26, 0x02, 0x21, 0x01]),
          Buffer.alloc(32, 1),
          Buffer.from([0x02, 0x01, 0x01]),
        ]),
      ],
    ];
    for (const [name, bytes] of cases) {
      it(name, () => {
        expectCode(() => derToP1363(Buffer.from(bytes), 32), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      });
    }

    it('accepts a 33-byte r with the sign pad (the counterpart of the last case)', () => {
      const der = Buffer.concat([
        Buffer.from([0x30, 0x26, 0x02, 0x21, 0x00]),
        Buffer.alloc(32, 0x80),
        Buffer.from([0x02, 0x01, 0x01]),
      ]);
      const p1363 = derToP1363(der, 32);
      expect(p1363.subarray(0, 32).equals(Buffer.alloc(32, 0x80))).toBe(true);
      expect(p1363[63]).toBe(1);
    });

    it('a bad fieldBytes', () => {
      expectCode(() => derToP1363(valid, 0), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => derToP1363(valid, 1.5), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    });

    it('input that is not bytes', () => {
      expectCode(() => derToP1363('3006' as unknown as Uint8Array, 32), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    });
  });

  it('rejects P1363 input of odd or zero length', () => {
    expectCode(() => p1363ToDer(Buffer.alloc(63)), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    expectCode(() => p1363ToDer(Buffer.alloc(0)), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    expectCode(() => p1363ToDer(null as unknown as Uint8Array), 'ERR_KEYSTORE_INVALID_ARGUMENT');
  });
});

describe('public keys: SPKI DER, PEM and JWK', () => {
  const keys: Array<[string, { publicKey: KeyObject; privateKey: KeyObject }]> = [];
  beforeAll(() => {
    keys.push(['RSA-2048', crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })]);
    keys.push(['RSA-3072', crypto.generateKeyPairSync('rsa', { modulusLength: 3072 })]);
    for (const { curve, namedCurve } of CURVES) {
      keys.push([`EC ${curve}`, crypto.generateKeyPairSync('ec', { namedCurve })]);
    }
  });

  it('round-trips every format to an equal KeyObject', () => {
    for (const [name, { publicKey }] of keys) {
      const der = exportPublicKey(publicKey, 'der');
      const pem = exportPublicKey(publicKey, 'pem');
      const jwk = exportPublicKey(publicKey, 'jwk');
      expect(Buffer.isBuffer(der), name).toBe(true);
      expect(pem.startsWith('-----BEGIN PUBLIC KEY-----'), name).toBe(true);
      expect(importPublicKey(der).equals(publicKey), name).toBe(true);
      expect(importPublicKey(pem).equals(publicKey), name).toBe(true);
      expect(importPublicKey(jwk).equals(publicKey), name).toBe(true);
      expect(importPublicKey(JSON.stringify(jwk)).equals(publicKey), name).toBe(true);
      expect(importPublicKey(Buffer.from(pem)).equals(publicKey), name).toBe(true);
      expect(importPublicKey(new Uint8Array(der)).equals(publicKey), name).toBe(true);
      expect(der.equals(publicKey.export({ type: 'spki', format: 'der' })), name).toBe(true);
    }
  });

  it('exports only public members from a private key', () => {
    for (const [name, { publicKey, privateKey }] of keys) {
      const jwk = exportPublicKey(privateKey, 'jwk');
      expect(Object.keys(jwk).sort(), name).toEqual(jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : ['crv', 'kty', 'x', 'y']);
      expect(exportPublicKey(privateKey, 'der').equals(exportPublicKey(publicKey, 'der')), name).toBe(true);
      expect(exportPublicKey(privateKey, 'pem'), name).toBe(exportPublicKey(publicKey, 'pem'));
    }
  });

  it('gives EC JWKs the curve name', () => {
    const ec = keys.find(([name]) => name === 'EC P-384')![1];
    expect(exportPublicKey(ec.publicKey, 'jwk')).toMatchObject({ kty: 'EC', crv: 'P-384' });
  });

  it('ignores JWK metadata members such as kid, alg and use', () => {
    const [, { publicKey }] = keys[2]!;
    const jwk = { ...exportPublicKey(publicKey, 'jwk'), kid: 'k1', alg: 'ES256', use: 'sig' };
    expect(importPublicKey(jwk).equals(publicKey)).toBe(true);
  });

  it('rejects a secret key, other key types and unknown formats', () => {
    const secret = crypto.createSecretKey(Buffer.alloc(32));
    expectCode(() => exportPublicKey(secret, 'der'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    const ed = crypto.generateKeyPairSync('ed25519');
    expectCode(() => exportPublicKey(ed.publicKey, 'pem'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    expectCode(
      () => importPublicKey(ed.publicKey.export({ type: 'spki', format: 'der' })),
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expectCode(() => exportPublicKey(keys[0]![1].publicKey, 'raw' as 'der'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('answers random input with a public key or a typed error, nothing else', () => {
    const der = exportPublicKey(keys[2]![1].publicKey, 'der');
    const mutatedDer = fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => {
      const bytes = Buffer.from(der);
      bytes[at] = bytes[at]! ^ xor;
      return bytes;
    });
    const input = fc.oneof(
      mutatedDer,
      fc.uint8Array({ maxLength: 200 }),
      fc.string(),
      fc.json(),
      fc.record({ kty: fc.constantFrom('RSA', 'EC', 'OKP'), crv: fc.string(), x: fc.string(), y: fc.string() }),
    );
    fc.assert(
      fc.property(input, (value) => {
        try {
          const key = importPublicKey(value as never);
          expect(key.type).toBe('public');
        } catch (err) {
          expect(KeyStoreError.is(err, 'ERR_KEYSTORE_INVALID_ARGUMENT'), String(err)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  describe('rejects invalid input with ERR_KEYSTORE_INVALID_ARGUMENT', () => {
    it('bad DER', () => {
      const der = exportPublicKey(keys[2]![1].publicKey, 'der');
      expectCode(() => importPublicKey(Buffer.concat([der, Buffer.from([0])])), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey(der.subarray(0, der.length - 1)), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey(Buffer.from([0x30, 0x00])), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey(new Uint8Array(0)), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      const corrupt = Buffer.from(der);
      corrupt[corrupt.length - 10] = corrupt[corrupt.length - 10]! ^ 0xff; // the point leaves the curve
      expectCode(() => importPublicKey(corrupt), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    });

    it('bad PEM, and PEM that carries a private key', () => {
      const { privateKey } = keys[2]![1];
      expectCode(() => importPublicKey('not a key'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(
        () => importPublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
      const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      expectCode(() => importPublicKey(pkcs8), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey(Buffer.from(pkcs8)), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      const der = privateKey.export({ type: 'pkcs8', format: 'der' });
      expectCode(() => importPublicKey(der), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    });

    it('bad JWK, and JWK that carries a private key', () => {
      const { privateKey } = keys[2]![1];
      const privateJwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
      const publicJwk = exportPublicKey(privateKey, 'jwk');
      expectCode(() => importPublicKey(privateJwk as never), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey({ ...publicJwk, y: publicJwk.x }), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey({ ...publicJwk, crv: 'P-192' }), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey({ kty: 'EC', crv: 'P-256' }), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey({ kty: 'RSA', n: 'AQAB' }), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey({ kty: 'oct', k: 'AAAA' } as never), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey('{"kty":'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expectCode(() => importPublicKey(42 as never), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      const rsaPrivate = keys[0]![1].privateKey.export({ format: 'jwk' });
      expectCode(() => importPublicKey(rsaPrivate as never), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    });
  });
});

describe('algorithm of a key', () => {
  it('names RSA sizes and curves, and null for the rest', () => {
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsa1024 = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const p521 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
    const k256 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(algorithmOfPublicKey(rsa.publicKey)).toBe('RSA-2048');
    expect(algorithmOfPublicKey(rsa.privateKey)).toBe('RSA-2048');
    expect(algorithmOfPublicKey(p521.publicKey)).toBe('ECDSA-P521');
    expect(algorithmOfPublicKey(rsa1024.publicKey)).toBeNull();
    expect(algorithmOfPublicKey(k256.publicKey)).toBeNull();
    expect(algorithmOfPublicKey(crypto.generateKeyPairSync('ed25519').publicKey)).toBeNull();
    expect(algorithmOfPublicKey(crypto.createSecretKey(Buffer.alloc(16)))).toBeNull();
  });

  it('matches RSA by modulus size and EC by curve, for both ECDSA and ECDH', () => {
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey;
    const p256 = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey;
    expect(publicKeyMatchesAlgorithm(rsa, 'RSA-3072')).toBe(true);
    expect(publicKeyMatchesAlgorithm(rsa, 'RSA-2048')).toBe(false);
    expect(publicKeyMatchesAlgorithm(rsa, 'ECDSA-P256')).toBe(false);
    expect(publicKeyMatchesAlgorithm(p256, 'ECDSA-P256')).toBe(true);
    expect(publicKeyMatchesAlgorithm(p256, 'ECDH-P256')).toBe(true);
    expect(publicKeyMatchesAlgorithm(p256, 'ECDH-P384')).toBe(false);
    expect(publicKeyMatchesAlgorithm(p384, 'ECDSA-P384')).toBe(true);
    expect(publicKeyMatchesAlgorithm(p384, 'RSA-2048')).toBe(false);
    expect(publicKeyMatchesAlgorithm(p384, 'nope' as never)).toBe(false);
  });
});
