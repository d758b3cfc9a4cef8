// The provider's logic over a programmable double of the CryptoAPI function table
// (helpers/advapi-double.ts): which calls it makes, in which order, what it validates before any
// native call, how statuses become typed errors, and that every handle it acquires is released.
// The same behaviour is checked for real under Wine in the *.int.test.ts files.
import { constants, createHash, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditEvent,
  auditChannel,
  KeyStoreError,
  type KeyStoreErrorCode,
  type KeyStorePolicy,
  REGISTRY_POLICY_KEY,
  type RegistryReader,
  type RegistryValue,
} from '@keystore/core';
import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CapiProvider } from '../src/index.js';
import {
  type AdvapiDouble,
  createAdvapiDouble,
  NTE_BAD_DATA,
  NTE_BAD_FLAGS,
  NTE_BAD_KEYSET,
  NTE_EXISTS,
} from './helpers/advapi-double.js';

// The legacy warning has its own test file (warning.test.ts); here it would only be noise.
beforeAll(() => {
  (globalThis as Record<symbol, unknown>)[Symbol.for('@keystore/provider-capi/legacy-warning-emitted')] = true;
});

async function codeOf(action: () => Promise<unknown>): Promise<KeyStoreErrorCode | string> {
  try {
    await action();
  } catch (err) {
    return KeyStoreError.is(err) ? err.code : `not a KeyStoreError: ${String(err)}`;
  }
  return 'resolved';
}

