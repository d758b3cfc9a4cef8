/**
 * The CNG provider's logic over a named double of the native function tables
 * (test/helpers/ncrypt-double.ts): flags, export policy, handles, error mapping, cancellation,
 * VBS keys, imports, listing, validation before any native call. The real ncrypt.dll runs in
 * wine.int.test.ts (Wine) and cng.windows.test.ts (Windows).
 */
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
import type { KeyAlgorithm, ProviderCreateRequest } from '@keystore/core';
import { afterEach, describe, expect, it } from 'vitest';
import { CNG_CAPABILITIES, keyUsage, measureSoftwareKspPosture, NCryptKeyStorage } from '../src/index.js';
import { createNCryptDouble, createSystemDouble, F, POSTURES, S } from './helpers/ncrypt-double.js';
import { type DoubleSetup, flagsOf, overDouble, rejection } from './helpers/setup.js';

const KSP = 'Microsoft Software Key Storage Provider';
let n = 0;
const name = (label = 'k') => `${label}-${++n}`;
const req = (algorithm: KeyAlgorithm, extra: Partial<ProviderCreateRequest> = {}): ProviderCreateRequest => ({
  name: name(algorithm.toLowerCase()),
  algorithm,
  scope: 'user',
  exportable: false,
  ...extra,
});
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();

let current: DoubleSetup | undefined;
function setup(...args: Parameters<typeof overDouble>): DoubleSetup {
  current = overDouble(...args);
  return current;
}
afterEach(() => {
  // Whatever a test did, the double must never have seen a freed or unknown handle.
  expect(current?.ncrypt.misuse ?? []).toEqual([]);
  current = undefined;
});

