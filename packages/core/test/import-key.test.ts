// KeyStore.importKey, and the fields createKey now passes to providers (minimumIsolation, userPrompt).
// The providers here are the in-memory provider, or named wrappers around it that play other
// providers (another id, isolation, capabilities, a faulty import).
import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  verify,
} from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  AUDIT_CHANNEL_NAME,
  type AuditEvent,
  type IsolationLevel,
  type KeyStore,
  type KeyStorePolicy,
  type KeyStoreProvider,
  type ProviderCapabilities,
  type ProviderCreateRequest,
  type ProviderImportRequest,
  type ProviderKey,
} from '@keystore/core';
import { createMemoryProvider, createTestKeyStore, MemoryKeyVault } from '@keystore/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { codeOf, errorOf } from './helpers/errors.js';

const DEV: KeyStorePolicy = { minimumIsolation: 'none' };

interface PlayOptions {
  id?: string;
  isolation?: IsolationLevel;
  /** The level written into receipts (default: `isolation`). */
  receipt?: IsolationLevel;
  capabilities?: Partial<ProviderCapabilities>;
  /** Leave out the importKey method. */
  noImport?: boolean;
  /** Replace the import (to play a faulty provider). */
  importKey?: (request: ProviderImportRequest) => Promise<ProviderKey>;
  vault?: MemoryKeyVault;
}

/** The in-memory provider under another id, isolation and capabilities, recording what it was asked. */
function play(options: PlayOptions = {}) {
  const inner = createMemoryProvider(options.vault ? { vault: options.vault } : {});
  const id = options.id ?? 'fake';
  const isolation = options.isolation ?? 'os-isolated';
  const level = options.receipt ?? isolation;
  const requests: { create: ProviderCreateRequest[]; import: ProviderImportRequest[]; deleted: string[] } = {
    create: [],
    import: [],
    deleted: [],
  };
  const wrap = (key: ProviderKey): ProviderKey =>
    Object.assign(Object.create(key) as ProviderKey, {
      isolation: { ...key.isolation, level, providerId: id },
      close: () => key.close(),
    });
  const provider: KeyStoreProvider = {
    id,
    displayName: `fake ${id}`,
    capabilities: { ...inner.capabilities, ...options.capabilities },
    probe: async () => ({ available: true, isolation, reasons: [] }),
    createKey: async (r) => {
      requests.create.push(r);
      return wrap(await inner.createKey(r));
    },
    ...(options.noImport
      ? {}
      : {
          importKey: async (r: ProviderImportRequest) => {
            requests.import.push(r);
            return wrap(await (options.importKey ?? ((q) => inner.importKey(q)))(r));
          },
        }),
    openKey: async (r) => wrap(await inner.openKey(r)),
    listKeys: (o) => inner.listKeys(o),
    deleteKey: async (r) => {
      requests.deleted.push(r.name);
      return inner.deleteKey(r);
    },
  };
  return { provider, requests, inner };
}

async function storeOf(providers: KeyStoreProvider[], policy: KeyStorePolicy = DEV): Promise<KeyStore> {
  return createTestKeyStore({ providers, policy, machinePolicy: null, registryPolicy: null });
}

const ec = (namedCurve = 'prime256v1') => generateKeyPairSync('ec', { namedCurve });
const rsa = (modulusLength = 2048) => generateKeyPairSync('rsa', { modulusLength });

