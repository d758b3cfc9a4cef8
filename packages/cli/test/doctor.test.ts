import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describePosture, postureFacts } from '../src/commands/posture.js';
import { parse, Sandbox, stderrLines } from './helpers.js';

interface Row {
  id: string;
  displayName: string;
  available: boolean;
  isolation: string;
  selected: boolean;
  eligible: boolean;
  status: string;
  policyReasons: string[];
  reasons: string[];
  details: Record<string, unknown>;
  package: string | null;
  packagePath: string | null;
  version: string | null;
}
interface Doctor {
  warnings: string[];
  platform: string;
  node: string;
  providers: Row[];
  policy: Record<string, unknown>;
  sources: Record<string, string>;
  machinePolicyPath: string | null;
  machineEnvPolicyPath: string | null;
  policyOverrides: { source: string; by: string; name: string; detail: string }[];
  registryPolicyKey: string | null;
  posture: {
    facts: { key: string; label: string; value: unknown; text: string; providerId: string }[];
    isolation: { id: string; available: boolean; isolation: string; status: string }[];
  };
  selected: string | null;
}

const DEV_POLICY = { minimumIsolation: 'none' };

let box: Sandbox;
beforeEach(() => {
  box = new Sandbox();
});
afterEach(() => box.cleanup());

function expectRowShape(row: Row): void {
  expect(typeof row.id).toBe('string');
  expect(typeof row.displayName).toBe('string');
  expect(typeof row.available).toBe('boolean');
  expect(typeof row.isolation).toBe('string');
  expect(typeof row.selected).toBe('boolean');
  expect(typeof row.eligible).toBe('boolean');
  expect(Array.isArray(row.reasons)).toBe(true);
  expect(Array.isArray(row.policyReasons)).toBe(true);
  expect(['selected', 'eligible', 'disabled-by-policy', 'refused', 'unavailable']).toContain(row.status);
  expect(typeof row.details).toBe('object');
  expect(row.packagePath === null || typeof row.packagePath === 'string').toBe(true);
  expect(row.version === null || typeof row.version === 'string').toBe(true);
}