async function errorOf(action: () => Promise<unknown>): Promise<KeyStoreError> {
  try {
    await action();
  } catch (err) {
    if (KeyStoreError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

const digest = (hash: 'sha256' | 'sha384' | 'sha512', text = 'data') => createHash(hash).update(text).digest();
const PKCS1 = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

let native: AdvapiDouble;
let provider: CapiProvider;

beforeEach(() => {
  native = createAdvapiDouble();
  provider = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
});

describe('probe', () => {
  it.skipIf(process.platform === 'win32')(
    'says unavailable off Windows without a native table, naming the platform (runs off Windows only: on Windows advapi32.dll exists)',
    async () => {
      const probe = await new CapiProvider({
        [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
      }).probe();
      expect(probe.available).toBe(false);
      expect(probe.isolation).toBe('none');
      expect(probe.reasons.join(' ')).toContain(process.platform);
    },
  );

  it('says available with in-process isolation, and why, when CryptoAPI answers', async () => {
    const probe = await provider.probe();
    expect(probe).toMatchObject({ available: true, isolation: 'in-process' });
    expect(probe.reasons.length).toBeGreaterThan(0);
    expect(native.openHandles()).toBe(0);
  });

  // The real detection (ntdll's wine_get_version) is asserted under Wine in wine.int.test.ts; this
  // checks only that the probe passes on what its native table says, and says nothing without it.
  it("passes the native table's Wine version into its probe details, and no Wine detail without one", async () => {
    const underWine = new CapiProvider({
      native: createAdvapiDouble({ wineVersion: '8.0' }),
      [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
    });
    expect((await underWine.probe()).details?.wine).toBe('8.0');
    expect((await provider.probe()).details).not.toHaveProperty('wine');
  });

  it('says unavailable, with the status, when the CSP cannot be loaded', async () => {
    native.fail('CryptAcquireContextW', 0x8009001e /* NTE_PROV_DLL_NOT_FOUND */);
    const probe = await provider.probe();
    expect(probe.available).toBe(false);
    expect(probe.reasons.join(' ')).toContain('NTE_PROV_DLL_NOT_FOUND');
  });
});

describe('the machine policy, obeyed by the provider itself', () => {
  const denying: KeyStorePolicy[] = [
    { legacyCryptoApi: 'deny' },
    { minimumIsolation: 'os-isolated' },
    { providers: { deny: ['capi'] } },
    { providers: { allow: ['cng'] } },
  ];

  for (const [option, policy] of denying.flatMap(
    (p) =>
      [
        ['machinePolicy', p],
        ['registryPolicy', p],
      ] as const,
  )) {
    it(`${option} ${JSON.stringify(policy)}: probe unavailable and every key operation refused before any native call`, async () => {
      // Each source alone refuses: the other one is turned off.
      const gated = new CapiProvider({
        native,
        [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null, [option]: policy },
      });
      const probe = await gated.probe();
      expect(probe.available).toBe(false);
      expect(probe.reasons.join(' ')).toContain('machine policy');
      const before = native.calls.length;
      const request = { name: 'k', scope: 'user' as const };
      expect(await codeOf(() => gated.createKey({ ...request, algorithm: 'RSA-2048', exportable: false }))).toBe(
        'ERR_KEYSTORE_POLICY_VIOLATION',
      );
      expect(await codeOf(() => gated.openKey(request))).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(await codeOf(() => gated.deleteKey(request))).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(await codeOf(() => gated.listKeys())).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(native.calls.length).toBe(before);
    });
  }

  it('a machine policy that allows it, or says nothing about it, refuses nothing', async () => {
    for (const machinePolicy of [{ legacyCryptoApi: 'allow' }, { minimumIsolation: 'in-process' }, {}] as const) {
      expect((await new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy } }).probe()).available).toBe(
        true,
      );
    }
  });

  it('reads the file named by KEYSTORE_MACHINE_POLICY and names it in the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capi-policy-'));
    try {
      const file = join(dir, 'policy.json');
      writeFileSync(file, JSON.stringify({ legacyCryptoApi: 'deny' }));
      const gated = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { env: { KEYSTORE_MACHINE_POLICY: file } } });
      const probe = await gated.probe();
      expect(probe.available).toBe(false);
      expect(probe.reasons.join(' ')).toContain(file);
      expect(probe.details?.machinePolicy).toBe(file);
      const err = await errorOf(() => gated.openKey({ name: 'k', scope: 'user' }));
      expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(err.message).toContain(file);
      // A named file that is missing fails closed, as it does for the key store.
      const missing = new CapiProvider({
        native,
        [TEST_POLICY_SOURCES]: { env: { KEYSTORE_MACHINE_POLICY: join(dir, 'missing.json') } },
      });
      expect((await missing.probe()).available).toBe(false);
      expect(await codeOf(() => missing.listKeys())).toBe('ERR_KEYSTORE_INVALID_POLICY');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Runs `action` with `process.platform` reading `win32`, so that the core's loadRegistryPolicy
 * calls the provider's registryReader (it reads the registry on Windows only). The CryptoAPI calls
 * still go to the double.
 */
async function asIfOnWindows<T>(action: () => Promise<T>): Promise<T> {
  const original = Object.getOwnPropertyDescriptor(process, 'platform');
  Object.defineProperty(process, 'platform', { ...original, value: 'win32' });
  try {
    return await action();
  } finally {
    if (original) Object.defineProperty(process, 'platform', original);
  }
}

/** A registry reader over fixed contents of the policy key, counting its reads. */
function registryWith(values: RegistryValue[] | null): RegistryReader & { keys: string[] } {
  const keys: string[] = [];
  const reader = async (key: string) => {
    keys.push(key);
    return values === null ? null : { values };
  };
  return Object.assign(reader, { keys });
}

describe('the machine policy in the registry (HKLM\\SOFTWARE\\Policies\\keystore)', () => {
  const DENY: RegistryValue[] = [{ name: 'LegacyCryptoApi', type: 'REG_SZ', data: 'deny' }];

  it('is read on Windows even when machinePolicy is null, and the refusal names the key', async () => {
    const registryReader = registryWith(DENY);
    const gated = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryReader } });
    await asIfOnWindows(async () => {
      const err = await errorOf(() =>
        gated.createKey({ name: 'k', algorithm: 'RSA-2048', scope: 'user', exportable: false }),
      );
      expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(err.message).toContain(REGISTRY_POLICY_KEY);
      const probe = await gated.probe();
      expect(probe.available).toBe(false);
      expect(probe.details?.machinePolicy).toBe(REGISTRY_POLICY_KEY);
    });
    expect(registryReader.keys[0]).toBe(REGISTRY_POLICY_KEY);
    expect(native.calls).toEqual([]);
  });

  it('registryPolicy: null turns off the registry only; machinePolicy: null turns off the file only', async () => {
    const registryReader = registryWith(DENY);
    const dir = mkdtempSync(join(tmpdir(), 'capi-policy-'));
    try {
      const file = join(dir, 'policy.json');
      writeFileSync(file, JSON.stringify({ providers: { deny: ['capi'] } }));
      const env = { KEYSTORE_MACHINE_POLICY: file };
      await asIfOnWindows(async () => {
        // The fixed-path file still applies (here: none, at a test location, since finding the
        // real Windows one needs reg.exe, which fails closed on this faked Windows).
        const noRegistry = new CapiProvider({
          native,
          [TEST_POLICY_SOURCES]: {
            env,
            registryPolicy: null,
            registryReader,
            machinePolicyFile: { path: join(dir, 'absent', 'policy.json'), trustRoot: dir },
          },
        });
        const probe = await noRegistry.probe();
        expect(probe.available).toBe(false);
        expect(probe.details?.machinePolicy).toBe(file);
        expect(registryReader.keys).toEqual([]);
        // The file KEYSTORE_MACHINE_POLICY names is a source of its own: machinePolicy: null leaves it.
        const fileOnly = new CapiProvider({
          native,
          [TEST_POLICY_SOURCES]: { env, machinePolicy: null, registryPolicy: null, registryReader },
        });
        expect((await fileOnly.probe()).available).toBe(false);
        const neither = new CapiProvider({
          native,
          [TEST_POLICY_SOURCES]: { env: {}, machinePolicy: null, registryPolicy: null, registryReader },
        });
        expect((await neither.probe()).available).toBe(true);
        expect(registryReader.keys).toEqual([]);
        const both = new CapiProvider({
          native,
          [TEST_POLICY_SOURCES]: {
            env,
            registryReader,
            machinePolicyFile: { path: join(dir, 'absent', 'policy.json'), trustRoot: dir },
          },
        });
        expect((await both.probe()).details?.machinePolicy).toBe(`${file} and ${REGISTRY_POLICY_KEY}`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one read serves the provider for registryCacheMs (30 s by default); 0 reads it every time', async () => {
    await asIfOnWindows(async () => {
      const cached = registryWith(null);
      const provider30 = new CapiProvider({
        native,
        [TEST_POLICY_SOURCES]: { machinePolicy: null, registryReader: cached },
      });
      await provider30.listKeys();
      await provider30.listKeys();
      await provider30.probe();
      expect(cached.keys).toHaveLength(1);
      // Another provider has its own cache.
      await new CapiProvider({
        native,
        [TEST_POLICY_SOURCES]: { machinePolicy: null, registryReader: cached },
      }).listKeys();
      expect(cached.keys).toHaveLength(2);
      const fresh = registryWith(null);
      const provider0 = new CapiProvider({
        native,
        registryCacheMs: 0,
        [TEST_POLICY_SOURCES]: { machinePolicy: null, registryReader: fresh },
      });
      await provider0.listKeys();
      await provider0.listKeys();
      expect(fresh.keys).toHaveLength(2);
      const short = registryWith(null);
      const provider20 = new CapiProvider({
        native,
        registryCacheMs: 20,
        [TEST_POLICY_SOURCES]: { machinePolicy: null, registryReader: short },
      });
      await provider20.listKeys();
      await new Promise((r) => setTimeout(r, 40));
      await provider20.listKeys();
      expect(short.keys).toHaveLength(2);
    });
  });

  it('a read that fails closes the gate and is not kept: the next operation reads again', async () => {
    let calls = 0;
    const registryReader: RegistryReader = async () => {
      calls++;
      if (calls === 1) throw new KeyStoreError('ERR_KEYSTORE_ACCESS_DENIED', 'cannot read the key');
      return null;
    };
    const gated = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryReader } });
    await asIfOnWindows(async () => {
      expect(await codeOf(() => gated.listKeys())).toBe('ERR_KEYSTORE_ACCESS_DENIED');
      expect(await gated.listKeys()).toEqual([]);
    });
    expect(calls).toBe(2);
  });

  it('checks its options when constructed', () => {
    const bad: unknown[] = [
      { registryCacheMs: -1 },
      { registryCacheMs: Number.NaN },
      { registryCacheMs: '30' },
      { [TEST_POLICY_SOURCES]: { registryReader: 'reg.exe' } },
      { [TEST_POLICY_SOURCES]: { registryPolicy: 'deny' } },
      { [TEST_POLICY_SOURCES]: { machinePolicy: [] } },
      { [TEST_POLICY_SOURCES]: 'none' },
    ];
    for (const options of bad) {
      expect(() => new CapiProvider({ native, ...(options as object) })).toThrow(
        expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
      );
    }
  });

  it.each([
    { machinePolicy: null },
    { machinePolicy: {} },
    { registryPolicy: null },
    { registryReader: async () => null },
    { env: {} },
  ])('refuses the removed option %o, which used to lift the machine policy, naming the test hatch', (removed) => {
    expect(() => new CapiProvider({ native, ...(removed as object) })).toThrow(
      expect.objectContaining({
        code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
        hint: expect.stringContaining('TEST_POLICY_SOURCES'),
      }),
    );
  });

  it('publishes a policy.override audit event each time the test hatch replaces a source', async () => {
    const events: AuditEvent[] = [];
    const listen = (message: unknown) => events.push(message as AuditEvent);
    auditChannel.subscribe(listen);
    try {
      await new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }).probe();
    } finally {
      auditChannel.unsubscribe(listen);
    }
    expect(events.filter((e) => e.type === 'policy.override')).toMatchObject([
      { source: 'machine', by: 'option', name: 'machinePolicy' },
      { source: 'registry', by: 'option', name: 'registryPolicy' },
    ]);
  });
});

