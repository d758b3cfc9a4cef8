import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse, Sandbox } from './helpers.js';

interface Check {
  valid: boolean;
  issues: { pointer: string; message: string }[];
}
interface Effective {
  policy: Record<string, unknown> & { providers: { deny: string[] } };
  sources: Record<string, string>;
  machinePolicyPath: string | null;
  machineEnvPolicyPath: string | null;
}

let box: Sandbox;
beforeEach(() => {
  box = new Sandbox();
});
afterEach(() => box.cleanup());

describe('keystore policy check', () => {
  it('a valid policy: exit 0', () => {
    const file = box.write('ok.json', { minimumIsolation: 'hardware', providers: { deny: ['capi'] } });
    const r = box.run(['policy', 'check', file, '--json']);
    expect(r.code).toBe(0);
    expect(parse<Check>(r)).toMatchObject({ valid: true, issues: [] });
    expect(box.run(['policy', 'check', file]).code).toBe(0);
  });

  it('a valid policy that declares a PKCS#11 module: exit 0, with the note that only a machine policy may', () => {
    const file = box.write('hsm.json', {
      pkcs11: { modules: [{ path: '/opt/hsm/libcryptoki.so', isolation: 'hardware' }] },
    });
    const r = box.run(['policy', 'check', file, '--json']);
    expect(r.code).toBe(0);
    expect(parse<Check & { machineOnly?: string[] }>(r)).toMatchObject({
      valid: true,
      machineOnly: ['/pkcs11/modules'],
    });
    const human = box.run(['policy', 'check', file]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('/pkcs11/modules declares 1 PKCS#11 module');
    expect(
      parse<Check & { machineOnly?: string[] }>(box.run(['policy', 'check', box.write('plain.json', {}), '--json']))
        .machineOnly,
    ).toBeUndefined();
  });

  it('a key given twice is invalid, naming its pointer: JSON would keep only the last', () => {
    const file = box.path('twice.json');
    writeFileSync(file, '{"minimumIsolation":"hardware","minimumIsolation":"none"}');
    const r = box.run(['policy', 'check', file, '--json']);
    expect(r.code).toBe(1);
    expect(parse<Check>(r)).toMatchObject({ valid: false, issues: [{ pointer: '/minimumIsolation' }] });
  });

  it('relative paths resolve against the working directory', () => {
    box.write('ok.json', {});
    expect(box.run(['policy', 'check', 'ok.json']).code).toBe(0);
  });

  it('an invalid policy: exit 1, each issue with its JSON pointer', () => {
    const file = box.write('bad.json', {
      minimumIsolation: 'titanium',
      minimumRsaBits: 'big',
      allowedAlgorithms: ['ECDSA-P256', 'DSA-1024'],
    });
    const r = box.run(['policy', 'check', file, '--json']);
    expect(r.code).toBe(1);
    const result = parse<Check>(r);
    expect(result.valid).toBe(false);
    const pointers = result.issues.map((i) => i.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/minimumIsolation', '/minimumRsaBits', '/allowedAlgorithms/1']));
    for (const issue of result.issues) expect(issue.message.length).toBeGreaterThan(0);

    const human = box.run(['policy', 'check', file]);
    expect(human.code).toBe(1);
    for (const pointer of ['/minimumIsolation', '/minimumRsaBits', '/allowedAlgorithms/1']) {
      expect(human.stdout).toMatch(new RegExp(`^${pointer}: .+`, 'm'));
    }
  });

  it('not JSON: exit 1, the document pointer', () => {
    const file = box.write('broken.json', '{ "minimumIsolation": ');
    const r = box.run(['policy', 'check', file, '--json']);
    expect(r.code).toBe(1);
    expect(parse<Check>(r).issues[0]?.pointer).toBe('');
  });

  it('a missing file: exit 1', () => {
    const r = box.run(['policy', 'check', box.path('nope.json'), '--json']);
    expect(r.code).toBe(1);
    expect(parse<Check>(r).valid).toBe(false);
  });
});

describe('keystore policy effective', () => {
  it('the defaults with an empty machine policy', () => {
    const r = box.run(['policy', 'effective', '--json']);
    expect(r.code).toBe(0);
    const e = parse<Effective>(r);
    expect(e.policy.minimumIsolation).toBe('os-isolated');
    expect(e.policy.legacyCryptoApi).toBe('deny');
    expect(e.policy.minimumRsaBits).toBe(2048);
    expect(Object.values(e.sources).every((s) => s === 'default')).toBe(true);
    expect(e.machineEnvPolicyPath).toBe(box.machinePolicyFile);
  });

  it('a machine policy tightens the app policy; sources say machine-env for the file KEYSTORE_MACHINE_POLICY names', () => {
    box.machinePolicy({ minimumIsolation: 'hardware', minimumRsaBits: 3072, providers: { deny: ['capi'] } });
    const app = box.write('app.json', { minimumIsolation: 'none', minimumRsaBits: 2048, exportable: { create: true } });
    const r = box.run(['policy', 'effective', '--policy', app, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = parse<Effective>(r);
    expect(e.policy.minimumIsolation).toBe('hardware');
    expect(e.policy.minimumRsaBits).toBe(3072);
    expect(e.policy.providers.deny).toContain('capi');
    expect(e.sources['/minimumIsolation']).toBe('machine-env');
    expect(e.sources['/minimumRsaBits']).toBe('machine-env');
    expect(e.sources['/providers/deny']).toBe('machine-env');
    expect(e.sources['/exportable/create']).toBe('app');
    expect(e.machineEnvPolicyPath).toBe(box.machinePolicyFile);
  });

  it('the app may tighten beyond the machine policy', () => {
    box.machinePolicy({ minimumIsolation: 'os-isolated' });
    const app = box.write('app.json', { minimumIsolation: 'hardware' });
    const e = parse<Effective>(box.run(['policy', 'effective', '--policy', app, '--json']));
    expect(e.policy.minimumIsolation).toBe('hardware');
    expect(e.sources['/minimumIsolation']).toBe('app');
  });

  it('human output lists each field and its source', () => {
    box.machinePolicy({ minimumIsolation: 'hardware' });
    const r = box.run(['policy', 'effective']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\/minimumIsolation\s+hardware\s+\(machine-env\)/);
  });

  it('an invalid machine policy fails closed: exit 1', () => {
    box.machinePolicy({ minimumIsolation: 42 });
    const r = box.run(['policy', 'effective', '--json']);
    expect(r.code).toBe(1);
    expect(parse<{ error: { code: string } }>(r).error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });
});
