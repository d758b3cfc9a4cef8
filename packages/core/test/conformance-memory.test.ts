import type { KeyStoreProvider, ProviderKey } from '@keystore/core';
import {
  type ConformanceOptions,
  type ConformanceTestApi,
  createMemoryProvider,
  defineProviderConformanceSuite,
  MemoryKeyVault,
} from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The suite itself, on the in-memory provider, as every provider package runs it.
defineProviderConformanceSuite({
  name: 'memory',
  createProvider: () => createMemoryProvider(),
  test: { describe, it, beforeAll, afterAll },
});

// The suite must catch broken providers: run it with a collecting runner and look at the outcomes.
interface Collected {
  names: string[];
  run(): Promise<Map<string, unknown>>;
}

function collect(options: Omit<ConformanceOptions, 'test'>): Collected {
  const tests: Array<{ name: string; fn: () => unknown }> = [];
  const before: Array<() => unknown> = [];
  const after: Array<() => unknown> = [];
  const path: string[] = [];
  const test: ConformanceTestApi = {
    describe: (name, fn) => {
      path.push(name);
      fn();
      path.pop();
    },
    it: (name, fn) => {
      tests.push({ name: [...path.slice(1), name].join(' > '), fn });
    },
    beforeAll: (fn) => {
      before.push(fn);
    },
    afterAll: (fn) => {
      after.push(fn);
    },
  };
  defineProviderConformanceSuite({ ...options, test });
  return {
    names: tests.map((t) => t.name),
    async run() {
      for (const fn of before) await fn();
      const failures = new Map<string, unknown>();
      for (const t of tests) {
        try {
          await t.fn();
        } catch (err) {
          failures.set(t.name, err);
        }
      }
      for (const fn of after) await fn();
      return failures;
    },
  };
}

type KeyPatch = (key: ProviderKey) => Partial<ProviderKey>;

/** The memory provider with some behaviour replaced, to play a provider with a bug. */
function patched(vault: MemoryKeyVault, provider: Partial<KeyStoreProvider> = {}, key: KeyPatch = () => ({})) {
  const base = createMemoryProvider({ vault });
  const wrap = (k: ProviderKey): ProviderKey => ({
    name: k.name,
    algorithm: k.algorithm,
    scope: k.scope,
    exportable: k.exportable,
    isolation: k.isolation,
    publicKey: k.publicKey,
    signDigest: (d, p, o) => k.signDigest(d, p, o),
    signMessage: (d, p, o) => k.signMessage!(d, p, o),
    decrypt: (c, h, o) => k.decrypt!(c, h, o),
    deriveSecret: (peer, o) => k.deriveSecret!(peer, o),
    exportPrivateKey: (o) => k.exportPrivateKey!(o),
    close: () => k.close(),
    ...key(k),
  });
  const wrapped: KeyStoreProvider = {
    id: base.id,
    displayName: base.displayName,
    capabilities: base.capabilities,
    probe: (o) => base.probe(o),
    createKey: async (r) => wrap(await base.createKey(r)),
    importKey: async (r) => wrap(await base.importKey(r)),
    openKey: async (r) => wrap(await base.openKey(r)),
    listKeys: (o) => base.listKeys(o),
    deleteKey: (r) => base.deleteKey(r),
    ...provider,
  };
  return wrapped;
}

const ALGORITHMS = ['ECDSA-P256', 'RSA-2048', 'ECDH-P256'] as const;
const IMPORT_TEST = 'importKey of Node-generated keys: the same public key, usable, not exportable unless asked';

function failed(failures: Map<string, unknown>): string[] {
  return [...failures.keys()].sort();
}

