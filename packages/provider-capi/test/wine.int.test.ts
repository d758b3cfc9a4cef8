// The provider for real inside Windows Node under Wine (advapi32/rsaenh as Wine implements them):
// persistence across processes, the machine key set, export refusal, deletion, the policy gate
// through createKeyStore (default policy, app policy, machine policy), and random inputs to every
// public method.

import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, verify } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { KeyStoreError } from '@keystore/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  repoRoot,
  runWineExe,
  runWineScript,
  startWineProvider,
  type WineProvider,
  wine,
} from '../../../test-support/wine.js';

const run = `wine-${process.pid}-${randomBytes(3).toString('hex')}`;
const workDir = `.tmp/capi-wine/${run}`;

/** The wine64 loader the Wine suites run (as test-support/wine.ts looks for it). */
function wineBinary(): string {
  const found = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'].find((c) => existsSync(c));
  if (found === undefined) throw new Error('wine64 is not installed');
  return found;
}

/** Runs a CommonJS script in Windows Node; it prints one JSON line last. */
async function inWindows(source: string, env?: Record<string, string>): Promise<Record<string, unknown>> {
  const r = await runWineScript(source, { ...(env ? { env } : {}), timeoutMs: 120_000 });
  if (r.code !== 0 || r.json === undefined) {
    throw new Error(`Windows Node exited ${r.code}: ${r.stdout.slice(-2000)} ${r.stderr.slice(-2000)}`);
  }
  return r.json as Record<string, unknown>;
}

/** Code shared by the scripts: a provider and a helper that turns rejections into data. */
const PRELUDE = `
const { createProvider } = require('@keystore/provider-capi');
const core = require('@keystore/core');
const { TEST_POLICY_SOURCES, createTestKeyStore } = require('@keystore/core/testing');
const crypto = require('node:crypto');
const outcome = async (f) => { try { const value = await f(); return { ok: true, value }; } catch (e) {
  return { ok: false, code: e.code, nativeName: e.nativeName, nativeStatus: e.nativeStatus, message: e.message,
    refusals: e.refusals }; } };
`;

