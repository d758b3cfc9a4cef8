import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ISOLATION_LEVELS,
  KEY_ALGORITHMS,
  KEY_SCOPES,
  mergePolicies,
  POLICY_SCHEMA,
  policyToJson,
  validatePolicy,
} from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const schemaFile = fileURLToPath(new URL('../policy.schema.json', import.meta.url));
const policyDoc = fileURLToPath(new URL('../../../docs/policy.md', import.meta.url));

type Schema = Record<string, unknown>;

const KNOWN_KEYWORDS = new Set([
  '$schema',
  '$id',
  'title',
  'description',
  'type',
  'enum',
  'properties',
  'additionalProperties',
  'items',
  'uniqueItems',
  'minimum',
  'pattern',
  'required',
  'minLength',
  'maxLength',
]);

/**
 * A small, independent reading of the JSON Schema keywords the policy schema uses. It refuses any
 * keyword it does not implement, so the schema cannot grow a rule this check silently ignores.
 */
function schemaAccepts(schema: Schema, value: unknown): boolean {
  for (const keyword of Object.keys(schema)) {
    if (!KNOWN_KEYWORDS.has(keyword)) throw new Error(`keyword ${keyword} is not implemented by the test`);
  }
  if ('type' in schema) {
    const type = schema.type;
    const ok =
      (type === 'object' && typeof value === 'object' && value !== null && !Array.isArray(value)) ||
      (type === 'array' && Array.isArray(value)) ||
      (type === 'string' && typeof value === 'string') ||
      (type === 'boolean' && typeof value === 'boolean') ||
      (type === 'integer' && typeof value === 'number' && Number.isInteger(value));
    if (!ok) return false;
  }
  if ('enum' in schema && !(schema.enum as unknown[]).includes(value)) return false;
  if ('minimum' in schema && typeof value === 'number' && value < (schema.minimum as number)) return false;
  if ('pattern' in schema && typeof value === 'string' && !new RegExp(schema.pattern as string, 'u').test(value)) {
    return false;
  }
  if ('minLength' in schema && typeof value === 'string' && [...value].length < (schema.minLength as number))
    return false;
  if ('maxLength' in schema && typeof value === 'string' && [...value].length > (schema.maxLength as number))
    return false;
  if ('required' in schema && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    if (!(schema.required as string[]).every((key) => Object.hasOwn(value, key))) return false;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [key, member] of Object.entries(value)) {
      const sub = Object.hasOwn(properties, key) ? properties[key] : undefined;
      if (sub === undefined) {
        if (schema.additionalProperties === false) return false;
      } else if (!schemaAccepts(sub, member)) return false;
    }
  }
  if (Array.isArray(value)) {
    if ('items' in schema && !value.every((item) => schemaAccepts(schema.items as Schema, item))) return false;
    if (schema.uniqueItems === true) {
      const seen = value.map((item) => JSON.stringify(item));
      if (new Set(seen).size !== seen.length) return false;
    }
  }
  return true;
}

const VALID: [string, unknown][] = [
  ['empty document', {}],
  ['$schema reference', { $schema: '../node_modules/@keystore/core/policy.schema.json' }],
  [
    'every field',
    {
      minimumIsolation: 'hardware',
      providers: { allow: ['tpm', 'cng'], deny: ['capi'], prefer: ['tpm'] },
      legacyCryptoApi: 'deny',
      exportable: { create: false, export: false },
      allowedAlgorithms: ['ECDSA-P256', 'RSA-3072'],
      minimumRsaBits: 3072,
      allowedScopes: ['machine'],
    },
  ],
  ['development policy', { minimumIsolation: 'none', legacyCryptoApi: 'allow', exportable: { create: true } }],
  ['empty lists', { providers: { allow: [], deny: [], prefer: [] }, allowedAlgorithms: [], allowedScopes: [] }],
  ['provider ids with symbols', { providers: { allow: ['my-store.v2', 'Vendor_HSM'] } }],
  ['minimumRsaBits at the lower bound', { minimumRsaBits: 1024 }],
  ['minimumRsaBits not a standard size', { minimumRsaBits: 2500 }],
  ['empty providers and exportable objects', { providers: {}, exportable: {} }],
  [
    'PKCS#11 module declarations',
    {
      pkcs11: {
        modules: [
          { path: '/usr/lib/softhsm/libsofthsm2.so', isolation: 'in-process' },
          {
            path: 'C:\\Program Files\\SafeNet\\LunaClient\\cryptoki.dll',
            tokenLabel: 'partition-1',
            isolation: 'hardware',
          },
        ],
      },
    },
  ],
  ['empty pkcs11 section', { pkcs11: {} }],
];

