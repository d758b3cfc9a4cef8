/**
 * The CNG provider with the real ncrypt.dll of Wine, inside Windows Node.js under Wine, driven from
 * here (test-support/wine.ts). Needs the package built (`npm run build -w @keystore/provider-cng`).
 *
 * Wine's ncrypt implements RSA key generation, signing (PKCS#1, PSS), export and unnamed imports; it
 * does not persist keys and has no NCryptOpenKey, NCryptDeleteKey, NCryptEnumKeys, NCryptDecrypt,
 * ECC or named imports. Every test runs with WINEDEBUG=fixme+ncrypt and fails when an operation it
 * expects to work landed on one of Wine's stubs; for the operations Wine lacks, it checks that they
 * end in a typed error carrying Wine's status (and that they did land on a stub), never a crash.
 */
import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { existsSync } from 'node:fs';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  repoRoot,
  runWineScript,
  startWineProvider,
  stubCalls,
  type WineProvider,
  wine,
} from '../../../test-support/wine.js';

const MODULE = 'packages/provider-cng/dist/index.cjs';
const NTE_NOT_SUPPORTED = 0x80090029;

/**
 * Stub lines that every create prints and that the tests expect: Wine's NCryptOpenStorageProvider
 * says "stub" but opens any name, NCryptCreatePersistedKey says keys are not persisted (the
 * provider's probe() reports both limits), and NCryptSetProperty says it ignores
 * NCRYPT_PERSIST_FLAG (it sets the property on the handle all the same; Wine persists nothing).
 */
const KNOWN_STUBS = [
  /fixme:ncrypt:NCryptOpenStorageProvider .*: stub$/,
  /fixme:ncrypt:NCryptCreatePersistedKey Persistent keys are not supported$/,
  /fixme:ncrypt:NCryptSetProperty flags 0x80000000 not supported$/,
];

