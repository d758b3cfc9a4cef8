// The machine policy in the registry, for real: Windows Node.js under Wine runs reg.exe to write
// values, then the built @keystore/core (dist) reads them back with reg.exe and merges them.
// Needs Wine (test-support/wine.ts) and a built core: npm run build -w @keystore/core.
//
// The Wine prefix is shared with other test files running at the same time. Values are written,
// read and deleted inside one Windows process, so they exist for about a second; invalid values go
// only under a scratch key of this run, and the real key HKLM\SOFTWARE\Policies\keystore only gets
// values that tighten nothing another test relies on.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runWineExe, runWineScript, wine } from '../../../test-support/wine.js';

const DIST = `${repoRoot}packages/core/dist/index.cjs`;
const SCRATCH = `HKLM\\SOFTWARE\\Policies\\keystore-test-${randomBytes(4).toString('hex')}`;
const REAL = 'HKLM\\SOFTWARE\\Policies\\keystore';
const BROKEN = `${SCRATCH}-crlf`;

/** Prefix of every script: helpers to add and delete registry values with reg.exe. */
const HELPERS = `
const { execFileSync } = require('child_process');
const core = require('@keystore/core');
const reg = (...args) => execFileSync('reg', args, { stdio: 'ignore' });
const add = (key, name, type, data) => reg('add', key, '/v', name, '/t', type, '/d', data, '/f');
const remove = (key) => { try { reg('delete', key, '/f'); return true; } catch { return false; } };
const outcome = async (promise) => {
  try { return { value: await promise }; }
  catch (e) { return { error: { code: e.code, issues: e.issues, message: e.message } }; }
};
`;

interface Outcome<T> {
  value?: T;
  error?: { code: string; issues?: { pointer: string; message: string }[]; message: string };
}

