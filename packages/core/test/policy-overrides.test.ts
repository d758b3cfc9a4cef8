// No silent off switch: no option of createKeyStore, resolvePolicy or keyStoreModule drops or
// replaces a machine policy source; the test hatch of @keystore/core/testing does, and every use of it
// is recorded in the effective policy, shown by explain() and published on the audit channel.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, auditChannel, createKeyStore, resolvePolicy } from '@keystore/core';
import { keyStoreModule } from '@keystore/core/di';
import { createMemoryProvider, createTestKeyStore, TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { errorOf } from './helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kst-overrides-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

function file(name: string, policy: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(policy));
  return path;
}

/** The audit events published while `action` runs. */
async function audited(action: () => Promise<unknown>): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  const listen = (message: unknown) => events.push(message as AuditEvent);
  auditChannel.subscribe(listen);
  try {
    await action();
  } finally {
    auditChannel.unsubscribe(listen);
  }
  return events;
}

const REMOVED = [
  ['machinePolicy: null', { machinePolicy: null }],
  ['machinePolicy: {}', { machinePolicy: {} }],
  ['env', { env: {} }],
  ['registryPolicy: null', { registryPolicy: null }],
  ['registryReader', { registryReader: async () => null }],
] as const;

describe('no option drops or replaces a machine policy source', () => {
  it.each(REMOVED)('createKeyStore rejects %s with INVALID_ARGUMENT, naming createTestKeyStore', async (_, removed) => {
    const error = await errorOf(createKeyStore({ providers: [], ...removed } as never));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(error.hint).toContain('createTestKeyStore');
  });

  it.each(REMOVED)('keyStoreModule rejects %s with INVALID_ARGUMENT', (_, removed) => {
    let code: string | undefined;
    try {
      keyStoreModule(removed as never);
    } catch (error) {
      code = (error as { code?: string }).code;
    }
    expect(code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('KEYSTORE_MACHINE_POLICY adds a ceiling to createKeyStore, named as its own source', async () => {
    const path = file('env-hardware.json', { minimumIsolation: 'hardware' });
    vi.stubEnv('KEYSTORE_MACHINE_POLICY', path);
    const store = await createKeyStore({ providers: [], policy: { minimumIsolation: 'none' } });
    expect(store.policy.minimumIsolation).toBe('hardware');
    expect(store.policy.sources['/minimumIsolation']).toBe('machine-env');
    expect(store.policy.machineEnvPolicyPath).toBe(path);
    expect(store.policy.overrides).toEqual([]);
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() !== 0)(
    'KEYSTORE_MACHINE_POLICY cannot loosen the file at the fixed path (needs POSIX and root)',
    async () => {
      const etc = join(dir, 'etc', 'keystore');
      mkdirSync(etc, { recursive: true, mode: 0o755 });
      chmodSync(join(dir, 'etc'), 0o755);
      const fixed = join(etc, 'policy.json');
      writeFileSync(fixed, JSON.stringify({ minimumIsolation: 'hardware', legacyCryptoApi: 'deny' }), { mode: 0o644 });
      const loose = file('env-loose.json', { minimumIsolation: 'none', legacyCryptoApi: 'allow' });
      const store = await createTestKeyStore({
        providers: [],
        policy: { minimumIsolation: 'none', legacyCryptoApi: 'allow' },
        machinePolicyFile: { path: fixed, trustRoot: dir },
        env: { KEYSTORE_MACHINE_POLICY: loose },
        registryPolicy: null,
      });
      expect(store.policy.minimumIsolation).toBe('hardware');
      expect(store.policy.legacyCryptoApi).toBe('deny');
      expect(store.policy.sources['/minimumIsolation']).toBe('machine');
      expect(store.policy.machinePolicyPath).toBe(fixed);
      expect(store.policy.machineEnvPolicyPath).toBe(loose);
    },
  );
});

describe('the test hatch is never silent', () => {
  it('a store built without it has no overrides, in its policy and in explain()', async () => {
    const store = await createKeyStore({ providers: [createMemoryProvider()] });
    expect(store.policy.overrides).toEqual([]);
    expect((await store.explain()).policyOverrides).toEqual([]);
  });

  it('createTestKeyStore records each replaced source, shows it in explain() and publishes policy.override', async () => {
    let store: Awaited<ReturnType<typeof createTestKeyStore>> | undefined;
    const events = await audited(async () => {
      store = await createTestKeyStore({
        providers: [createMemoryProvider()],
        machinePolicy: null,
        registryPolicy: { minimumRsaBits: 3072 },
        env: {},
      });
    });
    const expected = [
      { source: 'machine', by: 'option', name: 'machinePolicy' },
      { source: 'machine-env', by: 'option', name: 'env' },
      { source: 'registry', by: 'option', name: 'registryPolicy' },
    ];
    expect(store!.policy.overrides).toMatchObject(expected);
    expect((await store!.explain()).policyOverrides).toMatchObject(expected);
    const overrides = events.filter((event) => event.type === 'policy.override');
    expect(overrides).toMatchObject(expected.map((o) => ({ type: 'policy.override', ...o })));
    for (const event of overrides) expect(typeof (event as { detail: string }).detail).toBe('string');
  });

  it('the symbol-keyed option is the same hatch for createKeyStore and resolvePolicy', async () => {
    const viaStore = await createKeyStore({ providers: [], [TEST_POLICY_SOURCES]: { machinePolicy: null } });
    expect(viaStore.policy.overrides.map((o) => o.name)).toEqual(['machinePolicy']);
    const viaResolve = await resolvePolicy({ [TEST_POLICY_SOURCES]: { registryPolicy: null } });
    expect(viaResolve.overrides.map((o) => o.name)).toEqual(['registryPolicy']);
  });

  it('a bad hatch is INVALID_ARGUMENT', async () => {
    for (const sources of [
      null,
      { registryReader: 'reg.exe' },
      { machinePolicy: 'none' },
      { machinePolicyFile: '/x' },
    ]) {
      const error = await errorOf(createKeyStore({ providers: [], [TEST_POLICY_SOURCES]: sources as never }));
      expect(error.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    }
  });
});
