import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createNCryptDouble, createSystemDouble } from './helpers/ncrypt-double.js';

const HAVE_INVERSIFY = (() => {
  try {
    createRequire(import.meta.url).resolve('inversify');
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!HAVE_INVERSIFY)(
  `cngModule (${HAVE_INVERSIFY ? 'inversify found' : 'needs inversify, an optional peer dependency: npm install inversify'})`,
  () => {
    it('binds one CNG provider, in singleton scope, to the core KeyStoreProvider token', async () => {
      const inversify = 'inversify';
      const { Container } = (await import(inversify)) as typeof import('inversify');
      const { cngModule } = await import('../src/module.js');
      const { KeyStoreProvider } = await import('@keystore/core/di');
      const ncrypt = createNCryptDouble();
      const system = createSystemDouble();
      const container = new Container();
      await container.load(cngModule({ bindings: { ncrypt: () => ncrypt, system: () => system } }));
      const providers = container.getAll<{ id: string }>(KeyStoreProvider);
      expect(providers.map((p) => p.id)).toEqual(['cng']);
      expect(container.get(KeyStoreProvider)).toBe(container.get(KeyStoreProvider));
      const probe = await (
        providers[0] as unknown as { probe(): Promise<{ available: boolean; isolation: string }> }
      ).probe();
      expect(probe).toMatchObject({ available: true, isolation: 'os-isolated' });
    });

    it('works with keyStoreModule: the store creates keys in the provider', async () => {
      const inversify = 'inversify';
      const { Container } = (await import(inversify)) as typeof import('inversify');
      const { cngModule } = await import('../src/module.js');
      const { KeyStore, keyStoreModule } = await import('@keystore/core/di');
      const ncrypt = createNCryptDouble();
      const container = new Container();
      await container.load(
        cngModule({ bindings: { ncrypt: () => ncrypt, system: () => createSystemDouble() } }),
        keyStoreModule({ policy: { minimumIsolation: 'os-isolated' } }),
      );
      const store = await container.getAsync<import('@keystore/core').KeyStore>(KeyStore);
      const key = await store.createKey('via-di', { algorithm: 'ECDSA-P256' });
      expect(key.providerId).toBe('cng');
      expect(key.isolation.level).toBe('os-isolated');
      expect(ncrypt.stored('user', 'via-di')).toBeDefined();
      await key.close();
      await store.close();
    });
  },
);