describe.skipIf(!wine.available)(`registry machine policy under Wine (needs Wine: ${wine.reason})`, () => {
  let scratchCleaned = false;
  let realCleaned = false;
  let brokenCleaned = false;

  beforeAll(() => {
    if (!existsSync(DIST) || !readFileSync(DIST, 'utf8').includes('readRegistryKey')) {
      throw new Error(`${DIST} is missing or stale: run npm run build -w @keystore/core first`);
    }
  });

  afterAll(async () => {
    // Only when a script died before its own cleanup.
    if (!scratchCleaned) await runWineExe('reg', ['delete', SCRATCH, '/f']).catch(() => undefined);
    if (!realCleaned) await runWineExe('reg', ['delete', REAL, '/f']).catch(() => undefined);
    if (!brokenCleaned) await runWineExe('reg', ['delete', BROKEN, '/f']).catch(() => undefined);
  }, 60_000);

  it('reads every value type with reg.exe, tells a missing key from an empty one, and fails closed on bad values', async () => {
    const result = await runWineScript(
      `${HELPERS}
(async () => {
  const key = ${JSON.stringify(SCRATCH)};
  const bad = key + '\\\\bad';
  const out = {};
  try {
    add(key, 'MinimumIsolation', 'REG_SZ', 'os-protected');
    add(key, 'AllowedAlgorithms', 'REG_MULTI_SZ', 'ECDSA-P256\\\\0RSA-3072');
    add(key, 'MinimumRsaBits', 'REG_DWORD', '3072');
    add(key, 'ExportableExport', 'REG_DWORD', '0');
    add(key, 'ProvidersDeny', 'REG_MULTI_SZ', 'capi');
    const t = Date.now();
    out.contents = await core.readRegistryKey(key);
    out.readMs = Date.now() - t;
    out.policy = await outcome(core.loadRegistryPolicy({ reader: (_k, o) => core.readRegistryKey(key, o) }));
    const t2 = Date.now();
    out.missing = await core.readRegistryKey(key + '\\\\missing');
    out.missingMs = Date.now() - t2;
    out.missingParent = await core.readRegistryKey(key + '-nope\\\\child\\\\grandchild');
    add(bad, 'MinimumIsolation', 'REG_SZ', 'titanium');
    add(bad, 'MinimumRsaBits', 'REG_SZ', '3072');
    add(bad, 'Colour', 'REG_SZ', 'blue');
    out.bad = await outcome(core.loadRegistryPolicy({ reader: (_k, o) => core.readRegistryKey(bad, o) }));
    out.withSubkey = await outcome(core.loadRegistryPolicy({ reader: (_k, o) => core.readRegistryKey(key, o) }));
  } finally {
    out.cleaned = remove(key);
    out.gone = (await core.readRegistryKey(key)) === null;
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`,
      { timeoutMs: 90_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const out = result.json as {
      contents: { values: { name: string; type: string; data: unknown }[]; subkeys: string[] };
      readMs: number;
      policy: Outcome<{ policy: unknown; key: string }>;
      missing: null;
      missingMs: number;
      missingParent: null;
      bad: Outcome<unknown>;
      withSubkey: Outcome<unknown>;
      cleaned: boolean;
      gone: boolean;
    };
    scratchCleaned = out.cleaned && out.gone;
    const byName = Object.fromEntries(out.contents.values.map((v) => [v.name, v]));
    expect(byName.MinimumIsolation).toEqual({ name: 'MinimumIsolation', type: 'REG_SZ', data: 'os-protected' });
    expect(byName.AllowedAlgorithms?.data).toEqual(['ECDSA-P256', 'RSA-3072']);
    expect(byName.MinimumRsaBits).toEqual({ name: 'MinimumRsaBits', type: 'REG_DWORD', data: 3072 });
    expect(byName.ExportableExport?.data).toBe(0);
    expect(out.policy.value?.policy).toEqual({
      minimumIsolation: 'os-protected',
      providers: { deny: ['capi'] },
      exportable: { export: false },
      allowedAlgorithms: ['ECDSA-P256', 'RSA-3072'],
      minimumRsaBits: 3072,
    });
    expect(out.missing).toBeNull();
    expect(out.missingParent).toBeNull();
    expect(out.bad.error?.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(out.bad.error?.issues?.map((i) => i.pointer).sort()).toEqual(['', '/minimumIsolation', '/minimumRsaBits']);
    expect(out.bad.error?.message).toContain('Colour');
    // Values moved into a subkey by mistake are not silently ignored.
    expect(out.withSubkey.error?.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(out.withSubkey.error?.message).toContain('subkey "bad"');
    expect(out.gone).toBe(true);
    console.info(`reg.exe under Wine: key read ${out.readMs} ms, missing key confirmed ${out.missingMs} ms`);
  }, 120_000);

  it('fails closed on a value whose data holds a line break, and runs reg.exe from where SystemRoot says (Wine has no \\SystemRoot link)', async () => {
    const result = await runWineScript(
      `${HELPERS}
const { realpathSync } = require('fs');
(async () => {
  const key = ${JSON.stringify(BROKEN)};
  const out = {};
  try {
    add(key, 'MinimumIsolation', 'REG_SZ', 'in-process\\r\\njunk');
    add(key, 'LegacyCryptoApi', 'REG_SZ', 'deny');
    add(key, 'ProvidersDeny', 'REG_MULTI_SZ', 'capi');
    out.crlf = await outcome(core.readRegistryKey(key));
    out.policy = await outcome(core.loadRegistryPolicy({ reader: (_k, o) => core.readRegistryKey(key, o) }));
    try { out.link = realpathSync.native('\\\\\\\\?\\\\GLOBALROOT\\\\SystemRoot'); } catch (e) { out.link = e.code; }
    const saved = { SystemRoot: process.env.SystemRoot, windir: process.env.windir };
    try {
      process.env.SystemRoot = 'C:\\\\nowhere';
      process.env.windir = 'C:\\\\nowhere';
      out.elsewhere = await outcome(core.readRegistryKey(key));
      process.env.windir = saved.windir;
      out.disagreeing = await outcome(core.readRegistryKey(key));
    } finally {
      process.env.SystemRoot = saved.SystemRoot;
      process.env.windir = saved.windir;
    }
  } finally {
    out.cleaned = remove(key);
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`,
      { timeoutMs: 90_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const out = result.json as {
      crlf: Outcome<unknown>;
      policy: Outcome<unknown>;
      link: string;
      elsewhere: Outcome<unknown>;
      disagreeing: Outcome<unknown>;
      cleaned: boolean;
    };
    brokenCleaned = out.cleaned;
    // Before, this read as { minimumIsolation: 'in-process' }, dropping LegacyCryptoApi and ProvidersDeny.
    expect(out.crlf.error?.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(out.crlf.error?.message).toContain('junk');
    expect(out.policy.error?.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    // Under Wine the object manager has no \SystemRoot link, so the environment decides which reg.exe runs.
    expect(out.link).toBe('ENOENT');
    expect(out.elsewhere.error?.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(out.elsewhere.error?.message).toContain('C:\\nowhere\\System32\\reg.exe');
    expect(out.disagreeing.error?.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(out.disagreeing.error?.message).toContain('two Windows directories');
  }, 120_000);

  it('HKLM\\SOFTWARE\\Policies\\keystore caps a weaker app policy in createKeyStore, named as the source', async () => {
    const result = await runWineScript(
      `${HELPERS}
const { createMemoryProvider, createTestKeyStore, resolveTestPolicy } = require('@keystore/core/testing');
(async () => {
  const key = ${JSON.stringify(REAL)};
  const out = {};
  try {
    out.before = await core.readRegistryKey(key);
    add(key, 'MinimumIsolation', 'REG_SZ', 'in-process');
    add(key, 'MinimumRsaBits', 'REG_DWORD', '2048');
    add(key, 'ProvidersDeny', 'REG_MULTI_SZ', 'kst-regtest-a\\\\0kst-regtest-b');
    add(key, 'ExportableCreate', 'REG_DWORD', '1');
    add(key, 'AllowedScopes', 'REG_MULTI_SZ', 'user\\\\0machine');
    const app = { minimumIsolation: 'none', minimumRsaBits: 1024, exportable: { create: true } };
    const effective = await resolveTestPolicy({ app, machine: null });
    out.effective = core.policyToJson(effective);
    const store = await createTestKeyStore({ providers: [createMemoryProvider()], policy: app, machinePolicy: null });
    out.storeFloor = store.policy.minimumIsolation;
    out.create = await outcome(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    const ignored = await createTestKeyStore({ providers: [], policy: app, machinePolicy: null, registryPolicy: null });
    out.ignoredFloor = ignored.policy.minimumIsolation;
  } finally {
    out.cleaned = remove(key);
    out.after = await core.readRegistryKey(key);
    const none = await resolveTestPolicy({ app: { minimumIsolation: 'none' }, machine: null });
    out.afterFloor = none.minimumIsolation;
    out.afterKey = none.registryPolicyKey;
  }
  console.log(JSON.stringify(out, (k, v) => (v instanceof Object && v.constructor && v.constructor.name === 'ManagedKey' ? '[key]' : v)));
})().catch((e) => { console.error(e); process.exit(1); });
`,
      { timeoutMs: 90_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const out = result.json as {
      before: unknown;
      effective: {
        policy: { minimumIsolation: string; minimumRsaBits: number; providers: { deny: string[] } };
        sources: Record<string, string>;
        registryPolicyKey: string | null;
        machinePolicyPath: string | null;
      };
      storeFloor: string;
      create: Outcome<unknown>;
      ignoredFloor: string;
      cleaned: boolean;
      after: unknown;
      afterFloor: string;
      afterKey: string | null;
    };
    realCleaned = out.cleaned && out.after === null;
    expect(out.before, 'HKLM\\SOFTWARE\\Policies\\keystore already existed in the Wine prefix').toBeNull();
    expect(out.effective.registryPolicyKey).toBe(REAL);
    expect(out.effective.machinePolicyPath).toBeNull();
    expect(out.effective.policy.minimumIsolation).toBe('in-process');
    expect(out.effective.policy.minimumRsaBits).toBe(2048);
    expect(out.effective.policy.providers.deny).toEqual(['kst-regtest-a', 'kst-regtest-b']);
    expect(out.effective.sources).toMatchObject({
      '/minimumIsolation': 'registry',
      '/minimumRsaBits': 'registry',
      '/providers/deny': 'registry',
      '/exportable/create': 'app',
      '/allowedScopes': 'registry',
    });
    expect(out.storeFloor).toBe('in-process');
    // The in-memory provider (isolation none) is now below the floor the registry set.
    expect(out.create.error?.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(out.ignoredFloor).toBe('none');
    expect(out.after).toBeNull();
    expect(out.afterFloor).toBe('none');
    expect(out.afterKey).toBeNull();
  }, 120_000);

  it("reads a key with no values and no subkeys as empty (Wine's reg.exe prints nothing for one), and a missing key as none", async () => {
    const empty = `${SCRATCH}-empty`;
    const result = await runWineScript(
      `${HELPERS}
(async () => {
  const key = ${JSON.stringify(empty)};
  const out = {};
  try {
    add(key, 'X', 'REG_SZ', 'y');
    reg('delete', key, '/v', 'X', '/f');
    out.contents = await outcome(core.readRegistryKey(key));
    out.policy = await outcome(core.loadRegistryPolicy({ reader: (_k, o) => core.readRegistryKey(key, o) }));
  } finally {
    out.cleaned = remove(key);
    out.gone = await outcome(core.readRegistryKey(key));
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`,
      { timeoutMs: 90_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const out = result.json as {
      contents: Outcome<unknown>;
      policy: Outcome<{ policy: unknown }>;
      gone: Outcome<unknown>;
    };
    expect(out.contents.value).toEqual({ values: [], subkeys: [] });
    expect(out.policy.value?.policy).toEqual({});
    expect(out.gone.value).toBeNull();
  }, 120_000);
});
