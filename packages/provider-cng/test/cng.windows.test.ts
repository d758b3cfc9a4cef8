/**
 * The CNG provider on real Windows: the Microsoft Software Key Storage Provider, LSASS, LSA
 * protection and VBS as they are on the machine. Skipped elsewhere (it needs Windows); the machine
 * scope needs an elevated process; the VBS key needs Windows 11 24H2+ with VBS running.
 */
import { spawnSync } from 'node:child_process';
import {
  constants,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  verify,
} from 'node:crypto';
import { createKeyStore, isAtLeast, type KeyScope, KeyStoreError } from '@keystore/core';
import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CNG_CAPABILITIES, createProvider } from '../src/index.js';
import {
  BCRYPT_ECCPRIVATE_BLOB,
  BCRYPT_RSAFULLPRIVATE_BLOB,
  MS_KEY_STORAGE_PROVIDER,
  NCRYPT_MACHINE_KEY_FLAG,
  NTE_BAD_KEY_STATE,
  NTE_NOT_SUPPORTED,
  NTE_PERM,
} from '../src/native/constants.js';
import { loadNCrypt } from '../src/native/ncrypt.js';
import { loadWindowsSystem } from '../src/native/system.js';

const onWindows = process.platform === 'win32';
/** `net session` succeeds only in an elevated (administrator) process. */
const elevated = onWindows && spawnSync('net', ['session'], { stdio: 'ignore' }).status === 0;
const prefix = `keystore-win-${randomBytes(4).toString('hex')}-`;
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();
/**
 * How a storage provider refuses a plaintext export of a non-exportable key: the Software KSP on
 * Windows answers NTE_NOT_SUPPORTED (as .NET sees it: dotnet/corefx#29404, dotnet/runtime#48472),
 * Wine answers NTE_PERM; the provider maps each of them (and NTE_BAD_KEY_STATE) to NOT_EXPORTABLE.
 */
const EXPORT_REFUSALS: readonly (number | 'exported')[] = [NTE_NOT_SUPPORTED, NTE_PERM, NTE_BAD_KEY_STATE];

