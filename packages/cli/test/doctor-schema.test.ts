// doctor --json against its published schema (doctor.schema.json) on Linux, and doctor --require
// LEVEL's exit codes. The swtpm and Wine runs check their output against the same schema
// (tpm.int.test.ts, doctor-wine.int.test.ts).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCTOR_SCHEMA, doctorSchemaErrors } from './doctor-schema.js';
import { parse, Sandbox } from './helpers.js';

describe('doctor --json and its schema', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = new Sandbox();
    box.write('floor-none.json', { minimumIsolation: 'none' });
  });
  afterAll(() => box.cleanup());

  it('conforms to the schema, with schemaVersion 1, with and without a provider that serves', () => {
    const none = box.run(['doctor', '--json']);
    expect([0, 3]).toContain(none.code);
    const out = parse(none);
    expect(doctorSchemaErrors(out)).toEqual([]);
    expect(out.schemaVersion).toBe(1);
    expect(out.require).toBeNull();
    const memory = box.run(['doctor', '--json', '--provider', 'memory', '--policy', 'floor-none.json']);
    expect(memory.code, memory.stderr).toBe(0);
    expect(doctorSchemaErrors(parse(memory))).toEqual([]);
  });

  it('the schema is strict: a missing, renamed or mistyped field fails it', () => {
    const out = parse(box.run(['doctor', '--json', '--provider', 'memory']));
    const { schemaVersion: _, ...withoutVersion } = out;
    expect(doctorSchemaErrors(withoutVersion).join('\n')).toMatch(/schemaVersion/);
    expect(doctorSchemaErrors({ ...out, selectedProvider: 'x' })).not.toEqual([]);
    const providers = (out.providers as Record<string, unknown>[]).map((p) => ({ ...p, isolation: 'titanium' }));
    expect(doctorSchemaErrors({ ...out, providers })).not.toEqual([]);
  });

  it('--require LEVEL: exit 0 when new keys get LEVEL, 8 when they get less, 3 when no provider serves', () => {
    const args = ['doctor', '--provider', 'memory', '--policy', 'floor-none.json'];
    const met = box.run([...args, '--require', 'none', '--json']);
    expect(met.code, met.stderr).toBe(0);
    expect(parse(met).require).toEqual({ level: 'none', met: true, isolation: 'none', provider: 'memory' });
    expect(doctorSchemaErrors(parse(met))).toEqual([]);

    const below = box.run([...args, '--require', 'in-process', '--json']);
    expect(below.code).toBe(8);
    expect(parse(below).require).toEqual({ level: 'in-process', met: false, isolation: 'none', provider: 'memory' });
    expect(doctorSchemaErrors(parse(below))).toEqual([]);
    expect(box.run([...args, '--require', 'in-process']).stdout).toMatch(
      /^Required isolation in-process: NOT met \(memory gives none\)$/m,
    );

    // The default floor refuses the in-memory provider: nobody serves, which is exit 3 as without --require.
    const nobody = box.run(['doctor', '--provider', 'memory', '--require', 'none', '--json']);
    expect(nobody.code).toBe(3);
    expect(parse(nobody).require).toEqual({ level: 'none', met: false, isolation: null, provider: null });

    const bad = box.run(['doctor', '--require', 'titanium']);
    expect(bad.code).toBe(2);
  });

  it('is the schema the docs site publishes and the CLI package ships', () => {
    const typedoc = JSON.parse(readFileSync(new URL('../../../typedoc.json', import.meta.url), 'utf8'));
    expect(typedoc.keystoreSiteFiles['schema/doctor.schema.json']).toBe('packages/cli/doctor.schema.json');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.files).toContain('doctor.schema.json');
    expect(pkg.exports['./doctor.schema.json']).toBe('./doctor.schema.json');
    expect(DOCTOR_SCHEMA.$id).toBe('urn:keystore:doctor:v1');
  });
});
