import { createRequire } from 'node:module';
import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { describe, expect, it } from 'vitest';

const HAVE_INVERSIFY = (() => {
  try {
    createRequire(import.meta.url).resolve('inversify');
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!HAVE_INVERSIFY)(
  `capiModule (${HAVE_INVERSIFY ? 'inversify found' : 'needs inversify, an optional peer dependency: npm install inversify'})`,
  () => {
    it('binds one CryptoAPI provider, in singleton scope, to the core KeyStoreProvider token', async () => {
      const inversify = 'inversify';
      const { Container } = (await import(inversify)) as typeof import('inversify');
      const { capiModule } = await import('../src/module.js');
      const { KeyStoreProvider } = await import('@keystore/core/di');
      const container = new Container();
      await container.load(capiModule({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }));
      const providers = container.getAll<{ id: string; capabilities: { legacyCryptoApi: boolean } }>(KeyStoreProvider);
      expect(providers.map((p) => p.id)).toEqual(['capi']);
      expect(providers[0]?.capabilities.legacyCryptoApi).toBe(true);
      expect(container.get(KeyStoreProvider)).toBe(container.get(KeyStoreProvider));
      if (process.platform !== 'win32') {
        const probe = await (providers[0] as unknown as { probe(): Promise<{ available: boolean }> }).probe();
        expect(probe.available).toBe(false);
      }
    });
  },
);