describe('the conformance suite', () => {
  it('passes a correct provider and deletes every key it created', async () => {
    const vault = new MemoryKeyVault();
    const suite = collect({ name: 'ok', createProvider: () => patched(vault), algorithms: ALGORITHMS });
    expect(failed(await suite.run())).toEqual([]);
    expect(vault.size).toBe(0);
    expect(suite.names).toContain('ECDSA-P256 > signDigest with every hash verifies with crypto.verify');
    expect(suite.names).toContain('RSA-2048 > decrypt of Node OAEP ciphertext, for every OAEP hash in capabilities');
    expect(suite.names).toContain('ECDH-P256 > deriveSecret equals Node diffieHellman with the peer');
  });

  it('passes a provider that neither claims nor implements importKey, without a declared skip', async () => {
    const vault = new MemoryKeyVault();
    const suite = collect({
      name: 'no import',
      createProvider: () => {
        const { importKey: _importKey, ...rest } = patched(vault, {
          capabilities: { ...createMemoryProvider().capabilities, importKeys: false },
        });
        return rest;
      },
      algorithms: ['ECDSA-P256'],
    });
    expect(suite.names).toContain(IMPORT_TEST);
    expect(failed(await suite.run())).toEqual([]);
  });

  it('shows a declared importKey skip', () => {
    const suite = collect({
      name: 'skip import',
      createProvider: () => createMemoryProvider(),
      algorithms: ['ECDSA-P256'],
      skip: { importKey: 'the device cannot take keys in' },
    });
    expect(suite.names).toContain('importKey — skipped: the device cannot take keys in');
    expect(suite.names).not.toContain(IMPORT_TEST);
  });

  it('shows declared skips as tests named "… — skipped: reason"', async () => {
    const vault = new MemoryKeyVault();
    const suite = collect({
      name: 'skips',
      createProvider: () => patched(vault),
      algorithms: ['RSA-2048'],
      skip: { decrypt: 'no OAEP here', pss: 'PKCS#1 only', passwords: 'no auth values' },
    });
    expect(suite.names).toContain('RSA-2048 > decrypt — skipped: no OAEP here');
    expect(suite.names).toContain('RSA-2048 > pss — skipped: PKCS#1 only');
    expect(suite.names).toContain('RSA-2048 > signDigest PKCS#1 v1.5 with every hash verifies with crypto.verify');
    expect(suite.names).toContain('passwords — skipped: no auth values');
    expect(failed(await suite.run())).toEqual([]);
  });

  it('shows one visible skip for signDigest as a whole', () => {
    const suite = collect({
      name: 'no digest',
      createProvider: () => createMemoryProvider(),
      algorithms: ['RSA-2048', 'ECDSA-P256'],
      skip: { signDigest: 'message signing only' },
    });
    expect(suite.names.filter((n) => n.startsWith('RSA-2048 > ') && n.includes('signDigest'))).toEqual([
      'RSA-2048 > signDigest — skipped: message signing only',
    ]);
    expect(suite.names).toContain('ECDSA-P256 > signDigest — skipped: message signing only');
  });

  it('with signDigest skipped, signs through signMessage, and fails a key that has no signMessage', async () => {
    const skip = { signDigest: 'message signing only' };
    const algorithms = ['ECDSA-P256', 'RSA-2048'] as const;
    const working = collect({
      name: 'message only',
      createProvider: () => patched(new MemoryKeyVault()),
      algorithms,
      skip,
    });
    expect(failed(await working.run())).toEqual([]);

    const unsigned = collect({
      name: 'cannot sign',
      createProvider: () => patched(new MemoryKeyVault(), {}, () => ({ signMessage: undefined })),
      algorithms,
      skip,
    });
    expect(failed(await unsigned.run())).toEqual(
      [
        IMPORT_TEST,
        'ECDSA-P256 > signMessage, when the key has it, verifies with crypto.verify',
        'RSA-2048 > signMessage, when the key has it, verifies with crypto.verify',
      ].sort(),
    );
  });

  it('defaults to the algorithms in the capabilities of a provider made synchronously', () => {
    const suite = collect({ name: 'default', createProvider: () => createMemoryProvider() });
    for (const algorithm of ['RSA-4096', 'ECDSA-P521', 'ECDH-P384']) {
      expect(suite.names.some((n) => n.startsWith(`${algorithm} > `))).toBe(true);
    }
  });

  it('requires `algorithms` when createProvider is async', () => {
    expect(() => collect({ name: 'async', createProvider: async () => createMemoryProvider() })).toThrow(TypeError);
  });

  const broken: Array<[string, (vault: MemoryKeyVault) => KeyStoreProvider, string[]]> = [
    [
      'a receipt stronger than probe()',
      (v) => patched(v, {}, (k) => ({ isolation: { ...k.isolation, level: 'hardware' } })),
      [
        ...ALGORITHMS.map(
          (a) => `${a} > createKey returns the key with its name, algorithm, scope, receipt and public key`,
        ),
        IMPORT_TEST,
      ],
    ],
    [
      'an ECDSA signature labelled der that is P1363',
      (v) =>
        patched(v, {}, (k) => ({
          signDigest: async (d, p, o) => ({ ...(await k.signDigest(d, p, o)), dsaEncoding: 'der' }),
        })),
      ['ECDSA-P256 > signDigest with every hash verifies with crypto.verify', IMPORT_TEST],
    ],
    [
      'PSS signatures made with PKCS#1 padding',
      (v) => patched(v, {}, (k) => ({ signDigest: (d, p, o) => k.signDigest(d, { ...p, padding: 'pkcs1' }, o) })),
      ['RSA-2048 > signDigest PSS with every hash verifies with crypto.verify'],
    ],
    [
      'a decrypt that ignores the OAEP hash',
      (v) => patched(v, {}, (k) => ({ decrypt: (c, _h, o) => k.decrypt!(c, 'sha256', o) })),
      ['RSA-2048 > decrypt of Node OAEP ciphertext, for every OAEP hash in capabilities'],
    ],
    [
      'a derive that returns the wrong secret',
      (v) => patched(v, {}, () => ({ deriveSecret: async () => Buffer.alloc(32) })),
      // The replacement also skips the closed check, which the suite catches too.
      [
        'ECDH-P256 > deriveSecret equals Node diffieHellman with the peer',
        'ECDH-P256 > close() is idempotent and later operations reject with KEY_CLOSED',
        IMPORT_TEST,
      ],
    ],
    [
      'a delete that deletes nothing',
      (v) => patched(v, { deleteKey: async () => {} }),
      [
        'deleteKey of a missing name rejects with KEY_NOT_FOUND',
        ...ALGORITHMS.map((a) => `${a} > deleteKey, then openKey and deleteKey reject with KEY_NOT_FOUND`),
      ],
    ],
    [
      'a create that ignores an aborted signal',
      (v) => {
        const base = createMemoryProvider({ vault: v });
        return patched(v, { createKey: (r) => base.createKey({ ...r, signal: undefined }) });
      },
      ['createKey with an aborted signal rejects with CANCELLED and leaves no key'],
    ],
    [
      'a close that closes nothing',
      (v) => patched(v, {}, () => ({ close: async () => {} })),
      ALGORITHMS.map((a) => `${a} > close() is idempotent and later operations reject with KEY_CLOSED`),
    ],
    [
      'a capability list without PSS and no declared skip',
      (v) => patched(v, { capabilities: { ...createMemoryProvider().capabilities, rsaSignaturePaddings: ['pkcs1'] } }),
      ['RSA-2048 > signDigest PSS with every hash verifies with crypto.verify'],
    ],
    [
      'a listKeys that ignores the scope',
      (v) => {
        const base = createMemoryProvider({ vault: v });
        return patched(v, { listKeys: (o) => base.listKeys({ ...o, scope: undefined }) });
      },
      [
        'keeps user and machine scopes apart',
        ...ALGORITHMS.map((a) => `${a} > listKeys includes the key with its scope`),
      ],
    ],
    [
      'a password that is never checked',
      (v) => {
        const base = createMemoryProvider({ vault: v });
        return patched(v, { createKey: (r) => base.createKey({ ...r, password: undefined }) });
      },
      ['a key with a password opens (or works) only with that password'],
    ],
    [
      'an import that makes a new key instead of importing the one given',
      (v) => {
        const base = createMemoryProvider({ vault: v });
        return patched(v, { importKey: (r) => base.createKey(r) });
      },
      [IMPORT_TEST],
    ],
    [
      'an import that makes keys exportable',
      (v) => {
        const base = createMemoryProvider({ vault: v });
        return patched(v, { importKey: (r) => base.importKey({ ...r, exportable: true }) });
      },
      [IMPORT_TEST],
    ],
    [
      'an importKey() that capabilities.importKeys does not claim',
      (v) => patched(v, { capabilities: { ...createMemoryProvider().capabilities, importKeys: false } }),
      [IMPORT_TEST],
    ],
  ];

  for (const [label, make, expected] of broken) {
    it(`fails a provider with ${label}`, async () => {
      const vault = new MemoryKeyVault();
      const suite = collect({ name: label, createProvider: () => make(vault), algorithms: ALGORITHMS });
      const failures = await suite.run();
      expect(failed(failures)).toEqual([...expected].sort());
    });
  }
});