describe('keystore doctor', () => {
  it("with no TPM configured, the TPM's hint says what a user of the published package can do (no repository script)", () => {
    const r = box.run(['doctor']);
    expect([0, 3]).toContain(r.code);
    expect(r.stdout).toMatch(/not available here: set TSS2_FAPICONF to a FAPI config file/);
    expect(r.stdout).toContain('https://github.com/keystore-sdk/keystore/blob/main/docs/getting-started.md');
    expect(r.stdout).not.toMatch(/scripts\/swtpm\.sh/);
  });

  it('reports on the installed providers of this machine (structure, not which)', () => {
    const r = box.run(['doctor', '--json']);
    expect([0, 3]).toContain(r.code);
    const d = parse<Doctor>(r);
    expect(d.platform).toBe(process.platform);
    expect(d.node).toBe(process.version);
    expect(Array.isArray(d.providers)).toBe(true);
    for (const row of d.providers) expectRowShape(row);
    expect(d.policy.minimumIsolation).toBe('os-isolated');
    expect(d.sources['/minimumIsolation']).toBe('default');
    expect(d.machineEnvPolicyPath).toBe(box.machinePolicyFile);
    // doctor never lifts a machine policy, and says so
    expect(d.policyOverrides).toEqual([]);
    expect(r.code === 0).toBe(d.selected !== null);
    expect(d.providers.filter((p) => p.selected).map((p) => p.id)).toEqual(d.selected === null ? [] : [d.selected]);
    // the in-memory provider is never there unless asked for
    expect(d.providers.some((p) => p.id === 'memory')).toBe(false);
  });

  it('exits 3 with only the memory provider under the default policy (none < os-isolated)', () => {
    const r = box.run(['doctor', '--provider', 'memory', '--json']);
    expect(r.code).toBe(3);
    const d = parse<Doctor>(r);
    expect(d.selected).toBeNull();
    const memory = d.providers.find((p) => p.id === 'memory');
    expect(memory).toMatchObject({ available: true, isolation: 'none', selected: false, eligible: false });
    expect(memory?.reasons.length).toBeGreaterThan(0);
  });

  it('exits 0 with --provider memory under a development policy and selects memory', () => {
    const policy = box.write('dev.json', DEV_POLICY);
    const r = box.run(['doctor', '--provider', 'memory', '--policy', policy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = parse<Doctor>(r);
    expect(d.selected).toBe('memory');
    expect(d.providers.find((p) => p.id === 'memory')).toMatchObject({ selected: true, eligible: true });
    expect(d.policy.minimumIsolation).toBe('none');
    expect(d.sources['/minimumIsolation']).toBe('app');
  });

  it('the machine policy caps the app policy: memory refused again', () => {
    box.machinePolicy({ minimumIsolation: 'os-isolated' });
    const policy = box.write('dev.json', DEV_POLICY);
    const r = box.run(['doctor', '--provider', 'memory', '--policy', policy, '--json']);
    expect(r.code).toBe(3);
    const d = parse<Doctor>(r);
    expect(d.selected).toBeNull();
    expect(d.sources['/minimumIsolation']).toBe('machine-env');
  });

  it('says in text that no policy override is in force, next to the KEYSTORE_MACHINE_POLICY file', () => {
    const text = box.run(['doctor']).stdout;
    expect(text).toMatch(/^Policy overrides: none \(every machine policy applies\)$/m);
    expect(text).toContain(`KEYSTORE_MACHINE_POLICY: ${box.machinePolicyFile}`);
  });

  it('human output exits with the same codes', () => {
    const policy = box.write('dev.json', DEV_POLICY);
    expect(box.run(['doctor', '--provider', 'memory']).code).toBe(3);
    const ok = box.run(['doctor', '--provider', 'memory', '--policy', policy]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('memory');
    expect(ok.stderr).toBe('');
  });

  it('lists a provider package installed beside the CLI and selects it', () => {
    box.installFakeProvider();
    const r = box.run(['doctor', '--json']);
    const d = parse<Doctor>(r);
    const fake = d.providers.find((p) => p.id === 'fake');
    expect(fake).toMatchObject({ available: true, isolation: 'os-isolated', eligible: true });
    expect(r.code).toBe(0);
    expect(d.selected).not.toBeNull();
  });

  it('says "simulated TPM" when a provider reports simulator: true', () => {
    box.installFakeProvider();
    const env = { KEYSTORE_FAKE_SIMULATOR: '1' };
    const d = parse<Doctor>(box.run(['doctor', '--json'], { env }));
    expect(d.providers.find((p) => p.id === 'fake')?.details.simulator).toBe(true);
    expect(box.run(['doctor'], { env }).stdout).toContain('simulated TPM');
  });

  it('a provider package that fails to load becomes an unavailable row, not a crash', () => {
    box.installBrokenProvider('broken');
    const r = box.run(['doctor', '--json']);
    expect([0, 3]).toContain(r.code);
    const d = parse<Doctor>(r);
    const broken = d.providers.find((p) => p.id === 'broken');
    expect(broken).toMatchObject({ available: false, selected: false, eligible: false });
    expect(broken?.reasons.join(' ')).toContain('libbroken.so');
    expect(r.stderr).toBe('');
  });

  it('--provider naming a broken package: exit 3 in doctor', () => {
    box.installBrokenProvider('broken');
    const r = box.run(['doctor', '--provider', 'broken', '--json']);
    expect(r.code).toBe(3);
    expect(parse<Doctor>(r).selected).toBeNull();
  });

  it('an invalid --policy file: exit 1 with ERR_KEYSTORE_INVALID_POLICY, one line and a hint', () => {
    const policy = box.write('bad.json', { minimumIsolation: 'titanium' });
    const r = box.run(['doctor', '--policy', policy, '--json']);
    expect(r.code).toBe(1);
    const { error } = parse<{ error: { code: string; issues: { pointer: string }[] } }>(r);
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((i) => i.pointer)).toContain('/minimumIsolation');
    const lines = stderrLines(r);
    expect(lines[0]).toMatch(/^keystore: .*\(ERR_KEYSTORE_INVALID_POLICY\)$/);
    expect(lines.slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
  });

  it('KEYSTORE_MACHINE_POLICY naming a missing file fails closed (exit 1)', () => {
    const r = box.run(['doctor', '--json'], { env: { KEYSTORE_MACHINE_POLICY: box.path('nope.json') } });
    expect(r.code).toBe(1);
    expect(parse<{ error: { code: string } }>(r).error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it("no machine policy at the fixed path and KEYSTORE_MACHINE_POLICY unset: both paths null (this machine's /etc/keystore hidden)", () => {
    const r = box.run(['doctor', '--json'], { env: { KEYSTORE_MACHINE_POLICY: undefined }, withoutFixedPolicy: true });
    expect(r.stderr).toBe('');
    expect([0, 3]).toContain(r.code);
    expect(parse<Doctor>(r).machinePolicyPath).toBeNull();
    expect(parse<Doctor>(r).machineEnvPolicyPath).toBeNull();
  });

  it('KEYSTORE_DEBUG=1 adds the stack', () => {
    const policy = box.write('bad.json', '{ nope');
    const plain = box.run(['doctor', '--policy', policy]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = box.run(['doctor', '--policy', policy], { env: { KEYSTORE_DEBUG: '1' } });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  describe('posture and providers disabled by policy', () => {
    const POSTURE = {
      windowsBuild: 26100,
      lsaProtectionConfigured: true,
      lsaProtectionRunning: false,
      lsassIdentifiedBy: 'service control manager (KeyIso)',
      vbsRunning: true,
      credentialGuard: false,
      hvci: true,
      tpmPresent: true,
      tpmVersion: '2.0',
      wine: false,
      somethingElse: 'not posture',
    };

    function installWindowsLike() {
      box.installFakeProvider({ id: 'cng', details: POSTURE, ownStore: true });
      box.installFakeProvider({ id: 'capi', legacyCryptoApi: true, isolation: 'in-process', ownStore: true });
    }

    it('a legacy provider under the default policy: installed, disabled by policy, naming the rule and its source', () => {
      installWindowsLike();
      const r = box.run(['doctor', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const d = parse<Doctor>(r);
      for (const row of d.providers) expectRowShape(row);
      const capi = d.providers.find((p) => p.id === 'capi');
      // Refused before its package is imported: nothing of it ran, so nothing was measured.
      expect(capi).toMatchObject({
        available: false,
        eligible: false,
        status: 'disabled-by-policy',
        version: '0.0.0-test',
      });
      expect(capi?.packagePath).toBe(join(box.providersDir as string, '@keystore', 'provider-capi'));
      expect(capi?.policyReasons).toHaveLength(1);
      expect(capi?.policyReasons[0]).toContain('/legacyCryptoApi');
      expect(capi?.policyReasons[0]).toContain('set by the built-in default');
      expect(d.providers.find((p) => p.id === 'cng')).toMatchObject({ status: 'selected', policyReasons: [] });
      expect(d.registryPolicyKey).toBeNull();
      const human = box.run(['doctor']);
      expect(human.stdout).toMatch(/^ {4}status: {4}installed, disabled by policy: legacy CryptoAPI is denied/m);
    });

    /** How many times `needle` occurs in `text`. */
    const count = (text: string, needle: string) => text.split(needle).length - 1;

    it('a provider denied by the machine policy names the machine policy file, once', () => {
      installWindowsLike();
      box.machinePolicy({ providers: { deny: ['cng'] } });
      const d = parse<Doctor>(box.run(['doctor', '--json']));
      const cng = d.providers.find((p) => p.id === 'cng');
      expect(cng?.status).toBe('disabled-by-policy');
      expect(cng?.policyReasons).toHaveLength(1);
      const reason = cng?.policyReasons[0] ?? '';
      expect(reason).toContain('/providers/deny');
      expect(count(reason, box.machinePolicyFile)).toBe(1);
      expect(count(reason, 'set by')).toBe(1);
    });

    it('legacy CryptoAPI denied by the machine policy: the source is named once, in the JSON and the human output', () => {
      installWindowsLike();
      box.machinePolicy({ legacyCryptoApi: 'deny' });
      const d = parse<Doctor>(box.run(['doctor', '--json']));
      const capi = d.providers.find((p) => p.id === 'capi');
      expect(capi?.policyReasons).toHaveLength(1);
      const reason = capi?.policyReasons[0] ?? '';
      expect(reason).toContain('/legacyCryptoApi');
      expect(count(reason, box.machinePolicyFile)).toBe(1);
      expect(count(reason, 'set by')).toBe(1);
      const status = box
        .run(['doctor'])
        .stdout.split('\n')
        .find((l) => l.includes('disabled by policy: legacy'));
      expect(status).toBeDefined();
      expect(count(status ?? '', 'set by')).toBe(1);
    });

    it('allowed by a policy, the legacy provider is no longer disabled', () => {
      installWindowsLike();
      const policy = box.write('legacy.json', { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' });
      const d = parse<Doctor>(box.run(['doctor', '--policy', policy, '--json']));
      expect(d.providers.find((p) => p.id === 'capi')).toMatchObject({ status: 'eligible', policyReasons: [] });
    });

    it('a provider that is available but below the floor is refused, not disabled by policy', () => {
      box.installFakeProvider({ id: 'weak', isolation: 'in-process', ownStore: true });
      const d = parse<Doctor>(box.run(['doctor', '--json']));
      expect(d.providers.find((p) => p.id === 'weak')).toMatchObject({ status: 'refused', policyReasons: [] });
    });

    it("prints the posture facts providers report, in words, and each provider's isolation now", () => {
      installWindowsLike();
      const d = parse<Doctor>(box.run(['doctor', '--json']));
      const facts = Object.fromEntries(d.posture.facts.map((f) => [f.key, f]));
      expect(Object.keys(facts).sort()).toEqual(
        [
          'credentialGuard',
          'hvci',
          'lsaProtectionConfigured',
          'lsaProtectionRunning',
          'lsassIdentifiedBy',
          'tpmPresent',
          'tpmVersion',
          'vbsRunning',
          'windowsBuild',
          'wine',
        ].sort(),
      );
      expect(facts.lsaProtectionRunning).toMatchObject({ value: false, text: 'no', providerId: 'cng' });
      expect(facts.windowsBuild).toMatchObject({ value: 26100, text: '26100' });
      expect(facts.lsassIdentifiedBy).toMatchObject({
        label: 'LSASS identified through',
        text: 'service control manager (KeyIso)',
      });
      expect(d.posture.isolation).toEqual(
        expect.arrayContaining([
          { id: 'cng', available: true, isolation: 'os-isolated', status: 'selected' },
          { id: 'capi', available: false, isolation: 'none', status: 'disabled-by-policy' },
        ]),
      );
      const human = box.run(['doctor']).stdout;
      expect(human).toMatch(/^Posture:$/m);
      expect(human).toMatch(/^ {2}LSASS running as a protected process now: +no \(cng\)$/m);
      expect(human).toMatch(/^ {2}Credential Guard running: +no \(cng\)$/m);
      expect(human).toMatch(/^ {2}Windows build: +26100 \(cng\)$/m);
      expect(human).toMatch(/^ {4}capi +not loaded +\(disabled by policy\)$/m);
      expect(human).not.toContain('somethingElse:');
    });

    it('says so when no provider reports posture facts; disagreeing providers are each named', () => {
      expect(describePosture({ facts: [], isolation: [] })).toEqual([
        'Posture:',
        '  no provider reports isolation facts about this machine (LSA protection, VBS, TPM …)',
      ]);
      const facts = postureFacts([
        { id: 'cng', details: { tpmPresent: true, platform: 'windows' } },
        { id: 'tpm', details: { tpmPresent: false } },
      ]);
      expect(facts.map((f) => [f.providerId, f.text])).toEqual([
        ['cng', 'yes'],
        ['tpm', 'no'],
      ]);
      expect(describePosture({ facts, isolation: [] })[1]).toBe('  TPM present: yes (cng); no (tpm)');
    });
  });
});
