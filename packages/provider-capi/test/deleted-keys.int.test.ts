// Deleting a container while a key object of it is open, for real in Windows Node under Wine. rsaenh
// there writes a container's keys back when a context is released, so without care the old object's
// close brings the deleted key back, over a newer key made under the same name.
import { constants, createHash, randomBytes, verify } from 'node:crypto';
import { KeyStoreError, type ProviderKey } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWineProvider, type WineProvider, wine } from '../../../test-support/wine.js';

const run = `del-${process.pid}-${randomBytes(3).toString('hex')}`;
const digest = createHash('sha256').update('data').digest();
const PKCS1 = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
const user = { scope: 'user' } as const;
const make = { scope: 'user', exportable: false } as const;

async function codeOf(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (err) {
    if (KeyStoreError.is(err)) return err.code;
    throw err;
  }
  return 'resolved';
}

async function signsAs(key: ProviderKey, expected: ProviderKey['publicKey']): Promise<boolean> {
  const { signature } = await key.signDigest(digest, PKCS1);
  return verify('sha256', Buffer.from('data'), { key: expected, padding: constants.RSA_PKCS1_PADDING }, signature);
}

describe.skipIf(!wine.available)(`deleting keys that are open, in Windows Node (needs Wine: ${wine.reason})`, () => {
  let remote: WineProvider;

  beforeAll(async () => {
    // No policy options: the provider reads the prefix's machine policy, which these tests leave empty.
    remote = await startWineProvider({ module: 'packages/provider-capi/dist/index.cjs' });
  }, 120_000);
  afterAll(async () => {
    for (const key of await remote.listKeys(user).catch(() => []))
      if (key.name.startsWith(run)) await remote.deleteKey({ name: key.name, ...user }).catch(() => {});
    await remote?.stop();
  }, 120_000);

  it('create, keep the object, delete, create again, close the old object: the new key survives with its own public key', async () => {
    const name = `${run}-again`;
    const old = await remote.createKey({ name, algorithm: 'RSA-2048', ...make });
    await remote.deleteKey({ name, ...user });
    const fresh = await remote.createKey({ name, algorithm: 'RSA-2048', ...make });
    expect(fresh.publicKey.equals(old.publicKey)).toBe(false);

    // The new object first: closing the old one last is what wrote the deleted key back.
    await fresh.close();
    await old.close();

    const opened = await remote.openKey({ name, ...user });
    expect(opened.publicKey.equals(fresh.publicKey)).toBe(true);
    expect(await signsAs(opened, fresh.publicKey)).toBe(true);
    await opened.close();
    // The old object was closed by the delete, and says so: it signs with no key any more.
    expect(await codeOf(() => old.signDigest(digest, PKCS1))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    await remote.deleteKey({ name, ...user });
  }, 120_000);

  it('a deleted key stays deleted once its open object is closed: not openable, not listed', async () => {
    const name = `${run}-gone`;
    const key = await remote.createKey({ name, algorithm: 'RSA-2048', ...make });
    const second = await remote.openKey({ name, ...user });
    await remote.deleteKey({ name, ...user });
    await key.close();
    await second.close();
    expect(await codeOf(() => remote.openKey({ name, ...user }))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect((await remote.listKeys(user)).map((k) => k.name)).not.toContain(name);
    expect(await codeOf(() => remote.deleteKey({ name, ...user }))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
  }, 120_000);

  it('a sign started before the delete ends with a signature that verifies; the key is gone after', async () => {
    const name = `${run}-busy`;
    const key = await remote.createKey({ name, algorithm: 'RSA-3072', ...make });
    const signing = key.signDigest(digest, PKCS1);
    const deleting = remote.deleteKey({ name, ...user });
    const [signed, deleted] = await Promise.allSettled([signing, deleting]);
    expect(deleted.status).toBe('fulfilled');
    if (signed.status === 'fulfilled') {
      const ok = verify(
        'sha256',
        Buffer.from('data'),
        { key: key.publicKey, padding: constants.RSA_PKCS1_PADDING },
        signed.value.signature,
      );
      expect(ok).toBe(true);
    } else {
      expect(KeyStoreError.is(signed.reason, 'ERR_KEYSTORE_KEY_NOT_FOUND')).toBe(true);
    }
    await key.close();
    expect(await codeOf(() => remote.openKey({ name, ...user }))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
  }, 120_000);
});
