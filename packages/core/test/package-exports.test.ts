// The published shape of @keystore/core: both `import` and `require` of every entry point work
// from a scratch project, and the type declarations resolve in both module modes. Runs against the
// built package (dist/), as an app would see it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const core = join(root, 'packages/core');
const built = existsSync(join(core, 'dist/index.js')) && existsSync(join(core, 'dist/index.cjs'));

describe('@keystore/core package exports from a scratch project (runs against dist/: `npm run build` first)', () => {
  let dir = '';
  beforeAll(() => {
    if (!built) throw new Error('packages/core/dist is missing: run `npm run build` before these tests');
    dir = mkdtempSync(join(tmpdir(), 'keystore-exports-'));
    mkdirSync(join(dir, 'node_modules/@keystore'), { recursive: true });
    symlinkSync(core, join(dir, 'node_modules/@keystore/core'), 'dir');
    symlinkSync(join(root, 'node_modules/inversify'), join(dir, 'node_modules/inversify'), 'dir');
    for (const dep of ['@inversifyjs', '@types']) {
      if (existsSync(join(root, 'node_modules', dep)))
        symlinkSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const entries = ['@keystore/core', '@keystore/core/di', '@keystore/core/testing', '@keystore/core/provider'];

  it('require() loads every entry point, and the main entry does not load inversify', () => {
    const script = `
      const seen = {};
      for (const e of ${JSON.stringify(entries)}) seen[e] = Object.keys(require(e)).length;
      const main = require('@keystore/core');
      if (typeof main.KeyStoreError !== 'function') throw new Error('no KeyStoreError');
      const loaded = Object.keys(require.cache).some((f) => f.includes('/inversify/'));
      console.log(JSON.stringify({ seen, inversifyLoadedAfterAll: loaded }));`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' });
    const parsed = JSON.parse(out) as { seen: Record<string, number> };
    for (const e of entries) expect(parsed.seen[e]).toBeGreaterThan(0);
    const mainOnly = execFileSync(
      process.execPath,
      ['-e', "require('@keystore/core'); console.log(Object.keys(require.cache).some((f) => f.includes('inversify')))"],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(mainOnly.trim()).toBe('false');
  });

  it('import loads every entry point as ESM', () => {
    const script = `
      const out = {};
      for (const e of ${JSON.stringify(entries)}) out[e] = Object.keys(await import(e)).length;
      const { KeyStoreError } = await import('@keystore/core');
      out.brand = KeyStoreError.is(new KeyStoreError('ERR_KEYSTORE_KEY_NOT_FOUND', 'x'));
      console.log(JSON.stringify(out));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' });
    const parsed = JSON.parse(out) as Record<string, number | boolean>;
    for (const e of entries) expect(parsed[e]).toBeGreaterThan(0);
    expect(parsed.brand).toBe(true);
  });

  it('an error from the CJS build is recognised by the ESM build (the brand crosses copies)', () => {
    const script = `
      import { createRequire } from 'node:module';
      const { KeyStoreError: Cjs } = createRequire(import.meta.url)('@keystore/core');
      const { KeyStoreError: Esm } = await import('@keystore/core');
      console.log(Cjs !== Esm, Esm.is(new Cjs('ERR_KEYSTORE_KEY_EXISTS', 'x'), 'ERR_KEYSTORE_KEY_EXISTS'));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' });
    expect(out.trim()).toBe('true true');
  });

  it('type declarations resolve for import (ESM) and require (CJS) consumers', () => {
    writeFileSync(
      join(dir, 'esm.mts'),
      `import { createKeyStore, KeyStoreError, type KeyStore, type IsolationLevel } from '@keystore/core';
import { createMemoryProvider } from '@keystore/core/testing';
import { keyStoreModule } from '@keystore/core/di';
import { checkScope } from '@keystore/core/provider';
const level: IsolationLevel = 'hardware';
const store: Promise<KeyStore> = createKeyStore({ providers: [createMemoryProvider()] });
export { level, store, KeyStoreError, keyStoreModule, checkScope };
`,
    );
    writeFileSync(
      join(dir, 'cjs.cts'),
      `import core = require('@keystore/core');
import testing = require('@keystore/core/testing');
import di = require('@keystore/core/di');
import kit = require('@keystore/core/provider');
const level: core.IsolationLevel = 'none';
const provider = testing.createMemoryProvider();
export = { level, provider, di: di.keyStoreModule, is: core.KeyStoreError.is, scope: kit.checkScope('user') };
`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          lib: ['es2022', 'esnext.disposable'],
        },
        files: ['esm.mts', 'cjs.cts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });
});
