import {
  constants,
  createHash,
  createPublicKey,
  verify as cryptoVerify,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  publicEncrypt,
} from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeyStore,
  derToP1363,
  formatKeyRef,
  type HashAlgorithm,
  type IsolationLevel,
  type KeyAlgorithm,
  type KeyScope,
  type KeyStore,
  KeyStoreError,
  type KeyStorePolicy,
  type KeyStoreProvider,
  type ProbeResult,
  type ProviderKey,
  p1363ToDer,
} from '@keystore/core';
import { createMemoryProvider, createTestKeyStore, MemoryKeyVault } from '@keystore/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { codeOf, errorOf } from './helpers/errors.js';

const DEV: KeyStorePolicy = { minimumIsolation: 'none' };

// The probe-cache tests stop the clock; every other test runs on the real one.
afterEach(() => {
  vi.useRealTimers();
});

interface FakeOptions {
  /** The id (default `fake`). */
  id?: string;
  /** What the probe answers (default: available, os-isolated). */
  probe?: Partial<ProbeResult>;
  /** The isolation level written into each key's receipt (default: the probe's). */
  receipt?: IsolationLevel | 'bogus';
  /** Legacy CryptoAPI flag. */
  legacy?: boolean;
  /** Share keys with other fakes. */
  vault?: MemoryKeyVault;
  /** Drop the `signMessage` fast path from keys. */
  noSignMessage?: boolean;
}

/**
 * A fake provider: the memory provider's keys under another id, probe answer and receipt, so that
 * selection, floors and receipts can be tested with real key operations.
 */
function fakeProvider(options: FakeOptions = {}) {
  const inner = createMemoryProvider(options.vault ? { vault: options.vault } : {});
  const id = options.id ?? 'fake';
  const probe: ProbeResult = { available: true, isolation: 'os-isolated', reasons: [], ...options.probe };
  const level = options.receipt ?? probe.isolation;
  const calls = { probe: 0, createKey: 0, openKey: 0, deleteKey: 0, listKeys: 0, close: 0, keyClose: 0 };
  const wrap = (key: ProviderKey): ProviderKey => ({
    name: key.name,
    algorithm: key.algorithm,
    scope: key.scope,
    exportable: key.exportable,
    publicKey: key.publicKey,
    isolation: { ...key.isolation, level: level as IsolationLevel, providerId: id },
    signDigest: (d, p, o) => key.signDigest(d, p, o),
    ...(options.noSignMessage ? {} : { signMessage: (d, p, o) => key.signMessage!(d, p, o) }),
    decrypt: (c, h, o) => key.decrypt!(c, h, o),
    deriveSecret: (peer, o) => key.deriveSecret!(peer, o),
    exportPrivateKey: (o) => key.exportPrivateKey!(o),
    close: async () => {
      calls.keyClose++;
      await key.close();
    },
  });
  const provider: KeyStoreProvider = {
    id,
    displayName: `fake ${id}`,
    capabilities: { ...inner.capabilities, legacyCryptoApi: options.legacy ?? false },
    probe: async () => {
      calls.probe++;
      return probe;
    },
    createKey: async (r) => {
      calls.createKey++;
      return wrap(await inner.createKey(r));
    },
    openKey: async (r) => {
      calls.openKey++;
      return wrap(await inner.openKey(r));
    },
    listKeys: async (o) => {
      calls.listKeys++;
      return inner.listKeys(o);
    },
    deleteKey: async (r) => {
      calls.deleteKey++;
      return inner.deleteKey(r);
    },
    close: async () => {
      calls.close++;
    },
  };
  return { provider, inner, calls };
}

async function memoryStore(policy: KeyStorePolicy = DEV): Promise<KeyStore> {
  return createTestKeyStore({ providers: [createMemoryProvider()], policy, machinePolicy: null });
}