describe('KeyStore.importKey: the algorithm comes from the key', () => {
  it('imports an EC key as ECDSA by default: same public key, signs, not exportable', async () => {
    const store = await storeOf([createMemoryProvider()], { ...DEV, exportable: { export: true } });
    const pair = ec();
    const key = await store.importKey('imported', pair.privateKey);
    expect(key.algorithm).toBe('ECDSA-P256');
    expect(key.ref).toBe('keystore:memory:user:imported');
    expect(key.exportable).toBe(false);
    expect(key.publicKey.equals(pair.publicKey)).toBe(true);
    const data = Buffer.from('challenge');
    expect(verify('sha256', data, pair.publicKey, await key.sign(data))).toBe(true);
    expect(await codeOf(key.exportPrivateKey())).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    const opened = await store.openKey('imported');
    expect(opened.publicKey.equals(pair.publicKey)).toBe(true);
  });

  it.each([
    [2048, 'RSA-2048'],
    [3072, 'RSA-3072'],
  ] as const)('imports a %i-bit RSA key as %s', async (bits, algorithm) => {
    const store = await storeOf([createMemoryProvider()]);
    const key = await store.importKey(`rsa-${bits}`, rsa(bits).privateKey);
    expect(key.algorithm).toBe(algorithm);
  });

  it.each([
    ['secp384r1', 'ECDSA-P384'],
    ['secp521r1', 'ECDSA-P521'],
  ] as const)('maps the curve %s to %s', async (curve, algorithm) => {
    const store = await storeOf([createMemoryProvider()]);
    expect((await store.importKey(curve, ec(curve).privateKey)).algorithm).toBe(algorithm);
  });

  it('options.algorithm picks ECDH for an EC key, which then derives', async () => {
    const store = await storeOf([createMemoryProvider()]);
    const pair = ec();
    const key = await store.importKey('agreement', pair.privateKey, { algorithm: 'ECDH-P256' });
    expect(key.algorithm).toBe('ECDH-P256');
    const peer = ec();
    const secret = await key.deriveSecret(peer.publicKey);
    const { diffieHellman } = await import('node:crypto');
    expect(secret.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: pair.publicKey }))).toBe(true);
  });

  it('an exportable import exports the very key given, when the policy allows both', async () => {
    const store = await storeOf([createMemoryProvider()], { ...DEV, exportable: { create: true, export: true } });
    const pair = rsa();
    const key = await store.importKey('exportable', pair.privateKey, { exportable: true });
    const exported = await key.exportPrivateKey();
    expect(createPublicKey(exported).equals(pair.publicKey)).toBe(true);
  });

  const cases: Array<[string, () => unknown, object?]> = [
    ['a public key', () => ec().publicKey],
    ['a secret key', () => createSecretKey(Buffer.alloc(32, 1))],
    ['a PEM string instead of a KeyObject', () => ec().privateKey.export({ format: 'pem', type: 'pkcs8' })],
    ['an RSA-1024 key', () => rsa(1024).privateKey],
    ['an RSA-2560 key', () => rsa(2560).privateKey],
    ['an Ed25519 key', () => generateKeyPairSync('ed25519').privateKey],
    ['a secp256k1 key', () => ec('secp256k1').privateKey],
    ['an RSA-PSS-only key', () => generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey],
    ['an algorithm of another curve', () => ec().privateKey, { algorithm: 'ECDH-P384' }],
    ['an algorithm of another RSA size', () => rsa().privateKey, { algorithm: 'RSA-3072' }],
    ['an EC algorithm for an RSA key', () => rsa().privateKey, { algorithm: 'ECDSA-P256' }],
    ['an unknown algorithm', () => ec().privateKey, { algorithm: 'ECDSA-P192' }],
  ];
  it.each(cases)('refuses %s with INVALID_ARGUMENT before the provider is asked', async (_label, make, options) => {
    const { provider, requests } = play({ isolation: 'none' });
    const store = await storeOf([provider]);
    expect(await codeOf(store.importKey('bad', make() as KeyObject, options as never))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(requests.import).toEqual([]);
  });

  it('validates the name and the options like createKey', async () => {
    const store = await storeOf([createMemoryProvider()]);
    const key = ec().privateKey;
    expect(await codeOf(store.importKey('', key))).toBe('ERR_KEYSTORE_INVALID_NAME');
    expect(await codeOf(store.importKey('keystore:memory:user:x', key))).toBe('ERR_KEYSTORE_INVALID_NAME');
    expect(await codeOf(store.importKey('x', key, { scope: 'galaxy' as never }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(store.importKey('x', key, { exportable: 'yes' as never }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(await codeOf(store.importKey('x', key, 'options' as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    const aborted = AbortSignal.abort();
    expect(await codeOf(store.importKey('x', key, { signal: aborted }))).toBe('ERR_KEYSTORE_CANCELLED');
  });
});

describe('KeyStore.importKey: the same policy as createKey', () => {
  it.each([
    ['an algorithm outside allowedAlgorithms', { allowedAlgorithms: ['RSA-3072'] }, {}],
    ['an RSA key below minimumRsaBits', { minimumRsaBits: 3072 }, { rsa: true }],
    ['a scope outside allowedScopes', { allowedScopes: ['user'] }, { scope: 'machine' }],
    ['an exportable import while exportable.create is false', {}, { exportable: true }],
  ] as const)('refuses %s with POLICY_VIOLATION', async (_label, extra, request) => {
    const { provider, requests } = play({ isolation: 'none' });
    const store = await storeOf([provider], { ...DEV, ...(extra as KeyStorePolicy) });
    const r = request as { rsa?: boolean; scope?: 'machine'; exportable?: boolean };
    const key = r.rsa ? rsa().privateKey : ec().privateKey;
    const error = await errorOf(
      store.importKey('k', key, {
        ...(r.scope ? { scope: r.scope } : {}),
        ...(r.exportable ? { exportable: true } : {}),
      }),
    );
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(requests.import).toEqual([]);
  });

  it('never uses a provider below the floor, a denied legacy provider, or one that cannot import', async () => {
    const weak = play({ id: 'weak', isolation: 'in-process' });
    const legacy = play({ id: 'legacy', isolation: 'os-isolated', capabilities: { legacyCryptoApi: true } });
    const noImport = play({ id: 'noimport', isolation: 'hardware', capabilities: { importKeys: false } });
    const noMethod = play({ id: 'nomethod', isolation: 'hardware', noImport: true });
    const store = await storeOf([weak.provider, legacy.provider, noImport.provider, noMethod.provider], {});
    const error = await errorOf(store.importKey('k', ec().privateKey));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    const reasons = Object.fromEntries(error.refusals.map((r) => [r.providerId, r.reasons.join(' | ')]));
    expect(reasons.weak).toContain('/minimumIsolation');
    expect(reasons.legacy).toContain('/legacyCryptoApi');
    expect(reasons.noimport).toContain('capabilities.importKeys');
    expect(reasons.nomethod).toContain('capabilities.importKeys');
    expect([weak, legacy, noImport].every((p) => p.requests.import.length === 0)).toBe(true);
  });

  it('picks the strongest provider that can import, and passes it the floor and the options', async () => {
    const cng = play({ id: 'cng', isolation: 'os-isolated' });
    const tpm = play({ id: 'tpm', isolation: 'hardware', capabilities: { importKeys: false } });
    const store = await storeOf([cng.provider, tpm.provider], { minimumIsolation: 'os-isolated' });
    const pair = ec();
    const key = await store.importKey('k', pair.privateKey, { scope: 'machine', password: 'pw' });
    expect(key.providerId).toBe('cng');
    expect(cng.requests.import).toHaveLength(1);
    const request = cng.requests.import[0]!;
    expect(request).toMatchObject({
      name: 'k',
      algorithm: 'ECDSA-P256',
      scope: 'machine',
      exportable: false,
      password: 'pw',
      minimumIsolation: 'os-isolated',
    });
    expect(request.privateKey).toBe(pair.privateKey);
    const explanation = await store.explain({ importKey: true });
    expect(explanation.selected).toBe('cng');
    expect(explanation.providers.find((v) => v.providerId === 'tpm')?.reasons).toContain(
      'cannot import existing private keys (capabilities.importKeys)',
    );
    expect((await store.explain()).selected).toBe('tpm');
  });

  it('a receipt below the floor: the imported key is deleted and POLICY_VIOLATION thrown', async () => {
    const vault = new MemoryKeyVault();
    const liar = play({ isolation: 'os-isolated', receipt: 'in-process', vault });
    const store = await storeOf([liar.provider], {});
    const error = await errorOf(store.importKey('k', ec().privateKey));
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(liar.requests.deleted).toEqual(['k']);
    expect(vault.size).toBe(0);
  });

  it('an import whose public key is not the one given: deleted, NATIVE_FAILURE', async () => {
    const vault = new MemoryKeyVault();
    const inner = createMemoryProvider({ vault });
    const faulty = play({ isolation: 'none', vault, importKey: (r) => inner.createKey(r) });
    const store = await storeOf([faulty.provider]);
    const error = await errorOf(store.importKey('k', ec().privateKey));
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(faulty.requests.deleted).toEqual(['k']);
    expect(vault.size).toBe(0);
  });

  it('wraps any other provider failure as NATIVE_FAILURE with the cause', async () => {
    const boom = new Error('ncrypt exploded');
    const faulty = play({
      isolation: 'none',
      importKey: async () => {
        throw boom;
      },
    });
    const store = await storeOf([faulty.provider]);
    const error = await errorOf(store.importKey('k', ec().privateKey));
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(error.cause).toBe(boom);
    expect(error.providerId).toBe('fake');
  });

  it('passes provider errors through: KEY_EXISTS', async () => {
    const store = await storeOf([createMemoryProvider()]);
    await store.importKey('k', ec().privateKey);
    expect(await codeOf(store.importKey('k', ec().privateKey))).toBe('ERR_KEYSTORE_KEY_EXISTS');
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_KEY_EXISTS');
  });
});

describe('KeyStore.importKey: audit', () => {
  let events: AuditEvent[] = [];
  const listener = (message: unknown) => {
    events.push(message as AuditEvent);
  };
  afterEach(() => {
    diagnosticsChannel.unsubscribe(AUDIT_CHANNEL_NAME, listener);
  });

  it('publishes an import decision and a key.imported event, never key material', async () => {
    const store = await storeOf([createMemoryProvider()]);
    events = [];
    diagnosticsChannel.subscribe(AUDIT_CHANNEL_NAME, listener);
    const pair = rsa();
    await store.importKey('imported', pair.privateKey);
    expect(events.map((e) => e.type)).toEqual(['policy.decision', 'key.imported']);
    expect(events[0]).toMatchObject({
      action: 'import',
      outcome: 'allowed',
      selected: 'memory',
      algorithm: 'RSA-2048',
    });
    expect(events[1]).toMatchObject({
      type: 'key.imported',
      providerId: 'memory',
      ref: 'keystore:memory:user:imported',
      algorithm: 'RSA-2048',
      isolation: 'none',
    });
    const text = JSON.stringify(events);
    const jwk = pair.privateKey.export({ format: 'jwk' });
    for (const secret of [jwk.d, jwk.p, jwk.q]) expect(text).not.toContain(String(secret));
    events = [];
    await codeOf(store.importKey('refused', pair.privateKey, { exportable: true }));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'policy.decision', action: 'import', outcome: 'refused' });
  });
});

describe('createKey passes the floor and the user prompt to the provider', () => {
  it('passes minimumIsolation (the effective floor) and no userPrompt by default', async () => {
    const fake = play({ isolation: 'os-protected' });
    const store = await storeOf([fake.provider], { minimumIsolation: 'os-protected' });
    await store.createKey('k', { algorithm: 'ECDSA-P256' });
    expect(fake.requests.create[0]).toMatchObject({ minimumIsolation: 'os-protected' });
    expect(fake.requests.create[0]).not.toHaveProperty('userPrompt');
  });

  it('passes a copy of userPrompt with only its known members, to a provider that claims userPrompt', async () => {
    const prompting = play({ id: 'prompting', isolation: 'os-isolated', capabilities: { userPrompt: true } });
    const silent = play({ id: 'silent', isolation: 'hardware' });
    const store = await storeOf([silent.provider, prompting.provider], {});
    const userPrompt = { friendlyName: 'Signing key', description: 'Signs releases', forceHighProtection: true };
    const key = await store.createKey('k', { algorithm: 'ECDSA-P256', userPrompt });
    expect(key.providerId).toBe('prompting');
    expect(prompting.requests.create[0]?.userPrompt).toEqual(userPrompt);
    expect(prompting.requests.create[0]?.userPrompt).not.toBe(userPrompt);
    const explanation = await store.explain({ userPrompt: true });
    expect(explanation.selected).toBe('prompting');
    expect(explanation.providers.find((v) => v.providerId === 'silent')?.reasons).toContain(
      'cannot protect keys with a user prompt (capabilities.userPrompt)',
    );
    // Without a prompt the stronger provider still wins.
    expect((await store.createKey('plain', { algorithm: 'ECDSA-P256' })).providerId).toBe('silent');
  });

  it('NO_PROVIDER when no provider can prompt', async () => {
    const store = await storeOf([play({ isolation: 'hardware' }).provider], {});
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256', userPrompt: {} }));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.refusals[0]?.reasons).toContain('cannot protect keys with a user prompt (capabilities.userPrompt)');
  });

  it.each([
    ['not an object', 'yes'],
    ['a friendlyName that is not a string', { friendlyName: 7 }],
    ['a description with NUL', { description: 'a\0b' }],
    ['a friendlyName over 1024 characters', { friendlyName: 'x'.repeat(1025) }],
    ['forceHighProtection not a boolean', { forceHighProtection: 'true' }],
    ['an unknown member', { title: 'x' }],
  ])('refuses a userPrompt that is %s with INVALID_ARGUMENT', async (_label, userPrompt) => {
    const prompting = play({ capabilities: { userPrompt: true } });
    const store = await storeOf([prompting.provider], {});
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256', userPrompt: userPrompt as never }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(await codeOf(store.importKey('k', ec().privateKey, { userPrompt: userPrompt as never }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(prompting.requests.create).toEqual([]);
  });

  it('importKey passes userPrompt too', async () => {
    const prompting = play({ capabilities: { userPrompt: true } });
    const store = await storeOf([prompting.provider], {});
    await store.importKey('k', createPrivateKey(ec().privateKey.export({ format: 'pem', type: 'pkcs8' })), {
      userPrompt: { friendlyName: 'Imported' },
    });
    expect(prompting.requests.import[0]?.userPrompt).toEqual({ friendlyName: 'Imported' });
  });
});