describe.skipIf(!wine.available)(`CryptoAPI for real in Windows Node (needs Wine: ${wine.reason})`, () => {
  beforeAll(() => {
    mkdirSync(`${repoRoot}${workDir}`, { recursive: true });
  });
  afterAll(async () => {
    // Best effort: containers left by a failed run.
    await inWindows(
      `${PRELUDE} (async () => { const p = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
       for (const s of ['user', 'machine']) for (const k of await p.listKeys({ scope: s }))
         if (k.name.startsWith(${JSON.stringify(run)})) await p.deleteKey({ name: k.name, scope: s }).catch(() => {});
       console.log('{}'); })();`,
    ).catch(() => {});
    rmSync(`${repoRoot}${workDir}`, { recursive: true, force: true });
  }, 120_000);

  it("reports Wine in its probe's details, from the real detection: the version Wine's ntdll gives, the one wine64 --version prints", async () => {
    const printed = execFileSync(wineBinary(), ['--version'], { encoding: 'utf8' });
    const version = /^wine-(\S+)/.exec(printed)?.[1];
    expect(version, `wine64 --version printed ${JSON.stringify(printed)}`).toBeDefined();
    const result = await inWindows(`${PRELUDE}
      (async () => {
        const probe = await createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }).probe();
        console.log(JSON.stringify({ available: probe.available, wine: probe.details && probe.details.wine }));
      })();`);
    expect(result).toEqual({ available: true, wine: version });
  });

  it('a key persists across processes, even when the creating process exits without closing it', async () => {
    const name = `${run}-persist`;
    const created = await inWindows(`${PRELUDE}
      (async () => {
        const key = await createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }).createKey({ name: ${JSON.stringify(name)},
          algorithm: 'RSA-2048', scope: 'user', exportable: false });
        console.log(JSON.stringify({ pem: key.publicKey.export({ type: 'spki', format: 'pem' }) }));
        process.exit(0); // no close(), no provider.close()
      })();`);
    const publicKey = createPublicKey(String(created.pem));
    const data = randomBytes(50);
    const digest = createHash('sha256').update(data).digest('hex');
    const used = await inWindows(`${PRELUDE}
      (async () => {
        const p = createProvider({ listAlgorithms: true, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
        const key = await p.openKey({ name: ${JSON.stringify(name)}, scope: 'user' });
        const { signature } = await key.signDigest(Buffer.from('${digest}', 'hex'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
        const listed = (await p.listKeys({ scope: 'user' })).find((k) => k.name === ${JSON.stringify(name)});
        const plain = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
        const namesOnly = (await plain.listKeys({ scope: 'user' })).find((k) => k.name === ${JSON.stringify(name)});
        console.log(JSON.stringify({ signature: signature.toString('hex'), listed, namesOnly, exportable: key.exportable,
          isolation: key.isolation.level }));
      })();`);
    expect(verify('sha256', data, publicKey, Buffer.from(String(used.signature), 'hex'))).toBe(true);
    expect(used.listed).toEqual({ name, scope: 'user', algorithm: 'RSA-2048' });
    // By default a listing opens no key pair, so it reports no algorithm.
    expect(used.namesOnly).toEqual({ name, scope: 'user' });
    expect(used.exportable).toBe(false);
    expect(used.isolation).toBe('in-process');

    const deleted = await inWindows(`${PRELUDE}
      (async () => {
        const p = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
        await p.deleteKey({ name: ${JSON.stringify(name)}, scope: 'user' });
        console.log(JSON.stringify({ again: await outcome(() => p.deleteKey({ name: ${JSON.stringify(name)}, scope: 'user' })) }));
      })();`);
    expect(deleted.again).toMatchObject({
      ok: false,
      code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
      nativeName: 'NTE_BAD_KEYSET',
    });
    const after = await inWindows(`${PRELUDE}
      (async () => {
        const p = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
        console.log(JSON.stringify({
          open: await outcome(() => p.openKey({ name: ${JSON.stringify(name)}, scope: 'user' })),
          listed: (await p.listKeys()).some((k) => k.name === ${JSON.stringify(name)}),
        }));
      })();`);
    expect(after.open).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_KEY_NOT_FOUND' });
    expect(after.listed).toBe(false);
  });

  it('the machine key set is a separate scope, across processes', async () => {
    const name = `${run}-machine`;
    await inWindows(`${PRELUDE}
      (async () => {
        await createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }).createKey({ name: ${JSON.stringify(name)},
          algorithm: 'RSA-3072', scope: 'machine', exportable: false });
        console.log('{}');
      })();`);
    const seen = await inWindows(`${PRELUDE}
      (async () => {
        const p = createProvider({ listAlgorithms: true, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
        const has = async (scope) => (await p.listKeys({ scope })).filter((k) => k.name === ${JSON.stringify(name)});
        const key = await p.openKey({ name: ${JSON.stringify(name)}, scope: 'machine' });
        const pt = crypto.randomBytes(16);
        const ct = crypto.publicEncrypt({ key: key.publicKey, oaepHash: 'sha1' }, pt);
        console.log(JSON.stringify({
          machine: await has('machine'), user: await has('user'),
          userOpen: await outcome(() => p.openKey({ name: ${JSON.stringify(name)}, scope: 'user' })),
          decrypts: (await key.decrypt(ct, 'sha1')).equals(pt),
        }));
        await key.close();
        await p.deleteKey({ name: ${JSON.stringify(name)}, scope: 'machine' });
      })();`);
    expect(seen.machine).toEqual([{ name, scope: 'machine', algorithm: 'RSA-3072' }]);
    expect(seen.user).toEqual([]);
    expect(seen.userOpen).toMatchObject({
      ok: false,
      code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
      nativeName: 'NTE_BAD_KEYSET',
    });
    expect(seen.decrypts).toBe(true);
  });

  it('export: refused for a non-exportable key by CryptoAPI itself; an exportable key moves when the policy allows', async () => {
    const result = await inWindows(`${PRELUDE}
      (async () => {
        const p = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
        const locked = await p.createKey({ name: ${JSON.stringify(`${run}-locked`)}, algorithm: 'RSA-2048', scope: 'user', exportable: false });
        const direct = await outcome(() => locked.exportPrivateKey());
        const store = await createTestKeyStore({ providers: [p], machinePolicy: null, registryPolicy: null,
          policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process', exportable: { create: true, export: true } } });
        const viaStore = await outcome(async () => (await store.openKey(${JSON.stringify(`${run}-locked`)})).exportPrivateKey());
        const open = await store.createKey(${JSON.stringify(`${run}-open`)}, { algorithm: 'RSA-2048', exportable: true });
        const exported = await open.exportPrivateKey();
        const data = Buffer.from('moves');
        const moved = crypto.verify('sha256', data, open.publicKey, crypto.sign('sha256', data, exported));
        const strict = await createTestKeyStore({ providers: [p], machinePolicy: null, registryPolicy: null,
          policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' } });
        const policyRefuses = await outcome(async () => (await strict.openKey(${JSON.stringify(`${run}-open`)})).exportPrivateKey());
        for (const n of ['locked', 'open']) await p.deleteKey({ name: ${JSON.stringify(run)} + '-' + n, scope: 'user' });
        await p.close();
        console.log(JSON.stringify({ direct, viaStore, moved, policyRefuses }));
      })();`);
    expect(result.direct).toMatchObject({
      ok: false,
      code: 'ERR_KEYSTORE_NOT_EXPORTABLE',
      nativeName: 'NTE_BAD_KEY_STATE',
      nativeStatus: 0x8009000b,
    });
    expect(result.viaStore).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_NOT_EXPORTABLE' });
    expect(result.moved).toBe(true);
    expect(result.policyRefuses).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
  });

  it('under Wine, "non-exportable" is a registry value any process of the user can change: the key then exports', async () => {
    const name = `${run}-flag`;
    const made = await inWindows(`${PRELUDE}
      (async () => {
        const key = await createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }).createKey({ name: ${JSON.stringify(name)},
          algorithm: 'RSA-2048', scope: 'user', exportable: false });
        console.log(JSON.stringify({ exportable: key.exportable, refused: await outcome(() => key.exportPrivateKey()),
          pem: key.publicKey.export({ type: 'spki', format: 'pem' }) }));
      })();`);
    expect(made.exportable).toBe(false);
    expect(made.refused).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_NOT_EXPORTABLE' });
    // What any program running as the user can do: set CRYPT_EXPORT in the stored permissions.
    const reg = await runWineExe('reg', [
      'add',
      `HKCU\\Software\\Wine\\Crypto\\RSA\\${name}`,
      '/v',
      'KeyExchangePermissions',
      '/t',
      'REG_DWORD',
      '/d',
      '63',
      '/f',
    ]);
    expect(reg.code).toBe(0);
    const taken = await inWindows(`${PRELUDE}
      (async () => {
        const p = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
        const key = await p.openKey({ name: ${JSON.stringify(name)}, scope: 'user' });
        const privateKey = await key.exportPrivateKey();
        await key.close();
        await p.deleteKey({ name: ${JSON.stringify(name)}, scope: 'user' });
        console.log(JSON.stringify({ exportable: key.exportable, pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) }));
      })();`);
    expect(taken.exportable).toBe(true);
    const stolen = createPrivateKey(String(taken.pem));
    expect(createPublicKey(stolen).equals(createPublicKey(String(made.pem)))).toBe(true);
  });

  describe('the policy gate through createKeyStore', () => {
    it('the default policy refuses capi for create, open, list and delete, saying why', async () => {
      const result = await inWindows(`${PRELUDE}
        (async () => {
          const store = await core.createKeyStore({ providers: [createProvider()] });
          const explained = await store.explain({ provider: 'capi' });
          console.log(JSON.stringify({
            create: await outcome(() => store.createKey('x', { algorithm: 'RSA-2048', provider: 'capi' })),
            open: await outcome(() => store.openKey('x', { provider: 'capi' })),
            openRef: await outcome(() => store.openKey('keystore:capi:user:x')),
            list: await outcome(() => store.listKeys({ provider: 'capi' })),
            del: await outcome(() => store.deleteKey('x', { provider: 'capi' })),
            verdict: explained.providers.find((v) => v.providerId === 'capi'),
            legacy: store.policy.legacyCryptoApi,
          }));
        })();`);
      expect(result.legacy).toBe('deny');
      for (const op of ['create', 'open', 'list', 'del'] as const) {
        expect([op, result[op]]).toMatchObject([op, { ok: false, code: 'ERR_KEYSTORE_NO_PROVIDER' }]);
        const refusal = (result[op] as { refusals: Array<{ providerId: string; reasons: string[] }> }).refusals;
        expect(refusal.find((r) => r.providerId === 'capi')?.reasons.join(' ')).toContain('/legacyCryptoApi');
      }
      // By reference too the key store refuses the provider (which code it uses there is the core's
      // business: its own tests pin it).
      expect(result.openRef).toMatchObject({ ok: false });
      expect(['ERR_KEYSTORE_POLICY_VIOLATION', 'ERR_KEYSTORE_NO_PROVIDER']).toContain(
        (result.openRef as { code: string }).code,
      );
      expect(result.verdict).toMatchObject({ eligible: false, available: true, isolation: 'in-process' });
    });

    it('an app policy allowing legacy CryptoAPI at the default floor is still refused: the floor is os-isolated', async () => {
      const result = await inWindows(`${PRELUDE}
        (async () => {
          const store = await core.createKeyStore({ providers: [createProvider()], policy: { legacyCryptoApi: 'allow' } });
          console.log(JSON.stringify({ create: await outcome(() => store.createKey('x', { algorithm: 'RSA-2048' })) }));
        })();`);
      expect(result.create).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_NO_PROVIDER' });
      const reasons = (result.create as { refusals: Array<{ reasons: string[] }> }).refusals[0]?.reasons.join(' ');
      expect(reasons).toContain('/minimumIsolation');
    });

    it('an app policy that allows it (and lowers the floor to in-process) gets keys, and one warning', async () => {
      const name = `${run}-allowed`;
      const result = await inWindows(`${PRELUDE}
        const warnings = [];
        process.on('warning', (w) => warnings.push({ name: w.name, code: w.code }));
        (async () => {
          const store = await core.createKeyStore({ providers: [createProvider()],
            policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' } });
          const key = await store.createKey(${JSON.stringify(name)}, { algorithm: 'RSA-2048' });
          const data = Buffer.from('allowed');
          const signature = await key.sign(data);
          const again = await store.openKey(key.ref);
          const listed = (await store.listKeys({ provider: 'capi' })).keys.some((k) => k.ref === key.ref);
          const oaep256 = await outcome(() => again.decrypt(Buffer.alloc(256)));
          await store.deleteKey(key.ref);
          await new Promise((r) => setImmediate(r));
          console.log(JSON.stringify({ verified: crypto.verify('sha256', data, again.publicKey, signature),
            ref: key.ref, isolation: key.isolation.level, listed, oaep256, warnings }));
        })();`);
      expect(result).toMatchObject({
        verified: true,
        ref: `keystore:capi:user:${name}`,
        isolation: 'in-process',
        listed: true,
        oaep256: { ok: false, code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION' },
      });
      expect(result.warnings).toEqual([{ name: 'SecurityWarning', code: 'KEYSTORE_LEGACY_CRYPTOAPI' }]);
    });

    for (const [label, machine] of [
      ['denies legacy CryptoAPI', { legacyCryptoApi: 'deny' }],
      ['sets the floor to os-isolated', { minimumIsolation: 'os-isolated' }],
    ] as const) {
      it(`a machine policy that ${label} wins over an app that allows it; the refusal names the machine policy`, async () => {
        const file = `${workDir}/machine-${randomBytes(3).toString('hex')}.json`;
        writeFileSync(`${repoRoot}${file}`, JSON.stringify(machine));
        const name = `${run}-m`;
        const result = await inWindows(
          `${PRELUDE}
          (async () => {
            const store = await core.createKeyStore({ providers: [createProvider()],
              policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' } });
            const direct = createProvider();
            console.log(JSON.stringify({
              create: await outcome(() => store.createKey(${JSON.stringify(name)}, { algorithm: 'RSA-2048', provider: 'capi' })),
              openRef: await outcome(() => store.openKey('keystore:capi:user:${name}')),
              directCreate: await outcome(() => direct.createKey({ name: ${JSON.stringify(name)}, algorithm: 'RSA-2048', scope: 'user', exportable: false })),
              directOpen: await outcome(() => direct.openKey({ name: ${JSON.stringify(name)}, scope: 'user' })),
              probe: await direct.probe(),
              sources: store.policy.sources,
              machineEnvPolicyPath: store.policy.machineEnvPolicyPath,
            }));
          })();`,
          { KEYSTORE_MACHINE_POLICY: file },
        );
        expect(result.machineEnvPolicyPath).toBe(file);
        expect(result.create).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_NO_PROVIDER' });
        const capi = (result.create as { refusals: Array<{ providerId: string; reasons: string[] }> }).refusals.find(
          (r) => r.providerId === 'capi',
        );
        // The provider's own probe names the machine policy file, whatever the core's reason says.
        expect(capi?.reasons.some((r) => r.includes('machine policy') && r.includes(file))).toBe(true);
        expect(result.openRef).toMatchObject({ ok: false });
        expect(['ERR_KEYSTORE_POLICY_VIOLATION', 'ERR_KEYSTORE_NO_PROVIDER']).toContain(
          (result.openRef as { code: string }).code,
        );
        expect(result.directCreate).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
        expect((result.directCreate as { message: string }).message).toContain(file);
        expect(result.directOpen).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
        expect(result.probe).toMatchObject({ available: false });
        const field = 'legacyCryptoApi' in machine ? '/legacyCryptoApi' : '/minimumIsolation';
        expect((result.sources as Record<string, string>)[field]).toBe('machine-env');
      });
    }
  });

  describe('the machine policy in the registry (HKLM\\SOFTWARE\\Policies\\keystore)', () => {
    // The key is written in a Wine prefix of this test's own, so that no other test file (the core's
    // registry test writes and deletes the same key) sees it or changes it while it is there.
    const prefix = `${process.env.KEYSTORE_WINE_CACHE ?? `${repoRoot}.cache/wine`}/prefix-capi-registry`;
    const KEY = 'HKLM\\SOFTWARE\\Policies\\keystore';

    afterAll(async () => {
      // Only when the script died before its own cleanup.
      await runWineExe('reg', ['delete', KEY, '/f'], { env: { WINEPREFIX: prefix } }).catch(() => undefined);
    }, 60_000);

    it('is obeyed by the provider with machinePolicy: null, named in the refusal, cached per provider; registryPolicy: null turns it off', async () => {
      const names = { exp: `${run}-reg-exp`, made: `${run}-reg-made` };
      const result = await inWindows(
        `${PRELUDE}
        const { execFileSync } = require('child_process');
        const reg = (...args) => execFileSync('reg', args, { stdio: 'ignore' });
        const KEY = core.REGISTRY_POLICY_KEY;
        const names = ${JSON.stringify(names)};
        const base = { algorithm: 'RSA-2048', scope: 'user', exportable: false };
        (async () => {
          const out = { before: await core.readRegistryKey(KEY) };
          const cached = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null } });
          const fresh = createProvider({ registryCacheMs: 0, [TEST_POLICY_SOURCES]: { machinePolicy: null } });
          const off = createProvider({ registryCacheMs: 0, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
          const exportable = await fresh.createKey({ ...base, name: names.exp, exportable: true });
          out.cachedBefore = await outcome(async () => (await cached.listKeys({ scope: 'user' })).length > 0);
          try {
            reg('add', KEY, '/v', 'LegacyCryptoApi', '/t', 'REG_SZ', '/d', 'deny', '/f');
            const t0 = Date.now();
            out.create = await outcome(() => createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null } }).createKey({ ...base, name: names.made }));
            out.probe = await createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null } }).probe();
            out.freshAfter = await outcome(() => fresh.listKeys({ scope: 'user' }));
            out.cachedAfter = await outcome(async () => (await cached.listKeys({ scope: 'user' })).length > 0);
            out.cachedWithin = Date.now() - t0 < 25000;
            out.offAfter = (await off.probe()).available;
            // A key store told to ignore the registry still finds the provider refusing itself.
            const store = await createTestKeyStore({ providers: [createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null } })],
              machinePolicy: null, registryPolicy: null,
              policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' } });
            out.store = await outcome(() => store.createKey(names.made, { algorithm: 'RSA-2048', provider: 'capi' }));
            reg('delete', KEY, '/v', 'LegacyCryptoApi', '/f');
            reg('add', KEY, '/v', 'ExportableCreate', '/t', 'REG_DWORD', '/d', '0', '/f');
            reg('add', KEY, '/v', 'ExportableExport', '/t', 'REG_DWORD', '/d', '0', '/f');
            const strict = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null } });
            out.createExportable = await outcome(() => strict.createKey({ ...base, name: names.made, exportable: true }));
            out.exportNow = await outcome(() => exportable.exportPrivateKey());
            out.exportOff = await outcome(async () => {
              const again = await off.openKey({ name: names.exp, scope: 'user' });
              try { return (await again.exportPrivateKey()).type; } finally { await again.close(); }
            });
            out.createLocked = await outcome(async () => {
              const key = await strict.createKey({ ...base, name: names.made });
              await key.close();
              return key.exportable;
            });
          } finally {
            out.cleaned = (() => { try { reg('delete', KEY, '/f'); return true; } catch { return false; } })();
            out.after = await core.readRegistryKey(KEY);
            await exportable.close();
            for (const name of Object.values(names)) await off.deleteKey({ name, scope: 'user' }).catch(() => {});
          }
          console.log(JSON.stringify(out));
        })().catch((e) => { console.error(e); process.exit(1); });`,
        { WINEPREFIX: prefix },
      );
      expect(result.before, `${KEY} already existed in ${prefix}`).toBeNull();
      expect(result.after).toBeNull();
      expect(result.cleaned).toBe(true);
      // LegacyCryptoApi=deny in the registry, machinePolicy: null: refused, naming the key.
      expect(result.create).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
      expect((result.create as { message: string }).message).toContain(KEY);
      expect(result.probe).toMatchObject({ available: false, details: { machinePolicy: KEY } });
      expect(result.store).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_NO_PROVIDER' });
      const refusal = (result.store as { refusals: Array<{ providerId: string; reasons: string[] }> }).refusals.find(
        (r) => r.providerId === 'capi',
      );
      expect(refusal?.reasons.join(' ')).toContain(KEY);
      // registryCacheMs 0 sees the new value at once; the default keeps the earlier read (30 s).
      expect(result.freshAfter).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
      expect(result.cachedBefore).toMatchObject({ ok: true, value: true });
      expect(result.cachedWithin).toBe(true);
      expect(result.cachedAfter).toMatchObject({ ok: true, value: true });
      expect(result.offAfter).toBe(true);
      // ExportableCreate=0 and ExportableExport=0: no exportable key, no export, even of a key made before.
      expect(result.createExportable).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
      expect((result.createExportable as { message: string }).message).toContain('/exportable/create');
      expect(result.exportNow).toMatchObject({ ok: false, code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
      expect((result.exportNow as { message: string }).message).toContain(KEY);
      expect(result.exportOff).toMatchObject({ ok: true, value: 'private' });
      expect(result.createLocked).toMatchObject({ ok: true, value: false });
    }, 180_000);
  });

  describe('random inputs to every public method', () => {
    let remote: WineProvider;
    const created = new Set<string>();

    beforeAll(async () => {
      remote = await startWineProvider({
        module: 'packages/provider-capi/dist/index.cjs',
        options: { testPolicySources: { machinePolicy: null, registryPolicy: null } },
      });
    }, 120_000);
    afterAll(async () => {
      for (const entry of created) {
        const [scope, ...rest] = entry.split(':');
        await remote?.deleteKey({ name: rest.join(':'), scope: scope as 'user' | 'machine' }).catch(() => {});
      }
      await remote?.stop();
    }, 120_000);

    it('typed errors only, and Windows Node stays up', async () => {
      const base = await remote.createKey({
        name: `${run}-fuzz`,
        algorithm: 'RSA-2048',
        scope: 'user',
        exportable: false,
      });
      created.add(`user:${run}-fuzz`);
      const junk = fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.constantFrom('user', 'machine', 'RSA-2048', 'RSA-4096', 'ECDSA-P256', 'sha1', 'sha256', 'pkcs1', 'pss', ''),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
        fc.constant(Buffer.alloc(256)),
        fc.constant(Buffer.alloc(32)),
      );
      // Names that could be real keys get this run's prefix, so cleanup finds them.
      const name = fc.oneof(
        junk,
        fc.stringMatching(/^[A-Za-z0-9._ {}-]{0,12}$/).map((s) => `${run}-z${s}`),
        fc.constantFrom('a\\b', ' lead', `${run}-fuzz`, 'x'.repeat(256)),
      );
      const request = fc.record(
        { name, scope: junk, algorithm: junk, exportable: junk, password: junk, minimumIsolation: junk },
        { requiredKeys: [] },
      );
      const params = fc.record({ hash: junk, padding: junk, saltLength: junk }, { requiredKeys: [] });
      // A null request is left out here: the harness's client reads request.signal before sending
      // (fuzz.test.ts covers null requests over the native double).
      const topLevel = junk.filter((v) => v !== null);
      const step = fc.oneof(
        fc.record({
          op: fc.constantFrom('createKey', 'openKey', 'deleteKey', 'importKey'),
          request: fc.oneof(request, topLevel),
        }),
        fc.record({
          op: fc.constant('listKeys'),
          request: fc.oneof(fc.record({ scope: junk }, { requiredKeys: [] }), topLevel),
        }),
        fc.record({ op: fc.constant('signDigest'), a: junk, b: fc.oneof(params, junk) }),
        fc.record({ op: fc.constant('decrypt'), a: junk, b: junk }),
        fc.record({ op: fc.constant('exportPrivateKey') }),
      );
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
          for (const s of steps) {
            calls++;
            try {
              const r = s as { op: string; request?: unknown; a?: unknown; b?: unknown };
              const p = remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
              const k = base as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
              if (r.op === 'signDigest' || r.op === 'decrypt') await k[r.op]!(r.a, r.b);
              else if (r.op === 'exportPrivateKey') await k.exportPrivateKey!();
              else {
                const result = (await p[r.op]!(r.request)) as {
                  name?: string;
                  scope?: string;
                  close?: () => Promise<void>;
                };
                if (result && typeof result.close === 'function') {
                  created.add(`${result.scope}:${result.name}`);
                  await result.close();
                }
              }
            } catch (err) {
              if (!KeyStoreError.is(err)) throw new Error(`${s.op}: not a KeyStoreError: ${String(err)}`);
              expect(err.code).not.toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE'); // the process must not be gone
            }
          }
        }),
        { numRuns: 150 },
      );
      expect(calls).toBeGreaterThan(150);
      // Still up and still working.
      expect((await remote.probe()).available).toBe(true);
      const data = Buffer.from('still alive');
      const { signature } = await base.signDigest(createHash('sha256').update(data).digest(), {
        hash: 'sha256',
        padding: 'pkcs1',
        saltLength: 32,
      });
      expect(verify('sha256', data, base.publicKey, signature)).toBe(true);
      await base.close();
    }, 300_000);
  });
});