const INVALID: [string, unknown, string[]][] = [
  ['null', null, ['']],
  ['an array', [], ['']],
  ['a string', 'minimumIsolation: hardware', ['']],
  ['a number', 42, ['']],
  ['unknown top-level property', { minimumIsolaton: 'hardware' }, ['/minimumIsolaton']],
  ['unknown property with / and ~ in its name', { 'a/b~c': 1 }, ['/a~1b~0c']],
  ['unknown isolation level', { minimumIsolation: 'tpm' }, ['/minimumIsolation']],
  ['isolation level in the wrong case', { minimumIsolation: 'Hardware' }, ['/minimumIsolation']],
  ['isolation level as a number', { minimumIsolation: 5 }, ['/minimumIsolation']],
  ['providers not an object', { providers: ['tpm'] }, ['/providers']],
  ['unknown providers member', { providers: { order: ['tpm'] } }, ['/providers/order']],
  ['provider list not an array', { providers: { allow: 'tpm' } }, ['/providers/allow']],
  ['provider id not a string', { providers: { allow: ['cng', 'tpm', 7] } }, ['/providers/allow/2']],
  ['empty provider id', { providers: { deny: [''] } }, ['/providers/deny/0']],
  ['provider id with a space', { providers: { prefer: ['tpm', ' cng'] } }, ['/providers/prefer/1']],
  ['duplicate provider', { providers: { deny: ['capi', 'cng', 'capi'] } }, ['/providers/deny/2']],
  ['legacyCryptoApi as a boolean', { legacyCryptoApi: false }, ['/legacyCryptoApi']],
  ['legacyCryptoApi unknown word', { legacyCryptoApi: 'warn' }, ['/legacyCryptoApi']],
  ['exportable as a boolean', { exportable: true }, ['/exportable']],
  ['exportable.create as a string', { exportable: { create: 'no' } }, ['/exportable/create']],
  ['unknown exportable member', { exportable: { import: true } }, ['/exportable/import']],
  ['allowedAlgorithms not an array', { allowedAlgorithms: 'RSA-2048' }, ['/allowedAlgorithms']],
  ['unknown algorithm', { allowedAlgorithms: ['ECDSA-P256', 'RSA-1024'] }, ['/allowedAlgorithms/1']],
  ['algorithm in the wrong case', { allowedAlgorithms: ['ecdsa-p256'] }, ['/allowedAlgorithms/0']],
  ['duplicate algorithm', { allowedAlgorithms: ['RSA-2048', 'RSA-2048'] }, ['/allowedAlgorithms/1']],
  ['minimumRsaBits as a string', { minimumRsaBits: '2048' }, ['/minimumRsaBits']],
  ['minimumRsaBits fractional', { minimumRsaBits: 2048.5 }, ['/minimumRsaBits']],
  ['minimumRsaBits too small', { minimumRsaBits: 512 }, ['/minimumRsaBits']],
  ['minimumRsaBits negative', { minimumRsaBits: -2048 }, ['/minimumRsaBits']],
  ['unknown scope', { allowedScopes: ['system'] }, ['/allowedScopes/0']],
  ['duplicate scope', { allowedScopes: ['user', 'machine', 'user'] }, ['/allowedScopes/2']],
  ['$schema not a string', { $schema: 1 }, ['/$schema']],
  ['pkcs11 not an object', { pkcs11: [] }, ['/pkcs11']],
  ['unknown pkcs11 member', { pkcs11: { slots: [] } }, ['/pkcs11/slots']],
  ['pkcs11.modules not an array', { pkcs11: { modules: {} } }, ['/pkcs11/modules']],
  ['module without isolation', { pkcs11: { modules: [{ path: '/usr/lib/x.so' }] } }, ['/pkcs11/modules/0/isolation']],
  [
    'module with a relative path',
    { pkcs11: { modules: [{ path: 'x.so', isolation: 'hardware' }] } },
    ['/pkcs11/modules/0/path'],
  ],
  [
    'module with an unknown level',
    { pkcs11: { modules: [{ path: '/x.so', isolation: 'hsm' }] } },
    ['/pkcs11/modules/0/isolation'],
  ],
  [
    'module with an empty token label',
    { pkcs11: { modules: [{ path: '/x.so', tokenLabel: '', isolation: 'hardware' }] } },
    ['/pkcs11/modules/0/tokenLabel'],
  ],
  [
    'module with a token label over 32 characters',
    { pkcs11: { modules: [{ path: '/x.so', tokenLabel: 'x'.repeat(33), isolation: 'hardware' }] } },
    ['/pkcs11/modules/0/tokenLabel'],
  ],
  [
    'unknown module member',
    { pkcs11: { modules: [{ path: '/x.so', isolation: 'hardware', slot: 0 }] } },
    ['/pkcs11/modules/0/slot'],
  ],
  [
    'several problems at once',
    { minimumIsolation: 'strong', providers: { allow: [1], deny: 'capi' }, minimumRsaBits: 100, extra: {} },
    ['/minimumIsolation', '/providers/allow/0', '/providers/deny', '/minimumRsaBits', '/extra'],
  ],
];