async function rejection(promise: Promise<unknown>): Promise<KeyStoreError> {
  try {
    await promise;
  } catch (err) {
    if (KeyStoreError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!wine.available)(`cng provider on Wine's ncrypt.dll (needs Wine: ${wine.reason})`, () => {
  let provider: WineProvider;
  let seen = 0;

  /** The stderr the Windows process wrote since the last call, once it has stopped growing. */
  async function freshStderr(): Promise<string> {
    let length = -1;
    while (length !== provider.stderr().length) {
      length = provider.stderr().length;
      await new Promise((r) => setTimeout(r, 150));
    }
    const text = provider.stderr().slice(seen);
    seen = provider.stderr().length;
    return text;
  }

  /** Runs `fn` and returns the stub calls it made that are not in KNOWN_STUBS. */
  async function unexpectedStubs(fn: () => Promise<unknown>): Promise<string[]> {
    await freshStderr();
    await fn();
    return stubCalls(await freshStderr()).filter((line) => !KNOWN_STUBS.some((re) => re.test(line.trim())));
  }

  /** Runs `fn`, which must reject, and returns the error and every stub call it made. */
  async function failsOnStub(fn: () => Promise<unknown>): Promise<{ error: KeyStoreError; stubs: string[] }> {
    await freshStderr();
    const error = await rejection(fn());
    return { error, stubs: stubCalls(await freshStderr()) };
  }

  beforeAll(async () => {
    if (!existsSync(`${repoRoot}${MODULE}`)) {
      throw new Error(`${MODULE} is missing: run npm run build -w @keystore/provider-cng first`);
    }
    provider = await startWineProvider({ module: MODULE, wineDebug: 'fixme+ncrypt' });
  }, 120_000);

  afterAll(async () => {
    await provider?.stop();
  }, 30_000);

  it('probe() says in-process, with the reason that Wine runs ncrypt inside this process', async () => {
    const probe = await provider.probe();
    expect(probe.available).toBe(true);
    expect(probe.isolation).toBe('in-process');
    expect(probe.reasons.some((r) => r.includes("Wine's ncrypt runs inside this process"))).toBe(true);
    expect(probe.details).toMatchObject({
      platform: 'wine',
      storageProvider: 'Microsoft Software Key Storage Provider',
    });
    expect(typeof probe.details?.wineVersion).toBe('string');
  });

  for (const algorithm of ['RSA-2048', 'RSA-3072'] as const) {
    it(`${algorithm}: created in-process, and its PKCS#1 and PSS signatures verify with node:crypto`, async () => {
      const stubs = await unexpectedStubs(async () => {
        const key = await provider.createKey({
          name: `wine-${algorithm.toLowerCase()}-${randomBytes(3).toString('hex')}`,
          algorithm,
          scope: 'user',
          exportable: false,
        });
        expect(key.isolation.level).toBe('in-process');
        expect(key.isolation.providerId).toBe('cng');
        expect(key.publicKey).toBeInstanceOf(KeyObject);
        expect(key.publicKey.asymmetricKeyDetails?.modulusLength).toBe(Number(algorithm.slice(4)));
        // PKCS#1 first: on Wine 8.0 a key that has signed with PSS no longer signs PKCS#1 (see below).
        for (const padding of ['pkcs1', 'pss'] as const) {
          for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
            const data = randomBytes(100);
            const digest = createHash(hash).update(data).digest();
            const { signature } = await key.signDigest(digest, { hash, padding, saltLength: digest.length });
            const options =
              padding === 'pss'
                ? { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length }
                : key.publicKey;
            expect({ padding, hash, verified: verify(hash, data, options, signature) }).toEqual({
              padding,
              hash,
              verified: true,
            });
          }
        }
        await key.close();
      });
      expect(stubs).toEqual([]);
    });
  }

  it('Wine 8.0 quirk: once a key signed with PSS, a PKCS#1 signature with it is a typed NTE_INTERNAL_ERROR, not a crash', async () => {
    const key = await provider.createKey({
      name: 'wine-pss-then-pkcs1',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
    });
    const digest = createHash('sha256').update('x').digest();
    await key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: 32 });
    const error = await rejection(key.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }));
    expect(error.nativeStatus).toBe(0x8009002d);
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    await key.close();
  });

  it('an exportable key exports its private key, which matches the public key', async () => {
    const stubs = await unexpectedStubs(async () => {
      const key = await provider.createKey({
        name: 'wine-exportable',
        algorithm: 'RSA-2048',
        scope: 'user',
        exportable: true,
      });
      expect(key.exportable).toBe(true);
      const privateKey = await key.exportPrivateKey!();
      expect(privateKey.type).toBe('private');
      expect(createPublicKey(privateKey).equals(key.publicKey)).toBe(true);
      const data = Buffer.from('exported');
      expect(verify('sha256', data, key.publicKey, sign('sha256', data, privateKey))).toBe(true);
      await key.close();
    });
    expect(stubs).toEqual([]);
  });

  it('a non-exportable key refuses export (Wine stores the export policy but does not enforce it: the provider does)', async () => {
    const key = await provider.createKey({
      name: 'wine-sealed',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
    });
    expect((await rejection(key.exportPrivateKey!())).code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    await key.close();
  });

  it('bad input is refused in TypeScript before any native call reaches Wine', async () => {
    const key = await provider.createKey({
      name: 'wine-input',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
    });
    await freshStderr();
    expect(
      (await rejection(key.signDigest(Buffer.alloc(31), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }))).code,
    ).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(
      (await rejection(provider.createKey({ name: 'a/b', algorithm: 'RSA-2048', scope: 'user', exportable: false })))
        .code,
    ).toBe('ERR_KEYSTORE_INVALID_NAME');
    expect(stubCalls(await freshStderr())).toEqual([]);
    await key.close();
    // A closed key's handles are freed: later use is KEY_CLOSED, not a native call on a freed handle.
    expect(
      (await rejection(key.signDigest(Buffer.alloc(32), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }))).code,
    ).toBe('ERR_KEYSTORE_KEY_CLOSED');
  });

  describe('what Wine does not implement ends in typed errors carrying its status, not crashes', () => {
    it('ECDSA and ECDH keys: UNSUPPORTED_ALGORITHM with NTE_NOT_SUPPORTED', async () => {
      for (const algorithm of ['ECDSA-P256', 'ECDH-P384'] as const) {
        const { error, stubs } = await failsOnStub(() =>
          provider.createKey({ name: `wine-${algorithm.toLowerCase()}`, algorithm, scope: 'user', exportable: false }),
        );
        expect(error.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
        expect(error.nativeStatus).toBe(NTE_NOT_SUPPORTED);
        expect(stubs.some((s) => s.includes('NCryptCreatePersistedKey Algorithm not handled'))).toBe(true);
      }
    });

    it('openKey, deleteKey and listKeys: UNSUPPORTED_OPERATION with NTE_NOT_SUPPORTED (NCryptOpenKey, NCryptEnumKeys are stubs)', async () => {
      const attempts = [
        ['NCryptOpenKey', () => provider.openKey({ name: 'wine-any', scope: 'user' })],
        ['NCryptOpenKey', () => provider.deleteKey({ name: 'wine-any', scope: 'machine' })],
        ['NCryptEnumKeys', () => provider.listKeys()],
      ] as const;
      for (const [fn, attempt] of attempts) {
        const { error, stubs } = await failsOnStub(attempt);
        expect({ fn, code: error.code }).toEqual({ fn, code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION' });
        expect(error.nativeStatus).toBe(NTE_NOT_SUPPORTED);
        expect(stubs.some((s) => s.includes(`fixme:ncrypt:${fn}`))).toBe(true);
      }
    });

    it('decrypt: a typed error with NTE_NOT_SUPPORTED (NCryptDecrypt is a stub)', async () => {
      const key = await provider.createKey({
        name: 'wine-decrypt',
        algorithm: 'RSA-2048',
        scope: 'user',
        exportable: false,
      });
      const ciphertext = (await import('node:crypto')).publicEncrypt(
        { key: key.publicKey, oaepHash: 'sha256' },
        Buffer.from('x'),
      );
      const { error, stubs } = await failsOnStub(() => key.decrypt!(ciphertext, 'sha256'));
      expect(error.nativeStatus).toBe(NTE_NOT_SUPPORTED);
      expect(['ERR_KEYSTORE_UNSUPPORTED_ALGORITHM', 'ERR_KEYSTORE_UNSUPPORTED_OPERATION']).toContain(error.code);
      expect(stubs.some((s) => s.includes('fixme:ncrypt:NCryptDecrypt'))).toBe(true);
      await key.close();
    });

    it('importKey under a name: UNSUPPORTED_OPERATION with NTE_NOT_SUPPORTED (Wine has no NCryptBufferDesc parameters)', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const { error, stubs } = await failsOnStub(() =>
        provider.importKey!({
          name: 'wine-imported',
          algorithm: 'RSA-2048',
          scope: 'user',
          exportable: false,
          privateKey,
        }),
      );
      expect(error.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
      expect(error.nativeStatus).toBe(NTE_NOT_SUPPORTED);
      expect(stubs.some((s) => s.includes('NCryptImportKey Parameter information not implemented'))).toBe(true);
    });
  });
});

describe.skipIf(!wine.available)(`the import blob, through Wine's NCryptImportKey (needs Wine: ${wine.reason})`, () => {
  it("a Node RSA key imported as RSAFULLPRIVATEBLOB (unnamed) signs in Wine's ncrypt; the signature verifies with the original public key", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    const digest = createHash('sha256').update('imported').digest().toString('hex');
    const source = `
      const crypto = require('node:crypto');
      const n = require('@keystore/provider-cng/native');
      (async () => {
        const ncrypt = n.loadNCrypt();
        const key = crypto.createPrivateKey({ key: Buffer.from('${pkcs8}', 'base64'), format: 'der', type: 'pkcs8' });
        const prov = ncrypt.openStorageProvider(n.MS_KEY_STORAGE_PROVIDER);
        try {
          const handle = await ncrypt.importKey(prov, n.BCRYPT_RSAFULLPRIVATE_BLOB, n.rsaFullPrivateBlobFromKeyObject(key), null, 0);
          try {
            const sig = await ncrypt.signHash(handle, Buffer.from('${digest}', 'hex'), { kind: 'pkcs1', hash: 'SHA256' });
            const pub = n.publicKeyFromBlob(ncrypt.exportKey(handle, n.BCRYPT_RSAPUBLIC_BLOB));
            console.log(JSON.stringify({ sig: sig.toString('base64'), spki: pub.export({ format: 'der', type: 'spki' }).toString('base64') }));
          } finally {
            ncrypt.freeObject(handle);
          }
        } finally {
          ncrypt.freeObject(prov);
        }
      })().catch((e) => { console.error(e); process.exit(1); });
    `;
    const result = await runWineScript(source, { wineDebug: 'fixme+ncrypt' });
    expect(result.code).toBe(0);
    const unexpected = stubCalls(result.stderr).filter((line) => !KNOWN_STUBS.some((re) => re.test(line.trim())));
    expect(unexpected).toEqual([]);
    const { sig, spki } = result.json as { sig: string; spki: string };
    expect(createPublicKey({ key: Buffer.from(spki, 'base64'), format: 'der', type: 'spki' }).equals(publicKey)).toBe(
      true,
    );
    expect(verify('sha256', Buffer.from('imported'), publicKey, Buffer.from(sig, 'base64'))).toBe(true);
  });
});
