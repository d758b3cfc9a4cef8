import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KeyStoreError,
  type KeyStoreErrorCode,
  type KeyStore as KeyStoreInterface,
  type KeyStorePolicy as KeyStorePolicyInterface,
  type KeyStoreProvider as KeyStoreProviderInterface,
} from '@keystore/core';
import { createMemoryProvider } from '@keystore/core/testing';
import { describe, expect, it, vi } from 'vitest';

type DiModule = typeof import('@keystore/core/di');

const hasInversify = await import('inversify').then(
  () => true,
  () => false,
);

/** The part of an inversify container these tests use. */
interface TestContainer {
  bind<T>(id: symbol): {
    toDynamicValue(builder: () => T | Promise<T>): unknown;
    toConstantValue(value: T): unknown;
  };
  load(...modules: ReturnType<DiModule['keyStoreModule']>[]): void;
  getAsync<T>(id: symbol): Promise<T>;
  unbindAsync(id: symbol): Promise<void>;
}

/**
 * A double of the inversify API (`ContainerModule`, and a container with bind / toDynamicValue /
 * toConstantValue / inSingletonScope / onDeactivation / getAsync / getAllAsync / unbindAsync), used only
 * while inversify is not installed; the same scenarios run against a real container when it is.
 */
function inversifyDouble() {
  type Binding = {
    build: (context: unknown) => unknown;
    singleton: boolean;
    cached?: Promise<unknown>;
    deactivate?: (value: unknown) => unknown;
  };
  class ContainerModule {
    constructor(readonly load: (options: unknown) => void | Promise<void>) {}
  }
  class Container implements TestContainer {
    readonly #bindings = new Map<symbol, Binding[]>();

    bind<T>(id: symbol) {
      const binding: Binding = { build: () => undefined, singleton: false };
      const list = this.#bindings.get(id) ?? [];
      list.push(binding);
      this.#bindings.set(id, list);
      const on = {
        onDeactivation: (fn: (value: T) => unknown) => {
          binding.deactivate = fn as (value: unknown) => unknown;
          return {};
        },
      };
      const scope = {
        inSingletonScope: () => {
          binding.singleton = true;
          return on;
        },
        ...on,
      };
      return {
        toDynamicValue: (builder: (context: unknown) => T | Promise<T>) => {
          binding.build = builder;
          return scope;
        },
        toConstantValue: (value: T) => {
          binding.build = () => value;
          binding.singleton = true;
          return on;
        },
      };
    }

    load(...modules: unknown[]): void {
      for (const m of modules) {
        const loading = (m as ContainerModule).load({ bind: (id: symbol) => this.bind(id) });
        if (loading instanceof Promise) throw new Error('double: an async module needs loadAsync');
      }
    }

    #resolve(binding: Binding): Promise<unknown> {
      const context = {
        getAsync: (id: symbol, options?: { optional?: boolean }) => this.#get(id, options),
        getAllAsync: (id: symbol, options?: { optional?: boolean }) => this.#getAll(id, options),
      };
      if (!binding.singleton) return Promise.resolve(binding.build(context));
      binding.cached ??= Promise.resolve(binding.build(context));
      return binding.cached;
    }

    async #get(id: symbol, options?: { optional?: boolean }) {
      const list = this.#bindings.get(id) ?? [];
      if (list.length === 0 && options?.optional) return undefined;
      if (list.length !== 1) throw new Error(`double: ${list.length} bindings for ${String(id)}`);
      return this.#resolve(list[0]!);
    }

    async #getAll(id: symbol, options?: { optional?: boolean }) {
      const list = this.#bindings.get(id) ?? [];
      if (list.length === 0 && !options?.optional) throw new Error(`double: no bindings for ${String(id)}`);
      return Promise.all(list.map((b) => this.#resolve(b)));
    }

    getAsync<T>(id: symbol): Promise<T> {
      return this.#get(id) as Promise<T>;
    }

    async unbindAsync(id: symbol) {
      for (const b of this.#bindings.get(id) ?? []) {
        if (b.cached && b.deactivate) await b.deactivate(await b.cached);
      }
      this.#bindings.delete(id);
    }
  }
  return { ContainerModule, Container };
}

async function loadDi(): Promise<{ di: DiModule; newContainer: () => TestContainer }> {
  if (hasInversify) {
    const inversify = (await import('inversify')) as unknown as { Container: new () => TestContainer };
    return { di: await import('@keystore/core/di'), newContainer: () => new inversify.Container() };
  }
  const double = inversifyDouble();
  vi.doMock('inversify', () => ({ ContainerModule: double.ContainerModule }));
  return { di: await import('@keystore/core/di'), newContainer: () => new double.Container() };
}

async function codeOf(promise: Promise<unknown>): Promise<KeyStoreErrorCode | string> {
  try {
    await promise;
  } catch (error) {
    return KeyStoreError.is(error) ? error.code : `not a KeyStoreError: ${String(error)}`;
  }
  return 'resolved';
}

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

describe(`@keystore/core/di (${hasInversify ? 'real inversify container' : 'inversify not installed: API double'})`, () => {
  it('tokens are global symbols named after their interfaces', async () => {
    const { di } = await loadDi();
    expect(di.KeyStore).toBe(Symbol.for('@keystore/core/KeyStore'));
    expect(di.KeyStoreProvider).toBe(Symbol.for('@keystore/core/KeyStoreProvider'));
    expect(di.KeyStorePolicy).toBe(Symbol.for('@keystore/core/KeyStorePolicy'));
    // The type side of each name is the interface: this compiles only if so.
    const typed: { store?: import('@keystore/core/di').KeyStore } = {};
    const asCore: KeyStoreInterface | undefined = typed.store;
    expect(asCore).toBeUndefined();
  });

  it('resolves a working key store over every bound provider, in singleton scope', async () => {
    const { di, newContainer } = await loadDi();
    const container = newContainer();
    const other = otherProvider();
    container.bind<KeyStoreProviderInterface>(di.KeyStoreProvider).toDynamicValue(() => createMemoryProvider());
    container.bind<KeyStoreProviderInterface>(di.KeyStoreProvider).toDynamicValue(() => other);
    container.bind<KeyStorePolicyInterface>(di.KeyStorePolicy).toConstantValue(DEV);
    container.load(di.keyStoreModule({ machinePolicy: null }));

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
    const { di, newContainer } = await loadDi();
    const container = newContainer();
    container.bind<KeyStorePolicyInterface>(di.KeyStorePolicy).toConstantValue(DEV);
    container.load(di.keyStoreModule({ policy: { minimumIsolation: 'hardware' }, machinePolicy: null }));
    const store = await container.getAsync<KeyStoreInterface>(di.KeyStore);
    expect(store.policy.minimumIsolation).toBe('hardware');
  });

  it('with no provider and no policy bound, the store exists and createKey fails with NO_PROVIDER', async () => {
    const { di, newContainer } = await loadDi();
    const container = newContainer();
    container.load(di.keyStoreModule({ machinePolicy: null }));
    const store = await container.getAsync<KeyStoreInterface>(di.KeyStore);
    expect(store.providers).toEqual([]);
    expect(store.policy.minimumIsolation).toBe('os-isolated');
    expect(await codeOf(store.createKey('k', { algorithm: 'ECDSA-P256' }))).toBe('ERR_KEYSTORE_NO_PROVIDER');
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
