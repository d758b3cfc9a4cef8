// `keystore migrate`, with file-backed test doubles installed as @keystore/provider-capi (a legacy
// CryptoAPI provider: isolation in-process, exportable keys) and @keystore/provider-cng (imports keys,
// isolation os-isolated). The real providers under Wine are exercised by their own packages' tests.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';
import { setProviderDirsForTesting } from '../src/providers.js';
import { parse, Sandbox, stderrLines } from './helpers.js';

interface Moved {
  from: { ref: string; provider: string; name: string; scope: string; algorithm: string; publicKey: string };
  to: {
    ref: string;
    provider: string;
    name: string;
    scope: string;
    algorithm: string;
    exportable: boolean;
    isolation: { level: string; providerId: string };
    publicKey: string;
  };
  verified: { publicKeyMatches: boolean; signatureVerifies: boolean };
  sourceDeleted: boolean;
  sourceDeleteError?: { code: string };
  warnings: string[];
}
interface ErrorOut {
  error: { code: string; message: string; hint?: string; refusals?: unknown[] };
}
interface Scan {
  keys: {
    ref: string;
    provider: string;
    name: string;
    scope: string;
    algorithm: string | null;
    exportable: boolean | null;
    movable: boolean;
    targets: string[];
    reasons: string[];
  }[];
  targets: string[];
  policyBlockers: { provider: string; field: string; message: string; source: string }[];
}

/** What a migration needs to read a legacy key: legacy CryptoAPI allowed, its floor, export. */
const MIGRATION_POLICY = { legacyCryptoApi: 'allow', minimumIsolation: 'in-process', exportable: { export: true } };

let box: Sandbox;
let policy: string;

function install(options: { cngIsolation?: string } = {}) {
  box.installFakeProvider({
    id: 'capi',
    legacyCryptoApi: true,
    isolation: 'in-process',
    exportableKeys: true,
    ownStore: true,
  });
  box.installFakeProvider({
    id: 'cng',
    importKeys: true,
    isolation: options.cngIsolation ?? 'os-isolated',
    ownStore: true,
  });
}

/** The private key a fake provider keeps for `name`. */
function storedKey(id: string, name: string, scope = 'user'): KeyObject {
  const { pem } = JSON.parse(readFileSync(join(box.path('fake-keys'), id, scope, `${name}.json`), 'utf8')) as {
    pem: string;
  };
  return createPrivateKey(pem);
}

beforeEach(() => {
  box = new Sandbox();
  policy = box.write('migrate-policy.json', MIGRATION_POLICY);
});
afterEach(() => box.cleanup());

