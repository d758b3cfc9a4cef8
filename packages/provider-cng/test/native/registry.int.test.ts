/**
 * nativeRegistryReader executed for real inside Windows Node.js under Wine (advapi32's registry API),
 * against `@keystore/core`'s reg.exe reader on the same keys: both must return the same contents, so
 * the machine policy reads alike through either. Each run writes its own scratch key under
 * `HKLM\SOFTWARE\Policies` (never the real policy key, which other tests use) and deletes it.
 * Needs the built packages (`npm run build -w @keystore/provider-cng`).
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { runWineScript, wine } from '../../../../test-support/wine.js';

const scratch = `HKLM\\SOFTWARE\\Policies\\keystore-native-test-${randomBytes(6).toString('hex')}`;

const SCRIPT = `
const { execFileSync } = require('child_process');
const { nativeRegistryReader } = require('@keystore/provider-cng/native');
const { loadRegistryPolicy, readRegistryKey } = require('@keystore/core');
const { createTestKeyStore } = require('@keystore/core/testing');
const scratch = process.env.SCRATCH_KEY;
const contentsKey = scratch + '\\\\Contents';
const policyKey = scratch + '\\\\Policy';
const missingKey = scratch + '\\\\Missing';
const reg = (...args) => execFileSync('reg', args, { stdio: 'pipe' });
const failure = (e) => ({ code: e && e.code, name: e && e.name, nativeStatus: e && e.nativeStatus });
async function attempt(f) { try { return { ok: true, value: await f() }; } catch (e) { return { ok: false, error: failure(e) }; } }
(async () => {
  const out = {};
  const native = nativeRegistryReader();
  try {
    reg('add', contentsKey, '/v', 'Name', '/t', 'REG_SZ', '/d', 'hello world', '/f');
    reg('add', contentsKey, '/v', 'Empty', '/t', 'REG_SZ', '/d', '', '/f');
    reg('add', contentsKey, '/v', 'Bits', '/t', 'REG_DWORD', '/d', '3072', '/f');
    reg('add', contentsKey, '/v', 'List', '/t', 'REG_MULTI_SZ', '/d', 'tpm\\\\0cng\\\\0capi', '/f');
    reg('add', contentsKey, '/v', 'Path', '/t', 'REG_EXPAND_SZ', '/d', '%SystemRoot%\\\\x', '/f');
    reg('add', contentsKey, '/v', 'Blob', '/t', 'REG_BINARY', '/d', '01ab00ff', '/f');
    reg('add', contentsKey, '/ve', '/d', 'the default value', '/f');
    reg('add', contentsKey + '\\\\Nested', '/v', 'Inner', '/t', 'REG_SZ', '/d', 'below', '/f');
    reg('add', contentsKey, '/v', 'Big', '/t', 'REG_QWORD', '/d', '0x123456789', '/f');
    reg('add', policyKey, '/v', 'MinimumIsolation', '/t', 'REG_SZ', '/d', 'hardware', '/f');
    reg('add', policyKey, '/v', 'LegacyCryptoApi', '/t', 'REG_SZ', '/d', 'deny', '/f');
    reg('add', policyKey, '/v', 'MinimumRsaBits', '/t', 'REG_DWORD', '/d', '3072', '/f');

    let t = process.hrtime.bigint();
    out.native = await native(contentsKey, {});
    out.firstNativeMs = Number(process.hrtime.bigint() - t) / 1e6;
    t = process.hrtime.bigint();
    await native(contentsKey, {});
    out.nativeMs = Number(process.hrtime.bigint() - t) / 1e6;
    t = process.hrtime.bigint();
    out.reg = await readRegistryKey(contentsKey);
    out.regMs = Number(process.hrtime.bigint() - t) / 1e6;
    out.nativeLower = await native(contentsKey.toLowerCase().replace(/^hklm/, 'HKEY_LOCAL_MACHINE'), {});
    out.missing = { native: await native(missingKey, {}), reg: await readRegistryKey(missingKey) };
    out.missingParent = await native(missingKey + '\\\\Below', {});

    const policyFrom = (reader) => (key, options) => reader(policyKey, options);
    const loaded = async (reader) => {
      const { policy } = await loadRegistryPolicy({ platform: 'win32', reader: policyFrom(reader) });
      return policy && { minimumIsolation: policy.minimumIsolation, legacyCryptoApi: policy.legacyCryptoApi, minimumRsaBits: policy.minimumRsaBits };
    };
    out.policy = { native: await loaded(native), reg: await loaded(readRegistryKey) };
    out.nestedPolicy = await attempt(() => loadRegistryPolicy({ platform: 'win32', reader: (k, o) => native(contentsKey, o) }));

    const store = await createTestKeyStore({ providers: [], machinePolicy: null, registryReader: policyFrom(native) });
    out.storeWithPolicy = { registryPolicyKey: store.policy.registryPolicyKey };
    const bare = await createTestKeyStore({ providers: [], machinePolicy: null, registryReader: (k, o) => native(missingKey, o) });
    out.storeWithout = { registryPolicyKey: bare.policy.registryPolicyKey };

    out.invalid = await attempt(() => native('HKCU\\\\Software', {}));
    out.aborted = await attempt(() => native(contentsKey, { signal: AbortSignal.abort() }));
  } finally {
    try { reg('delete', scratch, '/f'); } catch (e) { out.deleteError = String(e && e.message); }
    out.afterDelete = await attempt(() => native(scratch, {}));
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

interface Contents {
  values: { name: string; type: string; data: unknown }[];
  subkeys?: string[];
}
type Attempt =
  | { ok: true; value: unknown }
  | { ok: false; error: { code: string; name: string; nativeStatus?: number } };
interface Result {
  native: Contents;
  reg: Contents;
  nativeLower: Contents;
  firstNativeMs: number;
  nativeMs: number;
  regMs: number;
  missing: { native: unknown; reg: unknown };
  missingParent: unknown;
  policy: { native: unknown; reg: unknown };
  nestedPolicy: Attempt;
  storeWithPolicy: { registryPolicyKey: string | null };
  storeWithout: { registryPolicyKey: string | null };
  invalid: Attempt;
  aborted: Attempt;
  deleteError?: string;
  afterDelete: Attempt;
}

/** The contents without the REG_QWORD value, which Wine 8.0's reg.exe prints as `(null)`. */
const withoutQword = (contents: Contents): Contents => ({
  ...contents,
  values: contents.values.filter((v) => v.type !== 'REG_QWORD'),
});

