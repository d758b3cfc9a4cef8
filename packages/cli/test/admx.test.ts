// The Group Policy template: generated from the policy schema and the core's registry value table,
// well-formed, with every reference resolving, and written by `keystore policy admx` like every --out.
import { readFileSync, statSync } from 'node:fs';
import { POLICY_SCHEMA, REGISTRY_POLICY_VALUES } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCUMENT_ONLY_FIELDS, policyTemplates, schemaFields, templatePolicies } from '../src/admx.js';
import { checkTemplates } from './admx-xml.js';
import { parse, Sandbox, stderrLines } from './helpers.js';

describe('the ADMX template', () => {
  const templates = policyTemplates();
  const { problems, policies } = checkTemplates(templates.admx, templates.adml);

  it('is well-formed XML in the ADMX namespace, and every reference resolves', () => {
    expect(problems).toEqual([]);
  });

  it('has one policy per registry value the core reads, under HKLM\\SOFTWARE\\Policies\\keystore', () => {
    expect(policies.map((p) => p.element.valueName).sort()).toEqual(REGISTRY_POLICY_VALUES.map((v) => v.name).sort());
    for (const p of policies) expect(p.key).toBe('SOFTWARE\\Policies\\keystore');
  });

  it('fits each element to its field: drop-downs of the allowed values, lists, the RSA bound, booleans', () => {
    const by = Object.fromEntries(policies.map((p) => [p.name, p.element]));
    const props = POLICY_SCHEMA.properties;
    expect(by.MinimumIsolation).toMatchObject({ kind: 'enum', items: [...props.minimumIsolation.enum] });
    expect(by.LegacyCryptoApi).toMatchObject({ kind: 'enum', items: [...props.legacyCryptoApi.enum] });
    for (const name of ['ProvidersAllow', 'ProvidersDeny', 'ProvidersPrefer', 'AllowedAlgorithms', 'AllowedScopes']) {
      expect(by[name]?.kind, name).toBe('multiText');
    }
    expect(by.MinimumRsaBits).toMatchObject({ kind: 'decimal', minValue: props.minimumRsaBits.minimum });
    expect(by.ExportableCreate?.kind).toBe('boolean');
    expect(by.ExportableExport?.kind).toBe('boolean');
  });

  it('takes explain text from the schema descriptions', () => {
    expect(templates.adml).toContain(props().minimumIsolation.description);
    expect(templates.adml).toContain('Each line one of: RSA-2048, RSA-3072');
  });

  it('cannot drift: a schema field without a registry value, or a value without a field, fails the build', () => {
    const fields = schemaFields();
    const extra = { pointer: '/newField', title: 'New', description: '', type: 'string', enum: ['a'] };
    expect(() => templatePolicies([...fields, extra])).toThrow('schema field /newField has no registry value');
    expect(() =>
      templatePolicies(fields, [...REGISTRY_POLICY_VALUES, { name: 'Orphan', pointer: '/orphan', type: 'REG_SZ' }]),
    ).toThrow('registry value Orphan sets /orphan');
    expect(() =>
      templatePolicies(
        fields,
        REGISTRY_POLICY_VALUES.map((v) => (v.name === 'MinimumRsaBits' ? { ...v, type: 'REG_SZ' as const } : v)),
      ),
    ).toThrow('MinimumRsaBits (REG_SZ) cannot hold /minimumRsaBits (integer)');
  });

  it('leaves only pkcs11.modules (a list of objects) to the whole-document Policy value, and says so', () => {
    const fields = schemaFields();
    expect(fields.map((f) => f.pointer)).toContain('/pkcs11/modules');
    expect([...DOCUMENT_ONLY_FIELDS]).toEqual(['/pkcs11/modules']);
    expect(templatePolicies(fields).map((p) => p.pointer)).not.toContain('/pkcs11/modules');
    expect(templates.admx).not.toMatch(/pkcs11/i);
  });

  it('matches the copy shipped in the CLI package (dist/policy-templates, written at build)', () => {
    const dist = new URL('../dist/policy-templates/', import.meta.url);
    expect(readFileSync(new URL('keystore.admx', dist), 'utf8')).toBe(templates.admx);
    expect(readFileSync(new URL('en-US/keystore.adml', dist), 'utf8')).toBe(templates.adml);
  });
});

function props() {
  return POLICY_SCHEMA.properties;
}

describe('keystore policy admx --out DIR', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = new Sandbox();
  });
  afterAll(() => box.cleanup());

  it('writes keystore.admx and en-US/keystore.adml (0600), and refuses to overwrite without --force', () => {
    const first = box.run(['policy', 'admx', '--out', 'templates', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const out = parse<{ admx: string; adml: string; policies: { name: string }[] }>(first);
    expect(out.admx).toBe(box.path('templates/keystore.admx'));
    expect(readFileSync(out.admx, 'utf8')).toBe(policyTemplates().admx);
    expect(readFileSync(out.adml, 'utf8')).toBe(policyTemplates().adml);
    expect(statSync(out.adml).mode & 0o777).toBe(0o600);
    expect(out.policies).toHaveLength(REGISTRY_POLICY_VALUES.length);

    const again = box.run(['policy', 'admx', '--out', 'templates']);
    expect(again.code).toBe(7);
    expect(stderrLines(again).join('\n')).toMatch(/keystore\.admx: it exists; not overwriting it/);
    expect(box.run(['policy', 'admx', '--out', 'templates', '--force']).code).toBe(0);
  });
});