describe('keystore migrate --from capi:NAME --to cng', () => {
  it('moves an exportable legacy key, verifies it, and keeps the source unless asked', () => {
    install();
    const original = box.seedFakeKey('capi', 'signing', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:signing', '--to', 'cng', '--policy', policy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const moved = parse<Moved>(r);
    expect(moved.from).toMatchObject({ ref: 'keystore:capi:user:signing', provider: 'capi', algorithm: 'RSA-2048' });
    expect(moved.to).toMatchObject({
      ref: 'keystore:cng:user:signing',
      provider: 'cng',
      name: 'signing',
      scope: 'user',
      algorithm: 'RSA-2048',
      exportable: false,
      isolation: { level: 'os-isolated', providerId: 'cng' },
    });
    expect(moved.verified).toEqual({ publicKeyMatches: true, signatureVerifies: true });
    expect(moved.sourceDeleted).toBe(false);
    expect(moved.warnings).toEqual([]);
    // The very key moved: the target holds the source's private key, and the source is still there.
    expect(createPublicKey(storedKey('cng', 'signing')).equals(createPublicKey(original))).toBe(true);
    expect(createPublicKey(moved.to.publicKey).equals(createPublicKey(original))).toBe(true);
    expect(box.hasFakeKey('capi', 'signing')).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('--delete-source deletes the source after verification; --to cng:NEW renames; EC keys move too', () => {
    install();
    box.seedFakeKey('capi', 'old-name', { exportable: true, algorithm: 'ECDSA-P256' });
    const r = box.run([
      'migrate',
      '--from',
      'capi:old-name',
      '--to',
      'cng:new-name',
      '--delete-source',
      '--policy',
      policy,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const moved = parse<Moved>(r);
    expect(moved.to).toMatchObject({ ref: 'keystore:cng:user:new-name', algorithm: 'ECDSA-P256' });
    expect(moved.sourceDeleted).toBe(true);
    expect(box.hasFakeKey('capi', 'old-name')).toBe(false);
    expect(box.hasFakeKey('cng', 'new-name')).toBe(true);
  });

  it('human output names both keys, the receipt and the verification', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--policy', policy]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Moved keystore:capi:user:k to keystore:cng:user:k$/m);
    expect(r.stdout).toMatch(/isolation: +os-isolated \(measured by cng/);
    expect(r.stdout).toMatch(/verified: +keystore:cng:user:k reopened from cng's store; the public keys are equal/);
    expect(r.stdout).toMatch(/source: +keystore:capi:user:k kept/);
  });

  it('the machine scope, by --scope or by a reference in --from', () => {
    install();
    box.seedFakeKey('capi', 'm1', { exportable: true, scope: 'machine' });
    box.seedFakeKey('capi', 'm2', { exportable: true, scope: 'machine' });
    const byOption = box.run([
      'migrate',
      '--from',
      'capi:m1',
      '--to',
      'cng',
      '--scope',
      'machine',
      '--policy',
      policy,
      '--json',
    ]);
    expect(byOption.code, byOption.stderr).toBe(0);
    expect(parse<Moved>(byOption).to.ref).toBe('keystore:cng:machine:m1');
    const byRef = box.run([
      'migrate',
      '--from',
      'keystore:capi:machine:m2',
      '--to',
      'cng',
      '--policy',
      policy,
      '--json',
    ]);
    expect(byRef.code, byRef.stderr).toBe(0);
    expect(parse<Moved>(byRef).to.ref).toBe('keystore:cng:machine:m2');
    expect(box.hasFakeKey('cng', 'm2', 'machine')).toBe(true);
  });

  it('under the default policy: exit 5, each blocking field with its source, and the policy that allows it', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--json']);
    expect(r.code).toBe(5);
    const { error } = parse<ErrorOut>(r);
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    for (const field of ['/legacyCryptoApi', '/minimumIsolation', '/exportable/export']) {
      expect(error.message).toContain(field);
    }
    expect(error.message).toContain('the built-in default');
    expect(JSON.parse(/put (\{.*\}) in an app policy/.exec(error.hint ?? '')?.[1] ?? 'null')).toEqual(MIGRATION_POLICY);
    expect(box.hasFakeKey('cng', 'k')).toBe(false);
    expect(box.hasFakeKey('capi', 'k')).toBe(true);
  });

  it('a machine policy that denies CryptoAPI: the message names the file, and --policy cannot override it', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    box.machinePolicy({ legacyCryptoApi: 'deny' });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--policy', policy, '--json']);
    expect(r.code).toBe(5);
    const { error } = parse<ErrorOut>(r);
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    // The machine policy refuses the legacy provider: its package is not even loaded.
    expect(error.message).toContain('was not loaded');
    expect(error.message).toContain(
      `set by the machine policy named by KEYSTORE_MACHINE_POLICY (${box.machinePolicyFile})`,
    );
    expect(error.hint).toContain('administrator');
    expect(error.message).not.toContain('/minimumIsolation');
  });

  it('a non-exportable legacy key cannot move: exit 5, NOT_EXPORTABLE, and the advice to issue a new key', () => {
    install();
    box.seedFakeKey('capi', 'locked', { exportable: false });
    const r = box.run(['migrate', '--from', 'capi:locked', '--to', 'cng', '--policy', policy, '--json']);
    expect(r.code).toBe(5);
    const { error } = parse<ErrorOut>(r);
    expect(error.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    expect(error.hint).toMatch(/keys create .*--provider cng/);
    expect(error.hint).toContain('re-enrol');
    expect(box.hasFakeKey('cng', 'locked')).toBe(false);
    expect(box.hasFakeKey('capi', 'locked')).toBe(true);
  });

  it('a missing legacy key: exit 4', () => {
    install();
    const r = box.run(['migrate', '--from', 'capi:nothing', '--to', 'cng', '--policy', policy, '--json']);
    expect(r.code).toBe(4);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
  });

  it('a target name that is taken: exit 5, KEY_EXISTS, source and existing key untouched', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    const other = box.seedFakeKey('cng', 'k', {});
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--delete-source', '--policy', policy, '--json']);
    expect(r.code).toBe(5);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_KEY_EXISTS');
    expect(box.hasFakeKey('capi', 'k')).toBe(true);
    expect(createPublicKey(storedKey('cng', 'k')).equals(createPublicKey(other))).toBe(true);
  });

  it('a new key that fails verification is deleted, and the source kept even with --delete-source', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--delete-source', '--policy', policy, '--json'], {
      env: { KEYSTORE_FAKE_FAULTS: 'cng:bad-signature' },
    });
    expect(r.code).toBe(5);
    const { error } = parse<ErrorOut>(r);
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(error.message).toContain('did not pass verification');
    expect(box.hasFakeKey('cng', 'k')).toBe(false);
    expect(box.hasFakeKey('capi', 'k')).toBe(true);
  });

  it('a target that does not keep the imported key: it cannot be reopened, so nothing is deleted (exit 5)', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--delete-source', '--policy', policy, '--json'], {
      env: { KEYSTORE_FAKE_FAULTS: 'cng:import-not-persisted' },
    });
    expect(r.code).toBe(5);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(box.hasFakeKey('capi', 'k')).toBe(true);
    expect(box.hasFakeKey('cng', 'k')).toBe(false);
  });

  it('a target that keeps another key than the one it returned: the reopened key fails verification and is deleted', () => {
    install();
    const original = box.seedFakeKey('capi', 'k', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--delete-source', '--policy', policy, '--json'], {
      env: { KEYSTORE_FAKE_FAULTS: 'cng:import-stores-other' },
    });
    expect(r.code).toBe(5);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(box.hasFakeKey('cng', 'k')).toBe(false);
    expect(createPublicKey(storedKey('capi', 'k')).equals(createPublicKey(original))).toBe(true);
  });

  it('a source that cannot be deleted: the move stands, the failure is reported, exit per its code', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--delete-source', '--policy', policy, '--json'], {
      env: { KEYSTORE_FAKE_FAULTS: 'capi:delete-fails' },
    });
    expect(r.code).toBe(5);
    const moved = parse<Moved>(r);
    expect(moved.sourceDeleted).toBe(false);
    expect(moved.sourceDeleteError?.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(box.hasFakeKey('cng', 'k')).toBe(true);
    expect(box.hasFakeKey('capi', 'k')).toBe(true);
    expect(stderrLines(r)[0]).toMatch(/^keystore: .*\(ERR_KEYSTORE_ACCESS_DENIED\)$/);
  });

  it('--exportable only when the policy allows creating exportable keys', () => {
    box.installFakeProvider({
      id: 'capi',
      legacyCryptoApi: true,
      isolation: 'in-process',
      exportableKeys: true,
      ownStore: true,
    });
    box.installFakeProvider({ id: 'cng', importKeys: true, exportableKeys: true, ownStore: true });
    box.seedFakeKey('capi', 'k', { exportable: true });
    const refused = box.run([
      'migrate',
      '--from',
      'capi:k',
      '--to',
      'cng',
      '--exportable',
      '--policy',
      policy,
      '--json',
    ]);
    expect(refused.code).toBe(5);
    expect(parse<ErrorOut>(refused).error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(box.hasFakeKey('cng', 'k')).toBe(false);
    const allowing = box.write('allow-export.json', {
      ...MIGRATION_POLICY,
      exportable: { create: true, export: true },
    });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--exportable', '--policy', allowing, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parse<Moved>(r).to.exportable).toBe(true);
  });

  it('a target below os-isolated is refused (exit 3), whatever --policy lowers; --unsafe-allow-weak-target accepts it with a warning', () => {
    install({ cngIsolation: 'in-process' });
    box.seedFakeKey('capi', 'k', { exportable: true });
    const refused = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--policy', policy, '--json']);
    expect(refused.code).toBe(3);
    const { error } = parse<ErrorOut>(refused);
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.hint).toContain('os-isolated');
    expect(box.hasFakeKey('cng', 'k')).toBe(false);
    const r = box.run([
      'migrate',
      '--from',
      'capi:k',
      '--to',
      'cng',
      '--unsafe-allow-weak-target',
      '--policy',
      policy,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const moved = parse<Moved>(r);
    expect(moved.to.isolation.level).toBe('in-process');
    expect(moved.warnings.length).toBe(1);
  });

  it('a target that cannot import keys: exit 3, nothing exported', () => {
    box.installFakeProvider({
      id: 'capi',
      legacyCryptoApi: true,
      isolation: 'in-process',
      exportableKeys: true,
      ownStore: true,
    });
    box.installFakeProvider({ id: 'cng', ownStore: true });
    box.seedFakeKey('capi', 'k', { exportable: true });
    const r = box.run(['migrate', '--from', 'capi:k', '--to', 'cng', '--policy', policy, '--json']);
    expect(r.code).toBe(3);
    expect(parse<ErrorOut>(r).error.message).toContain('capabilities.importKeys');
  });

  it('a provider that is not installed: exit 3', () => {
    install();
    const target = box.run(['migrate', '--from', 'capi:k', '--to', 'vault', '--policy', policy, '--json']);
    expect(target.code).toBe(3);
    expect(parse<ErrorOut>(target).error.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    const source = box.run(['migrate', '--from', 'legacy:k', '--to', 'cng', '--policy', policy, '--json']);
    expect(source.code).toBe(3);
  });

  it.each([
    ['neither --from/--to nor --scan', ['migrate']],
    ['--from without --to', ['migrate', '--from', 'capi:k']],
    ['--from without a name', ['migrate', '--from', 'capi', '--to', 'cng']],
    ['--to with an empty name', ['migrate', '--from', 'capi:k', '--to', 'cng:']],
    ['the same provider twice', ['migrate', '--from', 'capi:k', '--to', 'capi:j']],
    ['--scan with --from', ['migrate', '--scan', '--from', 'capi:k']],
    ['--scan with --delete-source', ['migrate', '--scan', '--delete-source']],
    [
      'a reference and --scope that disagree',
      ['migrate', '--from', 'keystore:capi:user:k', '--to', 'cng', '--scope', 'machine'],
    ],
    ['a bad scope', ['migrate', '--scan', '--scope', 'galaxy']],
  ])('%s: exit 2 (usage)', (_label, args) => {
    const r = box.run(args);
    expect(r.code).toBe(2);
    expect(stderrLines(r)[0]).toMatch(/\(ERR_USAGE\)$/);
  });
});

describe('keystore migrate --scan', () => {
  /** The keys the fake providers were asked to open during a run (`id:scope:name`). */
  function opened(log: string): string[] {
    return existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.length > 0)
      : [];
  }

  it('under the default policy: lists the containers, opens none, and says it cannot tell and what would let it', () => {
    install();
    box.seedFakeKey('capi', 'movable', { exportable: true });
    box.seedFakeKey('capi', 'machine-key', { exportable: true, scope: 'machine', algorithm: 'ECDSA-P384' });
    const log = box.path('opened.log');
    const r = box.run(['migrate', '--scan', '--json'], { env: { KEYSTORE_FAKE_OPEN_LOG: log } });
    expect(r.code, r.stderr).toBe(0);
    expect(opened(log)).toEqual([]);
    const scan = parse<Scan>(r);
    expect(scan.keys.map((k) => k.ref).sort()).toEqual([
      'keystore:capi:machine:machine-key',
      'keystore:capi:user:movable',
    ]);
    for (const key of scan.keys) {
      // The listing's algorithm, whether it is exportable unknown, and not movable under this policy.
      expect(key).toMatchObject({ exportable: null, movable: false, targets: ['cng'] });
      expect(key.reasons).toHaveLength(1);
      expect(key.reasons[0]).toContain('cannot tell');
      expect(key.reasons[0]).toContain('/legacyCryptoApi');
      expect(key.reasons[0]).toContain('the built-in default');
      expect(JSON.parse(/put (\{.*?\}) in an app policy/.exec(key.reasons[0] ?? '')?.[1] ?? 'null')).toEqual({
        legacyCryptoApi: 'allow',
        minimumIsolation: 'in-process',
      });
    }
    expect(scan.keys.find((k) => k.name === 'machine-key')?.algorithm).toBe('ECDSA-P384');
    expect(scan.policyBlockers.map((b) => b.field).sort()).toEqual([
      '/exportable/export',
      '/legacyCryptoApi',
      '/minimumIsolation',
    ]);
    expect(scan.targets).toEqual(['cng']);
  });

  it('a machine policy that denies legacy CryptoAPI: the provider is not loaded even with a migration policy, and an administrator must allow it', () => {
    install();
    box.seedFakeKey('capi', 'k', { exportable: true });
    box.machinePolicy({ legacyCryptoApi: 'deny' });
    const log = box.path('opened.log');
    const r = box.run(['migrate', '--scan', '--policy', policy, '--json'], { env: { KEYSTORE_FAKE_OPEN_LOG: log } });
    // The machine policy refuses the legacy provider, so its package is not loaded: nothing can be
    // listed, let alone opened.
    expect(r.code, r.stderr).toBe(5);
    expect(opened(log)).toEqual([]);
    const { error } = parse<ErrorOut>(r);
    expect(error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(error.message).toContain(box.machinePolicyFile);
    expect(error.hint).toContain('administrator');
  });

  it('with a policy that allows legacy CryptoAPI: opens each key to read whether it can move, and why the others cannot', () => {
    install();
    box.seedFakeKey('capi', 'movable', { exportable: true });
    box.seedFakeKey('capi', 'locked', { exportable: false });
    box.seedFakeKey('capi', 'machine-key', { exportable: true, scope: 'machine', algorithm: 'ECDSA-P384' });
    const log = box.path('opened.log');
    const r = box.run(['migrate', '--scan', '--policy', policy, '--json'], { env: { KEYSTORE_FAKE_OPEN_LOG: log } });
    expect(r.code, r.stderr).toBe(0);
    expect(opened(log).sort()).toEqual(['capi:machine:machine-key', 'capi:user:locked', 'capi:user:movable']);
    const scan = parse<Scan>(r);
    const byRef = Object.fromEntries(scan.keys.map((k) => [k.ref, k]));
    expect(Object.keys(byRef).sort()).toEqual([
      'keystore:capi:machine:machine-key',
      'keystore:capi:user:locked',
      'keystore:capi:user:movable',
    ]);
    expect(byRef['keystore:capi:user:movable']).toMatchObject({
      exportable: true,
      movable: true,
      targets: ['cng'],
      reasons: [],
    });
    expect(byRef['keystore:capi:machine:machine-key']).toMatchObject({ algorithm: 'ECDSA-P384', movable: true });
    const locked = byRef['keystore:capi:user:locked']!;
    expect(locked).toMatchObject({ exportable: false, movable: false });
    expect(locked.reasons.join(' ')).toContain('non-exportable');
    expect(scan.policyBlockers).toEqual([]);
  });

  it('--unsafe-allow-weak-target: targets below os-isolated count, as they do for the move', () => {
    install({ cngIsolation: 'in-process' });
    box.seedFakeKey('capi', 'k', { exportable: true });
    const strict = parse<Scan>(box.run(['migrate', '--scan', '--policy', policy, '--json']));
    expect(strict.keys[0]).toMatchObject({ exportable: true, movable: false, targets: [] });
    expect(strict.keys[0]?.reasons.join(' ')).toContain('os-isolated');
    const r = box.run(['migrate', '--scan', '--unsafe-allow-weak-target', '--policy', policy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parse<Scan>(r).keys[0]).toMatchObject({ exportable: true, movable: true, targets: ['cng'], reasons: [] });
  });

  it('--scope and a migration policy: only that scope, no blockers', () => {
    install();
    box.seedFakeKey('capi', 'u', { exportable: true });
    box.seedFakeKey('capi', 'm', { exportable: true, scope: 'machine' });
    const r = box.run(['migrate', '--scan', '--scope', 'machine', '--policy', policy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const scan = parse<Scan>(r);
    expect(scan.keys.map((k) => k.ref)).toEqual(['keystore:capi:machine:m']);
    expect(scan.policyBlockers).toEqual([]);
  });

  it('a key no installed provider can take is not movable', () => {
    box.installFakeProvider({
      id: 'capi',
      legacyCryptoApi: true,
      isolation: 'in-process',
      exportableKeys: true,
      ownStore: true,
    });
    box.installFakeProvider({ id: 'cng', ownStore: true });
    box.seedFakeKey('capi', 'k', { exportable: true });
    const scan = parse<Scan>(box.run(['migrate', '--scan', '--json']));
    expect(scan.keys[0]).toMatchObject({ movable: false, targets: [] });
    expect(scan.keys[0]?.reasons.join(' ')).toContain('no installed provider can take');
  });

  it('human output: one line per key, then what the policy needs', () => {
    install();
    box.seedFakeKey('capi', 'movable', { exportable: true });
    box.seedFakeKey('capi', 'locked', { exportable: false });
    const allowed = box.run(['migrate', '--scan', '--policy', policy]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/^keystore:capi:user:movable +RSA-2048 +exportable +can move to cng$/m);
    expect(allowed.stdout).toMatch(
      /^keystore:capi:user:locked +RSA-2048 +not exportable +cannot move: created non-exportable/m,
    );
    expect(allowed.stdout).not.toContain('Moving needs a policy');
    const denied = box.run(['migrate', '--scan']);
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.stdout).toMatch(/^keystore:capi:user:movable +RSA-2048 +\? +cannot tell whether it can move/m);
    expect(denied.stdout).toContain('Moving needs a policy that lets the legacy keys be read:');
  });

  it('no legacy provider installed: exit 3', () => {
    box.installFakeProvider({ id: 'cng', importKeys: true, ownStore: true });
    const r = box.run(['migrate', '--scan', '--json']);
    expect(r.code).toBe(3);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
  });
});

describe('keystore migrate progress', () => {
  const saved = { ...process.env };
  afterEach(() => {
    setProviderDirsForTesting(undefined);
    process.env = { ...saved };
  });

  function capture(tty: boolean) {
    const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
    if (tty) stream.isTTY = true;
    let text = '';
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    return { stream, text: () => text };
  }

  async function migrateInProcess(name: string, tty: boolean, extra: string[] = []) {
    // The test doubles read their settings from the process environment.
    Object.assign(process.env, {
      KEYSTORE_MACHINE_POLICY: box.machinePolicyFile,
      KEYSTORE_FAKE_STORE: box.path('fake-keys'),
    });
    // In process, the CLI's own installation is the workspace: point it at the test doubles instead.
    setProviderDirsForTesting([box.providersDir as string]);
    const stdout = capture(false);
    const stderr = capture(tty);
    const code = await run(['migrate', '--from', `capi:${name}`, '--to', 'cng', '--policy', policy, ...extra], {
      stdout: stdout.stream,
      stderr: stderr.stream,
      env: process.env,
      cwd: box.dir,
    });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }

  it('announces each step on a terminal, and nothing when not on one or with --json', async () => {
    install();
    box.seedFakeKey('capi', 'a', { exportable: true });
    box.seedFakeKey('capi', 'b', { exportable: true });
    box.seedFakeKey('capi', 'c', { exportable: true });
    const tty = await migrateInProcess('a', true, ['--delete-source']);
    expect(tty.code, tty.stderr).toBe(0);
    const steps = tty.stderr.trimEnd().split('\n');
    expect(steps.every((l) => l.startsWith('keystore: '))).toBe(true);
    expect(steps.map((l) => l.split(' ')[1])).toEqual([
      'checking',
      'opening',
      'exporting',
      'importing',
      'reopening',
      'verifying',
      'deleting',
    ]);
    expect((await migrateInProcess('b', false)).stderr).toBe('');
    const json = await migrateInProcess('c', true, ['--json']);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ to: { ref: 'keystore:cng:user:c' } });
  });
});
