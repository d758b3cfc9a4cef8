import crypto from 'node:crypto';
import {
  HASH_ALGORITHMS,
  KEY_ALGORITHMS,
  type KeyAlgorithm,
  KeyStoreError,
  type KeyStoreErrorCode,
  OAEP_HASHES,
} from '@keystore/core';
import { createMemoryProvider, MemoryKeyVault, MemoryProvider } from '@keystore/core/testing';
import { describe, expect, it } from 'vitest';

async function expectCode(promise: Promise<unknown>, code: KeyStoreErrorCode): Promise<KeyStoreError> {
  let thrown: unknown;
  try {
    await promise;
  } catch (err) {
    thrown = err;
  }
  expect(KeyStoreError.is(thrown), `expected a KeyStoreError, got ${String(thrown)}`).toBe(true);
  expect((thrown as KeyStoreError).code).toBe(code);
  return thrown as KeyStoreError;
}

const create = (provider: MemoryProvider, name: string, algorithm: KeyAlgorithm, extra: object = {}) =>
  provider.createKey({ name, algorithm, scope: 'user', exportable: false, ...extra });

describe('MemoryProvider', () => {
  it('identifies itself and claims every algorithm, operation, scope, padding and OAEP hash', async () => {
    const provider = createMemoryProvider();
    expect(provider).toBeInstanceOf(MemoryProvider);
    expect(provider.id).toBe('memory');
    expect(provider.displayName).toBe('In-memory (testing only)');
    expect([...provider.capabilities.algorithms].sort()).toEqual([...KEY_ALGORITHMS].sort());
    expect([...provider.capabilities.operations].sort()).toEqual(['decrypt', 'derive', 'sign']);
    expect([...provider.capabilities.scopes].sort()).toEqual(['machine', 'user']);
    expect(provider.capabilities).toMatchObject({ exportableKeys: true, passwords: true, legacyCryptoApi: false });
    expect([...provider.capabilities.rsaSignaturePaddings].sort()).toEqual(['pkcs1', 'pss']);
    expect([...provider.capabilities.oaepHashes].sort()).toEqual([...OAEP_HASHES].sort());
  });

  it('probes as available with isolation none and says why', async () => {
    const probe = await createMemoryProvider().probe();
    expect(probe.available).toBe(true);
    expect(probe.isolation).toBe('none');
    expect(probe.reasons.length).toBeGreaterThan(0);
  });

  it('gives every key a receipt of isolation none from provider memory', async () => {
    const key = await create(createMemoryProvider(), 'receipt', 'ECDSA-P256');
    expect(key.isolation.level).toBe('none');
    expect(key.isolation.providerId).toBe('memory');
    expect(new Date(key.isolation.measuredAt).toISOString()).toBe(key.isolation.measuredAt);
    expect(key.isolation.evidence.length).toBeGreaterThan(0);
  });

  describe('key names', () => {
    const bad: Array<[string, unknown]> = [
      ['empty', ''],
      ['too long', 'x'.repeat(256)],
      ['with NUL', 'a\0b'],
      ['with a control character', 'a\u0007b'],
      ['a key reference', 'keystore:memory/user/a'],
      ['not well-formed Unicode', 'a\ud800'],
      ['not a string', 42],
    ];
    for (const [label, name] of bad) {
      it(`rejects a name that is ${label} with INVALID_NAME on create, open and delete`, async () => {
        const provider = createMemoryProvider();
        const request = { name: name as string, scope: 'user' as const };
        await expectCode(
          provider.createKey({ ...request, algorithm: 'ECDSA-P256', exportable: false }),
          'ERR_KEYSTORE_INVALID_NAME',
        );
        await expectCode(provider.openKey(request), 'ERR_KEYSTORE_INVALID_NAME');
        await expectCode(provider.deleteKey(request), 'ERR_KEYSTORE_INVALID_NAME');
      });
    }

    it('accepts 255 characters, slashes, spaces and non-ASCII', async () => {
      const provider = createMemoryProvider();
      for (const name of ['x'.repeat(255), 'a/b c', 'ключ-🔑']) {
        const key = await create(provider, name, 'ECDSA-P256');
        expect(key.name).toBe(name);
        expect((await provider.openKey({ name, scope: 'user' })).publicKey.equals(key.publicKey)).toBe(true);
      }
    });
  });

  it('rejects a bad scope and an unknown algorithm with typed errors', async () => {
    const provider = createMemoryProvider();
    await expectCode(
      provider.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'global' as 'user', exportable: false }),
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    await expectCode(
      provider.createKey({ name: 'k', algorithm: 'DSA-1024' as KeyAlgorithm, scope: 'user', exportable: false }),
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    );
    await expectCode(provider.listKeys({ scope: 'global' as 'user' }), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await provider.listKeys()).toEqual([]);
  });

  it('checks requests with the provider kit: the same codes and messages as the other providers', async () => {
    const provider = createMemoryProvider();
    const err = await expectCode(provider.openKey(null as never), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(err.message).toBe('openKey needs a request object');
    expect(err.providerId).toBe('memory');
    const scope = await expectCode(
      provider.deleteKey({ name: 'k', scope: 'global' as 'user' }),
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(scope.message).toBe('invalid scope "global": user or machine');
    const signal = 'stop' as unknown as AbortSignal;
    const bad = await expectCode(
      provider.openKey({ name: 'k', scope: 'user', signal }),
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(bad.message).toBe('signal must be an AbortSignal');
    await expectCode(provider.listKeys({ signal }), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    await expectCode(
      provider.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false, signal }),
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    const password = await expectCode(
      create(provider, 'k', 'ECDSA-P256', { password: 'a\0b' }),
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(password.message).toBe('password may not contain NUL characters');
    // A request without a scope is in the user scope, as in the other providers.
    const key = await provider.createKey({ name: 'k', algorithm: 'ECDSA-P256', exportable: false } as never);
    expect(key.scope).toBe('user');
    expect(await provider.listKeys({ scope: 'machine' })).toEqual([]);
  });

  it('keeps the same name apart in the two scopes', async () => {
    const provider = createMemoryProvider();
    const user = await create(provider, 'same', 'ECDSA-P256');
    const machine = await provider.createKey({
      name: 'same',
      algorithm: 'ECDSA-P256',
      scope: 'machine',
      exportable: false,
    });
    expect(user.publicKey.equals(machine.publicKey)).toBe(false);
    expect(await provider.listKeys({ scope: 'machine' })).toEqual([
      { name: 'same', scope: 'machine', algorithm: 'ECDSA-P256' },
    ]);
    await provider.deleteKey({ name: 'same', scope: 'user' });
    expect((await provider.openKey({ name: 'same', scope: 'machine' })).publicKey.equals(machine.publicKey)).toBe(true);
  });

  it('lets only one of two concurrent creates of a name win', async () => {
    const provider = createMemoryProvider();
    const results = await Promise.allSettled([
      create(provider, 'race', 'ECDSA-P256'),
      create(provider, 'race', 'ECDSA-P256'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(KeyStoreError.is(rejected.reason, 'ERR_KEYSTORE_KEY_EXISTS')).toBe(true);
    expect(await provider.listKeys()).toHaveLength(1);
  });

  describe('vaults', () => {
    it('two providers on one vault see the same keys; separate providers do not', async () => {
      const vault = new MemoryKeyVault();
      const a = createMemoryProvider({ vault });
      const b = createMemoryProvider({ vault });
      const key = await create(a, 'shared', 'ECDSA-P384');
      expect((await b.openKey({ name: 'shared', scope: 'user' })).publicKey.equals(key.publicKey)).toBe(true);
      await expectCode(create(b, 'shared', 'ECDSA-P384'), 'ERR_KEYSTORE_KEY_EXISTS');
      expect(vault.size).toBe(1);
      await expectCode(createMemoryProvider().openKey({ name: 'shared', scope: 'user' }), 'ERR_KEYSTORE_KEY_NOT_FOUND');
      await b.deleteKey({ name: 'shared', scope: 'user' });
      await expectCode(a.openKey({ name: 'shared', scope: 'user' }), 'ERR_KEYSTORE_KEY_NOT_FOUND');
    });

    it('clear() removes every key', async () => {
      const vault = new MemoryKeyVault();
      const provider = createMemoryProvider({ vault });
      await create(provider, 'one', 'ECDH-P256');
      vault.clear();
      expect(vault.size).toBe(0);
      expect(await provider.listKeys()).toEqual([]);
    });

    it('rejects a vault that is not a MemoryKeyVault', () => {
      expect(() => createMemoryProvider({ vault: {} as MemoryKeyVault })).toThrow(
        expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
      );
    });
  });

  describe('passwords', () => {
    it('opens only with the right password; wrong or missing → ACCESS_DENIED', async () => {
      const provider = createMemoryProvider();
      const key = await create(provider, 'pw', 'ECDSA-P256', { password: 'correct horse' });
      await expectCode(
        provider.openKey({ name: 'pw', scope: 'user', password: 'wrong' }),
        'ERR_KEYSTORE_ACCESS_DENIED',
      );
      await expectCode(provider.openKey({ name: 'pw', scope: 'user' }), 'ERR_KEYSTORE_ACCESS_DENIED');
      await expectCode(provider.openKey({ name: 'pw', scope: 'user', password: '' }), 'ERR_KEYSTORE_ACCESS_DENIED');
      const opened = await provider.openKey({ name: 'pw', scope: 'user', password: 'correct horse' });
      expect(opened.publicKey.equals(key.publicKey)).toBe(true);
    });

    it('a key without a password opens with or without one', async () => {
      const provider = createMemoryProvider();
      await create(provider, 'nopw', 'ECDSA-P256');
      await provider.openKey({ name: 'nopw', scope: 'user' });
      await provider.openKey({ name: 'nopw', scope: 'user', password: 'anything' });
    });

    it('an empty password is a password', async () => {
      const provider = createMemoryProvider();
      await create(provider, 'empty', 'ECDSA-P256', { password: '' });
      await provider.openKey({ name: 'empty', scope: 'user', password: '' });
      await expectCode(provider.openKey({ name: 'empty', scope: 'user' }), 'ERR_KEYSTORE_ACCESS_DENIED');
    });
  });

  describe('signDigest', () => {
    for (const [algorithm, namedCurve] of [
      ['ECDSA-P256', 'prime256v1'],
      ['ECDSA-P384', 'secp384r1'],
      ['ECDSA-P521', 'secp521r1'],
    ] as const) {
      it(`${algorithm}: P1363 signatures over every hash verify with crypto.verify (including truncated digests)`, async () => {
        const key = await create(createMemoryProvider(), 'ec', algorithm);
        expect(key.publicKey.asymmetricKeyDetails?.namedCurve).toBe(namedCurve);
        for (const hash of HASH_ALGORITHMS) {
          for (let i = 0; i < 10; i++) {
            const data = crypto.randomBytes(64);
            const digest = crypto.createHash(hash).update(data).digest();
            const result = await key.signDigest(digest, { hash, padding: 'pkcs1', saltLength: 0 });
            expect(result.dsaEncoding).toBe('ieee-p1363');
            const ok = crypto.verify(hash, data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, result.signature);
            expect(ok, `${hash} #${i}`).toBe(true);
          }
        }
      });
    }

    it('ECDSA signatures are randomized and a changed message fails verification', async () => {
      const key = await create(createMemoryProvider(), 'rand', 'ECDSA-P256');
      const digest = crypto.createHash('sha256').update('m').digest();
      const a = await key.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 0 });
      const b = await key.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 0 });
      expect(a.signature.equals(b.signature)).toBe(false);
      const verifyOther = crypto.verify(
        'sha256',
        Buffer.from('n'),
        { key: key.publicKey, dsaEncoding: 'ieee-p1363' },
        a.signature,
      );
      expect(verifyOther).toBe(false);
    });

    for (const algorithm of ['RSA-2048', 'RSA-3072'] as const) {
      it(`${algorithm}: PKCS#1 v1.5 and PSS (salt 0, digest length, maximum) verify with crypto.verify`, async () => {
        const key = await create(createMemoryProvider(), 'rsa', algorithm, { exportable: true });
        const privateKey = await key.exportPrivateKey!();
        const k = Number(algorithm.slice(4)) / 8;
        for (const hash of HASH_ALGORITHMS) {
          const data = crypto.randomBytes(50);
          const digest = crypto.createHash(hash).update(data).digest();
          const pkcs1 = await key.signDigest(digest, { hash, padding: 'pkcs1', saltLength: 0 });
          // PKCS#1 v1.5 is deterministic: equal to Node's own signature.
          expect(pkcs1.signature.equals(crypto.sign(hash, data, privateKey))).toBe(true);
          for (const saltLength of [0, digest.length, k - digest.length - 2]) {
            const pss = await key.signDigest(digest, { hash, padding: 'pss', saltLength });
            expect(pss.signature.length).toBe(k);
            const options = { key: key.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength };
            expect(crypto.verify(hash, data, options, pss.signature), `${hash} salt ${saltLength}`).toBe(true);
          }
        }
      });
    }

    it('rejects a PSS salt too long for the key, and a digest of the wrong length', async () => {
      const key = await create(createMemoryProvider(), 'salt', 'RSA-2048');
      const digest = crypto.createHash('sha256').update('x').digest();
      await expectCode(
        key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: 256 - 32 - 1 }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
      await expectCode(
        key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: -1 }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
      const short = await expectCode(
        key.signDigest(digest.subarray(1), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
      expect(short.message).toBe('a sha256 digest is 32 bytes long, not 31');
      await expectCode(
        key.signDigest(digest, { hash: 'sha384', padding: 'pkcs1', saltLength: 48 }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
      await expectCode(
        key.signDigest(digest, { hash: 'md5' as 'sha256', padding: 'pkcs1', saltLength: 16 }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
      // The message fast path refuses the same bad parameters with the same typed error.
      await expectCode(
        key.signMessage!(digest, { hash: 'sha256', padding: 'pss', saltLength: 256 - 32 - 1 }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
      await expectCode(
        key.signMessage!(digest, { hash: 'md5' as 'sha256', padding: 'pkcs1', saltLength: 16 }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
    });
  });

  describe('signMessage', () => {
    it('returns ECDSA in DER, RSA in PKCS#1 and PSS, all verifying with crypto.verify', async () => {
      const provider = createMemoryProvider();
      const ec = await create(provider, 'ec', 'ECDSA-P521');
      const rsa = await create(provider, 'rsa', 'RSA-2048');
      const data = crypto.randomBytes(300);
      const ecSig = await ec.signMessage!(data, { hash: 'sha512', padding: 'pkcs1', saltLength: 64 });
      expect(ecSig.dsaEncoding).toBe('der');
      expect(crypto.verify('sha512', data, ec.publicKey, ecSig.signature)).toBe(true);
      const pkcs1 = await rsa.signMessage!(data, { hash: 'sha384', padding: 'pkcs1', saltLength: 48 });
      expect(crypto.verify('sha384', data, rsa.publicKey, pkcs1.signature)).toBe(true);
      const pss = await rsa.signMessage!(data, { hash: 'sha256', padding: 'pss', saltLength: 20 });
      const options = { key: rsa.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 };
      expect(crypto.verify('sha256', data, options, pss.signature)).toBe(true);
      expect(crypto.verify('sha256', data, rsa.publicKey, pss.signature)).toBe(false);
    });

    it('an ECDH key cannot sign, an EC key cannot decrypt, an RSA key cannot derive', async () => {
      const provider = createMemoryProvider();
      const ecdh = await create(provider, 'ecdh', 'ECDH-P256');
      const ecdsa = await create(provider, 'ecdsa', 'ECDSA-P256');
      const rsa = await create(provider, 'rsa', 'RSA-2048');
      const digest = crypto.createHash('sha256').update('x').digest();
      const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
      await expectCode(ecdh.signDigest(digest, params), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION');
      await expectCode(ecdh.signMessage!(digest, params), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION');
      await expectCode(ecdsa.decrypt!(Buffer.alloc(32), 'sha256'), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION');
      await expectCode(ecdsa.deriveSecret!(ecdh.publicKey), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION');
      await expectCode(rsa.deriveSecret!(ecdh.publicKey), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    });
  });

  describe('decrypt', () => {
    it('decrypts OAEP with every hash; a corrupted, wrong-hash or wrong-length ciphertext → INVALID_ARGUMENT', async () => {
      const key = await create(createMemoryProvider(), 'oaep', 'RSA-2048');
      for (const hash of OAEP_HASHES) {
        const plaintext = crypto.randomBytes(20);
        const ciphertext = crypto.publicEncrypt({ key: key.publicKey, oaepHash: hash }, plaintext);
        expect((await key.decrypt!(ciphertext, hash)).equals(plaintext)).toBe(true);
      }
      const ciphertext = crypto.publicEncrypt({ key: key.publicKey, oaepHash: 'sha256' }, Buffer.from('secret'));
      const corrupted = Buffer.from(ciphertext);
      corrupted[100] = corrupted[100]! ^ 1;
      const err = await expectCode(key.decrypt!(corrupted, 'sha256'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      expect(err.cause).toBeDefined();
      await expectCode(key.decrypt!(ciphertext, 'sha1'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      await expectCode(key.decrypt!(ciphertext.subarray(1), 'sha256'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      await expectCode(key.decrypt!(ciphertext, 'md5' as 'sha1'), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    });
  });

  describe('deriveSecret', () => {
    it('matches diffieHellman, accepts a private peer key, and rejects a peer on another curve or of another type', async () => {
      const key = await create(createMemoryProvider(), 'dh', 'ECDH-P384');
      const peer = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
      const expected = crypto.diffieHellman({ privateKey: peer.privateKey, publicKey: key.publicKey });
      expect((await key.deriveSecret!(peer.publicKey)).equals(expected)).toBe(true);
      expect((await key.deriveSecret!(peer.privateKey)).equals(expected)).toBe(true);
      const p256 = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
      await expectCode(key.deriveSecret!(p256), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      const x25519 = crypto.generateKeyPairSync('x25519').publicKey;
      await expectCode(key.deriveSecret!(x25519), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      await expectCode(key.deriveSecret!(crypto.createSecretKey(Buffer.alloc(32))), 'ERR_KEYSTORE_INVALID_ARGUMENT');
      await expectCode(key.deriveSecret!(null as never), 'ERR_KEYSTORE_INVALID_ARGUMENT');
    });
  });

  describe('export', () => {
    it('exports the private key of an exportable key only', async () => {
      const provider = createMemoryProvider();
      const exportable = await create(provider, 'exp', 'RSA-2048', { exportable: true });
      const privateKey = await exportable.exportPrivateKey!();
      expect(crypto.createPublicKey(privateKey).equals(exportable.publicKey)).toBe(true);
      const reopened = await provider.openKey({ name: 'exp', scope: 'user' });
      expect(reopened.exportable).toBe(true);
      const locked = await create(provider, 'locked', 'RSA-2048');
      await expectCode(locked.exportPrivateKey!(), 'ERR_KEYSTORE_NOT_EXPORTABLE');
    });
  });

  describe('abort', () => {
    const aborted = () => {
      const controller = new AbortController();
      controller.abort(new Error('stop'));
      return controller.signal;
    };

    it('every provider method rejects with CANCELLED on an aborted signal, before doing anything', async () => {
      const provider = createMemoryProvider();
      await create(provider, 'kept', 'ECDSA-P256');
      const signal = aborted();
      const err = await expectCode(
        provider.createKey({ name: 'never', algorithm: 'RSA-4096', scope: 'user', exportable: false, signal }),
        'ERR_KEYSTORE_CANCELLED',
      );
      expect(err.cause).toEqual(new Error('stop'));
      await expectCode(provider.openKey({ name: 'kept', scope: 'user', signal }), 'ERR_KEYSTORE_CANCELLED');
      await expectCode(provider.listKeys({ signal }), 'ERR_KEYSTORE_CANCELLED');
      await expectCode(provider.deleteKey({ name: 'kept', scope: 'user', signal }), 'ERR_KEYSTORE_CANCELLED');
      expect((await provider.listKeys()).map((k) => k.name)).toEqual(['kept']);
    });

    it('a create aborted while the key is generated leaves no key', async () => {
      const provider = createMemoryProvider();
      const controller = new AbortController();
      const pending = provider.createKey({
        name: 'mid',
        algorithm: 'RSA-2048',
        scope: 'user',
        exportable: false,
        signal: controller.signal,
      });
      controller.abort();
      await expectCode(pending, 'ERR_KEYSTORE_CANCELLED');
      await expectCode(provider.openKey({ name: 'mid', scope: 'user' }), 'ERR_KEYSTORE_KEY_NOT_FOUND');
    });

    it('every key operation rejects with CANCELLED on an aborted signal', async () => {
      const provider = createMemoryProvider();
      const rsa = await create(provider, 'rsa', 'RSA-2048', { exportable: true });
      const ecdh = await create(provider, 'ecdh', 'ECDH-P256');
      const signal = aborted();
      const digest = crypto.createHash('sha256').update('x').digest();
      const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
      await expectCode(rsa.signDigest(digest, params, { signal }), 'ERR_KEYSTORE_CANCELLED');
      await expectCode(rsa.signMessage!(digest, params, { signal }), 'ERR_KEYSTORE_CANCELLED');
      await expectCode(rsa.decrypt!(Buffer.alloc(256), 'sha256', { signal }), 'ERR_KEYSTORE_CANCELLED');
      await expectCode(rsa.exportPrivateKey!({ signal }), 'ERR_KEYSTORE_CANCELLED');
      await expectCode(ecdh.deriveSecret!(ecdh.publicKey, { signal }), 'ERR_KEYSTORE_CANCELLED');
    });
  });

  describe('handles', () => {
    it('after close, every operation rejects with KEY_CLOSED; other handles keep working', async () => {
      const provider = createMemoryProvider();
      const key = await create(provider, 'h', 'RSA-2048', { exportable: true });
      const other = await provider.openKey({ name: 'h', scope: 'user' });
      await key.close();
      await key.close();
      const digest = crypto.createHash('sha256').update('x').digest();
      const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
      await expectCode(key.signDigest(digest, params), 'ERR_KEYSTORE_KEY_CLOSED');
      await expectCode(key.signMessage!(digest, params), 'ERR_KEYSTORE_KEY_CLOSED');
      await expectCode(key.decrypt!(Buffer.alloc(256), 'sha256'), 'ERR_KEYSTORE_KEY_CLOSED');
      await expectCode(key.exportPrivateKey!(), 'ERR_KEYSTORE_KEY_CLOSED');
      await expectCode(key.deriveSecret!(key.publicKey), 'ERR_KEYSTORE_KEY_CLOSED');
      await other.signDigest(digest, params);
    });

    it('a handle whose key was deleted rejects with KEY_NOT_FOUND, also when the name is reused', async () => {
      const provider = createMemoryProvider();
      const key = await create(provider, 'gone', 'ECDSA-P256');
      await provider.deleteKey({ name: 'gone', scope: 'user' });
      const digest = crypto.createHash('sha256').update('x').digest();
      const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
      await expectCode(key.signDigest(digest, params), 'ERR_KEYSTORE_KEY_NOT_FOUND');
      await create(provider, 'gone', 'ECDSA-P256');
      await expectCode(key.signMessage!(digest, params), 'ERR_KEYSTORE_KEY_NOT_FOUND');
    });
  });
});