describe('validation before any native call', () => {
  const bad: unknown[] = ['', '.', '..', 'a/b', 'a\\b', 'x'.repeat(65), 'é', 'a b', 'a\0b', 'a:b', 42, undefined];

  it('rejects names that break the rule with INVALID_NAME, and makes no native call', async () => {
    const { provider, ncrypt, system } = setup();
    for (const badName of bad) {
      const key = { name: badName as string, scope: 'user' as const };
      expect((await rejection(provider.createKey({ ...req('RSA-2048'), name: badName as string }))).code).toBe(
        'ERR_KEYSTORE_INVALID_NAME',
      );
      expect((await rejection(provider.openKey(key))).code).toBe('ERR_KEYSTORE_INVALID_NAME');
      expect((await rejection(provider.deleteKey(key))).code).toBe('ERR_KEYSTORE_INVALID_NAME');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      expect(
        (await rejection(provider.importKey({ ...req('ECDSA-P256'), name: badName as string, privateKey }))).code,
      ).toBe('ERR_KEYSTORE_INVALID_NAME');
    }
    expect(ncrypt.calls).toEqual([]);
    expect(system.calls).toEqual([]);
  });

  it('rejects other bad requests with typed errors, and makes no native call', async () => {
    const { provider, ncrypt, system } = setup();
    const cases: Array<[Promise<unknown>, string]> = [
      [
        provider.createKey({ ...req('RSA-2048'), algorithm: 'RSA-1024' as KeyAlgorithm }),
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      ],
      [provider.createKey({ ...req('RSA-2048'), scope: 'global' as 'user' }), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [
        provider.createKey({ ...req('RSA-2048'), exportable: 'yes' as unknown as boolean }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      ],
      [provider.createKey({ ...req('RSA-2048'), password: 'secret' }), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
      [
        provider.createKey({ ...req('RSA-2048'), userPrompt: { friendlyName: 'a\0b' } }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      ],
      [
        provider.createKey({ ...req('RSA-2048'), userPrompt: { description: 'x'.repeat(1025) } }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      ],
      [
        provider.createKey({ ...req('RSA-2048'), minimumIsolation: 'titanium' as 'none' }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      ],
      [provider.createKey(null as unknown as ProviderCreateRequest), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [provider.openKey({ name: 'k', scope: 'user', password: 'x' }), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
      [provider.listKeys({ scope: 'both' as 'user' }), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [
        provider.importKey({
          ...req('ECDSA-P384'),
          privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
        }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      ],
      [
        provider.importKey({
          ...req('RSA-2048'),
          privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
        }),
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      ],
    ];
    for (const [promise, code] of cases) expect((await rejection(promise)).code).toBe(code);
    const aborted = AbortSignal.abort();
    expect((await rejection(provider.createKey({ ...req('RSA-2048'), signal: aborted }))).code).toBe(
      'ERR_KEYSTORE_CANCELLED',
    );
    expect(ncrypt.calls).toEqual([]);
    expect(system.calls).toEqual([]);
  });
});

describe('flags and properties of a new key', () => {
  it('user scope: no machine flag, no overwrite flag, Length, Export Policy 0 and usage before finalize', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('RSA-3072'));
    const create = ncrypt.callsOf('createPersistedKey')[0]!;
    expect(create.args.slice(1, 4)).toEqual(['RSA', key.name, 0]);
    expect(create.args[4]).toBe(0);
    const opened = ncrypt.callsOf('openStorageProvider').map((c) => c.args[0]);
    expect(new Set(opened)).toEqual(new Set([KSP]));
    const sequence = ncrypt.calls
      .filter((c) => ['setProperty', 'setUiPolicy', 'finalizeKey'].includes(c.fn))
      .map((c) => (c.fn === 'setProperty' ? `${c.args[1]}=${c.args[2]}` : c.fn));
    expect(sequence).toEqual(['Length=3072', 'Export Policy=0', 'Key Usage=3', 'finalizeKey']);
    // Export Policy and Key Usage are stored with the key (NCRYPT_PERSIST_FLAG); Length is a
    // generation parameter.
    const flagsByProperty = Object.fromEntries(ncrypt.callsOf('setProperty').map((c) => [c.args[1], c.args[3]]));
    expect(flagsByProperty).toEqual({ Length: 0, 'Export Policy': F.PERSIST, 'Key Usage': F.PERSIST });
    expect(ncrypt.stored('user', key.name)?.properties.get('Export Policy')).toBe(0);
    expect(key.exportable).toBe(false);
    await key.close();
  });

  it('machine scope: NCRYPT_MACHINE_KEY_FLAG on create, open, enum and on the open before delete', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('ECDSA-P256', { scope: 'machine' }));
    expect(flagsOf(ncrypt, 'createPersistedKey')).toEqual([F.MACHINE]);
    expect(ncrypt.stored('machine', key.name)).toBeDefined();
    expect(ncrypt.stored('user', key.name)).toBeUndefined();
    await key.close();
    await (await provider.openKey({ name: key.name, scope: 'machine' })).close();
    expect(await provider.listKeys({ scope: 'machine' })).toEqual([
      { name: key.name, scope: 'machine', algorithm: 'ECDSA-P256' },
    ]);
    await provider.deleteKey({ name: key.name, scope: 'machine' });
    for (const flags of flagsOf(ncrypt, 'openKey')) expect(flags & F.MACHINE).toBe(F.MACHINE);
    for (const flags of flagsOf(ncrypt, 'enumKeys')) expect(flags & F.MACHINE).toBe(F.MACHINE);
    expect(ncrypt.callsOf('deleteKey')).toHaveLength(1);
    expect(ncrypt.stored('machine', key.name)).toBeUndefined();
  });

  it('never passes the overwrite flag, nor a VBS flag when ordinary keys meet the floor', async () => {
    const { provider, ncrypt } = setup(POSTURES.vbs());
    for (const minimumIsolation of [undefined, 'none', 'in-process', 'os-isolated', 'os-protected'] as const) {
      const key = await provider.createKey(req('ECDH-P384', minimumIsolation ? { minimumIsolation } : {}));
      await key.close();
    }
    for (const flags of flagsOf(ncrypt, 'createPersistedKey')) {
      expect(flags & (F.OVERWRITE | F.USE_VBS | F.PREFER_VBS | F.PER_BOOT)).toBe(0);
    }
  });

  it('exportable keys get ALLOW_EXPORT | ALLOW_PLAINTEXT_EXPORT, and usage follows the algorithm', async () => {
    const { provider, ncrypt } = setup();
    for (const algorithm of CNG_CAPABILITIES.algorithms) {
      const key = await provider.createKey(req(algorithm, { exportable: true }));
      const stored = ncrypt.stored('user', key.name)!;
      expect(stored.properties.get('Export Policy')).toBe(0x3);
      expect(stored.properties.get('Key Usage')).toBe(keyUsage(algorithm));
      expect(stored.algorithm).toBe(algorithm.startsWith('RSA') ? 'RSA' : algorithm.replace('-', '_'));
      await key.close();
    }
    expect(keyUsage('ECDSA-P521')).toBe(0x2);
    expect(keyUsage('ECDH-P256')).toBe(0x4);
    expect(keyUsage('RSA-4096')).toBe(0x3);
  });

  it('a user prompt sets NCRYPT_UI_POLICY before finalize', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(
      req('ECDSA-P256', {
        userPrompt: { friendlyName: 'Signing', description: 'signs releases', forceHighProtection: true },
      }),
    );
    expect(ncrypt.stored('user', key.name)?.uiPolicy).toEqual({
      flags: 0x1 | 0x2,
      friendlyName: 'Signing',
      description: 'signs releases',
    });
    const order = ncrypt.calls.map((c) => c.fn);
    expect(order.indexOf('setUiPolicy')).toBeLessThan(order.indexOf('finalizeKey'));
    const plain = await provider.createKey(req('ECDSA-P256', { userPrompt: {} }));
    expect(ncrypt.stored('user', plain.name)?.uiPolicy).toEqual({ flags: 0x1 });
    await key.close();
    await plain.close();
  });
});

describe('handles', () => {
  it('every handle opened is freed: create, use, close, open, list, delete, and failures', async () => {
    const { provider, ncrypt } = setup();
    const ec = await provider.createKey(req('ECDSA-P256'));
    const rsa = await provider.createKey(req('RSA-2048'));
    const dh = await provider.createKey(req('ECDH-P256'));
    expect(ncrypt.liveHandles()).toHaveLength(6); // a key handle and a provider handle per open key
    await ec.signDigest(sha256('x'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
    await dh.deriveSecret(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    await rsa.decrypt(publicEncrypt({ key: rsa.publicKey, oaepHash: 'sha256' }, Buffer.from('m')), 'sha256');
    expect(ncrypt.liveHandles()).toHaveLength(6);
    for (const key of [ec, rsa, dh]) {
      await key.close();
      await key.close();
    }
    expect(ncrypt.liveHandles()).toEqual([]);
    await (await provider.openKey({ name: ec.name, scope: 'user' })).close();
    await provider.listKeys();
    await rejection(provider.openKey({ name: 'missing', scope: 'user' }));
    await rejection(provider.deleteKey({ name: 'missing', scope: 'machine' }));
    await rejection(provider.createKey({ ...req('RSA-2048'), name: rsa.name }));
    ncrypt.fail('setProperty', S.NTE_INVALID_PARAMETER, { when: (a) => a[1] === 'Key Usage' });
    await rejection(provider.createKey(req('RSA-2048')));
    ncrypt.fail('exportKey', 0x8009002d);
    await rejection(provider.createKey(req('RSA-2048')));
    await provider.deleteKey({ name: ec.name, scope: 'user' });
    expect(ncrypt.liveHandles()).toEqual([]);
    expect(ncrypt.issued.length).toBeGreaterThan(20);
  });

  it('close() during an operation frees the handles when the operation ends', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('ECDSA-P384'));
    const signing = key.signDigest(createHash('sha384').update('x').digest(), {
      hash: 'sha384',
      padding: 'pkcs1',
      saltLength: 48,
    });
    const closing = key.close();
    // The sign is still in flight: its handles stay open until it ends.
    expect(ncrypt.liveHandles()).toHaveLength(2);
    await closing;
    const result = await signing;
    expect(
      verify('sha384', Buffer.from('x'), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, result.signature),
    ).toBe(true);
    expect(ncrypt.liveHandles()).toEqual([]);
    expect(
      (await rejection(key.signDigest(sha256('x'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }))).code,
    ).toBe('ERR_KEYSTORE_KEY_CLOSED');
  });
});

describe('error mapping', () => {
  it('NTE_EXISTS → KEY_EXISTS, and the existing key is untouched', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('ECDSA-P256'));
    const before = ncrypt.stored('user', key.name)!.publicKey!;
    const err = await rejection(provider.createKey({ ...req('ECDSA-P256'), name: key.name }));
    expect(err.code).toBe('ERR_KEYSTORE_KEY_EXISTS');
    expect(err.nativeStatus).toBe(S.NTE_EXISTS);
    expect(ncrypt.stored('user', key.name)!.publicKey!.equals(before)).toBe(true);
    // The same name in the other scope is another key.
    await (await provider.createKey({ ...req('ECDSA-P256'), name: key.name, scope: 'machine' })).close();
    await key.close();
  });

  it('NTE_BAD_KEYSET on open and delete → KEY_NOT_FOUND, with a hint naming the other scope when the key is there', async () => {
    const { provider } = setup();
    const machine = await provider.createKey(req('RSA-2048', { scope: 'machine' }));
    await machine.close();
    const open = await rejection(provider.openKey({ name: machine.name, scope: 'user' }));
    expect(open.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(open.nativeStatus).toBe(S.NTE_BAD_KEYSET);
    expect(open.nativeName).toBe('NTE_BAD_KEYSET');
    expect(open.hint).toContain('machine');
    const del = await rejection(provider.deleteKey({ name: 'nowhere', scope: 'machine' }));
    expect(del.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(del.nativeStatus).toBe(S.NTE_BAD_KEYSET);
  });

  it('maps statuses of create, open, delete and use', async () => {
    const { provider, ncrypt } = setup();
    const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const cases: Array<[keyof typeof ncrypt & string, number, () => Promise<unknown>, string]> = [
      [
        'createPersistedKey',
        S.NTE_NOT_SUPPORTED,
        () => provider.createKey(req('ECDSA-P521')),
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      ],
      [
        'createPersistedKey',
        0x80090008,
        () => provider.createKey(req('ECDH-P521')),
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      ],
      [
        'createPersistedKey',
        S.NTE_PERM,
        () => provider.createKey(req('RSA-2048', { scope: 'machine' })),
        'ERR_KEYSTORE_ACCESS_DENIED',
      ],
      [
        'setProperty',
        S.NTE_INVALID_PARAMETER,
        () => provider.createKey(req('RSA-4096')),
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      ],
      [
        'setUiPolicy',
        S.NTE_NOT_SUPPORTED,
        () => provider.createKey(req('RSA-2048', { userPrompt: {} })),
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      ],
      [
        'importKey',
        S.NTE_BAD_FLAGS,
        () => provider.importKey({ ...req('RSA-2048'), privateKey: rsaKey }),
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      ],
      ['finalizeKey', S.NTE_PERM, () => provider.createKey(req('RSA-2048')), 'ERR_KEYSTORE_ACCESS_DENIED'],
      ['finalizeKey', S.NTE_EXISTS, () => provider.createKey(req('RSA-2048')), 'ERR_KEYSTORE_KEY_EXISTS'],
      [
        'openKey',
        S.NTE_NOT_SUPPORTED,
        () => provider.openKey({ name: 'x', scope: 'user' }),
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      ],
      ['openKey', S.NTE_PERM, () => provider.openKey({ name: 'x', scope: 'machine' }), 'ERR_KEYSTORE_ACCESS_DENIED'],
      ['enumKeys', S.NTE_NOT_SUPPORTED, () => provider.listKeys(), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
    ];
    for (const [fn, status, action, code] of cases) {
      ncrypt.fail(fn as 'openKey', status);
      const err = await rejection(action());
      expect({ fn, status, code: err.code }).toEqual({ fn, status, code });
      expect(err.nativeStatus).toBe(status);
      expect(err.providerId).toBe('cng');
    }
    const key = await provider.createKey(req('RSA-2048', { scope: 'machine' }));
    await key.close();
    ncrypt.fail('deleteKey', S.NTE_PERM);
    expect((await rejection(provider.deleteKey({ name: key.name, scope: 'machine' }))).code).toBe(
      'ERR_KEYSTORE_ACCESS_DENIED',
    );
    expect(ncrypt.stored('machine', key.name)).toBeDefined();
    expect(ncrypt.liveHandles()).toEqual([]);
    expect(ncrypt.store.size).toBe(1);
  });

  it('a failure after finalize deletes the new key and keeps the native status', async () => {
    const { provider, ncrypt } = setup();
    ncrypt.fail('exportKey', 0x8009002d);
    const request = req('ECDSA-P256');
    const err = await rejection(provider.createKey(request));
    expect(err.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(err.nativeStatus).toBe(0x8009002d);
    expect(ncrypt.stored('user', request.name)).toBeUndefined();
    expect(ncrypt.callsOf('deleteKey')).toHaveLength(1);
    expect(ncrypt.liveHandles()).toEqual([]);
  });

  it('a non-exportable key is refused before any export call; NTE_PERM, NTE_NOT_SUPPORTED or NTE_BAD_KEY_STATE on export is NOT_EXPORTABLE too', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('ECDSA-P384'));
    const exportsBefore = ncrypt.callsOf('exportKey').length;
    const refused = await rejection(key.exportPrivateKey());
    expect(refused.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    expect(ncrypt.callsOf('exportKey')).toHaveLength(exportsBefore);
    const exportable = await provider.createKey(req('RSA-2048', { exportable: true }));
    ncrypt.fail('exportKey', S.NTE_PERM);
    const perm = await rejection(exportable.exportPrivateKey());
    expect(perm.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    expect(perm.nativeStatus).toBe(S.NTE_PERM);
    // The Software KSP on Windows refuses with NTE_NOT_SUPPORTED (as .NET sees it); a key state that
    // forbids the export gives NTE_BAD_KEY_STATE.
    for (const status of [0x80090029, 0x8009000b]) {
      ncrypt.fail('exportKey', status);
      const refusedThere = await rejection(exportable.exportPrivateKey());
      expect(refusedThere.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
      expect(refusedThere.nativeStatus).toBe(status);
    }
    const privateKey = await exportable.exportPrivateKey();
    const data = Buffer.from('round trip');
    expect(
      verify('sha256', data, exportable.publicKey, (await import('node:crypto')).sign('sha256', data, privateKey)),
    ).toBe(true);
    await key.close();
    await exportable.close();
  });

  it('an opened key is exportable only when its export policy allows plaintext export', async () => {
    const { provider } = setup();
    for (const exportable of [false, true]) {
      const made = await provider.createKey(req('ECDH-P521', { exportable }));
      await made.close();
      const opened = await provider.openKey({ name: made.name, scope: 'user' });
      expect(opened.exportable).toBe(exportable);
      expect(opened.algorithm).toBe('ECDH-P521');
      expect(opened.publicKey.equals(made.publicKey)).toBe(true);
      await opened.close();
    }
  });
});

describe('cancellation', () => {
  it('an abort before finalize frees the handles and leaves no key', async () => {
    const { provider, ncrypt } = setup();
    const controller = new AbortController();
    ncrypt.onCall = (fn, args) => {
      if (fn === 'setProperty' && args[1] === 'Key Usage') controller.abort();
    };
    const request = req('RSA-2048', { signal: controller.signal });
    const err = await rejection(provider.createKey(request));
    expect(err.code).toBe('ERR_KEYSTORE_CANCELLED');
    expect(ncrypt.callsOf('finalizeKey')).toEqual([]);
    expect(ncrypt.stored('user', request.name)).toBeUndefined();
    expect(ncrypt.liveHandles()).toEqual([]);
  });

  it('an abort during finalize deletes the key it made', async () => {
    const { provider, ncrypt } = setup();
    const controller = new AbortController();
    ncrypt.onCall = (fn) => {
      if (fn === 'finalizeKey') controller.abort();
    };
    const request = req('ECDH-P256', { signal: controller.signal });
    const err = await rejection(provider.createKey(request));
    expect(err.code).toBe('ERR_KEYSTORE_CANCELLED');
    expect(ncrypt.callsOf('finalizeKey')).toHaveLength(1);
    expect(ncrypt.callsOf('deleteKey')).toHaveLength(1);
    expect(ncrypt.stored('user', request.name)).toBeUndefined();
    expect(ncrypt.liveHandles()).toEqual([]);
    ncrypt.onCall = undefined;
    expect((await rejection(provider.openKey({ name: request.name, scope: 'user' }))).code).toBe(
      'ERR_KEYSTORE_KEY_NOT_FOUND',
    );
  });

  it('an aborted signal stops open, list, delete and key operations before their native call', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('RSA-2048'));
    const before = ncrypt.calls.length;
    const signal = AbortSignal.abort();
    const attempts = [
      provider.openKey({ name: key.name, scope: 'user', signal }),
      provider.listKeys({ signal }),
      provider.deleteKey({ name: key.name, scope: 'user', signal }),
      key.signDigest(sha256('x'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }, { signal }),
      key.decrypt(Buffer.alloc(256), 'sha256', { signal }),
    ];
    for (const attempt of attempts) expect((await rejection(attempt)).code).toBe('ERR_KEYSTORE_CANCELLED');
    expect(ncrypt.calls.length).toBe(before);
    await key.close();
  });
});

describe('virtualization-based (VBS) keys', () => {
  it('floor virtualization on a VBS machine: USE_VIRTUAL_ISOLATION (no per-boot key), verified, receipt virtualization', async () => {
    const { provider, ncrypt } = setup(POSTURES.vbs());
    expect((await provider.probe()).isolation).toBe('virtualization');
    const key = await provider.createKey(req('ECDSA-P256', { minimumIsolation: 'virtualization' }));
    expect(flagsOf(ncrypt, 'createPersistedKey')).toEqual([F.USE_VBS]);
    expect(key.isolation.level).toBe('virtualization');
    expect(ncrypt.callsOf('getProperty').map((c) => c.args[1])).toContain('Virtual Iso');
    await key.close();
    const opened = await provider.openKey({ name: key.name, scope: 'user' });
    expect(opened.isolation.level).toBe('virtualization');
    await opened.close();
    const machine = await provider.createKey(req('RSA-2048', { scope: 'machine', minimumIsolation: 'virtualization' }));
    expect(flagsOf(ncrypt, 'createPersistedKey')[1]).toBe(F.USE_VBS | F.MACHINE);
    await machine.close();
  });

  it('a key that does not carry VBS protection is deleted and the create fails (no silent downgrade)', async () => {
    const { provider, ncrypt } = setup(POSTURES.vbs(), { marks: false });
    const request = req('RSA-2048', { minimumIsolation: 'virtualization' });
    const err = await rejection(provider.createKey(request));
    expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(err.hint).toContain('26100');
    expect(ncrypt.stored('user', request.name)).toBeUndefined();
    expect(ncrypt.callsOf('deleteKey')).toHaveLength(1);
    expect(ncrypt.liveHandles()).toEqual([]);
  });

  it('the flag refused by the storage provider is a policy violation carrying the status', async () => {
    for (const status of [S.NTE_NOT_SUPPORTED, S.NTE_INVALID_PARAMETER, S.NTE_BAD_FLAGS]) {
      const { provider, ncrypt } = setup(POSTURES.vbs(), { refuseWith: status });
      const err = await rejection(provider.createKey(req('ECDSA-P256', { minimumIsolation: 'virtualization' })));
      expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(err.nativeStatus).toBe(status);
      expect(ncrypt.store.size).toBe(0);
      expect(ncrypt.liveHandles()).toEqual([]);
    }
  });

  it('refuses floors it cannot reach before any native call', async () => {
    const cases = [
      { posture: POSTURES.windows(), floor: 'virtualization' }, // secure kernel not running
      { posture: { ...POSTURES.vbs(), version: { major: 10, minor: 0, build: 22631 } }, floor: 'virtualization' },
      { posture: POSTURES.wine(), floor: 'virtualization' },
      { posture: POSTURES.vbs(), floor: 'hardware' },
      { posture: POSTURES.windows(), floor: 'os-protected' },
      { posture: POSTURES.pplUnreadable(), floor: 'os-protected' },
      { posture: POSTURES.wine(), floor: 'os-isolated' },
    ] as const;
    for (const { posture, floor } of cases) {
      const { provider, ncrypt } = setup(posture);
      const err = await rejection(provider.createKey(req('RSA-2048', { minimumIsolation: floor })));
      expect({ floor, code: err.code }).toEqual({ floor, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
      expect(ncrypt.calls).toEqual([]);
    }
  });

  it('tries when the VBS state cannot be read, and checks the key', async () => {
    const unknown = { ...POSTURES.ppl(), iso: { ok: false as const, status: 0xc0000022, reason: 'refused' } };
    const { provider, ncrypt } = setup(unknown);
    const key = await provider.createKey(req('ECDSA-P256', { minimumIsolation: 'virtualization' }));
    expect(key.isolation.level).toBe('virtualization');
    await key.close();
    const refused = setup(unknown, { marks: false });
    expect(
      (await rejection(refused.provider.createKey(req('ECDSA-P256', { minimumIsolation: 'virtualization' })))).code,
    ).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(refused.ncrypt.store.size).toBe(0);
    expect(ncrypt.liveHandles()).toEqual([]);
  });

  it('os-protected floor with LSASS protected: a plain key with receipt os-protected', async () => {
    const { provider, ncrypt } = setup(POSTURES.ppl());
    const key = await provider.createKey(req('ECDSA-P256', { minimumIsolation: 'os-protected' }));
    expect(key.isolation.level).toBe('os-protected');
    expect(flagsOf(ncrypt, 'createPersistedKey')).toEqual([0]);
    await key.close();
  });

  it('VBS running, LSASS unprotected, floor os-protected: a VBS key with receipt virtualization (what probe() promised)', async () => {
    const { provider, ncrypt } = setup(POSTURES.vbsNoPpl());
    expect((await provider.probe()).isolation).toBe('virtualization');
    const key = await provider.createKey(req('ECDSA-P256', { minimumIsolation: 'os-protected' }));
    expect(flagsOf(ncrypt, 'createPersistedKey')).toEqual([F.USE_VBS]);
    expect(key.isolation.level).toBe('virtualization');
    expect(ncrypt.stored('user', key.name)?.virtualIsolation).toBe(true);
    await key.close();
    // The floor os-isolated is met by an ordinary key: no VBS flag.
    const plain = await provider.createKey(req('ECDSA-P256', { minimumIsolation: 'os-isolated' }));
    expect(flagsOf(ncrypt, 'createPersistedKey')[1]).toBe(0);
    expect(plain.isolation.level).toBe('os-isolated');
    await plain.close();
    // Without VBS protection on the new key, the os-protected floor is refused and the key deleted.
    const unmarked = setup(POSTURES.vbsNoPpl(), { marks: false });
    const request = req('RSA-2048', { minimumIsolation: 'os-protected' });
    expect((await rejection(unmarked.provider.createKey(request))).code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(unmarked.ncrypt.stored('user', request.name)).toBeUndefined();
    expect(unmarked.ncrypt.liveHandles()).toEqual([]);
  });

  it('a floor above an ordinary key under Wine (os-isolated) is not met by a VBS key there', async () => {
    const { provider, ncrypt } = setup(POSTURES.wine());
    expect((await rejection(provider.createKey(req('RSA-2048', { minimumIsolation: 'os-isolated' })))).code).toBe(
      'ERR_KEYSTORE_POLICY_VIOLATION',
    );
    expect(ncrypt.calls).toEqual([]);
  });

  it('"Impl Type" with NCRYPT_IMPL_VIRTUAL_ISOLATION_FLAG is no proof: only the key\'s "Virtual Iso" is', async () => {
    const { provider, ncrypt } = setup(POSTURES.vbs(), { marks: 'impl-type-only' });
    const request = req('ECDSA-P256', { minimumIsolation: 'virtualization' });
    const err = await rejection(provider.createKey(request));
    expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(ncrypt.stored('user', request.name)).toBeUndefined();
    expect(ncrypt.callsOf('deleteKey')).toHaveLength(1);
    // On open too: a key whose Impl Type has the flag but without "Virtual Iso" gets the posture's level.
    ncrypt.seed('user', 'impl-only', 'ECDSA_P256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, {
      implTypeVbs: true,
    });
    const opened = await provider.openKey({ name: 'impl-only', scope: 'user' });
    expect(opened.isolation.level).toBe('os-protected');
    await opened.close();
    ncrypt.seed('user', 'vbs-marked', 'ECDSA_P256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, {
      virtualIsolation: true,
    });
    const marked = await provider.openKey({ name: 'vbs-marked', scope: 'user' });
    expect(marked.isolation.level).toBe('virtualization');
    await marked.close();
    expect(ncrypt.liveHandles()).toEqual([]);
  });

  it('an import whose floor only a VBS key would meet is refused before any native call', async () => {
    const { provider, ncrypt } = setup(POSTURES.vbsNoPpl());
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const err = await rejection(
      provider.importKey({ ...req('ECDSA-P256', { minimumIsolation: 'os-protected' }), privateKey }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(ncrypt.calls).toEqual([]);
    const ok = await provider.importKey({ ...req('ECDSA-P256', { minimumIsolation: 'os-isolated' }), privateKey });
    expect(ok.isolation.level).toBe('os-isolated');
    await ok.close();
  });

  it('an import with floor virtualization is refused', async () => {
    const { provider, ncrypt } = setup(POSTURES.vbs());
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const err = await rejection(
      provider.importKey({ ...req('ECDSA-P256', { minimumIsolation: 'virtualization' }), privateKey }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(ncrypt.calls).toEqual([]);
  });
});

describe('keys at work', () => {
  it('RSA: PKCS#1 and PSS with any valid salt verify; a salt too long or a wrong digest length is refused first', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('RSA-2048'));
    const data = randomBytes(64);
    for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
      const digest = createHash(hash).update(data).digest();
      const pkcs1 = await key.signDigest(digest, { hash, padding: 'pkcs1', saltLength: digest.length });
      expect(verify(hash, data, key.publicKey, pkcs1.signature)).toBe(true);
      for (const saltLength of [0, 20, digest.length]) {
        const pss = await key.signDigest(digest, { hash, padding: 'pss', saltLength });
        expect(
          verify(
            hash,
            data,
            { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
            pss.signature,
          ),
        ).toBe(true);
      }
    }
    const signs = ncrypt.callsOf('signHash').length;
    const refused = [
      key.signDigest(sha256('x'), { hash: 'sha256', padding: 'pss', saltLength: 223 }),
      key.signDigest(sha256('x'), { hash: 'sha256', padding: 'pss', saltLength: -1 }),
      key.signDigest(sha256('x').subarray(1), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }),
      key.signDigest(sha256('x'), { hash: 'md5' as 'sha256', padding: 'pkcs1', saltLength: 32 }),
      key.signDigest(sha256('x'), { hash: 'sha256', padding: 'raw' as 'pkcs1', saltLength: 32 }),
      key.decrypt(Buffer.alloc(255), 'sha256'),
      key.decrypt(Buffer.alloc(256), 'md5' as 'sha1'),
      key.deriveSecret(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
    ];
    const codes = [];
    for (const attempt of refused) codes.push((await rejection(attempt)).code);
    expect(codes).toEqual([...Array(7).fill('ERR_KEYSTORE_INVALID_ARGUMENT'), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION']);
    expect(ncrypt.callsOf('signHash')).toHaveLength(signs);
    expect(ncrypt.callsOf('decrypt')).toEqual([]);
    await key.close();
  });

  it('RSA-OAEP with every hash decrypts Node ciphertext', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('RSA-3072'));
    for (const hash of CNG_CAPABILITIES.oaepHashes) {
      const plaintext = randomBytes(24);
      const ciphertext = publicEncrypt(
        { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
        plaintext,
      );
      expect((await key.decrypt(ciphertext, hash)).equals(plaintext)).toBe(true);
    }
    expect(ncrypt.callsOf('decrypt').map((c) => c.args[2])).toEqual([
      { kind: 'oaep', hash: 'SHA1' },
      { kind: 'oaep', hash: 'SHA256' },
      { kind: 'oaep', hash: 'SHA384' },
      { kind: 'oaep', hash: 'SHA512' },
    ]);
    await key.close();
  });

  it('ECDSA: raw r‖s returned as ieee-p1363; ECDH keys do not sign', async () => {
    const { provider } = setup();
    for (const [algorithm, hash, bytes] of [
      ['ECDSA-P256', 'sha256', 64],
      ['ECDSA-P384', 'sha384', 96],
      ['ECDSA-P521', 'sha512', 132],
    ] as const) {
      const key = await provider.createKey(req(algorithm));
      const data = randomBytes(40);
      const result = await key.signDigest(createHash(hash).update(data).digest(), {
        hash,
        padding: 'pkcs1',
        saltLength: 0,
      });
      expect(result.dsaEncoding).toBe('ieee-p1363');
      expect(result.signature).toHaveLength(bytes);
      expect(verify(hash, data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, result.signature)).toBe(true);
      expect((await rejection(key.decrypt(Buffer.alloc(32), 'sha256'))).code).toBe(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      );
      await key.close();
    }
    const dh = await provider.createKey(req('ECDH-P256'));
    expect(
      (await rejection(dh.signDigest(sha256('x'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }))).code,
    ).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    await dh.close();
  });

  it('ECDH: the little-endian secret comes back big-endian, equal to diffieHellman; the peer curve is checked first', async () => {
    const { provider, ncrypt } = setup();
    for (const [algorithm, curve] of [
      ['ECDH-P256', 'P-256'],
      ['ECDH-P384', 'P-384'],
      ['ECDH-P521', 'P-521'],
    ] as const) {
      const key = await provider.createKey(req(algorithm));
      const peer = generateKeyPairSync('ec', { namedCurve: curve });
      const secret = await key.deriveSecret(peer.publicKey);
      expect(secret.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: key.publicKey }))).toBe(true);
      // The peer went in as an ECCPUBLICBLOB with the ECDH magic ('ECK1', 'ECK3', 'ECK5').
      const imported = ncrypt.callsOf('importKey').at(-1)!;
      expect(imported.args[1]).toBe('ECCPUBLICBLOB');
      expect((imported.args[2] as Buffer).subarray(0, 3).toString('latin1')).toBe('ECK');
      const before = ncrypt.calls.length;
      const other = generateKeyPairSync('ec', { namedCurve: curve === 'P-256' ? 'P-384' : 'P-256' });
      expect((await rejection(key.deriveSecret(other.publicKey))).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
      expect((await rejection(key.deriveSecret(peer.privateKey))).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
      expect(ncrypt.calls.length).toBe(before);
      await key.close();
    }
    expect(ncrypt.liveHandles()).toEqual([]);
  });
});

describe("limits of the provider, enforced before any native call (the Platform Crypto Provider's)", () => {
  /** An engine over the double with narrower capabilities, as the TPM backend configures it. */
  function limited(pssSaltMustEqualDigest?: boolean) {
    const ncrypt = createNCryptDouble();
    const system = createSystemDouble();
    const provider = new NCryptKeyStorage({
      id: 'tpm',
      displayName: 'a narrower NCrypt provider',
      storageProvider: KSP,
      capabilities: {
        ...CNG_CAPABILITIES,
        operations: ['sign', 'decrypt'],
        rsaSignaturePaddings: ['pkcs1', 'pss'],
        oaepHashes: ['sha256'],
      },
      measure: measureSoftwareKspPosture,
      virtualIsolation: false,
      ...(pssSaltMustEqualDigest === undefined ? {} : { pssSaltMustEqualDigest }),
      bindings: { ncrypt: () => ncrypt, system: () => system },
    });
    current = { ncrypt, system, provider: provider as never };
    return { ncrypt, provider };
  }

  it('an OAEP hash beyond the capabilities is UNSUPPORTED_OPERATION; a listed one decrypts', async () => {
    const { provider, ncrypt } = limited();
    const key = await provider.createKey(req('RSA-2048'));
    const plaintext = randomBytes(16);
    for (const hash of ['sha1', 'sha384', 'sha512'] as const) {
      const ciphertext = publicEncrypt(
        { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
        plaintext,
      );
      expect((await rejection(key.decrypt(ciphertext, hash))).code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    }
    expect(ncrypt.callsOf('decrypt')).toEqual([]);
    const ciphertext = publicEncrypt(
      { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      plaintext,
    );
    expect((await key.decrypt(ciphertext, 'sha256')).equals(plaintext)).toBe(true);
    await key.close();
  });

  it('pssSaltMustEqualDigest: on a key whose "PSS Salt Size" is the hash size, another salt is UNSUPPORTED_OPERATION; the digest length signs', async () => {
    const { provider, ncrypt } = limited(true);
    ncrypt.pcpPss = { tpmSalt: 'hash', saltSizeProperty: 2 };
    const key = await provider.createKey(req('RSA-2048'));
    const data = randomBytes(32);
    for (const hash of ['sha256'] as const) {
      const digest = createHash(hash).update(data).digest();
      for (const saltLength of [0, 20, digest.length + 1]) {
        expect((await rejection(key.signDigest(digest, { hash, padding: 'pss', saltLength }))).code).toBe(
          'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        );
      }
      expect(ncrypt.callsOf('signHash')).toEqual([]);
      const { signature } = await key.signDigest(digest, { hash, padding: 'pss', saltLength: digest.length });
      expect(
        verify(
          hash,
          data,
          { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length },
          signature,
        ),
      ).toBe(true);
      ncrypt.calls.length = 0;
    }
    await key.close();
    // Without the option (the Software KSP), any valid salt signs.
    const free = limited(false);
    const other = await free.provider.createKey(req('RSA-2048'));
    await other.signDigest(sha256('x'), { hash: 'sha256', padding: 'pss', saltLength: 20 });
    await other.close();
    expect(() => limited('yes' as unknown as boolean)).toThrow(
      expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
    );
  });

  it('an RSA padding or an operation the provider does not list is UNSUPPORTED_OPERATION', async () => {
    const ncrypt = createNCryptDouble();
    const system = createSystemDouble();
    const provider = new NCryptKeyStorage({
      id: 'narrow',
      displayName: 'PKCS#1 only, sign only',
      storageProvider: KSP,
      capabilities: { ...CNG_CAPABILITIES, operations: ['sign'], rsaSignaturePaddings: ['pkcs1'] },
      measure: measureSoftwareKspPosture,
      virtualIsolation: false,
      bindings: { ncrypt: () => ncrypt, system: () => system },
    });
    current = { ncrypt, system, provider: provider as never };
    const key = await provider.createKey(req('RSA-2048'));
    const pss = key.signDigest(sha256('x'), { hash: 'sha256', padding: 'pss', saltLength: 32 });
    expect((await rejection(pss)).code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect((await rejection(key.decrypt(Buffer.alloc(256), 'sha256'))).code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(ncrypt.callsOf('signHash')).toEqual([]);
    expect(ncrypt.callsOf('decrypt')).toEqual([]);
    await key.signDigest(sha256('x'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
    await key.close();
  });
});

describe('importKey', () => {
  it('imports RSA as RSAFULLPRIVATEBLOB, unfinalized, non-exportable by default; signatures verify with the original key', async () => {
    const { provider, ncrypt } = setup();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const request = { ...req('RSA-2048', { scope: 'machine' }), privateKey };
    const key = await provider.importKey(request);
    const call = ncrypt.callsOf('importKey')[0]!;
    expect(call.args[1]).toBe('RSAFULLPRIVATEBLOB');
    expect((call.args[2] as Buffer).readUInt32LE(0)).toBe(0x33415352);
    expect(call.args[3]).toBe(request.name);
    expect(call.args[4]).toBe(F.DO_NOT_FINALIZE | F.MACHINE);
    expect(ncrypt.stored('machine', request.name)?.properties.get('Export Policy')).toBe(0);
    expect(key.exportable).toBe(false);
    expect(key.publicKey.equals(publicKey)).toBe(true);
    const data = Buffer.from('migrated');
    const sig = await key.signDigest(sha256(data), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
    expect(verify('sha256', data, publicKey, sig.signature)).toBe(true);
    expect((await rejection(key.exportPrivateKey())).code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    expect((await rejection(provider.importKey({ ...request }))).code).toBe('ERR_KEYSTORE_KEY_EXISTS');
    await key.close();
    expect(ncrypt.liveHandles()).toEqual([]);
  });

  it('imports EC keys as ECCPRIVATEBLOB with the ECDSA or ECDH magic, exportable when asked', async () => {
    const { provider, ncrypt } = setup();
    const dh = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const key = await provider.importKey({ ...req('ECDH-P384', { exportable: true }), privateKey: dh.privateKey });
    expect((ncrypt.callsOf('importKey')[0]!.args[2] as Buffer).subarray(0, 4).toString('latin1')).toBe('ECK4');
    const peer = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(
      (await key.deriveSecret(peer.publicKey)).equals(
        diffieHellman({ privateKey: dh.privateKey, publicKey: peer.publicKey }),
      ),
    ).toBe(true);
    expect((await key.exportPrivateKey()).equals(dh.privateKey)).toBe(true);
    const ds = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    const signer = await provider.importKey({ ...req('ECDSA-P521'), privateKey: ds.privateKey });
    expect((ncrypt.callsOf('importKey').at(-1)!.args[2] as Buffer).subarray(0, 4).toString('latin1')).toBe('ECS6');
    await key.close();
    await signer.close();
  });

  it('a failing import step leaves no key and no handle', async () => {
    const { provider, ncrypt } = setup();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    ncrypt.fail('importKey', S.NTE_NOT_SUPPORTED);
    const err = await rejection(provider.importKey({ ...req('RSA-2048'), privateKey }));
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(err.nativeStatus).toBe(S.NTE_NOT_SUPPORTED);
    ncrypt.fail('finalizeKey', S.NTE_PERM);
    expect((await rejection(provider.importKey({ ...req('RSA-2048'), privateKey }))).code).toBe(
      'ERR_KEYSTORE_ACCESS_DENIED',
    );
    expect(ncrypt.store.size).toBe(0);
    expect(ncrypt.liveHandles()).toEqual([]);
  });
});

describe('importKey wipes the private blob it handed to NCryptImportKey', () => {
  it.each([
    ['RSA-2048', 'RSAFULLPRIVATEBLOB', 'RSA3'],
    ['ECDSA-P256', 'ECCPRIVATEBLOB', 'ECS2'],
    ['ECDH-P384', 'ECCPRIVATEBLOB', 'ECK4'],
  ] as const)('%s: after a success and after a failure', async (algorithm, blobType, magic) => {
    const { provider, ncrypt } = setup();
    const privateKey =
      algorithm === 'RSA-2048'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
        : generateKeyPairSync('ec', { namedCurve: algorithm === 'ECDSA-P256' ? 'P-256' : 'P-384' }).privateKey;
    // The very buffer the provider hands over (the double's call log keeps only a copy).
    const handed: { type: string; blob: Uint8Array; atCall: Buffer }[] = [];
    const importKey = ncrypt.importKey.bind(ncrypt);
    ncrypt.importKey = (prov, type, blob, keyName, flags) => {
      handed.push({ type, blob, atCall: Buffer.from(blob) });
      return importKey(prov, type, blob, keyName, flags);
    };
    await (await provider.importKey({ ...req(algorithm), privateKey })).close();
    ncrypt.fail('finalizeKey', S.NTE_PERM);
    expect((await rejection(provider.importKey({ ...req(algorithm), privateKey }))).code).toBe(
      'ERR_KEYSTORE_ACCESS_DENIED',
    );
    expect(handed.map((h) => h.type)).toEqual([blobType, blobType]);
    for (const { blob, atCall } of handed) {
      // It held the key when NCrypt read it …
      expect(atCall.toString('latin1', 0, 4)).toBe(magic);
      expect(atCall.subarray(8).some((b) => b !== 0)).toBe(true);
      // … and nothing of it once importKey returned.
      expect(blob.every((b) => b === 0)).toBe(true);
    }
    expect(ncrypt.liveHandles()).toEqual([]);
  });
});

describe('key material read back from NCrypt is wiped', () => {
  it('exportPrivateKey: the private blob NCryptExportKey returned, once the key is read from it', async () => {
    const { provider, ncrypt } = setup();
    for (const algorithm of ['RSA-2048', 'ECDSA-P256'] as const) {
      const key = await provider.createKey(req(algorithm, { exportable: true }));
      const returned: Uint8Array[] = [];
      const exportKey = ncrypt.exportKey.bind(ncrypt);
      ncrypt.exportKey = (handle, blobType, flags) => {
        const blob = exportKey(handle, blobType, flags);
        if (blobType.endsWith('PRIVATEBLOB')) returned.push(blob);
        return blob;
      };
      const exported = await key.exportPrivateKey();
      expect(createPublicKey(exported).equals(key.publicKey)).toBe(true);
      expect(returned).toHaveLength(1);
      expect(returned[0]!.every((b) => b === 0)).toBe(true);
      ncrypt.exportKey = exportKey;
      await key.close();
    }
  });

  it('deriveSecret: the raw secret NCryptDeriveKey returned, once the big-endian copy is made', async () => {
    const { provider, ncrypt } = setup();
    const key = await provider.createKey(req('ECDH-P256'));
    const returned: Uint8Array[] = [];
    const deriveRawSecret = ncrypt.deriveRawSecret.bind(ncrypt);
    ncrypt.deriveRawSecret = async (secret, flags) => {
      const raw = await deriveRawSecret(secret, flags);
      returned.push(raw);
      return raw;
    };
    const peer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const secret = await key.deriveSecret(peer.publicKey);
    expect(secret.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: key.publicKey }))).toBe(true);
    expect(returned).toHaveLength(1);
    expect(returned[0]!.length).toBe(32);
    expect(returned[0]!.every((b) => b === 0)).toBe(true);
    await key.close();
  });
});

describe('listKeys', () => {
  it('lists valid names with their algorithms (RSA sizes read from the key), skips names that break the rule', async () => {
    const { provider, ncrypt } = setup();
    await (await provider.createKey({ ...req('RSA-3072'), name: 'b-rsa' })).close();
    await (await provider.createKey({ ...req('ECDSA-P384'), name: 'a-ec' })).close();
    await (await provider.createKey({ ...req('ECDH-P256'), name: 'a-ec', scope: 'machine' })).close();
    ncrypt.seed('user', 'legacy-dsa', 'DSA');
    ncrypt.seed('user', 'not valid name', 'RSA');
    ncrypt.seed('user', 'odd-rsa', 'RSA', generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
    expect(await provider.listKeys()).toEqual([
      { name: 'a-ec', scope: 'machine', algorithm: 'ECDH-P256' },
      { name: 'a-ec', scope: 'user', algorithm: 'ECDSA-P384' },
      { name: 'b-rsa', scope: 'user', algorithm: 'RSA-3072' },
      { name: 'legacy-dsa', scope: 'user' },
      { name: 'odd-rsa', scope: 'user' },
    ]);
    expect((await provider.listKeys({ scope: 'machine' })).map((k) => k.name)).toEqual(['a-ec']);
    // The RSA keys were opened silently to read their size.
    for (const call of ncrypt.callsOf('openKey')) expect((call.args[3] as number) & F.SILENT).toBe(F.SILENT);
    expect(ncrypt.liveHandles()).toEqual([]);
  });

  it('leaves out CryptoAPI containers the storage provider surfaces (a legacy key spec)', async () => {
    const { provider, ncrypt } = setup();
    await (await provider.createKey({ ...req('ECDSA-P256'), name: 'cng-key' })).close();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    ncrypt.seed('user', 'capi-exchange', 'RSA', rsa, { legacyKeySpec: 1 });
    ncrypt.seed('user', 'capi-signature', 'RSA', rsa, { legacyKeySpec: 2 });
    ncrypt.seed('machine', 'capi-machine', 'RSA', rsa, { legacyKeySpec: 1 });
    expect(await provider.listKeys()).toEqual([{ name: 'cng-key', scope: 'user', algorithm: 'ECDSA-P256' }]);
    // They were not opened to read their size either.
    expect(ncrypt.callsOf('openKey')).toEqual([]);
  });

  it('an opened key of an algorithm the SDK does not know is UNSUPPORTED_ALGORITHM, with its handles freed', async () => {
    const { provider, ncrypt } = setup();
    ncrypt.seed('user', 'legacy-dsa', 'DSA');
    expect((await rejection(provider.openKey({ name: 'legacy-dsa', scope: 'user' }))).code).toBe(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    );
    expect(ncrypt.liveHandles()).toEqual([]);
  });
});

describe('provider lifecycle', () => {
  it('after close() the provider refuses work with PROVIDER_UNAVAILABLE; keys opened before keep working', async () => {
    const { provider } = setup();
    const key = await provider.createKey(req('ECDSA-P256'));
    await provider.close();
    expect((await rejection(provider.createKey(req('ECDSA-P256')))).code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect((await provider.probe()).available).toBe(false);
    await key.signDigest(sha256('x'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
    await key.close();
  });

  it('bindings that cannot load make probe() unavailable and operations PROVIDER_UNAVAILABLE', async () => {
    const { CngProvider } = await import('../src/index.js');
    const { KeyStoreError } = await import('@keystore/core');
    const provider = new CngProvider({
      bindings: {
        ncrypt: () => {
          throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'ncrypt.dll is Windows-only');
        },
        system: () => {
          throw new Error('not reached');
        },
      },
    });
    const probe = await provider.probe();
    expect(probe).toMatchObject({ available: false, isolation: 'none' });
    expect(probe.reasons.length).toBeGreaterThan(0);
    expect((await rejection(provider.createKey(req('RSA-2048')))).code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(() => new CngProvider({ bindings: { ncrypt: 1 } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
    );
  });
});

describe('through a KeyStore (the core passes the policy floor to the provider)', () => {
  it('floor virtualization: a VBS key on a VBS machine; elsewhere no provider qualifies and no key is made', async () => {
    const { createKeyStore } = await import('@keystore/core');
    const vbs = setup(POSTURES.vbs());
    const store = await createKeyStore({ providers: [vbs.provider], policy: { minimumIsolation: 'virtualization' } });
    const key = await store.createKey('vbs-through-store', { algorithm: 'ECDSA-P256' });
    expect(key.isolation.level).toBe('virtualization');
    expect(flagsOf(vbs.ncrypt, 'createPersistedKey')).toEqual([F.USE_VBS]);
    await key.close();
    await store.close();

    const plain = setup(POSTURES.ppl());
    const refusing = await createKeyStore({
      providers: [plain.provider],
      policy: { minimumIsolation: 'virtualization' },
    });
    expect((await rejection(refusing.createKey('no-vbs', { algorithm: 'ECDSA-P256' }))).code).toBe(
      'ERR_KEYSTORE_NO_PROVIDER',
    );
    expect(plain.ncrypt.store.size).toBe(0);
    await refusing.close();
  });

  it('floor os-protected with VBS running and LSASS unprotected: the provider qualifies and makes a VBS key', async () => {
    const { createKeyStore } = await import('@keystore/core');
    const { provider, ncrypt } = setup(POSTURES.vbsNoPpl());
    const store = await createKeyStore({ providers: [provider], policy: { minimumIsolation: 'os-protected' } });
    const key = await store.createKey('vbs-for-os-protected', { algorithm: 'ECDSA-P256' });
    expect(key.isolation.level).toBe('virtualization');
    expect(flagsOf(ncrypt, 'createPersistedKey')).toEqual([F.USE_VBS]);
    await key.close();
    await store.close();
  });

  it('under Wine the default floor (os-isolated) refuses the provider; a floor of in-process accepts it', async () => {
    const { createKeyStore } = await import('@keystore/core');
    const wine = setup(POSTURES.wine());
    const strict = await createKeyStore({ providers: [wine.provider] });
    expect((await rejection(strict.createKey('wine-default', { algorithm: 'RSA-2048' }))).code).toBe(
      'ERR_KEYSTORE_NO_PROVIDER',
    );
    await strict.close();
    // Closing a store closes its providers: the second store gets a provider of its own.
    const lax = await createKeyStore({
      providers: [setup(POSTURES.wine()).provider],
      policy: { minimumIsolation: 'in-process' },
    });
    const key = await lax.createKey('wine-lax', { algorithm: 'RSA-2048' });
    expect(key.isolation.level).toBe('in-process');
    await key.close();
    await lax.close();
  });
});
