// Importing a package of the SDK loads no native code and nothing Windows-only: koffi and the
// libraries it opens (ncrypt.dll, libtss2-fapi, a PKCS#11 module) load at the first call that needs
// them, and provider-tpm loads nothing of provider-cng at import: its koffi loader (with the Windows
// bindings) at the first FAPI call, its key storage engine only for the Windows backend.
// Core's entry leaves the registry and policy-file readers' heavy built-ins (child_process, net,
// fs/promises) for their first use. Each entry point is loaded by `require` and by `import` in a
// fresh Node process that records every file it loads (require.cache, and a module loader hook for
// ES modules), every process.dlopen and the built-in modules added. Runs against dist/ (`npm run
// build` first). A test of behaviour, not of time: bench/startup.mjs measures the time.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

const ENTRIES = [
  '@keystore/core',
  '@keystore/core/di',
  '@keystore/provider-cng',
  '@keystore/provider-cng/module',
  '@keystore/provider-cng/certstore',
  '@keystore/provider-tpm',
  '@keystore/provider-tpm/module',
  '@keystore/provider-capi',
  '@keystore/provider-capi/module',
  '@keystore/provider-pkcs11',
  '@keystore/provider-pkcs11/module',
] as const;

/** Built-ins that these entry points may not add, at import, to those a bare process of the same mode loads. */
const HEAVY_BUILTINS = ['child_process', 'net', 'dgram', 'fs/promises', 'readline'];

interface Loaded {
  /** Every file loaded, as a path. */
  readonly files: string[];
  /** Every path given to process.dlopen (native addons). */
  readonly dlopen: string[];
  /** Built-in modules loaded by the entry point and not by a bare process. */
  readonly builtins: string[];
}

let dir = '';
let preloadCjs = '';
let preloadEsm = '';

// The ES module hook runs on the loader's own thread: it appends each loaded URL to a file, before
// the load completes, so the list is whole when the import resolves.
const HOOKS = `
import { appendFileSync } from 'node:fs';
let log;
export async function initialize(data) { log = data.log; }
export async function load(url, context, next) { if (log) appendFileSync(log, url + '\\n'); return next(url, context); }
`;

// Loaded with -r (before the entry point, in both modes): records dlopen calls and, at exit, what was
// loaded. The built-in list is taken before anything is printed (writing to a pipe loads net).
const PRELOAD_CJS = `
const { readFileSync, writeFileSync, existsSync } = require('node:fs');
const { fileURLToPath } = require('node:url');
const dlopen = process.dlopen;
const opened = [];
process.dlopen = function (module, filename, ...rest) { opened.push(filename); return dlopen.call(this, module, filename, ...rest); };
const before = new Set(process.moduleLoadList);
globalThis.__keystoreLoaded = () => {
  const builtins = process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule ')).map((m) => m.slice(13));
  const log = process.env.KEYSTORE_LOAD_LOG;
  const esm = log && existsSync(log) ? readFileSync(log, 'utf8').split('\\n').filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u)) : [];
  writeFileSync(process.env.KEYSTORE_LOAD_OUT, JSON.stringify({ files: [...Object.keys(require.cache), ...esm], dlopen: opened, builtins }));
};
`;

function load(code: string, mode: 'require' | 'import', tag: string): Promise<Loaded> {
  const out = join(dir, `${tag}.json`);
  const log = join(dir, `${tag}.log`);
  const args =
    mode === 'require'
      ? ['-r', preloadCjs, '-e', `${code}; globalThis.__keystoreLoaded();`]
      : [
          '-r',
          preloadCjs,
          '--import',
          pathToFileURL(preloadEsm).href,
          '--input-type=module',
          '-e',
          `${code}; globalThis.__keystoreLoaded();`,
        ];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: root, env: { ...process.env, KEYSTORE_LOAD_OUT: out, KEYSTORE_LOAD_LOG: log }, timeout: 60_000 },
      (error, _stdout, stderr) => {
        if (error) return reject(new Error(`node ${args.join(' ')} failed: ${stderr || error.message}`));
        resolve(JSON.parse(readFileSync(out, 'utf8')) as Loaded);
      },
    );
  });
}

const statement = (entry: string, mode: 'require' | 'import') =>
  mode === 'require' ? `require(${JSON.stringify(entry)})` : `await import(${JSON.stringify(entry)})`;

const tagOf = (entry: string, mode: string) => `${mode}-${entry.replace(/[@/]/g, '_')}`;

