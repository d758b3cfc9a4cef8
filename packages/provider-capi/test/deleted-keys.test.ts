// Deleting a container while key objects of it are open, over a double that writes a container back
// when a context is released (as rsaenh does under Wine): the deleted key must stay deleted, a newer
// key made under the same name must survive the old objects' close, and an old object must never
// sign with another key than its publicKey.
import { constants, createHash, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { KeyStoreError } from '@keystore/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { CapiProvider } from '../src/index.js';
import { type AdvapiDouble, createAdvapiDouble } from './helpers/advapi-double.js';

const digest = createHash('sha256').update('data').digest();
const PKCS1 = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

async function codeOf(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (err) {
    if (KeyStoreError.is(err)) return err.code;
    throw err;
  }
  return 'resolved';
}

function verifies(key: KeyObject, signature: Buffer): boolean {
  return verify('sha256', Buffer.from('data'), { key, padding: constants.RSA_PKCS1_PADDING }, signature);
}

// No policy options: off Windows no machine policy is read unless KEYSTORE_MACHINE_POLICY names one.
let native: AdvapiDouble;
let provider: CapiProvider;
const user = { scope: 'user' } as const;
const make = { scope: 'user', exportable: false } as const;

beforeEach(() => {
  native = createAdvapiDouble({ releaseWritesBack: true, wineVersion: '8.0' });
  provider = new CapiProvider({ native });
});

describe('the double writes a container back on release (the behaviour the fix is for)', () => {
  it('a context released after its container was deleted brings the container back', () => {
    native.addKey('user', 'raw', 1, 2048);
    const ctx = native.CryptAcquireContextW('raw', 'p', 24, 0x40);
    native.CryptAcquireContextW('raw', 'p', 24, 0x10);
    expect(native.containers.user.has('raw')).toBe(false);
    native.CryptReleaseContext(ctx.value!);
    expect(native.containers.user.has('raw')).toBe(true);
  });
});

describe('deleteKey with key objects still open', () => {
  it('create, keep the object, delete, create again, close the old object: the new key survives, the old one stays deleted', async () => {
    const first = await provider.createKey({ name: 'A', algorithm: 'RSA-2048', ...make });
    const kept = await provider.openKey({ name: 'A', ...user });
    await provider.deleteKey({ name: 'A', ...user });
    const second = await provider.createKey({ name: 'A', algorithm: 'RSA-2048', ...make });
    expect(second.publicKey.equals(first.publicKey)).toBe(false);

    // The new object first: closing the old ones last is what wrote the deleted key back.
    await second.close();
    await first.close();
    await kept.close();

    const again = await provider.openKey({ name: 'A', ...user });
    expect(again.publicKey.equals(second.publicKey)).toBe(true);
    const { signature } = await again.signDigest(digest, PKCS1);
    expect(verifies(second.publicKey, signature)).toBe(true);
    await again.close();
    expect(native.openHandles()).toBe(0);
  });

  it('a deleted key stays deleted after its open objects are closed: not openable, not listed', async () => {
    const key = await provider.createKey({ name: 'gone', algorithm: 'RSA-2048', ...make });
    await provider.deleteKey({ name: 'gone', ...user });
    await key.close();
    expect(await codeOf(() => provider.openKey({ name: 'gone', ...user }))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect((await provider.listKeys(user)).map((k) => k.name)).not.toContain('gone');
    expect(native.containers.user.has('gone')).toBe(false);
  });

  it('an object of a deleted key rejects with KEY_NOT_FOUND (saying it was deleted), also after close', async () => {
    const key = await provider.createKey({ name: 'del', algorithm: 'RSA-2048', ...make });
    await provider.deleteKey({ name: 'del', ...user });
    const err = await key.signDigest(digest, PKCS1).catch((e: unknown) => e);
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/deleted/);
    expect(await codeOf(() => key.decrypt(Buffer.alloc(256), 'sha1'))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(await codeOf(() => key.exportPrivateKey())).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    await key.close();
    expect(await codeOf(() => key.signDigest(digest, PKCS1))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
  });

  it('a sign running when delete starts ends first and verifies; one queued behind it rejects typed; the handle is freed after', async () => {
    const worker = new CapiProvider({ native, threading: 'worker' });
    const key = await worker.createKey({ name: 'busy', algorithm: 'RSA-2048', ...make });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached!: () => void;
    const inNative = new Promise<void>((resolve) => {
      reached = resolve;
    });
    native.before('CryptSignHashWAsync', () => {
      reached();
      return gate;
    });
    const running = key.signDigest(digest, PKCS1);
    const queued = key.signDigest(digest, PKCS1).catch((e: unknown) => e);
    // The first sign is inside its native call (whatever the machine's load) before delete starts.
    await inNative;
    // The delete reads the machine policy before it retires the open key objects: wait until it has
    // retired this one, so the queued sign is judged after that, whatever the machine's load.
    const retiring = new Promise<void>((resolve) => {
      const retire = key.retire.bind(key);
      key.retire = (reason: string) => {
        resolve();
        return retire(reason);
      };
    });
    const deleting = worker.deleteKey({ name: 'busy', ...user });
    await retiring;
    // Delete waits for the native call: the container is still there and the handle still open.
    expect(native.containers.user.has('busy')).toBe(true);
    release();
    const { signature } = await running;
    expect(verifies(key.publicKey, signature)).toBe(true);
    expect(KeyStoreError.is(await queued, 'ERR_KEYSTORE_KEY_NOT_FOUND')).toBe(true);
    await deleting;
    const order = native.calls.map((c) => c.fn);
    const signedAt = order.lastIndexOf('CryptSignHashWAsync');
    expect(order.indexOf('CryptDestroyHash', signedAt)).toBeLessThan(order.lastIndexOf('CryptReleaseContext'));
    expect(native.containers.user.has('busy')).toBe(false);
    expect(native.openHandles()).toBe(0);
  });

  it('an open running while the delete releases handles does not bring the key back', async () => {
    const key = await provider.createKey({ name: 'race', algorithm: 'RSA-2048', ...make });
    const deleting = provider.deleteKey({ name: 'race', ...user });
    const opening = provider.openKey({ name: 'race', ...user }).catch((e: unknown) => e);
    await deleting;
    const opened = await opening;
    // Either order is right: the open came first and its object was closed by the delete, or after.
    if (KeyStoreError.is(opened)) expect(opened.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    else {
      const late = opened as Awaited<ReturnType<CapiProvider['openKey']>>;
      expect(await codeOf(() => late.signDigest(digest, PKCS1))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      await late.close();
    }
    await key.close();
    expect(native.containers.user.has('race')).toBe(false);
    expect(native.openHandles()).toBe(0);
  });
});

describe('createKey over objects of a container deleted elsewhere', () => {
  it('closes those objects first, so closing them cannot overwrite the new key', async () => {
    const old = await provider.createKey({ name: 'B', algorithm: 'RSA-2048', ...make });
    // Another process deletes the container (the old object's context stays open here).
    native.containers.user.delete('B');
    const fresh = await provider.createKey({ name: 'B', algorithm: 'RSA-2048', ...make });
    expect(await codeOf(() => old.signDigest(digest, PKCS1))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    await old.close();
    await fresh.close();
    const again = await provider.openKey({ name: 'B', ...user });
    expect(again.publicKey.equals(fresh.publicKey)).toBe(true);
    const { signature } = await again.signDigest(digest, PKCS1);
    expect(verifies(fresh.publicKey, signature)).toBe(true);
    await again.close();
  });

  it('leaves the objects of a container that still exists alone (the create is KEY_EXISTS)', async () => {
    const key = await provider.createKey({ name: 'C', algorithm: 'RSA-2048', ...make });
    expect(await codeOf(() => provider.createKey({ name: 'C', algorithm: 'RSA-2048', ...make }))).toBe(
      'ERR_KEYSTORE_KEY_EXISTS',
    );
    const { signature } = await key.signDigest(digest, PKCS1);
    expect(verifies(key.publicKey, signature)).toBe(true);
    await key.close();
  });
});

describe('a reopened key is the one just made', () => {
  it('createKey rejects with KEY_EXISTS, and leaves the container alone, when another program replaced it before the reopen', async () => {
    const shared = createAdvapiDouble();
    const p = new CapiProvider({ native: shared });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    shared.before('CryptGetUserKey', () => {
      shared.containers.user.get('D')!.keys.set(1, { ...other, exportable: false, bits: 2048 });
    });
    expect(await codeOf(() => p.createKey({ name: 'D', algorithm: 'RSA-2048', ...make }))).toBe(
      'ERR_KEYSTORE_KEY_EXISTS',
    );
    expect(shared.containers.user.get('D')!.keys.get(1)!.publicKey.equals(other.publicKey)).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(shared.openHandles()).toBe(0);
  });

  it('importKey does the same', async () => {
    const shared = createAdvapiDouble();
    const p = new CapiProvider({ native: shared });
    const mine = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    shared.before('CryptGetUserKey', () => {
      shared.containers.user.get('E')!.keys.set(1, { ...other, exportable: false, bits: 2048 });
    });
    expect(
      await codeOf(() => p.importKey({ name: 'E', privateKey: mine.privateKey, algorithm: 'RSA-2048', ...make })),
    ).toBe('ERR_KEYSTORE_KEY_EXISTS');
  });
});