describe.skipIf(!wine.available)(`nativeRegistryReader under Wine (needs Wine: ${wine.reason})`, () => {
  let result: Result;

  beforeAll(async () => {
    const run = await runWineScript(SCRIPT, { env: { SCRATCH_KEY: scratch }, timeoutMs: 90_000 });
    expect(run.code, run.stderr).toBe(0);
    result = run.json as Result;
  }, 120_000);

  it('returns what the reg.exe reader returns for the same key', () => {
    expect(withoutQword(result.native)).toEqual(withoutQword(result.reg));
    const byName = Object.fromEntries(result.native.values.map((v) => [v.name, v]));
    expect(byName).toEqual({
      Name: { name: 'Name', type: 'REG_SZ', data: 'hello world' },
      Empty: { name: 'Empty', type: 'REG_SZ', data: '' },
      Bits: { name: 'Bits', type: 'REG_DWORD', data: 3072 },
      List: { name: 'List', type: 'REG_MULTI_SZ', data: ['tpm', 'cng', 'capi'] },
      Path: { name: 'Path', type: 'REG_EXPAND_SZ', data: '%SystemRoot%\\x' },
      Blob: { name: 'Blob', type: 'REG_BINARY', data: '01AB00FF' },
      Big: { name: 'Big', type: 'REG_QWORD', data: 0x123456789 },
    });
    expect(result.native.subkeys).toEqual(['Nested']);
    expect(result.nativeLower).toEqual(result.native);
  });

  it('gives null for a missing key, as the reg.exe reader does', () => {
    expect(result.missing).toEqual({ native: null, reg: null });
    expect(result.missingParent).toBeNull();
  });

  it('feeds the policy the same values as the reg.exe reader', () => {
    const expected = { minimumIsolation: 'hardware', legacyCryptoApi: 'deny', minimumRsaBits: 3072 };
    expect(result.policy).toEqual({ native: expected, reg: expected });
    // A key with a subkey and unknown values is refused, as with reg.exe.
    expect(result.nestedPolicy).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_INVALID_POLICY' } });
  });

  it('works as the registryReader of createTestKeyStore', () => {
    expect(result.storeWithPolicy.registryPolicyKey).toBe('HKLM\\SOFTWARE\\Policies\\keystore');
    expect(result.storeWithout.registryPolicyKey).toBeNull();
  });

  it('refuses a path outside HKLM and an aborted signal before reading', () => {
    expect(result.invalid).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' } });
    expect(result.aborted).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_CANCELLED' } });
  });

  it('deleted its scratch key', () => {
    expect(result.deleteError).toBeUndefined();
    expect(result.afterDelete).toEqual({ ok: true, value: null });
    console.log(
      `registry read under Wine: native first ${result.firstNativeMs.toFixed(1)} ms (loads koffi and advapi32), ` +
        `then ${result.nativeMs.toFixed(1)} ms; reg.exe ${result.regMs.toFixed(1)} ms`,
    );
  });
});