describe('createKeyStore', () => {
  it('exposes the effective policy and the providers', async () => {
    const memory = createMemoryProvider();
    const store = await createTestKeyStore({ providers: [memory], policy: DEV, machinePolicy: null });
    expect(store.providers).toEqual([memory]);
    expect(store.policy.minimumIsolation).toBe('none');
    expect(store.policy.sources['/minimumIsolation']).toBe('app');
  });

  it('rejects duplicate provider ids with INVALID_ARGUMENT', async () => {
    const providers = [createMemoryProvider(), createMemoryProvider()];
    expect(await codeOf(createTestKeyStore({ providers, machinePolicy: null }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it.each([
    [{}],
    [{ providers: 'memory' }],
    [{ providers: [{}] }],
    [{ providers: [{ ...fakeProvider().provider, id: 'bad:id' }] }],
    [{ providers: [{ ...fakeProvider().provider, id: '' }] }],
  ])('rejects bad options %# with INVALID_ARGUMENT', async (options) => {
    expect(await codeOf(createKeyStore(options as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('rejects a provider whose capabilities are incomplete', async () => {
    const fake = fakeProvider();
    const broken = { ...fake.provider, capabilities: { ...fake.provider.capabilities, scopes: undefined } };
    expect(await codeOf(createTestKeyStore({ providers: [broken as never], machinePolicy: null }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
  });

  it('rejects an invalid app policy with INVALID_POLICY', async () => {
    const options = { providers: [], policy: { minimumIsolation: 'tpm' } as never, machinePolicy: null };
    expect(await codeOf(createTestKeyStore(options))).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('reads the additional machine policy file named by KEYSTORE_MACHINE_POLICY, which caps the app policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keystore-machine-'));
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify({ minimumIsolation: 'os-isolated' }));
    const store = await createTestKeyStore({
      providers: [createMemoryProvider()],
      policy: DEV,
      machinePolicy: null,
      env: { KEYSTORE_MACHINE_POLICY: file },
    });
    expect(store.policy.minimumIsolation).toBe('os-isolated');
    expect(store.policy.machineEnvPolicyPath).toBe(file);
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.refusals[0]!.reasons).toContain(
      `achieves none, below the floor os-isolated (/minimumIsolation), set by the machine policy named by KEYSTORE_MACHINE_POLICY (${file})`,
    );
  });

  it('an explicit machinePolicy is used instead of the file', async () => {
    const store = await createTestKeyStore({
      providers: [],
      policy: DEV,
      machinePolicy: { minimumIsolation: 'hardware' },
      env: {},
    });
    expect(store.policy.minimumIsolation).toBe('hardware');
    expect(store.policy.sources['/minimumIsolation']).toBe('machine');
  });

  it('rejects an aborted signal with CANCELLED', async () => {
    expect(await codeOf(createKeyStore({ providers: [], signal: AbortSignal.abort() }))).toBe('ERR_KEYSTORE_CANCELLED');
  });
});

describe('KeyStore.createKey', () => {
  it('creates a key with the memory provider under a development policy', async () => {
    const store = await memoryStore();
    const key = await store.createKey('signing', { algorithm: 'ECDSA-P256' });
    expect(key).toMatchObject({
      ref: 'keystore:memory:user:signing',
      name: 'signing',
      providerId: 'memory',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    expect(key.isolation.level).toBe('none');
    expect(key.publicKey.type).toBe('public');
    expect(key.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it.each([
    ['', 'empty'],
    ['x'.repeat(256), 'too long'],
    ['nul\0byte', 'NUL'],
    ['new\nline', 'control'],
    ['del\u007f', 'DEL'],
    ['keystore:memory:user:x', 'reference prefix'],
    ['lone \udc00', 'lone surrogate'],
  ])('rejects the name %j (%s) with INVALID_NAME before calling the provider', async (name) => {
    const { provider, calls } = fakeProvider({ probe: { isolation: 'hardware' } });
    const store = await createTestKeyStore({ providers: [provider], machinePolicy: null });
    expect(await codeOf(store.createKey(name, { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_INVALID_NAME');
    expect(await codeOf(store.createKey(42 as never, { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_INVALID_NAME');
    expect(calls.createKey + calls.probe).toBe(0);
  });

  it('accepts a 255-character name and any Unicode', async () => {
    const store = await memoryStore();
    const long = await store.createKey('n'.repeat(255), { algorithm: 'ECDH-P256' });
    expect(long.name).toHaveLength(255);
    const unicode = await store.createKey('clé 🔑 / : %', { algorithm: 'ECDH-P256' });
    expect(unicode.ref).toBe(formatKeyRef({ providerId: 'memory', scope: 'user', name: 'clé 🔑 / : %' }));
  });

  it.each([
    [undefined],
    [{}],
    [{ algorithm: 'RSA-1024' }],
    [{ algorithm: 'ECDSA-P256', scope: 'global' }],
    [{ algorithm: 'ECDSA-P256', exportable: 'yes' }],
    [{ algorithm: 'ECDSA-P256', provider: 7 }],
    [{ algorithm: 'ECDSA-P256', password: 7 }],
    [{ algorithm: 'ECDSA-P256', signal: 'abort' }],
  ])('rejects options %j with INVALID_ARGUMENT', async (options) => {
    const store = await memoryStore();
    expect(await codeOf(store.createKey('k', options as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('refuses what the policy forbids with POLICY_VIOLATION, listing the reasons', async () => {
    const store = await memoryStore({ ...DEV, minimumRsaBits: 3072, allowedAlgorithms: ['RSA-2048', 'RSA-3072'] });
    const small = await errorOf(store.createKey('k', { algorithm: 'RSA-2048' }));
    expect(small.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(small.message).toContain('/minimumRsaBits');
    const ec = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(ec.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(ec.message).toContain('/allowedAlgorithms');
    const machine = await memoryStore({ ...DEV, allowedScopes: ['user'] });
    expect(await codeOf(machine.createKey('k', { algorithm: 'ECDSA-P256', scope: 'machine' }))).toBe(
      'ERR_KEYSTORE_POLICY_VIOLATION',
    );
  });

  it('refuses exportable keys unless the policy allows creating them', async () => {
    const store = await memoryStore();
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256', exportable: true }));
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(error.message).toContain('/exportable/create');
    const allowing = await memoryStore({ ...DEV, exportable: { create: true } });
    expect((await allowing.createKey('k', { algorithm: 'ECDSA-P256', exportable: true })).exportable).toBe(true);
  });

  it('NO_PROVIDER lists every provider and its reasons, in the message and in refusals', async () => {
    const tpm = fakeProvider({ id: 'tpm', probe: { available: false, isolation: 'none', reasons: ['no TPM here'] } });
    const capi = fakeProvider({ id: 'capi', probe: { isolation: 'in-process' }, legacy: true });
    const store = await createTestKeyStore({
      providers: [createMemoryProvider(), tpm.provider, capi.provider],
      machinePolicy: null,
    });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.refusals.map((r) => r.providerId)).toEqual(['memory', 'tpm', 'capi']);
    expect(error.refusals[0]!.reasons).toEqual(['achieves none, below the floor os-isolated (/minimumIsolation)']);
    expect(error.refusals[1]!.reasons).toEqual(['not available here: no TPM here']);
    expect(error.refusals[2]!.reasons[0]).toMatch(/legacy CryptoAPI is denied by policy \(\/legacyCryptoApi\)/);
    for (const id of ['memory', 'tpm', 'capi']) expect(error.message).toContain(`${id}: `);
    expect(error.message).toContain('no TPM here');
    expect(tpm.calls.createKey + capi.calls.createKey).toBe(0);
  });

  it('NO_PROVIDER when no provider is registered', async () => {
    const store = await createTestKeyStore({ providers: [], policy: DEV, machinePolicy: null });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.message).toContain('no providers are registered');
  });

  it('picks the strongest isolation, or the preferred provider, or the requested one', async () => {
    const cng = fakeProvider({ id: 'cng', probe: { isolation: 'os-isolated' } });
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const store = await createTestKeyStore({ providers: [cng.provider, tpm.provider], machinePolicy: null });
    expect((await store.createKey('a', { algorithm: 'ECDSA-P256' })).providerId).toBe('tpm');
    expect((await store.createKey('b', { algorithm: 'ECDSA-P256', provider: 'cng' })).providerId).toBe('cng');
    const preferring = await createTestKeyStore({
      providers: [cng.provider, tpm.provider],
      policy: { providers: { prefer: ['cng'] } },
      machinePolicy: null,
    });
    expect((await preferring.createKey('c', { algorithm: 'ECDSA-P256' })).providerId).toBe('cng');
  });

  it('an unknown requested provider is PROVIDER_UNAVAILABLE', async () => {
    const store = await memoryStore();
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256', provider: 'tpm' }))).toBe(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    );
  });

  it('a requested provider below the floor is refused, never used as a fallback', async () => {
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const store = await createTestKeyStore({ providers: [tpm.provider, createMemoryProvider()], machinePolicy: null });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256', provider: 'memory' }));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(tpm.calls.createKey).toBe(0);
  });

  it('re-probes on every create', async () => {
    const fake = fakeProvider({ probe: { isolation: 'hardware' } });
    const store = await createTestKeyStore({ providers: [fake.provider], machinePolicy: null });
    await store.createKey('a', { algorithm: 'ECDSA-P256' });
    await store.createKey('b', { algorithm: 'ECDSA-P256' });
    expect(fake.calls.probe).toBe(2);
  });

  it('a receipt below the floor: the key is deleted and POLICY_VIOLATION thrown', async () => {
    const liar = fakeProvider({ id: 'liar', probe: { isolation: 'hardware' }, receipt: 'in-process' });
    const store = await createTestKeyStore({ providers: [liar.provider], machinePolicy: null });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(error.message).toContain('in-process, below the floor os-isolated (/minimumIsolation)');
    expect(error.message).toContain('deleted');
    expect(liar.calls.deleteKey).toBe(1);
    expect(liar.calls.keyClose).toBe(1);
    expect(await liar.inner.listKeys()).toEqual([]);
  });

  it('a receipt without a valid level is treated as below the floor', async () => {
    const bogus = fakeProvider({ probe: { isolation: 'hardware' }, receipt: 'bogus' });
    const store = await createTestKeyStore({ providers: [bogus.provider], machinePolicy: null });
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(await bogus.inner.listKeys()).toEqual([]);
  });

  it('a key object that does not match the request is deleted and NATIVE_FAILURE thrown', async () => {
    const fake = fakeProvider();
    const provider: KeyStoreProvider = {
      ...fake.provider,
      createKey: async (r) => fake.provider.createKey({ ...r, algorithm: 'ECDSA-P384' }),
    };
    const store = await createTestKeyStore({ providers: [provider], machinePolicy: null });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(fake.calls.deleteKey).toBe(1);
    expect(await fake.inner.listKeys()).toEqual([]);
  });

  it('passes provider errors through: KEY_EXISTS', async () => {
    const store = await memoryStore();
    await store.createKey('k', { algorithm: 'ECDSA-P256' });
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_KEY_EXISTS');
  });

  it('wraps other provider errors as NATIVE_FAILURE with the cause', async () => {
    const fake = fakeProvider();
    const boom = new Error('segfault-ish');
    const provider = { ...fake.provider, createKey: async () => Promise.reject(boom) };
    const store = await createTestKeyStore({ providers: [provider], machinePolicy: null });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(error.cause).toBe(boom);
    expect(error.providerId).toBe('fake');
  });

  it('an aborted signal rejects with CANCELLED before the provider is called', async () => {
    const fake = fakeProvider();
    const store = await createTestKeyStore({ providers: [fake.provider], machinePolicy: null });
    const signal = AbortSignal.abort();
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256', signal }))).toBe('ERR_KEYSTORE_CANCELLED');
    expect(fake.calls.createKey).toBe(0);
  });

  it('passes the password to the provider, and refuses providers without password support', async () => {
    const store = await memoryStore();
    await store.createKey('locked', { algorithm: 'ECDSA-P256', password: 'hunter2' });
    expect(await codeOf(store.openKey('locked'))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect((await store.openKey('locked', { password: 'hunter2' })).name).toBe('locked');
    const fake = fakeProvider();
    const noPasswords = { ...fake.provider, capabilities: { ...fake.provider.capabilities, passwords: false } };
    const strict = await createTestKeyStore({ providers: [noPasswords], machinePolicy: null });
    const error = await errorOf(strict.createKey('k', { algorithm: 'ECDSA-P256', password: 'x' }));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.refusals[0]!.reasons).toEqual(['does not support key passwords']);
  });
});

describe('KeyStore.openKey', () => {
  it('opens by reference and by name', async () => {
    const store = await memoryStore();
    const created = await store.createKey('k', { algorithm: 'RSA-2048', scope: 'machine' });
    const byRef = await store.openKey(created.ref);
    expect(byRef).toMatchObject({ ref: created.ref, algorithm: 'RSA-2048', scope: 'machine', providerId: 'memory' });
    const byName = await store.openKey('k', { scope: 'machine' });
    expect(byName.ref).toBe(created.ref);
    expect(byName.publicKey.equals(created.publicKey)).toBe(true);
    expect(await codeOf(store.openKey('k'))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
  });

  it('searches providers in rank order; KEY_NOT_FOUND moves on, the first that has it wins', async () => {
    const vault = new MemoryKeyVault();
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const cngA = fakeProvider({ id: 'cng', probe: { isolation: 'os-isolated' }, vault });
    const store = await createTestKeyStore({ providers: [cngA.provider, tpm.provider], machinePolicy: null });
    await cngA.inner.createKey({ name: 'only-in-cng', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const key = await store.openKey('only-in-cng');
    expect(key.providerId).toBe('cng');
    expect(tpm.calls.openKey).toBe(1);
    expect(cngA.calls.openKey).toBe(1);
  });

  it('other errors stop the search', async () => {
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const cng = fakeProvider({ id: 'cng' });
    const denied = {
      ...tpm.provider,
      openKey: async () => Promise.reject(new KeyStoreError('ERR_KEYSTORE_ACCESS_DENIED', 'no')),
    };
    const store = await createTestKeyStore({ providers: [denied, cng.provider], machinePolicy: null });
    expect(await codeOf(store.openKey('k'))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(cng.calls.openKey).toBe(0);
  });

  it('a provider that turns out unavailable is skipped, but "not found" then becomes PROVIDER_UNAVAILABLE', async () => {
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const cng = fakeProvider({ id: 'cng' });
    const gone = {
      ...tpm.provider,
      openKey: async () => Promise.reject(new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'device gone')),
    };
    const store = await createTestKeyStore({ providers: [gone, cng.provider], machinePolicy: null });
    await cng.inner.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    expect((await store.openKey('k')).providerId).toBe('cng');
    expect(await codeOf(store.openKey('missing'))).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
  });

  it('providers below the floor are not searched', async () => {
    const memory = createMemoryProvider();
    await memory.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const cng = fakeProvider({ id: 'cng' });
    const store = await createTestKeyStore({ providers: [memory, cng.provider], machinePolicy: null });
    const error = await errorOf(store.openKey('k'));
    expect(error.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(error.message).toContain('not searched: memory: achieves none, below the floor');
  });

  it('NO_PROVIDER when no provider may be searched', async () => {
    const store = await createTestKeyStore({ providers: [createMemoryProvider()], machinePolicy: null });
    expect(await codeOf(store.openKey('k'))).toBe('ERR_KEYSTORE_NO_PROVIDER');
  });

  it('by reference: the provider must still be allowed by policy', async () => {
    const vault = new MemoryKeyVault();
    const open = await createTestKeyStore({
      providers: [createMemoryProvider({ vault })],
      policy: DEV,
      machinePolicy: null,
    });
    const key = await open.createKey('k', { algorithm: 'ECDSA-P256' });
    const denying = await createTestKeyStore({
      providers: [createMemoryProvider({ vault })],
      policy: { ...DEV, providers: { deny: ['memory'] } },
      machinePolicy: null,
    });
    const error = await errorOf(denying.openKey(key.ref));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.refusals.map((r) => r.providerId)).toEqual(['memory']);
    expect(error.refusals[0]?.reasons.some((r) => r.includes('/providers/deny'))).toBe(true);
    expect(await codeOf(denying.deleteKey(key.ref))).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(vault.size).toBe(1);
  });

  it('by reference: a legacy provider is refused unless allowed', async () => {
    const capi = fakeProvider({ id: 'capi', probe: { isolation: 'in-process' }, legacy: true });
    await capi.inner.createKey({ name: 'old', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const store = await createTestKeyStore({ providers: [capi.provider], policy: DEV, machinePolicy: null });
    expect(await codeOf(store.openKey('keystore:capi:user:old'))).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(capi.calls.openKey).toBe(0);
  });

  it('by reference: a provider below the floor is refused before it is called, as by name', async () => {
    // legacyCryptoApi allowed, but the floor stays at the default os-isolated: capi (in-process) may not serve.
    const capi = fakeProvider({ id: 'capi', probe: { isolation: 'in-process' }, legacy: true });
    await capi.inner.createKey({ name: 'victim', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const store = await createTestKeyStore({
      providers: [capi.provider],
      policy: { legacyCryptoApi: 'allow' },
      machinePolicy: null,
      registryPolicy: null,
    });
    expect(store.policy.minimumIsolation).toBe('os-isolated');
    const byName = await errorOf(store.deleteKey('victim'));
    const byRef = await errorOf(store.deleteKey('keystore:capi:user:victim'));
    const opened = await errorOf(store.openKey('keystore:capi:user:victim'));
    for (const error of [byRef, opened]) {
      expect(error.code).toBe(byName.code);
      expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
      expect(error.refusals).toEqual(byName.refusals);
    }
    expect(byRef.refusals[0]?.reasons.some((r) => r.includes('/minimumIsolation'))).toBe(true);
    expect(capi.calls.deleteKey).toBe(0);
    expect(capi.calls.openKey).toBe(0);
    expect((await capi.inner.listKeys()).map((k) => k.name)).toEqual(['victim']);
  });

  it('by reference: an unavailable provider, or one without the scope or passwords, is refused before it is called', async () => {
    const down = fakeProvider({ id: 'down', probe: { available: false, reasons: ['no device'] } });
    await down.inner.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const store = await createTestKeyStore({ providers: [down.provider], policy: DEV, machinePolicy: null });
    const error = await errorOf(store.openKey('keystore:down:user:k'));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.refusals).toEqual([{ providerId: 'down', reasons: ['not available here: no device'] }]);
    expect(await codeOf(store.deleteKey('keystore:down:user:k'))).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(down.calls.openKey + down.calls.deleteKey).toBe(0);

    const userOnly = fakeProvider({ id: 'useronly' });
    const narrowed: KeyStoreProvider = {
      ...userOnly.provider,
      capabilities: { ...userOnly.provider.capabilities, scopes: ['user'], passwords: false },
    };
    const narrow = await createTestKeyStore({ providers: [narrowed], machinePolicy: null, registryPolicy: null });
    expect(await codeOf(narrow.deleteKey('keystore:useronly:machine:k'))).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(await codeOf(narrow.openKey('keystore:useronly:user:k', { password: 'pw' }))).toBe(
      'ERR_KEYSTORE_NO_PROVIDER',
    );
    expect(userOnly.calls.openKey + userOnly.calls.deleteKey).toBe(0);
  });

  it('by reference: probes only the provider named, and reuses a fresh probe', async () => {
    // The clock stands still: "fresh" must not depend on how fast this machine runs the test.
    vi.useFakeTimers({ toFake: ['Date'] });
    const a = fakeProvider({ id: 'a' });
    const b = fakeProvider({ id: 'b' });
    await a.inner.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const store = await createTestKeyStore({
      providers: [a.provider, b.provider],
      machinePolicy: null,
      registryPolicy: null,
    });
    await (await store.openKey('keystore:a:user:k')).close();
    expect([a.calls.probe, b.calls.probe]).toEqual([1, 0]);
    await store.listKeys();
    await (await store.openKey('keystore:a:user:k')).close();
    await store.deleteKey('keystore:a:user:k');
    expect([a.calls.probe, b.calls.probe]).toEqual([2, 1]);
    expect(a.calls.deleteKey).toBe(1);
  });

  it('by reference: a key whose receipt is below the floor is closed and refused', async () => {
    const cng = fakeProvider({ id: 'cng', receipt: 'in-process' });
    await cng.inner.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const store = await createTestKeyStore({ providers: [cng.provider], machinePolicy: null });
    const error = await errorOf(store.openKey('keystore:cng:user:k'));
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(cng.calls.keyClose).toBe(1);
    expect(cng.calls.deleteKey).toBe(0);
    expect(await codeOf(store.openKey('k'))).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
  });

  it('by reference: unknown provider, malformed reference, conflicting options', async () => {
    const store = await memoryStore();
    await store.createKey('k', { algorithm: 'ECDSA-P256' });
    expect(await codeOf(store.openKey('keystore:tpm:user:k'))).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(await codeOf(store.openKey('keystore:memory:user'))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(store.openKey('keystore:memory:user:k', { scope: 'machine' }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(await codeOf(store.openKey('keystore:memory:user:k', { provider: 'tpm' }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(await codeOf(store.openKey('keystore:memory:user:missing'))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
  });

  it('validates the name and options', async () => {
    const store = await memoryStore();
    expect(await codeOf(store.openKey(''))).toBe('ERR_KEYSTORE_INVALID_NAME');
    expect(await codeOf(store.openKey('k', { scope: 'everywhere' as never }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(store.openKey('k', 'user' as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(store.openKey('k', { signal: AbortSignal.abort() }))).toBe('ERR_KEYSTORE_CANCELLED');
  });

  it('reuses probe answers briefly, and asks again once they are 1.5 s old', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const fake = fakeProvider();
    const store = await createTestKeyStore({ providers: [fake.provider], machinePolicy: null });
    await store.createKey('k', { algorithm: 'ECDSA-P256' });
    await store.openKey('k');
    vi.advanceTimersByTime(1499);
    await store.openKey('k');
    await store.listKeys();
    expect(fake.calls.probe).toBe(1);
    vi.advanceTimersByTime(1);
    await store.openKey('k');
    expect(fake.calls.probe).toBe(2);
    await store.listKeys();
    await store.openKey('keystore:fake:user:k');
    expect(fake.calls.probe).toBe(2);
    vi.advanceTimersByTime(1500);
    await store.openKey('keystore:fake:user:k');
    expect(fake.calls.probe).toBe(3);
  });
});

describe('KeyStore.listKeys and deleteKey', () => {
  it('lists keys of every provider that may serve, with references', async () => {
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const cng = fakeProvider({ id: 'cng' });
    const memory = createMemoryProvider();
    await memory.createKey({ name: 'hidden', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const store = await createTestKeyStore({ providers: [cng.provider, tpm.provider, memory], machinePolicy: null });
    await store.createKey('a', { algorithm: 'ECDSA-P256' });
    await store.createKey('b', { algorithm: 'RSA-2048', provider: 'cng', scope: 'machine' });
    const { keys: all, errors } = await store.listKeys();
    expect(errors).toEqual([]);
    expect(all).toEqual([
      { ref: 'keystore:tpm:user:a', name: 'a', providerId: 'tpm', scope: 'user', algorithm: 'ECDSA-P256' },
      { ref: 'keystore:cng:machine:b', name: 'b', providerId: 'cng', scope: 'machine', algorithm: 'RSA-2048' },
    ]);
    expect(await store.listKeys({ scope: 'machine' })).toEqual({ keys: [all[1]], errors: [] });
    expect(await store.listKeys({ provider: 'tpm' })).toEqual({ keys: [all[0]], errors: [] });
    expect(await codeOf(store.listKeys({ provider: 'nope' }))).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(await codeOf(store.listKeys({ provider: 'memory' }))).toBe('ERR_KEYSTORE_NO_PROVIDER');
  });

  it('lists the keys of the providers that answer and reports each one that cannot list', async () => {
    const cng = fakeProvider({ id: 'cng' });
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const capi = fakeProvider({ id: 'capi' });
    const gone = {
      ...tpm.provider,
      listKeys: async () => Promise.reject(new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'gone')),
    };
    const stub = {
      ...capi.provider,
      listKeys: async () => Promise.reject(new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'stubbed')),
    };
    await cng.inner.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const store = await createTestKeyStore({ providers: [gone, cng.provider, stub], machinePolicy: null });
    const { keys, errors } = await store.listKeys();
    expect(keys.map((k) => k.ref)).toEqual(['keystore:cng:user:k']);
    expect(errors.map((e) => [e.provider, e.code, e.error.code])).toEqual([
      ['tpm', 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'],
      ['capi', 'ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
    ]);
    expect(errors.every((e) => e.error instanceof KeyStoreError && e.message === e.error.message)).toBe(true);
    // Named, the provider's failure is the answer.
    expect(await codeOf(store.listKeys({ provider: 'capi' }))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(await codeOf(store.listKeys({ provider: 'tpm' }))).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    // An error that is not a KeyStoreError is reported as a typed native failure.
    const broken = { ...tpm.provider, listKeys: async () => Promise.reject(new Error('bad')) };
    const store2 = await createTestKeyStore({ providers: [broken, cng.provider], machinePolicy: null });
    const listed = await store2.listKeys();
    expect(listed.keys.map((k) => k.ref)).toEqual(['keystore:cng:user:k']);
    expect(listed.errors.map((e) => [e.provider, e.code])).toEqual([['tpm', 'ERR_KEYSTORE_NATIVE_FAILURE']]);
  });

  it('a cancelled listing rejects even when only one provider saw the cancellation', async () => {
    const cng = fakeProvider({ id: 'cng' });
    const cancelling = {
      ...fakeProvider({ id: 'tpm' }).provider,
      listKeys: async () => Promise.reject(new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'cancelled')),
    };
    const store = await createTestKeyStore({ providers: [cancelling, cng.provider], machinePolicy: null });
    expect(await codeOf(store.listKeys())).toBe('ERR_KEYSTORE_CANCELLED');
  });

  it('deletes by name and by reference', async () => {
    const store = await memoryStore();
    const a = await store.createKey('a', { algorithm: 'ECDSA-P256' });
    await store.createKey('b', { algorithm: 'ECDSA-P256', scope: 'machine' });
    await store.deleteKey(a.ref);
    await store.deleteKey('b', { scope: 'machine' });
    expect(await store.listKeys()).toEqual({ keys: [], errors: [] });
    expect(await codeOf(store.deleteKey('a'))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(await codeOf(store.deleteKey(a.ref))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(await codeOf(store.deleteKey(''))).toBe('ERR_KEYSTORE_INVALID_NAME');
  });

  it('deletes the key openKey would open: the first in rank order', async () => {
    const vault = new MemoryKeyVault();
    const tpm = fakeProvider({ id: 'tpm', probe: { isolation: 'hardware' } });
    const cng = fakeProvider({ id: 'cng', vault });
    await tpm.inner.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    await cng.inner.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const store = await createTestKeyStore({ providers: [cng.provider, tpm.provider], machinePolicy: null });
    await store.deleteKey('k');
    expect((await store.listKeys()).keys.map((k) => k.ref)).toEqual(['keystore:cng:user:k']);
  });
});

describe('KeyStore.explain and close', () => {
  it('explains every provider', async () => {
    const tpm = fakeProvider({ id: 'tpm', probe: { available: false, isolation: 'none', reasons: ['no device'] } });
    const store = await createTestKeyStore({ providers: [createMemoryProvider(), tpm.provider], machinePolicy: null });
    const e = await store.explain({ algorithm: 'ECDSA-P256' });
    expect(e.selected).toBeNull();
    expect(e.providers.map((v) => v.providerId)).toEqual(['memory', 'tpm']);
    expect(e.request).toEqual({
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
      password: false,
      userPrompt: false,
      importKey: false,
    });
    const dev = await memoryStore();
    expect((await dev.explain()).selected).toBe('memory');
    expect(await codeOf(dev.explain({ algorithm: 'DSA' as never }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('close() closes every provider once; later calls reject', async () => {
    const a = fakeProvider({ id: 'a' });
    const b = fakeProvider({ id: 'b' });
    const store = await createTestKeyStore({ providers: [a.provider, b.provider], machinePolicy: null });
    await store.close();
    await store.close();
    expect([a.calls.close, b.calls.close]).toEqual([1, 1]);
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
  });
});

// ---------------------------------------------------------------- keys

const SIGNING: KeyAlgorithm[] = ['ECDSA-P256', 'ECDSA-P384', 'ECDSA-P521', 'RSA-2048', 'RSA-3072', 'RSA-4096'];
const HASHES: HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];
const FIELD: Record<string, number> = { 'ECDSA-P256': 32, 'ECDSA-P384': 48, 'ECDSA-P521': 66 };

async function keyOf(algorithm: KeyAlgorithm, options: FakeOptions & { policy?: KeyStorePolicy } = {}) {
  const fake = fakeProvider({ probe: { isolation: 'none' }, ...options });
  const store = await createTestKeyStore({
    providers: [fake.provider],
    policy: options.policy ?? { ...DEV, exportable: { create: true, export: true } },
    machinePolicy: null,
  });
  const key = await store.createKey(`k-${algorithm}`, { algorithm, exportable: true });
  return { key, fake, store };
}

describe('KeyStoreKey.sign and verify', () => {
  const data = Buffer.from('the quick brown fox');

  describe.each([false, true])('with signMessage dropped: %s', (noSignMessage) => {
    it.each(SIGNING)('%s: every hash and encoding verifies with node:crypto', async (algorithm) => {
      const { key } = await keyOf(algorithm, { noSignMessage });
      for (const hash of HASHES) {
        if (algorithm.startsWith('ECDSA')) {
          const der = await key.sign(data, { hash });
          expect(der[0]).toBe(0x30);
          expect(cryptoVerify(hash, data, key.publicKey, der)).toBe(true);
          const p1363 = await key.sign(data, { hash, dsaEncoding: 'ieee-p1363' });
          expect(p1363).toHaveLength(2 * FIELD[algorithm]!);
          expect(cryptoVerify(hash, data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, p1363)).toBe(true);
          expect(await key.verify(data, der, { hash })).toBe(true);
          expect(await key.verify(data, p1363, { hash, dsaEncoding: 'ieee-p1363' })).toBe(true);
          expect(await key.verify(data, p1363ToDer(p1363), { hash })).toBe(true);
          expect(derToP1363(der, FIELD[algorithm]!)).toHaveLength(2 * FIELD[algorithm]!);
        } else {
          const pkcs1 = await key.sign(data, { hash });
          expect(cryptoVerify(hash, data, key.publicKey, pkcs1)).toBe(true);
          expect(await key.verify(data, pkcs1, { hash })).toBe(true);
          const pss = await key.sign(data, { hash, padding: 'pss' });
          const pssKey = { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING };
          expect(cryptoVerify(hash, data, { ...pssKey, saltLength: createHash(hash).digest().length }, pss)).toBe(true);
          expect(await key.verify(data, pss, { hash, padding: 'pss' })).toBe(true);
          expect(await key.verify(data, pss, { hash })).toBe(false);
        }
      }
      const plain = await key.sign(data);
      expect(await key.verify(data, plain)).toBe(true);
      expect(await key.verify(Buffer.from('tampered'), plain)).toBe(false);
      expect(await key.verify(data, Buffer.from('garbage'))).toBe(false);
      expect(cryptoVerify('sha256', data, key.publicKey, plain)).toBe(true);
    });
  });

  it('signs any Uint8Array view, not only Buffers', async () => {
    const { key } = await keyOf('ECDSA-P256');
    const backing = new Uint8Array(64).fill(7);
    const view = backing.subarray(10, 30);
    const signature = await key.sign(view);
    expect(cryptoVerify('sha256', Buffer.from(view), key.publicKey, signature)).toBe(true);
  });

  it('PSS with a chosen salt length, up to the maximum', async () => {
    const { key } = await keyOf('RSA-2048');
    const max = 256 - 64 - 2;
    for (const saltLength of [0, 20, max]) {
      const signature = await key.sign(data, { hash: 'sha512', padding: 'pss', saltLength });
      const verifyKey = { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
      expect(cryptoVerify('sha512', data, verifyKey, signature)).toBe(true);
      expect(await key.verify(data, signature, { hash: 'sha512', padding: 'pss', saltLength })).toBe(true);
    }
    expect(await codeOf(key.sign(data, { hash: 'sha512', padding: 'pss', saltLength: max + 1 }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
  });

  it.each([
    [{ hash: 'md5' }],
    [{ hash: 'sha1' }],
    [{ padding: 'oaep' }],
    [{ padding: 'pss', saltLength: -1 }],
    [{ padding: 'pss', saltLength: 1.5 }],
    [{ padding: 'pss', saltLength: '32' }],
    [{ dsaEncoding: 'raw' }],
    ['sha256'],
  ])('rejects sign options %j with INVALID_ARGUMENT', async (options) => {
    const { key, fake } = await keyOf('RSA-2048');
    const before = fake.calls.probe;
    expect(await codeOf(key.sign(data, options as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(fake.calls.probe).toBe(before);
  });

  it('rejects data that is not bytes', async () => {
    const { key } = await keyOf('ECDSA-P256');
    expect(await codeOf(key.sign('text' as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(key.verify('text' as never, Buffer.alloc(1)))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(key.verify(data, 'sig' as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('ECDH keys cannot sign or verify', async () => {
    const { key } = await keyOf('ECDH-P256');
    expect(await codeOf(key.sign(data))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(await codeOf(key.signDigest(Buffer.alloc(32)))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(await codeOf(key.verify(data, Buffer.alloc(64)))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
  });

  it('a provider that cannot do PKCS#1 refuses the default padding', async () => {
    const fake = fakeProvider({ probe: { isolation: 'none' } });
    const provider = {
      ...fake.provider,
      capabilities: { ...fake.provider.capabilities, rsaSignaturePaddings: ['pss' as const] },
    };
    const store = await createTestKeyStore({ providers: [provider], policy: DEV, machinePolicy: null });
    const key = await store.createKey('k', { algorithm: 'RSA-2048' });
    expect(await codeOf(key.sign(data))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(await codeOf(key.sign(data, { hash: 'sha384' }))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    const pss = await key.sign(data, { padding: 'pss' });
    expect(await key.verify(data, pss, { padding: 'pss' })).toBe(true);
  });

  it('a padding the provider cannot do is UNSUPPORTED_OPERATION', async () => {
    const fake = fakeProvider({ probe: { isolation: 'none' } });
    const provider = {
      ...fake.provider,
      capabilities: { ...fake.provider.capabilities, rsaSignaturePaddings: ['pkcs1' as const] },
    };
    const store = await createTestKeyStore({ providers: [provider], policy: DEV, machinePolicy: null });
    const key = await store.createKey('k', { algorithm: 'RSA-2048' });
    expect(await codeOf(key.sign(data, { padding: 'pss' }))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(cryptoVerify('sha256', data, key.publicKey, await key.sign(data))).toBe(true);
    // Verification is in software, so it still accepts PSS.
    expect(await key.verify(data, Buffer.alloc(256), { padding: 'pss' })).toBe(false);
  });

  it('wraps a provider failure as NATIVE_FAILURE with the cause', async () => {
    const { key, fake } = await keyOf('ECDSA-P256');
    const boom = new Error('boom');
    const spy = vi.spyOn(fake.inner, 'openKey');
    expect(spy).not.toHaveBeenCalled();
    const broken = await createTestKeyStore({
      providers: [
        {
          ...fake.provider,
          openKey: async (r) => ({
            ...(await fake.provider.openKey(r)),
            signMessage: async () => Promise.reject(boom),
          }),
        },
      ],
      policy: DEV,
      machinePolicy: null,
    });
    const opened = await broken.openKey(key.ref);
    const error = await errorOf(opened.sign(data));
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(error.cause).toBe(boom);
  });
});

describe('KeyStoreKey.signDigest', () => {
  it.each(SIGNING)('%s: signs a digest of the right length', async (algorithm) => {
    const { key } = await keyOf(algorithm);
    const data = Buffer.from('digest me');
    for (const hash of HASHES) {
      const digest = createHash(hash).update(data).digest();
      const signature = await key.signDigest(digest, { hash });
      expect(cryptoVerify(hash, data, key.publicKey, signature)).toBe(true);
      if (algorithm.startsWith('ECDSA')) {
        const p1363 = await key.signDigest(digest, { hash, dsaEncoding: 'ieee-p1363' });
        expect(cryptoVerify(hash, data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, p1363)).toBe(true);
      }
    }
  });

  it('rejects a digest whose length is not the hash length', async () => {
    const { key } = await keyOf('ECDSA-P256');
    expect(await codeOf(key.signDigest(Buffer.alloc(31)))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(key.signDigest(Buffer.alloc(32), { hash: 'sha384' }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(key.signDigest('x' as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });
});

describe('KeyStoreKey.decrypt', () => {
  it('RSA-OAEP with every hash', async () => {
    const { key } = await keyOf('RSA-2048');
    const secret = Buffer.from('attack at dawn');
    for (const hash of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
      const ciphertext = publicEncrypt(
        { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
        secret,
      );
      expect(await key.decrypt(ciphertext, { hash })).toEqual(secret);
    }
    const defaultHash = publicEncrypt({ key: key.publicKey, oaepHash: 'sha256' }, secret);
    expect(await key.decrypt(defaultHash)).toEqual(secret);
  });

  it('validates the ciphertext length, the hash and the key type', async () => {
    const { key } = await keyOf('RSA-3072');
    expect(await codeOf(key.decrypt(Buffer.alloc(256)))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(key.decrypt(Buffer.alloc(384), { hash: 'md5' as never }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(await codeOf(key.decrypt('x' as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    const { key: ec } = await keyOf('ECDSA-P256');
    expect(await codeOf(ec.decrypt(Buffer.alloc(256)))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
  });
});

describe('KeyStoreKey.deriveSecret', () => {
  it('ECDH with a peer on the same curve equals node:crypto', async () => {
    const { key } = await keyOf('ECDH-P384');
    const peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const secret = await key.deriveSecret(peer.publicKey);
    expect(secret).toHaveLength(48);
    expect(secret).toEqual(diffieHellman({ privateKey: peer.privateKey, publicKey: key.publicKey }));
  });

  it('rejects a peer that is not an EC public key on the same curve', async () => {
    const { key } = await keyOf('ECDH-P256');
    const other = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const same = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const bad: unknown[] = [
      other.publicKey,
      same.privateKey,
      rsa.publicKey,
      'pem',
      null,
      same.publicKey.export({ format: 'jwk' }),
    ];
    for (const peer of bad) {
      expect(await codeOf(key.deriveSecret(peer as KeyObject))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    }
    const { key: signing } = await keyOf('ECDSA-P256');
    expect(await codeOf(signing.deriveSecret(same.publicKey))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
  });
});

describe('KeyStoreKey.exportPrivateKey and exportPublicKey', () => {
  it('exports only when the key is exportable and the policy allows export', async () => {
    const { key } = await keyOf('ECDSA-P256');
    const privateKey = await key.exportPrivateKey();
    expect(privateKey.type).toBe('private');
    expect(createPublicKey(privateKey).equals(key.publicKey)).toBe(true);

    const { key: noExport } = await keyOf('ECDSA-P256', { policy: { ...DEV, exportable: { create: true } } });
    const error = await errorOf(noExport.exportPrivateKey());
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(error.message).toContain('/exportable/export');

    const store = await memoryStore({ ...DEV, exportable: { create: true, export: true } });
    const fixed = await store.createKey('fixed', { algorithm: 'ECDSA-P256' });
    expect(await codeOf(fixed.exportPrivateKey())).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
  });

  it('exports the public key as DER, PEM and JWK', async () => {
    const { key } = await keyOf('ECDSA-P256');
    expect(key.exportPublicKey('der').equals(key.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    expect(key.exportPublicKey('pem')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(key.exportPublicKey('jwk')).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(() => key.exportPublicKey('xml' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
    );
  });
});

describe('KeyStoreKey: abort, close, dispose', () => {
  it('an aborted signal rejects with CANCELLED before the provider is called', async () => {
    const { key } = await keyOf('RSA-2048', { noSignMessage: false });
    const signal = AbortSignal.abort();
    const opened = key as unknown as { sign: typeof key.sign };
    expect(await codeOf(opened.sign(Buffer.from('x'), { signal }))).toBe('ERR_KEYSTORE_CANCELLED');
    expect(await codeOf(key.signDigest(Buffer.alloc(32), { signal }))).toBe('ERR_KEYSTORE_CANCELLED');
    expect(await codeOf(key.decrypt(Buffer.alloc(256), { signal }))).toBe('ERR_KEYSTORE_CANCELLED');
    expect(await codeOf(key.exportPrivateKey({ signal }))).toBe('ERR_KEYSTORE_CANCELLED');
    expect(await codeOf(key.verify(Buffer.from('x'), Buffer.alloc(256), { signal }))).toBe('ERR_KEYSTORE_CANCELLED');
    const { key: ecdh } = await keyOf('ECDH-P256');
    const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    expect(await codeOf(ecdh.deriveSecret(peer, { signal }))).toBe('ERR_KEYSTORE_CANCELLED');
  });

  it('does not call the provider for an aborted sign', async () => {
    const fake = fakeProvider({ probe: { isolation: 'none' } });
    const signMessage = vi.fn();
    const provider: KeyStoreProvider = {
      ...fake.provider,
      createKey: async (r) => ({ ...(await fake.provider.createKey(r)), signMessage }),
    };
    const store = await createTestKeyStore({ providers: [provider], policy: DEV, machinePolicy: null });
    const key = await store.createKey('k', { algorithm: 'ECDSA-P256' });
    expect(await codeOf(key.sign(Buffer.from('x'), { signal: AbortSignal.abort() }))).toBe('ERR_KEYSTORE_CANCELLED');
    expect(signMessage).not.toHaveBeenCalled();
  });

  it('close() is idempotent; later operations reject with KEY_CLOSED', async () => {
    const { key, fake } = await keyOf('RSA-2048');
    await Promise.all([key.close(), key.close()]);
    await key.close();
    expect(fake.calls.keyClose).toBe(1);
    const data = Buffer.from('x');
    expect(await codeOf(key.sign(data))).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(await codeOf(key.signDigest(Buffer.alloc(32)))).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(await codeOf(key.verify(data, Buffer.alloc(256)))).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(await codeOf(key.decrypt(Buffer.alloc(256)))).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(await codeOf(key.exportPrivateKey())).toBe('ERR_KEYSTORE_KEY_CLOSED');
    expect(key.exportPublicKey('pem')).toMatch(/PUBLIC KEY/);
  });

  it('await using closes the key', async () => {
    const fake = fakeProvider({ probe: { isolation: 'none' } });
    const store = await createTestKeyStore({ providers: [fake.provider], policy: DEV, machinePolicy: null });
    let escaped: { sign: (d: Uint8Array) => Promise<Buffer> } | undefined;
    {
      await using key = await store.createKey('k', { algorithm: 'ECDSA-P256' });
      escaped = key;
      expect(typeof key[Symbol.asyncDispose]).toBe('function');
      await key.sign(Buffer.from('inside'));
    }
    expect(fake.calls.keyClose).toBe(1);
    expect(await codeOf(escaped!.sign(Buffer.from('after')))).toBe('ERR_KEYSTORE_KEY_CLOSED');
  });

  it('JSON of a key carries no key material', async () => {
    const { key } = await keyOf('ECDSA-P256');
    const json = JSON.stringify(key);
    expect(json).toContain('keystore:fake:user:k-ECDSA-P256');
    const d = (await key.exportPrivateKey()).export({ format: 'jwk' }).d as string;
    expect(json).not.toContain(d);
  });
});

describe('KeyStore.openKey under a policy that tightened after the key was made', () => {
  const dev = { minimumIsolation: 'none' as const };

  const cases: [string, KeyStorePolicy, KeyScope, KeyAlgorithm][] = [
    ['a scope the machine no longer allows', { allowedScopes: ['user'] }, 'machine', 'ECDSA-P256'],
    ['an RSA size below minimumRsaBits', { minimumRsaBits: 3072 }, 'user', 'RSA-2048'],
    ['an algorithm no longer allowed', { allowedAlgorithms: ['ECDSA-P384'] }, 'user', 'ECDSA-P256'],
  ];
  it.each(cases)(
    'refuses a key in %s (by name and by reference), but lets it be deleted',
    async (_, machine, scope, algorithm) => {
      const vault = new MemoryKeyVault();
      const loose = await createTestKeyStore({
        providers: [createMemoryProvider({ vault })],
        policy: dev,
        machinePolicy: null,
      });
      const made = await loose.createKey('old-key', { algorithm, scope });
      const ref = made.ref;
      await made.close();

      const strict = await createTestKeyStore({
        providers: [createMemoryProvider({ vault })],
        policy: dev,
        machinePolicy: { minimumIsolation: 'none', ...machine },
      });
      await expect(strict.openKey(ref)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
      await expect(strict.openKey('old-key', { scope })).rejects.toMatchObject({
        code: 'ERR_KEYSTORE_POLICY_VIOLATION',
      });
      await strict.deleteKey(ref);
      await expect(loose.openKey(ref)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_KEY_NOT_FOUND' });
    },
  );
});

describe('KeyStore disposal', () => {
  it('`await using` closes the store, and with it every provider', async () => {
    const provider = createMemoryProvider();
    const close = vi.spyOn(provider, 'close');
    {
      await using store = await createTestKeyStore({
        providers: [provider],
        policy: { minimumIsolation: 'none' },
        machinePolicy: null,
      });
      await store.createKey('disposable', { algorithm: 'ECDSA-P256' });
    }
    expect(close).toHaveBeenCalledTimes(1);
  });
});