async function rejection(promise: Promise<unknown>): Promise<KeyStoreError> {
  try {
    await promise;
  } catch (err) {
    if (KeyStoreError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** Tries to export a key's private blob with ncrypt.dll directly, bypassing the provider's own check. */
async function nativeExportStatus(name: string, scope: KeyScope, blobType: string): Promise<number | 'exported'> {
  const ncrypt = loadNCrypt();
  const prov = ncrypt.openStorageProvider(MS_KEY_STORAGE_PROVIDER);
  try {
    const key = await ncrypt.openKey(prov, name, 0, scope === 'machine' ? NCRYPT_MACHINE_KEY_FLAG : 0);
    try {
      ncrypt.exportKey(key, blobType).fill(0);
      return 'exported';
    } catch (err) {
      if (KeyStoreError.is(err) && err.nativeStatus !== undefined) return err.nativeStatus;
      throw err;
    } finally {
      ncrypt.freeObject(key);
    }
  } finally {
    ncrypt.freeObject(prov);
  }
}

describe.skipIf(!onWindows)(
  'cng on real Windows (needs Windows: ncrypt.dll, the Software Key Storage Provider, LSASS)',
  () => {
    defineProviderConformanceSuite({
      name: `cng on Windows (${elevated ? 'elevated: user and machine scope' : 'not elevated: user scope'})`,
      createProvider: () => createProvider(),
      algorithms: CNG_CAPABILITIES.algorithms,
      test: { describe, it, beforeAll, afterAll },
      keyNamePrefix: `${prefix}conf-`,
      timeout: 60_000,
      skip: {
        passwords: 'CNG keys take no password in this SDK (Windows asks for one through userPrompt)',
        ...(elevated ? {} : { machineScope: 'machine-scope keys need an elevated (administrator) process' }),
      },
    });

    describe('isolation, persistence, export policy, imports', () => {
      const provider = createProvider();
      const made: Array<{ name: string; scope: KeyScope }> = [];
      const fresh = (label: string, scope: KeyScope = 'user') => {
        const name = `${prefix}${label}`;
        made.push({ name, scope });
        return name;
      };

      afterAll(async () => {
        for (const { name, scope } of made) {
          await provider.deleteKey({ name, scope }).catch(() => {});
        }
      });

      it('probe() measures os-isolated or better, with the LSA protection reading in its details', async () => {
        const probe = await provider.probe();
        expect(probe.available).toBe(true);
        expect(isAtLeast(probe.isolation, 'os-isolated')).toBe(true);
        expect(probe.details).toMatchObject({ platform: 'windows' });
        expect(typeof probe.details?.lsaProtection).toBe('string');
        expect(typeof probe.details?.windowsBuild).toBe('number');
      });

      it('finds LSASS through the service control manager (KeyIso), never by name, and the receipt says so', async () => {
        const reading = loadWindowsSystem().lsassProtection();
        // Unelevated, opening a protected LSASS may be refused; the lookup itself never fails on Windows.
        if (!reading.ok) {
          expect(reading.status).not.toBe(1168);
          return;
        }
        expect(reading.value.identifiedBy).toBe('service control manager (KeyIso)');
        const probe = await provider.probe();
        expect(probe.details?.lsassIdentifiedBy).toBe('service control manager (KeyIso)');
        const name = fresh('lsass-evidence');
        const key = await provider.createKey({ name, algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
        expect(key.isolation.evidence.join(' ')).toContain('identified through: service control manager (KeyIso)');
        await key.close();
      });

      it('a key persists across provider instances (and processes use the same store)', async () => {
        const name = fresh('persist');
        const key = await provider.createKey({ name, algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
        expect(isAtLeast(key.isolation.level, 'os-isolated')).toBe(true);
        await key.close();
        const other = createProvider();
        const opened = await other.openKey({ name, scope: 'user' });
        expect(opened.publicKey.equals(key.publicKey)).toBe(true);
        expect(opened.algorithm).toBe('ECDSA-P256');
        const { signature, dsaEncoding } = await opened.signDigest(sha256('persisted'), {
          hash: 'sha256',
          padding: 'pkcs1',
          saltLength: 32,
        });
        expect(
          verify('sha256', Buffer.from('persisted'), { key: key.publicKey, dsaEncoding: dsaEncoding! }, signature),
        ).toBe(true);
        await opened.close();
        expect(
          (await other.listKeys({ scope: 'user' })).some((k) => k.name === name && k.algorithm === 'ECDSA-P256'),
        ).toBe(true);
      });

      it('Windows itself refuses to export a non-exportable key (NTE_NOT_SUPPORTED from the Software KSP), and the provider says NOT_EXPORTABLE', async () => {
        for (const [algorithm, blob] of [
          ['RSA-2048', BCRYPT_RSAFULLPRIVATE_BLOB],
          ['ECDSA-P384', BCRYPT_ECCPRIVATE_BLOB],
        ] as const) {
          const name = fresh(`sealed-${algorithm.toLowerCase()}`);
          const key = await provider.createKey({ name, algorithm, scope: 'user', exportable: false });
          expect((await rejection(key.exportPrivateKey())).code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
          expect(EXPORT_REFUSALS).toContain(await nativeExportStatus(name, 'user', blob));
          await key.close();
        }
        const name = fresh('open-rsa');
        const key = await provider.createKey({ name, algorithm: 'RSA-2048', scope: 'user', exportable: true });
        const privateKey = await key.exportPrivateKey();
        expect(createPublicKey(privateKey).equals(key.publicKey)).toBe(true);
        await key.close();
      });

      it('the export policy is stored with the key: an exportable key reopened by a new provider instance exports', async () => {
        // The default export policy is already "not exportable", so only an exportable key shows
        // whether the policy set before finalize (with NCRYPT_PERSIST_FLAG) was kept with the key.
        for (const [algorithm, blob] of [
          ['RSA-2048', BCRYPT_RSAFULLPRIVATE_BLOB],
          ['ECDSA-P256', BCRYPT_ECCPRIVATE_BLOB],
        ] as const) {
          const name = fresh(`exportable-${algorithm.toLowerCase()}`);
          const key = await provider.createKey({ name, algorithm, scope: 'user', exportable: true });
          const publicKey = key.publicKey;
          await key.close();
          const other = createProvider();
          const opened = await other.openKey({ name, scope: 'user' });
          expect(opened.exportable).toBe(true);
          const privateKey = await opened.exportPrivateKey();
          expect(createPublicKey(privateKey).equals(publicKey)).toBe(true);
          await opened.close();
          await other.close();
          expect(await nativeExportStatus(name, 'user', blob)).toBe('exported');
        }
        // And a non-exportable key reopened the same way stays sealed.
        const sealed = fresh('sealed-reopened');
        await (
          await provider.createKey({ name: sealed, algorithm: 'ECDSA-P256', scope: 'user', exportable: false })
        ).close();
        const other = createProvider();
        const opened = await other.openKey({ name: sealed, scope: 'user' });
        expect(opened.exportable).toBe(false);
        expect((await rejection(opened.exportPrivateKey())).code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
        await opened.close();
        await other.close();
      });

      it('RSA: PSS with a custom salt and OAEP with every hash', async () => {
        const key = await provider.createKey({
          name: fresh('rsa-ops'),
          algorithm: 'RSA-3072',
          scope: 'user',
          exportable: false,
        });
        const data = randomBytes(64);
        const { signature } = await key.signDigest(sha256(data), { hash: 'sha256', padding: 'pss', saltLength: 20 });
        expect(
          verify(
            'sha256',
            data,
            { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 },
            signature,
          ),
        ).toBe(true);
        for (const hash of CNG_CAPABILITIES.oaepHashes) {
          const plaintext = randomBytes(16);
          const ciphertext = publicEncrypt(
            { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
            plaintext,
          );
          expect((await key.decrypt(ciphertext, hash)).equals(plaintext)).toBe(true);
        }
        await key.close();
      });

      it('ECDH on every curve equals diffieHellman on the peer side', async () => {
        for (const [algorithm, curve] of [
          ['ECDH-P256', 'P-256'],
          ['ECDH-P384', 'P-384'],
          ['ECDH-P521', 'P-521'],
        ] as const) {
          const key = await provider.createKey({
            name: fresh(algorithm.toLowerCase()),
            algorithm,
            scope: 'user',
            exportable: false,
          });
          const peer = generateKeyPairSync('ec', { namedCurve: curve });
          const secret = await key.deriveSecret(peer.publicKey);
          expect(secret.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: key.publicKey }))).toBe(true);
          await key.close();
        }
      });

      it('importKey: RSA and EC keys, non-exportable by Windows, sign with the original public key', async () => {
        const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const rsaName = fresh('imported-rsa');
        const imported = await provider.importKey({
          name: rsaName,
          algorithm: 'RSA-2048',
          scope: 'user',
          exportable: false,
          privateKey: rsa.privateKey,
        });
        const data = Buffer.from('migrated from CryptoAPI');
        const sig = await imported.signDigest(sha256(data), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
        expect(verify('sha256', data, rsa.publicKey, sig.signature)).toBe(true);
        expect(EXPORT_REFUSALS).toContain(await nativeExportStatus(rsaName, 'user', BCRYPT_RSAFULLPRIVATE_BLOB));
        await imported.close();
        const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const ecKey = await provider.importKey({
          name: fresh('imported-ec'),
          algorithm: 'ECDSA-P256',
          scope: 'user',
          exportable: true,
          privateKey: ec.privateKey,
        });
        expect((await ecKey.exportPrivateKey()).equals(ec.privateKey)).toBe(true);
        await ecKey.close();
      });

      it.skipIf(!elevated)(
        'machine scope: kept apart from the user scope; a user-scope miss names it (needs an elevated process)',
        async () => {
          const name = fresh('machine', 'machine');
          const key = await provider.createKey({ name, algorithm: 'RSA-2048', scope: 'machine', exportable: false });
          await key.close();
          const miss = await rejection(provider.openKey({ name, scope: 'user' }));
          expect(miss.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
          expect(miss.hint).toContain('machine');
          expect((await provider.listKeys({ scope: 'machine' })).some((k) => k.name === name)).toBe(true);
        },
      );

      it('a VBS key when the machine offers them, else a refusal that leaves no key (floor virtualization)', async (ctx) => {
        const probe = await provider.probe();
        const name = fresh('vbs');
        if (probe.isolation !== 'virtualization') {
          const err = await rejection(
            provider.createKey({
              name,
              algorithm: 'ECDSA-P256',
              scope: 'user',
              exportable: false,
              minimumIsolation: 'virtualization',
            }),
          );
          expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
          expect((await rejection(provider.openKey({ name, scope: 'user' }))).code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
          ctx.skip(
            'this machine offers no VBS keys (needs Windows 11 24H2+ with virtualization-based security running)',
          );
          return;
        }
        const key = await provider.createKey({
          name,
          algorithm: 'ECDSA-P256',
          scope: 'user',
          exportable: false,
          minimumIsolation: 'virtualization',
        });
        expect(key.isolation.level).toBe('virtualization');
        const data = Buffer.from('vbs');
        const { signature } = await key.signDigest(sha256(data), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
        expect(verify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
        await key.close();
        const opened = await provider.openKey({ name, scope: 'user' });
        expect(opened.isolation.level).toBe('virtualization');
        await opened.close();
      });

      it('through a KeyStore with the default policy (floor os-isolated), the CNG provider is selected', async () => {
        const store = await createKeyStore({ providers: [createProvider()] });
        const name = fresh('store');
        const key = await store.createKey(name, { algorithm: 'ECDSA-P256' });
        expect(key.providerId).toBe('cng');
        expect(isAtLeast(key.isolation.level, 'os-isolated')).toBe(true);
        await key.close();
        await store.close();
      });
    });
  },
);