describe('POLICY_SCHEMA', () => {
  it('ships the same content as packages/core/policy.schema.json', () => {
    expect(JSON.parse(readFileSync(schemaFile, 'utf8'))).toStrictEqual(POLICY_SCHEMA);
  });

  it('is draft 2020-12 with a URN id', () => {
    expect(POLICY_SCHEMA.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(POLICY_SCHEMA.$id).toBe('urn:keystore:policy:v1');
  });

  it('enumerates exactly the isolation levels, algorithms and scopes of the API', () => {
    expect(POLICY_SCHEMA.properties.minimumIsolation.enum).toEqual([...ISOLATION_LEVELS]);
    expect(POLICY_SCHEMA.properties.allowedAlgorithms.items.enum).toEqual([...KEY_ALGORITHMS]);
    expect(POLICY_SCHEMA.properties.allowedScopes.items.enum).toEqual([...KEY_SCOPES]);
  });

  it('forbids unknown properties in every object', () => {
    const objects: Schema[] = [];
    const walk = (node: unknown) => {
      if (typeof node !== 'object' || node === null) return;
      if ((node as Schema).type === 'object') objects.push(node as Schema);
      for (const child of Object.values(node)) walk(child);
    };
    walk(POLICY_SCHEMA);
    expect(objects.length).toBe(5);
    for (const object of objects) expect(object.additionalProperties).toBe(false);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(POLICY_SCHEMA)).toBe(true);
    expect(Object.isFrozen(POLICY_SCHEMA.properties.providers.properties.allow.items)).toBe(true);
  });
});

describe('validatePolicy against the schema', () => {
  it.each(VALID)('accepts %s', (_name, document) => {
    expect(validatePolicy(document)).toEqual([]);
    expect(schemaAccepts(POLICY_SCHEMA as unknown as Schema, document)).toBe(true);
  });

  it.each(INVALID)('rejects %s with the pointers of the bad fields', (_name, document, pointers) => {
    const issues = validatePolicy(document);
    expect(issues.map((issue) => issue.pointer)).toEqual(pointers);
    for (const issue of issues) expect(issue.message.length).toBeGreaterThan(10);
    expect(schemaAccepts(POLICY_SCHEMA as unknown as Schema, document)).toBe(false);
  });

  it('agrees with the schema on random near-valid documents', () => {
    const word = fc.constantFrom('none', 'hardware', 'tpm', 'allow', 'deny', 'user', 'machine', 'system', '', ' x');
    const value = fc.oneof(
      word,
      fc.constantFrom(...ISOLATION_LEVELS, ...KEY_ALGORITHMS, 'cng', 'capi', 'RSA-1024'),
      fc.constantFrom(true, false, null, 0, 1024, 2048, 3000.5, 512, -1),
    );
    const list = fc.array(value, { maxLength: 4 });
    const document = fc.record(
      {
        minimumIsolation: value,
        providers: fc.oneof(fc.record({ allow: list, deny: list, prefer: list }, { requiredKeys: [] }), value),
        legacyCryptoApi: value,
        exportable: fc.oneof(fc.record({ create: value, export: value, extra: value }, { requiredKeys: [] }), value),
        allowedAlgorithms: fc.oneof(list, value),
        minimumRsaBits: value,
        allowedScopes: fc.oneof(list, value),
        unknown: value,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(document, (doc) => {
        const valid = validatePolicy(doc).length === 0;
        expect(valid).toBe(schemaAccepts(POLICY_SCHEMA as unknown as Schema, doc));
      }),
      { numRuns: 2000 },
    );
  });

  it('treats a property set to undefined in a JavaScript object as absent', () => {
    expect(validatePolicy({ minimumIsolation: undefined, providers: { allow: undefined } })).toEqual([]);
  });
});

describe('docs/policy.md', () => {
  const markdown = readFileSync(policyDoc, 'utf8');
  const blocks = [...markdown.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');

  it('has example policies', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it.each(blocks.map((block, index) => [index, block] as const))('example %i is a valid policy', (_index, block) => {
    expect(validatePolicy(JSON.parse(block))).toEqual([]);
  });

  it('shows the defaults as they are', () => {
    const defaults = policyToJson(mergePolicies(null, null)).policy;
    expect(blocks.map((block) => JSON.parse(block))).toContainEqual(defaults);
  });
});