describe("the machine policy's rules for keys, obeyed by the provider itself", () => {
  const base = { name: 'k', algorithm: 'RSA-2048', scope: 'user', exportable: false } as const;

  for (const option of ['machinePolicy', 'registryPolicy'] as const) {
    it(`${option} exportable.create false: no exportable key is created or imported, before any native call`, async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const gated = new CapiProvider({
        native,
        [TEST_POLICY_SOURCES]: {
          machinePolicy: null,
          registryPolicy: null,
          [option]: { exportable: { create: false } },
        },
      });
      const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      expect(await codeOf(() => gated.createKey({ ...base, exportable: true }))).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(await codeOf(() => gated.importKey({ ...base, exportable: true, privateKey }))).toBe(
        'ERR_KEYSTORE_POLICY_VIOLATION',
      );
      expect(native.calls).toEqual([]);
      // A non-exportable key is still fine.
      const key = await gated.createKey(base);
      expect(key.exportable).toBe(false);
      await key.close();
    });

    it(`${option} exportable.export false: an exportable key's private part stays in CryptoAPI`, async () => {
      native.addKey('user', 'exp', 1, 2048, true);
      const gated = new CapiProvider({
        native,
        [TEST_POLICY_SOURCES]: {
          machinePolicy: null,
          registryPolicy: null,
          [option]: { exportable: { export: false } },
        },
      });
      const key = await gated.openKey({ name: 'exp', scope: 'user' });
      expect(key.exportable).toBe(true);
      const err = await errorOf(() => key.exportPrivateKey());
      expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(err.message).toContain('/exportable/export');
      expect(native.calls.filter((c) => c.fn === 'CryptExportKey' && c.args[1] === 7)).toEqual([]);
      await key.close();
    });
  }

  it('allowedAlgorithms, minimumRsaBits and allowedScopes refuse creation and import before any native call', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const cases: Array<[KeyStorePolicy, Record<string, unknown>]> = [
      [{ allowedAlgorithms: ['RSA-3072'] }, { algorithm: 'RSA-2048' }],
      [{ minimumRsaBits: 3072 }, { algorithm: 'RSA-2048' }],
      [{ allowedScopes: ['user'] }, { scope: 'machine' }],
    ];
    for (const [machinePolicy, change] of cases) {
      const gated = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy, registryPolicy: null } });
      expect([machinePolicy, await codeOf(() => gated.createKey({ ...base, ...change } as never))]).toEqual([
        machinePolicy,
        'ERR_KEYSTORE_POLICY_VIOLATION',
      ]);
      expect([
        machinePolicy,
        await codeOf(() => gated.importKey({ ...base, ...change, privateKey: rsa2048 } as never)),
      ]).toEqual([machinePolicy, 'ERR_KEYSTORE_POLICY_VIOLATION']);
    }
    expect(native.calls).toEqual([]);
  });

  it('a key opened later is held to the same rules: scope before any native call, algorithm once read', async () => {
    native.addKey('machine', 'm', 1, 2048);
    native.addKey('user', 'small', 1, 2048);
    const scoped = new CapiProvider({
      native,
      [TEST_POLICY_SOURCES]: { machinePolicy: { allowedScopes: ['user'] }, registryPolicy: null },
    });
    expect(await codeOf(() => scoped.openKey({ name: 'm', scope: 'machine' }))).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(native.calls).toEqual([]);
    const sized = new CapiProvider({
      native,
      [TEST_POLICY_SOURCES]: { machinePolicy: { minimumRsaBits: 3072 }, registryPolicy: null },
    });
    expect(await codeOf(() => sized.openKey({ name: 'small', scope: 'user' }))).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(native.openHandles()).toBe(0);
    // Deleting it is still allowed: that is how it goes away.
    await sized.deleteKey({ name: 'small', scope: 'user' });
    expect(native.containers.user.has('small')).toBe(false);
  });

  it('the machine policy is judged again at export time: a file tightened after the key was opened wins', async () => {
    native.addKey('user', 'exp', 1, 2048, true);
    const dir = mkdtempSync(join(tmpdir(), 'capi-policy-'));
    try {
      const file = join(dir, 'policy.json');
      writeFileSync(file, JSON.stringify({ exportable: { export: true } }));
      const gated = new CapiProvider({
        native,
        [TEST_POLICY_SOURCES]: { env: { KEYSTORE_MACHINE_POLICY: file }, registryPolicy: null },
      });
      const key = await gated.openKey({ name: 'exp', scope: 'user' });
      expect((await key.exportPrivateKey()).type).toBe('private');
      writeFileSync(file, JSON.stringify({ exportable: { export: false } }));
      const err = await errorOf(() => key.exportPrivateKey());
      expect(err.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      expect(err.message).toContain(file);
      writeFileSync(file, JSON.stringify({ legacyCryptoApi: 'deny' }));
      expect(await codeOf(() => key.exportPrivateKey())).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
      await key.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createKey', () => {
  it('makes a container with NEWKEYSET, generates with bits << 16, releases, then opens it again', async () => {
    const key = await provider.createKey({ name: 'new-key', algorithm: 'RSA-3072', scope: 'user', exportable: false });
    const fns = native.calls.map((c) => c.fn);
    const gen = native.calls.find((c) => c.fn === 'CryptGenKeyAsync');
    expect(native.calls[0]).toMatchObject({ fn: 'CryptAcquireContextW' });
    expect((native.calls[0]?.args[3] as number) & 0x8).toBe(0x8);
    expect(gen?.args[1]).toBe(1); // AT_KEYEXCHANGE
    expect(gen?.args[2]).toBe(3072 << 16); // not exportable
    // The key and context are released before the container is opened for use (rsaenh stores the key then).
    const release = fns.indexOf('CryptReleaseContext');
    expect(fns.indexOf('CryptDestroyKey')).toBeLessThan(release);
    expect(fns.indexOf('CryptAcquireContextW', 1)).toBeGreaterThan(release);
    expect(key).toMatchObject({ name: 'new-key', algorithm: 'RSA-3072', scope: 'user', exportable: false });
    expect(key.keySpec).toBe('keyExchange');
    expect(key.isolation.level).toBe('in-process');
    expect(key.isolation.providerId).toBe('capi');
    await key.close();
    expect(native.openHandles()).toBe(0);
  });

  it('asks for CRYPT_EXPORTABLE only when the key is to be exportable, and for the machine key set in that scope', async () => {
    const key = await provider.createKey({ name: 'm', algorithm: 'RSA-2048', scope: 'machine', exportable: true });
    const acquire = native.calls.find((c) => c.fn === 'CryptAcquireContextW');
    expect((acquire?.args[3] as number) & 0x20).toBe(0x20);
    expect(native.calls.find((c) => c.fn === 'CryptGenKeyAsync')?.args[2]).toBe((2048 << 16) | 1);
    expect(native.containers.machine.has('m')).toBe(true);
    expect(native.containers.user.has('m')).toBe(false);
    expect(key.exportable).toBe(true);
    await key.close();
  });

  it('makes AT_SIGNATURE keys with keySpec signature', async () => {
    const signer = new CapiProvider({
      native,
      keySpec: 'signature',
      [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
    });
    const key = await signer.createKey({ name: 's', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    expect(native.calls.find((c) => c.fn === 'CryptGenKeyAsync')?.args[1]).toBe(2);
    expect(key.keySpec).toBe('signature');
    await key.close();
  });

  it('maps NTE_EXISTS to KEY_EXISTS and leaves the existing container alone', async () => {
    native.addKey('user', 'taken', 1, 2048);
    const err = await errorOf(() =>
      provider.createKey({ name: 'taken', algorithm: 'RSA-2048', scope: 'user', exportable: false }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_KEY_EXISTS');
    expect(err.nativeStatus).toBe(NTE_EXISTS);
    expect(native.containers.user.get('taken')?.keys.size).toBe(1);
    expect(native.openHandles()).toBe(0);
  });

  it('deletes the new container when generation fails, and reports the status', async () => {
    native.fail('CryptGenKeyAsync', NTE_BAD_FLAGS);
    const err = await errorOf(() =>
      provider.createKey({ name: 'fails', algorithm: 'RSA-2048', scope: 'user', exportable: false }),
    );
    expect(err.nativeName).toBe('NTE_BAD_FLAGS');
    expect(native.containers.user.has('fails')).toBe(false);
    expect(native.openHandles()).toBe(0);
  });

  it('deletes the new key when the signal fires during generation', async () => {
    const controller = new AbortController();
    native.before('CryptGenKeyAsync', () => controller.abort());
    const err = await errorOf(() =>
      provider.createKey({
        name: 'aborted',
        algorithm: 'RSA-2048',
        scope: 'user',
        exportable: false,
        signal: controller.signal,
      }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_CANCELLED');
    expect(native.containers.user.has('aborted')).toBe(false);
    expect(native.openHandles()).toBe(0);
  });

  it('refuses bad requests before any native call', async () => {
    const base = { name: 'ok', algorithm: 'RSA-2048', scope: 'user', exportable: false } as const;
    const bad: Array<[unknown, KeyStoreErrorCode]> = [
      [{ ...base, name: 'has space' }, 'ERR_KEYSTORE_INVALID_NAME'],
      [{ ...base, name: '{guid}' }, 'ERR_KEYSTORE_INVALID_NAME'],
      [{ ...base, name: 'x'.repeat(65) }, 'ERR_KEYSTORE_INVALID_NAME'],
      [{ ...base, name: '' }, 'ERR_KEYSTORE_INVALID_NAME'],
      [{ ...base, name: 42 }, 'ERR_KEYSTORE_INVALID_NAME'],
      [{ ...base, algorithm: 'ECDSA-P256' }, 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM'],
      [{ ...base, algorithm: 'RSA-1024' }, 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM'],
      [{ ...base, scope: 'global' }, 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [{ ...base, exportable: 'yes' }, 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [{ ...base, password: 'secret' }, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
      [{ ...base, userPrompt: {} }, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
      [{ ...base, minimumIsolation: 'os-isolated' }, 'ERR_KEYSTORE_POLICY_VIOLATION'],
      [{ ...base, minimumIsolation: 'bogus' }, 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [{ ...base, signal: 'nope' }, 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [null, 'ERR_KEYSTORE_INVALID_ARGUMENT'],
    ];
    for (const [request, code] of bad) {
      expect([request, await codeOf(() => provider.createKey(request as never))]).toEqual([request, code]);
    }
    const aborted = AbortSignal.abort();
    expect(await codeOf(() => provider.createKey({ ...base, signal: aborted }))).toBe('ERR_KEYSTORE_CANCELLED');
    expect(native.calls).toEqual([]);
  });
});

describe('openKey', () => {
  it('opens a container another program made: AT_KEYEXCHANGE first, then AT_SIGNATURE', async () => {
    const pair = native.addKey('user', '{0F3A5C1E-8B2D-4E7F-9A10-3C4D5E6F7A8B}', 2, 2048);
    const key = await provider.openKey({ name: '{0F3A5C1E-8B2D-4E7F-9A10-3C4D5E6F7A8B}', scope: 'user' });
    expect(native.calls.filter((c) => c.fn === 'CryptGetUserKey').map((c) => c.args[1])).toEqual([1, 2]);
    expect(key.keySpec).toBe('signature');
    expect(key.publicKey.equals(pair.publicKey)).toBe(true);
    expect(key.exportable).toBe(false);
    await key.close();
    expect(native.openHandles()).toBe(0);
  });

  it('opens with CRYPT_SILENT, so a key that would prompt fails instead', async () => {
    native.addKey('user', 'k', 1, 2048);
    await (await provider.openKey({ name: 'k', scope: 'user' })).close();
    const acquire = native.calls.find((c) => c.fn === 'CryptAcquireContextW');
    expect((acquire?.args[3] as number) & 0x40).toBe(0x40);
    native.fail('CryptAcquireContextW', 0x80090022 /* NTE_SILENT_CONTEXT */);
    expect(await codeOf(() => provider.openKey({ name: 'k', scope: 'user' }))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
  });

  it('maps a missing container to KEY_NOT_FOUND with the native status', async () => {
    const err = await errorOf(() => provider.openKey({ name: 'nothing', scope: 'machine' }));
    expect(err.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(err.nativeStatus).toBe(NTE_BAD_KEYSET);
    expect(err.nativeName).toBe('NTE_BAD_KEYSET');
  });

  it('an empty container (a create that never finished) is KEY_NOT_FOUND, with its context released', async () => {
    native.containers.user.set('empty', { keys: new Map() });
    const err = await errorOf(() => provider.openKey({ name: 'empty', scope: 'user' }));
    expect(err.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(err.nativeName).toBe('NTE_NO_KEY');
    expect(native.openHandles()).toBe(0);
  });

  it('refuses a key size the SDK has no algorithm for, releasing its handles', async () => {
    native.addKey('user', 'old', 1, 1024);
    const err = await errorOf(() => provider.openKey({ name: 'old', scope: 'user' }));
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
    expect(native.openHandles()).toBe(0);
  });

  it('reads exportability from KP_PERMISSIONS', async () => {
    native.addKey('user', 'exp', 1, 2048, true);
    const key = await provider.openKey({ name: 'exp', scope: 'user' });
    expect(key.exportable).toBe(true);
    expect((await key.exportPrivateKey()).type).toBe('private');
    await key.close();
  });

  it('wipes the PRIVATEKEYBLOB CryptExportKey returned, once the private key is read from it', async () => {
    native.addKey('user', 'exp-wiped', 1, 2048, true);
    const key = await provider.openKey({ name: 'exp-wiped', scope: 'user' });
    const returned: Buffer[] = [];
    const exportKey = native.CryptExportKey.bind(native);
    native.CryptExportKey = (handle, blobType) => {
      const result = exportKey(handle, blobType);
      if (blobType === 7 && result.value !== undefined) returned.push(result.value);
      return result;
    };
    const exported = await key.exportPrivateKey();
    expect(exported.type).toBe('private');
    expect(createPublicKey(exported).equals(key.publicKey)).toBe(true);
    expect(returned).toHaveLength(1);
    expect(returned[0]!.length).toBeGreaterThan(20);
    expect(returned[0]!.every((b) => b === 0)).toBe(true);
    await key.close();
  });

  it('validates names by the container rule before any native call', async () => {
    for (const name of ['a\\b', ' lead', 'trail ', 'ünï', 'tab\there', '', 'x'.repeat(256)]) {
      expect(await codeOf(() => provider.openKey({ name, scope: 'user' }))).toBe('ERR_KEYSTORE_INVALID_NAME');
      expect(await codeOf(() => provider.deleteKey({ name, scope: 'user' }))).toBe('ERR_KEYSTORE_INVALID_NAME');
    }
    expect(await codeOf(() => provider.openKey({ name: 'k', scope: 'user', password: 'x' }))).toBe(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
    );
    expect(native.calls).toEqual([]);
  });
});

describe('a key', () => {
  it('signs PKCS#1 v1.5 with every hash; the little-endian signature comes back big-endian', async () => {
    const key = await provider.createKey({ name: 'signer', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
      const data = Buffer.from(`message ${hash}`);
      const { signature } = await key.signDigest(createHash(hash).update(data).digest(), {
        hash,
        padding: 'pkcs1',
        saltLength: 0,
      });
      expect(signature.length).toBe(256);
      expect(verify(hash, data, key.publicKey, signature)).toBe(true);
    }
    // Every hash object was destroyed.
    await key.close();
    expect(native.openHandles()).toBe(0);
  });

  it('runs RSA-2048 signatures on the calling thread and larger keys (or threading worker) on a worker thread', async () => {
    const k2048 = await provider.createKey({ name: 'a', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const k3072 = await provider.createKey({ name: 'b', algorithm: 'RSA-3072', scope: 'user', exportable: false });
    await k2048.signDigest(digest('sha256'), PKCS1);
    await k3072.signDigest(digest('sha256'), PKCS1);
    const worker = new CapiProvider({
      native,
      threading: 'worker',
      [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
    });
    const k2048w = await worker.openKey({ name: 'a', scope: 'user' });
    await k2048w.signDigest(digest('sha256'), PKCS1);
    expect(native.calls.filter((c) => c.fn.startsWith('CryptSignHashW')).map((c) => c.fn)).toEqual([
      'CryptSignHashW',
      'CryptSignHashWAsync',
      'CryptSignHashWAsync',
    ]);
    await Promise.all([k2048.close(), k3072.close(), k2048w.close()]);
  });

  it('checks digests and padding in TypeScript before any native call', async () => {
    const key = await provider.createKey({ name: 'v', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const before = native.calls.length;
    const bad: Array<[() => Promise<unknown>, KeyStoreErrorCode]> = [
      [() => key.signDigest(Buffer.alloc(31), PKCS1), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [() => key.signDigest(digest('sha384'), PKCS1), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [() => key.signDigest('digest' as never, PKCS1), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [() => key.signDigest(digest('sha256'), { ...PKCS1, hash: 'md5' as never }), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [() => key.signDigest(digest('sha256'), { ...PKCS1, padding: 'pss' }), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
      [() => key.signDigest(digest('sha256'), null as never), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [() => key.decrypt(Buffer.alloc(256), 'sha256'), 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
      [() => key.decrypt(Buffer.alloc(255), 'sha1'), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [() => key.decrypt('x' as never, 'sha1'), 'ERR_KEYSTORE_INVALID_ARGUMENT'],
      [() => key.signDigest(digest('sha256'), { ...PKCS1 }, { signal: AbortSignal.abort() }), 'ERR_KEYSTORE_CANCELLED'],
    ];
    for (const [action, code] of bad) expect(await codeOf(action)).toBe(code);
    expect(native.calls.length).toBe(before);
    await key.close();
  });

  it('decrypts RSA-OAEP (SHA-1) made by Node: the ciphertext goes in little-endian', async () => {
    const key = await provider.createKey({ name: 'dec', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const plaintext = Buffer.from('secret');
    const ciphertext = publicEncrypt(
      { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      plaintext,
    );
    expect((await key.decrypt(ciphertext, 'sha1')).equals(plaintext)).toBe(true);
    const call = native.calls.find((c) => c.fn === 'CryptDecrypt');
    expect((call?.args[1] as Buffer | undefined)?.equals(Buffer.from(ciphertext).reverse())).toBe(true);
    expect(call?.args[2]).toBe(0x40); // CRYPT_OAEP
    const err = await errorOf(() => key.decrypt(Buffer.alloc(256, 7), 'sha1'));
    expect(err.nativeStatus).toBe(NTE_BAD_DATA);
    await key.close();
  });

  it('an AT_SIGNATURE key refuses to decrypt without a native call', async () => {
    native.addKey('user', 'sig', 2, 2048);
    const key = await provider.openKey({ name: 'sig', scope: 'user' });
    const before = native.calls.length;
    expect(await codeOf(() => key.decrypt(Buffer.alloc(256), 'sha1'))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(native.calls.length).toBe(before);
    await key.close();
  });

  it('export of a non-exportable key: NOT_EXPORTABLE with NTE_BAD_KEY_STATE from CryptoAPI itself', async () => {
    const key = await provider.createKey({ name: 'ne', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const err = await errorOf(() => key.exportPrivateKey());
    expect(err.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    expect(err.nativeName).toBe('NTE_BAD_KEY_STATE');
    expect(err.hint).toContain('new key');
    await key.close();
  });

  it('exports an exportable key as a private KeyObject that matches the public key', async () => {
    const key = await provider.createKey({ name: 'ex', algorithm: 'RSA-2048', scope: 'user', exportable: true });
    const privateKey = await key.exportPrivateKey();
    expect(privateKey.type).toBe('private');
    const data = Buffer.from('x');
    const { signature } = await key.signDigest(createHash('sha256').update(data).digest(), PKCS1);
    expect(verify('sha256', data, privateKey, signature)).toBe(true);
    await key.close();
  });

  it('after close: KEY_CLOSED for every operation, close idempotent, handles released', async () => {
    const key = await provider.createKey({ name: 'c', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const pending = key.signDigest(digest('sha256'), PKCS1);
    const closing = key.close();
    await pending; // queued before close: it finishes
    await closing;
    await key.close();
    expect(await codeOf(() => key.signDigest(digest('sha256'), PKCS1))).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(await codeOf(() => key.decrypt(Buffer.alloc(256), 'sha256'))).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(await codeOf(() => key.exportPrivateKey())).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(native.openHandles()).toBe(0);
  });

  it('runs one operation at a time per key', async () => {
    const key = await provider.createKey({ name: 'q', algorithm: 'RSA-3072', scope: 'user', exportable: false });
    let inFlight = 0;
    let most = 0;
    const original = native.CryptSignHashWAsync.bind(native);
    native.CryptSignHashWAsync = async (...args) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return original(...args);
    };
    await Promise.all(Array.from({ length: 5 }, () => key.signDigest(digest('sha256'), PKCS1)));
    expect(most).toBe(1);
    await key.close();
  });
});

describe('listKeys and deleteKey', () => {
  it('by default lists container names only and opens no key pair (no private key is loaded)', async () => {
    native.addKey('user', 'b-key', 1, 3072);
    native.addKey('machine', 'm', 1, 4096);
    expect(await provider.listKeys()).toEqual([
      { name: 'b-key', scope: 'user' },
      { name: 'm', scope: 'machine' },
    ]);
    expect(native.calls.filter((c) => c.fn === 'CryptGetUserKey')).toHaveLength(0);
    expect(
      () =>
        new CapiProvider({ native, listAlgorithms: 'yes' as never, [TEST_POLICY_SOURCES]: { machinePolicy: null } }),
    ).toThrow(/listAlgorithms must be a boolean/);
  });

  it('with listAlgorithms: lists both scopes sorted, with algorithms, leaving out names it cannot open', async () => {
    provider = new CapiProvider({
      native,
      listAlgorithms: true,
      [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
    });
    native.addKey('user', 'b-key', 1, 3072);
    native.addKey('user', 'a key with spaces', 2, 2048);
    native.addKey('user', 'old', 1, 1024);
    native.addKey('user', 'bad\\name', 1, 2048);
    native.containers.user.set('empty', { keys: new Map() });
    native.addKey('machine', 'm', 1, 4096);
    expect(await provider.listKeys()).toEqual([
      { name: 'a key with spaces', scope: 'user', algorithm: 'RSA-2048' },
      { name: 'b-key', scope: 'user', algorithm: 'RSA-3072' },
      { name: 'empty', scope: 'user' },
      { name: 'old', scope: 'user' },
      { name: 'm', scope: 'machine', algorithm: 'RSA-4096' },
    ]);
    expect(await provider.listKeys({ scope: 'machine' })).toEqual([
      { name: 'm', scope: 'machine', algorithm: 'RSA-4096' },
    ]);
    expect(native.openHandles()).toBe(0);
  });

  it('enumerates from a VERIFYCONTEXT, adding CRYPT_MACHINE_KEYSET to the enumeration only under Wine', async () => {
    await provider.listKeys({ scope: 'machine' });
    expect(native.calls.find((c) => c.fn === 'enumContainers')?.args[1]).toBe(0);
    const acquire = native.calls.find((c) => c.fn === 'CryptAcquireContextW');
    expect(acquire?.args[0]).toBeNull();
    expect((acquire?.args[3] as number) >>> 0).toBe((0xf0000000 | 0x40 | 0x20) >>> 0);
    const wine = createAdvapiDouble({ wineVersion: '8.0' });
    wine.addKey('machine', 'm', 1, 2048);
    wine.addKey('user', 'u', 1, 2048);
    const underWine = new CapiProvider({
      native: wine,
      [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
    });
    expect((await underWine.listKeys({ scope: 'machine' })).map((k) => k.name)).toEqual(['m']);
    expect(wine.calls.find((c) => c.fn === 'enumContainers')?.args[1]).toBe(0x20);
  });

  it('deletes with CRYPT_DELETEKEYSET; a missing container is KEY_NOT_FOUND', async () => {
    native.addKey('machine', 'gone', 1, 2048);
    await provider.deleteKey({ name: 'gone', scope: 'machine' });
    expect(native.containers.machine.has('gone')).toBe(false);
    const call = native.calls.find((c) => c.fn === 'CryptAcquireContextW');
    expect((call?.args[3] as number) & 0x30).toBe(0x30);
    const err = await errorOf(() => provider.deleteKey({ name: 'gone', scope: 'machine' }));
    expect(err.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(err.nativeName).toBe('NTE_BAD_KEYSET');
  });
});

describe('importKey', () => {
  it('imports a Node key as a PRIVATEKEYBLOB, exportable only when asked', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = await provider.importKey({
      name: 'imported',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
      privateKey: pair.privateKey,
    });
    expect(key.publicKey.equals(pair.publicKey)).toBe(true);
    expect(key.exportable).toBe(false);
    expect(native.calls.find((c) => c.fn === 'CryptImportKey')?.args[2]).toBe(0);
    const data = Buffer.from('imported');
    const { signature } = await key.signDigest(createHash('sha256').update(data).digest(), PKCS1);
    expect(verify('sha256', data, pair.publicKey, signature)).toBe(true);
    await key.close();
    expect(native.openHandles()).toBe(0);
  });

  it('wipes the PRIVATEKEYBLOB it handed to CryptImportKey, after a success and after a failure', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // The very buffer the provider hands over (the double's call log keeps only a copy).
    const handed: { blob: Buffer; atCall: Buffer }[] = [];
    const importKey = native.CryptImportKey.bind(native);
    native.CryptImportKey = (prov, blob, flags) => {
      handed.push({ blob, atCall: Buffer.from(blob) });
      return importKey(prov, blob, flags);
    };
    const key = await provider.importKey({
      name: 'wiped',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
      privateKey,
    });
    await key.close();
    native.fail('CryptImportKey', NTE_BAD_DATA);
    const err = await errorOf(() =>
      provider.importKey({ name: 'failed', algorithm: 'RSA-2048', scope: 'user', exportable: false, privateKey }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(handed).toHaveLength(2);
    for (const { blob, atCall } of handed) {
      // It held the key when CryptoAPI read it ('RSA2' and a non-zero modulus) …
      expect(atCall.toString('latin1', 8, 12)).toBe('RSA2');
      expect(atCall.subarray(20).some((b) => b !== 0)).toBe(true);
      // … and nothing of it once importKey returned.
      expect(blob.every((b) => b === 0)).toBe(true);
    }
  });

  it('refuses keys it cannot hold before any native call', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const base = { name: 'i', algorithm: 'RSA-2048', scope: 'user', exportable: false } as const;
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    expect(await codeOf(() => provider.importKey({ ...base, privateKey: ec }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(() => provider.importKey({ ...base, privateKey: small }))).toBe(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    );
    expect(await codeOf(() => provider.importKey({ ...base, privateKey: 'pem' as never }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(native.calls.filter((c) => c.fn !== 'CryptAcquireContextW' || c.args[0] !== null)).toEqual([]);
  });
});

describe('close', () => {
  it('close during openKey: no key comes back, the handles are released', async () => {
    native.addKey('user', 'k', 1, 2048);
    const opening = provider.openKey({ name: 'k', scope: 'user' });
    await provider.close();
    expect(await codeOf(() => opening)).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(native.openHandles()).toBe(0);
  });

  it('close during key generation: no key comes back, and the new container is deleted', async () => {
    native.before('CryptGenKeyAsync', () => provider.close());
    const err = await errorOf(() =>
      provider.createKey({ name: 'late', algorithm: 'RSA-2048', scope: 'user', exportable: false }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(native.containers.user.has('late')).toBe(false);
    expect(native.openHandles()).toBe(0);
  });

  it('close while createKey or importKey reads the policy: refused before any native call', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const request = { name: 'x', algorithm: 'RSA-2048', scope: 'user', exportable: false } as const;
    const creating = provider.createKey(request);
    const importing = provider.importKey({ ...request, name: 'y', privateKey });
    await provider.close();
    expect(await codeOf(() => creating)).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(await codeOf(() => importing)).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(native.calls).toEqual([]);
  });

  it('close while listKeys reads the policy: the listing it started answers in full, and leaves nothing open', async () => {
    native.addKey('user', 'listed', 1, 2048);
    const listing = provider.listKeys({ scope: 'user' });
    await provider.close();
    expect((await listing).map((k) => k.name)).toEqual(['listed']);
    expect(native.openHandles()).toBe(0);
  });

  it('closes every key the provider opened; later calls say unavailable', async () => {
    const a = await provider.createKey({ name: 'a', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    await provider.close();
    expect(native.openHandles()).toBe(0);
    expect(await codeOf(() => a.signDigest(digest('sha256'), PKCS1))).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(await codeOf(() => provider.listKeys())).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect((await provider.probe()).available).toBe(false);
  });
});

afterAll(() => {
  delete (globalThis as Record<symbol, unknown>)[Symbol.for('@keystore/provider-capi/legacy-warning-emitted')];
});
