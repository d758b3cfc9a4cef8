// The Wine harness itself: Windows Node runs, exit codes and output pass through, and a provider
// served from inside Windows Node passes the conformance suite when driven from here.
import { createKeyStore, KeyStoreError } from '@keystore/core';
import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWineNode, runWineScript, startWineProvider, type WineProvider, wine } from '../wine.js';

describe.skipIf(!wine.available)(`Wine harness (needs Wine: ${wine.reason})`, () => {
  it('runs Windows Node: platform win32, exit code and both streams passed through', async () => {
    const r = await runWineNode(['-e', "console.log(process.platform); console.error('on stderr'); process.exit(7)"]);
    expect(r.code).toBe(7);
    expect(r.stdout.trim()).toBe('win32');
    expect(r.stderr).toContain('on stderr');
  });

  it('passes stdin and resolves the workspace packages and koffi', async () => {
    const r = await runWineScript(
      `let s=''; process.stdin.on('data', d => s += d).on('end', () => {
        const koffi = require('koffi'); const core = require('@keystore/core');
        console.log(JSON.stringify({ input: s, koffi: typeof koffi.load, core: typeof core.createKeyStore }));
      });`,
      { input: 'from linux' },
    );
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ input: 'from linux', koffi: 'function', core: 'function' });
  });
});

describe.skipIf(!wine.available)(`a provider served from Windows Node (needs Wine: ${wine.reason})`, () => {
  let remote: WineProvider;
  beforeAll(async () => {
    remote = await startWineProvider({
      module: 'packages/core/dist/testing/index.cjs',
      factory: 'createMemoryProvider',
    });
  });
  afterAll(async () => {
    await remote?.stop();
  });

  it('carries typed errors back with their code', async () => {
    const err = await remote.openKey({ name: 'missing', scope: 'user' }).catch((e: unknown) => e);
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')).toBe(true);
  });

  it('works behind a KeyStore on this side', async () => {
    const store = await createKeyStore({ providers: [remote], policy: { minimumIsolation: 'none' } });
    const key = await store.createKey(`h-${process.pid}`, { algorithm: 'ECDSA-P256' });
    const data = Buffer.from('signed inside Windows Node');
    expect(await key.verify(data, await key.sign(data))).toBe(true);
    await store.deleteKey(key.ref);
  });
});

let served: WineProvider | undefined;
afterAll(async () => {
  await served?.stop();
});

defineProviderConformanceSuite({
  name: 'memory provider inside Windows Node under Wine',
  test: {
    describe: (name, fn) => describe.skipIf(!wine.available)(`${name} (needs Wine: ${wine.reason})`, fn),
    it,
    beforeAll,
    afterAll,
  },
  createProvider: async () => {
    served = await startWineProvider({
      module: 'packages/core/dist/testing/index.cjs',
      factory: 'createMemoryProvider',
    });
    return served;
  },
  algorithms: ['ECDSA-P256', 'RSA-2048', 'ECDH-P256'],
});