const koffiFiles = (loaded: Loaded) => loaded.files.filter((f) => /[\\/]koffi[\\/]/.test(f));
/** Any module of provider-cng (its engine, its native bindings and koffi loader), in either build. */
const cngFiles = (loaded: Loaded) => loaded.files.filter((f) => /provider-cng[\\/]dist[\\/]/.test(f));
/** provider-cng's main entry (the NCrypt key storage engine), in either build. */
const cngEngineFiles = (loaded: Loaded) =>
  loaded.files.filter((f) => /provider-cng[\\/]dist[\\/]index\.c?js$/.test(f.replace(/\?.*$/, '')));

const built = ['core', 'provider-cng', 'provider-tpm', 'provider-capi', 'provider-pkcs11'].every(
  (pkg) =>
    existsSync(join(root, 'packages', pkg, 'dist', 'index.js')) &&
    existsSync(join(root, 'packages', pkg, 'dist', 'index.cjs')),
);

describe('lazy loading: importing a package loads no native code (runs against dist/: `npm run build` first)', () => {
  const results = new Map<string, Loaded>();
  const bare = new Map<string, Loaded>();

  beforeAll(async () => {
    if (!built) throw new Error('a package dist/ is missing: run `npm run build` before these tests');
    dir = mkdtempSync(join(tmpdir(), 'keystore-lazy-'));
    preloadCjs = join(dir, 'preload.cjs');
    preloadEsm = join(dir, 'preload.mjs');
    writeFileSync(preloadCjs, PRELOAD_CJS);
    writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
    writeFileSync(
      preloadEsm,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)}, { data: { log: process.env.KEYSTORE_LOAD_LOG } });\n`,
    );
    for (const mode of ['require', 'import'] as const) bare.set(mode, await load('0', mode, `bare-${mode}`));
    // Two at a time: the machine running the suite is busy with other test files.
    const jobs = ENTRIES.flatMap((entry) => (['require', 'import'] as const).map((mode) => ({ entry, mode })));
    for (let i = 0; i < jobs.length; i += 2) {
      await Promise.all(
        jobs.slice(i, i + 2).map(async ({ entry, mode }) => {
          results.set(`${mode} ${entry}`, await load(statement(entry, mode), mode, tagOf(entry, mode)));
        }),
      );
    }
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the check sees koffi and its native addon when something does load them', async () => {
    const control = await load("require('koffi')", 'require', 'control-koffi');
    expect(koffiFiles(control).length).toBeGreaterThan(0);
    expect(control.dlopen.some((f) => f.endsWith('.node'))).toBe(true);
    const engine = await load("await import('@keystore/provider-cng')", 'import', 'control-cng');
    expect(cngEngineFiles(engine).length).toBeGreaterThan(0);
    const native = await load("require('@keystore/provider-cng/native')", 'require', 'control-cng-native');
    expect(cngFiles(native).length).toBeGreaterThan(0);
    expect(cngEngineFiles(native)).toEqual([]);
    const heavy = await load("require('node:child_process')", 'require', 'control-builtins');
    expect(heavy.builtins).toContain('child_process');
  });

  for (const entry of ENTRIES) {
    for (const mode of ['require', 'import'] as const) {
      it(`${statement(entry, mode)} loads neither koffi nor any native addon`, () => {
        const loaded = results.get(`${mode} ${entry}`);
        expect(loaded).toBeDefined();
        expect(koffiFiles(loaded as Loaded)).toEqual([]);
        expect((loaded as Loaded).dlopen).toEqual([]);
      });
    }
  }

  for (const entry of ['@keystore/core', '@keystore/provider-tpm'] as const) {
    for (const mode of ['require', 'import'] as const) {
      it(`${statement(entry, mode)} leaves child_process, net and fs/promises for their first use`, () => {
        const loaded = results.get(`${mode} ${entry}`) as Loaded;
        const baseline = bare.get(mode) as Loaded;
        const added = loaded.builtins.filter((m) => !baseline.builtins.includes(m));
        expect(HEAVY_BUILTINS.filter((m) => added.includes(m))).toEqual([]);
      });
    }
  }

  for (const entry of ['@keystore/provider-tpm', '@keystore/provider-tpm/module'] as const) {
    for (const mode of ['require', 'import'] as const) {
      it(`${statement(entry, mode)} loads no module of provider-cng (the first FAPI call or pcpProvider() does)`, () => {
        expect(cngFiles(results.get(`${mode} ${entry}`) as Loaded)).toEqual([]);
      });
    }
  }
});
