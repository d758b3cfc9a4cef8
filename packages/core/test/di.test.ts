import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  KeyStore as KeyStoreInterface,
  KeyStorePolicy as KeyStorePolicyInterface,
  KeyStoreProvider as KeyStoreProviderInterface,
} from '@keystore/core';
import * as di from '@keystore/core/di';
import { createMemoryProvider, TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { codeOf } from './helpers/errors.js';

/** A fake second provider: the memory provider's behaviour under the id `other`, counting closes. */
function otherProvider(): KeyStoreProviderInterface & { closed: number } {
  const memory = createMemoryProvider();
  const fake = {
    id: 'other',
    displayName: 'fake other',
    capabilities: memory.capabilities,
    closed: 0,
    probe: () => memory.probe(),
    createKey: (r: Parameters<typeof memory.createKey>[0]) => memory.createKey(r),
    openKey: (r: Parameters<typeof memory.openKey>[0]) => memory.openKey(r),
    listKeys: (o?: Parameters<typeof memory.listKeys>[0]) => memory.listKeys(o),
    deleteKey: (r: Parameters<typeof memory.deleteKey>[0]) => memory.deleteKey(r),
    close: async () => {
      fake.closed++;
    },
  };
  return fake;
}

const DEV: KeyStorePolicyInterface = { minimumIsolation: 'none' };

describe('@keystore/core/di with an inversify container', () => {
  it('tokens are global symbols named after their interfaces', async () => {
    expect(di.KeyStore).toBe(Symbol.for('@keystore/core/KeyStore'));
    expect(di.KeyStoreProvider).toBe(Symbol.for('@keystore/core/KeyStoreProvider'));
    expect(di.KeyStorePolicy).toBe(Symbol.for('@keystore/core/KeyStorePolicy'));
    // The type side of each name is the interface: this compiles only if so.
    const typed: { store?: import('@keystore/core/di').KeyStore } = {};
    const asCore: KeyStoreInterface | undefined = typed.store;
    expect(asCore).toBeUndefined();
  });

  it('resolves a working key store over every bound provider, in singleton scope', async () => {
    const container = new Container();
    const other = otherProvider();
    container.bind<KeyStoreProviderInterface>(di.KeyStoreProvider).toDynamicValue(() => createMemoryProvider());
    container.bind<KeyStoreProviderInterface>(di.KeyStoreProvider).toDynamicValue(() => other);
    container.bind<KeyStorePolicyInterface>(di.KeyStorePolicy).toConstantValue(DEV);
    container.load(di.keyStoreModule({ [TEST_POLICY_SOURCES]: { machinePolicy: null } }));

    const store = await container.getAsync<KeyStoreInterface>(di.KeyStore);
    expect(await container.getAsync<KeyStoreInterface>(di.KeyStore)).toBe(store);
    expect(store.policy.minimumIsolation).toBe('none');
    const explanation = await store.explain({ algorithm: 'ECDSA-P256' });
    expect(explanation.providers.map((v) => v.providerId)).toEqual(['memory', 'other']);
    expect(explanation.selected).toBe('memory');

    const key = await store.createKey('k', { algorithm: 'ECDSA-P256' });
    const signature = await key.sign(Buffer.from('hello'));
    expect(await key.verify(Buffer.from('hello'), signature)).toBe(true);

    await container.unbindAsync(di.KeyStore);
    expect(other.closed).toBe(1);
  });

  it('the policy option wins over a KeyStorePolicy binding', async () => {
    const container = new Container();
    container.bind<KeyStorePolicyInterface>(di.KeyStorePolicy).toConstantValue(DEV);
    container.load(
      di.keyStoreModule({ policy: { minimumIsolation: 'hardware' }, [TEST_POLICY_SOURCES]: { machinePolicy: null } }),
    );
    const store = await container.getAsync<KeyStoreInterface>(di.KeyStore);
    expect(store.policy.minimumIsolation).toBe('hardware');
  });

  it('with no provider and no policy bound, the store exists and createKey fails with NO_PROVIDER', async () => {
    const container = new Container();
    container.load(di.keyStoreModule({ [TEST_POLICY_SOURCES]: { machinePolicy: null } }));
    const store = await container.getAsync<KeyStoreInterface>(di.KeyStore);
    expect(store.providers).toEqual([]);
    expect(store.policy.minimumIsolation).toBe('os-isolated');
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_NO_PROVIDER');
  });

  it('memoryProviderModule binds the in-memory provider, one instance per container', async () => {
    const container = new Container();
    container.load(
      di.memoryProviderModule(),
      di.keyStoreModule({ policy: DEV, [TEST_POLICY_SOURCES]: { machinePolicy: null } }),
    );
    const store = await container.getAsync<KeyStoreInterface>(di.KeyStore);
    expect(store.providers.map((p) => p.id)).toEqual(['memory']);
    expect(await container.getAsync<KeyStoreProviderInterface>(di.KeyStoreProvider)).toBe(store.providers[0]);
    const key = await store.createKey('m', { algorithm: 'RSA-2048' });
    expect(key.isolation.level).toBe('none');
    expect(await key.verify(Buffer.from('x'), await key.sign(Buffer.from('x')))).toBe(true);
  });
});

describe('the main entry point does not import inversify', () => {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src');
  const IMPORT =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;

  function reachable(entry: string): Map<string, string[]> {
    const seen = new Map<string, string[]>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      const text = readFileSync(file, 'utf8');
      const specifiers = [...text.matchAll(IMPORT)].map((m) => (m[1] ?? m[2] ?? m[3])!);
      seen.set(file, specifiers);
      for (const s of specifiers) if (s.startsWith('.')) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
    };
    visit(entry);
    return seen;
  }

  it('no file reachable from src/index.ts imports inversify or the di entry', () => {
    const graph = reachable(join(src, 'index.ts'));
    expect(graph.size).toBeGreaterThan(5);
    for (const [file, specifiers] of graph) {
      const where = relative(src, file);
      expect(where.startsWith('di')).toBe(false);
      for (const s of specifiers) {
        expect(s, `${where} imports ${s}`).not.toMatch(/inversify|reflect-metadata/);
      }
    }
  });

  it('the di entry is the one that imports it', () => {
    const graph = reachable(join(src, 'di/index.ts'));
    expect(graph.get(join(src, 'di/index.ts'))).toContain('inversify');
  });
});
