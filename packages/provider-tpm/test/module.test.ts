import { createRequire } from 'node:module';
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
  `tpmModule (${HAVE_INVERSIFY ? 'inversify found' : 'needs inversify, an optional peer dependency: npm install inversify'})`,
  () => {
    it('binds one TPM provider, in singleton scope, to the core KeyStoreProvider token', async () => {
      const inversify = 'inversify';
      const { Container } = (await import(inversify)) as typeof import('inversify');
      const { tpmModule } = await import('../src/module.js');
      const { KeyStoreProvider } = await import('@keystore/core/di');
      expect(KeyStoreProvider).toBe(Symbol.for('@keystore/core/KeyStoreProvider'));
      const container = new Container();
      await container.load(tpmModule({ configFile: '/nonexistent/fapi-config.json' }));
      const providers = container.getAll<{ id: string }>(KeyStoreProvider);
      expect(providers.map((p) => p.id)).toEqual(['tpm']);
      expect(container.get(KeyStoreProvider)).toBe(container.get(KeyStoreProvider));
      const probe = await (providers[0] as unknown as { probe(): Promise<{ available: boolean }> }).probe();
      expect(probe.available).toBe(false);
    });
  },
);
