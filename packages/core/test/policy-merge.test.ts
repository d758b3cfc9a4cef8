import {
  DEFAULT_POLICY,
  type EffectivePolicy,
  ISOLATION_LEVELS,
  isolationRank,
  KEY_ALGORITHMS,
  KEY_SCOPES,
  KeyStoreError,
  type KeyStorePolicy,
  mergePolicies,
  POLICY_FIELDS,
  type PolicySource,
  policyToJson,
  type ResolvedPolicy,
  validatePolicy,
} from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

type Row = {
  name: string;
  app: KeyStorePolicy | null | undefined;
  machine: KeyStorePolicy | null | undefined;
  expected: Partial<Record<keyof ResolvedPolicy, unknown>>;
  sources: Partial<Record<(typeof POLICY_FIELDS)[number], PolicySource>>;
};

const ALL_DEFAULT = Object.fromEntries(POLICY_FIELDS.map((field) => [field, 'default']));

const TABLE: Row[] = [
  {
    name: 'both absent: the defaults',
    app: null,
    machine: undefined,
    expected: { ...DEFAULT_POLICY },
    sources: ALL_DEFAULT,
  },
  {
    name: 'app loosens the floor without a machine policy',
    app: { minimumIsolation: 'none' },
    machine: null,
    expected: { minimumIsolation: 'none' },
    sources: { '/minimumIsolation': 'app', '/legacyCryptoApi': 'default' },
  },
  {
    name: 'machine floor beats a looser app floor',
    app: { minimumIsolation: 'none' },
    machine: { minimumIsolation: 'os-protected' },
    expected: { minimumIsolation: 'os-protected' },
    sources: { '/minimumIsolation': 'machine' },
  },
  {
    name: 'app tightens the floor beyond the machine',
    app: { minimumIsolation: 'hardware' },
    machine: { minimumIsolation: 'os-protected' },
    expected: { minimumIsolation: 'hardware' },
    sources: { '/minimumIsolation': 'app' },
  },
  {
    name: 'app and machine agree: credited to the app',
    app: { minimumIsolation: 'virtualization', minimumRsaBits: 3072 },
    machine: { minimumIsolation: 'virtualization', minimumRsaBits: 3072 },
    expected: { minimumIsolation: 'virtualization', minimumRsaBits: 3072 },
    sources: { '/minimumIsolation': 'app', '/minimumRsaBits': 'app' },
  },
  {
    name: 'machine looser than the default does not lower it',
    app: null,
    machine: { minimumIsolation: 'none', legacyCryptoApi: 'allow', exportable: { create: true, export: true } },
    expected: {
      minimumIsolation: 'os-isolated',
      legacyCryptoApi: 'deny',
      exportable: { create: false, export: false },
    },
    sources: {
      '/minimumIsolation': 'default',
      '/legacyCryptoApi': 'default',
      '/exportable/create': 'default',
      '/exportable/export': 'default',
    },
  },
  {
    name: 'machine alone, equal to the default: credited to the machine',
    app: undefined,
    machine: { minimumIsolation: 'os-isolated', legacyCryptoApi: 'deny' },
    expected: { minimumIsolation: 'os-isolated', legacyCryptoApi: 'deny' },
    sources: { '/minimumIsolation': 'machine', '/legacyCryptoApi': 'machine', '/minimumRsaBits': 'default' },
  },
  {
    name: 'machine denies legacy CryptoAPI the app allows',
    app: { legacyCryptoApi: 'allow' },
    machine: { legacyCryptoApi: 'deny' },
    expected: { legacyCryptoApi: 'deny' },
    sources: { '/legacyCryptoApi': 'machine' },
  },
  {
    name: 'both allow legacy CryptoAPI',
    app: { legacyCryptoApi: 'allow' },
    machine: { legacyCryptoApi: 'allow' },
    expected: { legacyCryptoApi: 'allow' },
    sources: { '/legacyCryptoApi': 'app' },
  },
  {
    name: 'machine forbids exporting what the app would create exportable',
    app: { exportable: { create: true, export: true } },
    machine: { exportable: { export: false } },
    expected: { exportable: { create: true, export: false } },
    sources: { '/exportable/create': 'app', '/exportable/export': 'machine' },
  },
  {
    name: 'allow lists intersect',
    app: { providers: { allow: ['tpm', 'cng', 'memory'] } },
    machine: { providers: { allow: ['cng', 'tpm', 'capi'] } },
    expected: { providers: { allow: ['tpm', 'cng'], deny: [], prefer: [] } },
    sources: { '/providers/allow': 'machine', '/providers/deny': 'default' },
  },
  {
    name: 'app allow list inside the machine one is kept',
    app: { providers: { allow: ['tpm'] } },
    machine: { providers: { allow: ['tpm', 'cng'] } },
    expected: { providers: { allow: ['tpm'], deny: [], prefer: [] } },
    sources: { '/providers/allow': 'app' },
  },
  {
    name: 'machine allow list applies when the app allows everything',
    app: { providers: { deny: ['capi'] } },
    machine: { providers: { allow: ['tpm'] } },
    expected: { providers: { allow: ['tpm'], deny: ['capi'], prefer: [] } },
    sources: { '/providers/allow': 'machine', '/providers/deny': 'app' },
  },
  {
    name: 'disjoint allow lists leave no provider',
    app: { providers: { allow: ['cng'] } },
    machine: { providers: { allow: ['tpm'] } },
    expected: { providers: { allow: [], deny: [], prefer: [] } },
    sources: { '/providers/allow': 'machine' },
  },
  {
    name: 'deny lists unite',
    app: { providers: { deny: ['memory'] } },
    machine: { providers: { deny: ['capi'] } },
    expected: { providers: { allow: null, deny: ['memory', 'capi'], prefer: [] } },
    sources: { '/providers/deny': 'machine' },
  },
  {
    name: 'machine preference order comes first, then the app entries',
    app: { providers: { prefer: ['memory', 'cng', 'tpm'] } },
    machine: { providers: { prefer: ['tpm'] } },
    expected: { providers: { allow: null, deny: [], prefer: ['tpm', 'memory', 'cng'] } },
    sources: { '/providers/prefer': 'machine' },
  },
  {
    name: 'app preference that already starts with the machine order is the app one',
    app: { providers: { prefer: ['tpm', 'cng'] } },
    machine: { providers: { prefer: ['tpm'] } },
    expected: { providers: { allow: null, deny: [], prefer: ['tpm', 'cng'] } },
    sources: { '/providers/prefer': 'app' },
  },
  {
    name: 'allowed algorithms intersect, keeping the app order',
    app: { allowedAlgorithms: ['RSA-2048', 'ECDSA-P384', 'ECDSA-P256'] },
    machine: { allowedAlgorithms: ['ECDSA-P256', 'ECDSA-P384', 'ECDH-P256'] },
    expected: { allowedAlgorithms: ['ECDSA-P384', 'ECDSA-P256'] },
    sources: { '/allowedAlgorithms': 'machine' },
  },
  {
    name: 'machine algorithm list applies to an app that sets none',
    app: {},
    machine: { allowedAlgorithms: ['ECDSA-P256'] },
    expected: { allowedAlgorithms: ['ECDSA-P256'] },
    sources: { '/allowedAlgorithms': 'machine' },
  },
  {
    name: 'minimumRsaBits takes the larger, whichever side sets it',
    app: { minimumRsaBits: 4096 },
    machine: { minimumRsaBits: 3072 },
    expected: { minimumRsaBits: 4096 },
    sources: { '/minimumRsaBits': 'app' },
  },
  {
    name: 'machine raises minimumRsaBits over an app that lowered it',
    app: { minimumRsaBits: 1024 },
    machine: { minimumRsaBits: 3072 },
    expected: { minimumRsaBits: 3072 },
    sources: { '/minimumRsaBits': 'machine' },
  },
  {
    name: 'scopes intersect',
    app: { allowedScopes: ['machine', 'user'] },
    machine: { allowedScopes: ['user'] },
    expected: { allowedScopes: ['user'] },
    sources: { '/allowedScopes': 'machine' },
  },
  {
    name: 'a development app policy under a strict machine policy',
    app: {
      minimumIsolation: 'none',
      providers: { prefer: ['memory'] },
      legacyCryptoApi: 'allow',
      exportable: { create: true, export: true },
    },
    machine: {
      minimumIsolation: 'os-protected',
      providers: { deny: ['capi', 'memory'], prefer: ['tpm', 'cng'] },
      legacyCryptoApi: 'deny',
      exportable: { create: false, export: false },
      minimumRsaBits: 3072,
      allowedScopes: ['user'],
    },
    expected: {
      minimumIsolation: 'os-protected',
      providers: { allow: null, deny: ['capi', 'memory'], prefer: ['tpm', 'cng', 'memory'] },
      legacyCryptoApi: 'deny',
      exportable: { create: false, export: false },
      allowedAlgorithms: [...KEY_ALGORITHMS],
      minimumRsaBits: 3072,
      allowedScopes: ['user'],
    },
    sources: {
      '/minimumIsolation': 'machine',
      '/providers/allow': 'default',
      '/providers/deny': 'machine',
      '/providers/prefer': 'machine',
      '/legacyCryptoApi': 'machine',
      '/exportable/create': 'machine',
      '/exportable/export': 'machine',
      '/allowedAlgorithms': 'default',
      '/minimumRsaBits': 'machine',
      '/allowedScopes': 'machine',
    },
  },
];

describe('mergePolicies: machine against app', () => {
  it('has a table of at least 15 cases', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(15);
  });

  it.each(TABLE)('$name', ({ app, machine, expected, sources }) => {
    const effective = mergePolicies(app, machine);
    expect(effective).toMatchObject(expected);
    expect(effective.sources).toMatchObject(sources);
    expect(Object.keys(effective.sources)).toEqual([...POLICY_FIELDS]);
    expect(effective.machinePolicyPath).toBeNull();
  });

  it('passes the machine policy path through', () => {
    expect(mergePolicies(null, { minimumIsolation: 'hardware' }, '/etc/keystore/policy.json').machinePolicyPath).toBe(
      '/etc/keystore/policy.json',
    );
  });

  it('returns a deeply frozen result that does not alias its inputs', () => {
    const app: KeyStorePolicy = { providers: { allow: ['tpm'], deny: ['capi'] }, allowedScopes: ['user'] };
    const effective = mergePolicies(app, null);
    app.providers?.allow?.push('cng');
    app.allowedScopes?.push('machine');
    expect(effective.providers.allow).toEqual(['tpm']);
    expect(effective.allowedScopes).toEqual(['user']);
    expect(Object.isFrozen(effective.providers.deny)).toBe(true);
    expect(Object.isFrozen(effective.sources)).toBe(true);
  });

  it('rejects an invalid policy with ERR_KEYSTORE_INVALID_POLICY', () => {
    for (const [app, machine] of [
      [{ minimumIsolation: 'tpm' }, null],
      [null, { providers: { deny: 'capi' } }],
    ] as const) {
      try {
        mergePolicies(app as never, machine as never);
        expect.unreachable();
      } catch (error) {
        expect(KeyStoreError.is(error, 'ERR_KEYSTORE_INVALID_POLICY')).toBe(true);
      }
    }
  });
});

// --- properties -------------------------------------------------------------------------------

const providerIds = ['tpm', 'cng', 'capi', 'memory', 'vendor-hsm'] as const;
const subset = <T>(values: readonly T[]) =>
  fc.subarray([...values]).chain((items) => fc.shuffledSubarray(items, { minLength: items.length }));

const policyArbitrary: fc.Arbitrary<KeyStorePolicy> = fc.record(
  {
    minimumIsolation: fc.constantFrom(...ISOLATION_LEVELS),
    providers: fc.record(
      { allow: subset(providerIds), deny: subset(providerIds), prefer: subset(providerIds) },
      {
        requiredKeys: [],
      },
    ),
    legacyCryptoApi: fc.constantFrom('allow' as const, 'deny' as const),
    exportable: fc.record({ create: fc.boolean(), export: fc.boolean() }, { requiredKeys: [] }),
    allowedAlgorithms: subset(KEY_ALGORITHMS),
    minimumRsaBits: fc.oneof(fc.constantFrom(1024, 2048, 3072, 4096), fc.integer({ min: 1024, max: 8192 })),
    allowedScopes: subset(KEY_SCOPES),
  },
  { requiredKeys: [] },
);

const subsetOf = (inner: readonly string[] | null, outer: readonly string[] | null) =>
  outer === null || inner?.every((item) => outer.includes(item)) === true;

/**
 * Every field of `effective` where it is looser than `reference` (only the fields `reference` sets).
 * `providers.prefer` is an order, not a restriction, so it is not compared.
 */
function looserFields(effective: ResolvedPolicy, reference: KeyStorePolicy): string[] {
  const looser: string[] = [];
  const r = reference;
  if (r.minimumIsolation && isolationRank(effective.minimumIsolation) < isolationRank(r.minimumIsolation)) {
    looser.push('/minimumIsolation');
  }
  if (r.providers?.allow && !subsetOf(effective.providers.allow, r.providers.allow)) looser.push('/providers/allow');
  if (r.providers?.deny && !subsetOf(r.providers.deny, effective.providers.deny)) looser.push('/providers/deny');
  if (r.legacyCryptoApi === 'deny' && effective.legacyCryptoApi !== 'deny') looser.push('/legacyCryptoApi');
  if (r.exportable?.create === false && effective.exportable.create) looser.push('/exportable/create');
  if (r.exportable?.export === false && effective.exportable.export) looser.push('/exportable/export');
  if (r.allowedAlgorithms && !subsetOf(effective.allowedAlgorithms, r.allowedAlgorithms)) {
    looser.push('/allowedAlgorithms');
  }
  if (r.minimumRsaBits !== undefined && effective.minimumRsaBits < r.minimumRsaBits) looser.push('/minimumRsaBits');
  if (r.allowedScopes && !subsetOf(effective.allowedScopes, r.allowedScopes)) looser.push('/allowedScopes');
  return looser;
}

/** The app's policy with every field the app omits filled from the defaults. */
function appOrDefault(app: KeyStorePolicy): KeyStorePolicy {
  const d = DEFAULT_POLICY;
  return {
    minimumIsolation: app.minimumIsolation ?? d.minimumIsolation,
    providers: {
      ...(app.providers?.allow ? { allow: app.providers.allow } : {}),
      deny: app.providers?.deny ?? [...d.providers.deny],
    },
    legacyCryptoApi: app.legacyCryptoApi ?? d.legacyCryptoApi,
    exportable: {
      create: app.exportable?.create ?? d.exportable.create,
      export: app.exportable?.export ?? d.exportable.export,
    },
    allowedAlgorithms: app.allowedAlgorithms ?? [...d.allowedAlgorithms],
    minimumRsaBits: app.minimumRsaBits ?? d.minimumRsaBits,
    allowedScopes: app.allowedScopes ?? [...d.allowedScopes],
  };
}

const strip = ({ sources: _s, machinePolicyPath: _p, ...rest }: EffectivePolicy) => rest;

describe('mergePolicies properties', () => {
  it('generates valid policies', () => {
    fc.assert(fc.property(policyArbitrary, (policy) => validatePolicy(policy).length === 0));
  });

  it('is never looser than the machine policy, nor than the app policy (or the defaults it keeps)', () => {
    fc.assert(
      fc.property(policyArbitrary, policyArbitrary, (app, machine) => {
        const effective = mergePolicies(app, machine);
        expect(looserFields(effective, machine)).toEqual([]);
        expect(looserFields(effective, appOrDefault(app))).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('takes the machine value whenever the machine is stricter than the app', () => {
    fc.assert(
      fc.property(policyArbitrary, policyArbitrary, (app, machine) => {
        const effective = mergePolicies(app, machine);
        const base = appOrDefault(app);
        if (
          machine.minimumIsolation &&
          isolationRank(machine.minimumIsolation) > isolationRank(base.minimumIsolation ?? 'none')
        ) {
          expect(effective.minimumIsolation).toBe(machine.minimumIsolation);
          expect(effective.sources['/minimumIsolation']).toBe('machine');
        }
        if (machine.minimumRsaBits !== undefined && machine.minimumRsaBits > (base.minimumRsaBits ?? 0)) {
          expect(effective.minimumRsaBits).toBe(machine.minimumRsaBits);
          expect(effective.sources['/minimumRsaBits']).toBe('machine');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('honours the app policy in full when there is no machine policy', () => {
    fc.assert(
      fc.property(policyArbitrary, (app) => {
        const effective = mergePolicies(app, null);
        expect(looserFields(effective, appOrDefault(app))).toEqual([]);
        // and not stricter either: the app's own values come back
        if (app.minimumIsolation) expect(effective.minimumIsolation).toBe(app.minimumIsolation);
        if (app.minimumRsaBits !== undefined) expect(effective.minimumRsaBits).toBe(app.minimumRsaBits);
        if (app.allowedAlgorithms) expect(effective.allowedAlgorithms).toEqual(app.allowedAlgorithms);
        if (app.exportable?.create !== undefined) expect(effective.exportable.create).toBe(app.exportable.create);
        for (const source of Object.values(effective.sources)) expect(['app', 'default']).toContain(source);
      }),
    );
  });

  it('is idempotent: applying the same machine policy twice changes nothing', () => {
    fc.assert(
      fc.property(policyArbitrary, policyArbitrary, (app, machine) => {
        const once = mergePolicies(app, machine);
        expect(strip(mergePolicies(policyToJson(once).policy, machine))).toEqual(strip(once));
      }),
      { numRuns: 300 },
    );
  });

  it('credits every field to a source that set it', () => {
    fc.assert(
      fc.property(policyArbitrary, fc.option(policyArbitrary, { nil: null }), (app, machine) => {
        const effective = mergePolicies(app, machine);
        const sets = (policy: KeyStorePolicy | null, pointer: string) => {
          if (policy === null) return false;
          const [, first, second] = pointer.split('/');
          const top = (policy as Record<string, unknown>)[first!];
          return second === undefined
            ? top !== undefined
            : (top as Record<string, unknown> | undefined)?.[second] !== undefined;
        };
        for (const [pointer, source] of Object.entries(effective.sources)) {
          if (source === 'app') expect(sets(app, pointer)).toBe(true);
          if (source === 'machine') expect(sets(machine, pointer)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

// --- the registry as a second machine layer (Windows) ------------------------------------------

describe('mergePolicies with a registry policy', () => {
  const values = ({ sources: _s, machinePolicyPath: _p, registryPolicyKey: _k, ...rest }: EffectivePolicy) => rest;

  it('a registry policy alone caps exactly like a machine policy file, credited to the registry', () => {
    fc.assert(
      fc.property(policyArbitrary, policyArbitrary, (app, registry) => {
        const asFile = mergePolicies(app, registry);
        const asRegistry = mergePolicies(app, null, null, { registry, registryPolicyKey: 'HKLM\\X' });
        expect(values(asRegistry)).toEqual(values(asFile));
        for (const field of POLICY_FIELDS) {
          const expected = asFile.sources[field] === 'machine' ? 'registry' : asFile.sources[field];
          expect(asRegistry.sources[field]).toBe(expected);
        }
        expect(asRegistry.registryPolicyKey).toBe('HKLM\\X');
        expect(asRegistry.machinePolicyPath).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('with both, is never looser than the file, the registry, or the app (or the defaults it keeps)', () => {
    fc.assert(
      fc.property(policyArbitrary, policyArbitrary, policyArbitrary, (app, file, registry) => {
        const effective = mergePolicies(app, file, '/etc/keystore/policy.json', { registry });
        expect(looserFields(effective, file)).toEqual([]);
        expect(looserFields(effective, registry)).toEqual([]);
        expect(looserFields(effective, appOrDefault(app))).toEqual([]);
        // and it is exactly the file's cap applied, then the registry's (the order does not matter)
        const twice = mergePolicies(policyToJson(mergePolicies(app, file)).policy, registry);
        expect(values(effective)).toEqual({ ...values(twice), providers: effective.providers });
        expect(effective.providers.allow).toEqual(twice.providers.allow);
        expect([...effective.providers.deny].sort()).toEqual([...twice.providers.deny].sort());
      }),
      { numRuns: 500 },
    );
  });

  it('credits each field to a layer that sets it', () => {
    fc.assert(
      fc.property(policyArbitrary, policyArbitrary, policyArbitrary, (app, file, registry) => {
        const effective = mergePolicies(app, file, null, { registry });
        const sets = (policy: KeyStorePolicy, pointer: string) => {
          const [, first, second] = pointer.split('/');
          const top = (policy as Record<string, unknown>)[first!];
          return second === undefined
            ? top !== undefined
            : (top as Record<string, unknown> | undefined)?.[second] !== undefined;
        };
        for (const [pointer, source] of Object.entries(effective.sources)) {
          if (source === 'app') expect(sets(app, pointer)).toBe(true);
          if (source === 'machine') expect(sets(file, pointer)).toBe(true);
          if (source === 'registry') expect(sets(registry, pointer)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    [
      'the stricter floor wins: registry over file',
      { minimumIsolation: 'none' },
      { minimumIsolation: 'os-isolated' },
      { minimumIsolation: 'os-protected' },
      { minimumIsolation: 'os-protected' },
      { '/minimumIsolation': 'registry' },
    ],
    [
      'the stricter floor wins: file over registry',
      { minimumIsolation: 'none' },
      { minimumIsolation: 'hardware' },
      { minimumIsolation: 'os-protected' },
      { minimumIsolation: 'hardware' },
      { '/minimumIsolation': 'machine' },
    ],
    [
      'file and registry agree: credited to the registry',
      {},
      { minimumRsaBits: 3072 },
      { minimumRsaBits: 3072 },
      { minimumRsaBits: 3072 },
      { '/minimumRsaBits': 'registry' },
    ],
    [
      'allow lists intersect across all three; deny lists unite',
      { providers: { allow: ['tpm', 'cng', 'memory'], deny: ['a'] } },
      { providers: { allow: ['tpm', 'cng'], deny: ['b'] } },
      { providers: { allow: ['cng', 'capi'], deny: ['c'] } },
      { providers: { allow: ['cng'], deny: ['a', 'b', 'c'], prefer: [] } },
      { '/providers/allow': 'registry', '/providers/deny': 'registry' },
    ],
    [
      'preference: the registry order first, then the file, then the app',
      { providers: { prefer: ['memory', 'tpm'] } },
      { providers: { prefer: ['cng'] } },
      { providers: { prefer: ['tpm'] } },
      { providers: { allow: null, deny: [], prefer: ['tpm', 'cng', 'memory'] } },
      { '/providers/prefer': 'registry' },
    ],
    [
      'a registry value looser than the app does not loosen it',
      { legacyCryptoApi: 'deny', exportable: { create: false } },
      null,
      { legacyCryptoApi: 'allow', exportable: { create: true } },
      { legacyCryptoApi: 'deny', exportable: { create: false, export: false } },
      { '/legacyCryptoApi': 'app', '/exportable/create': 'app' },
    ],
  ] as const)('%s', (_name, app, file, registry, expected, sources) => {
    const effective = mergePolicies(app as KeyStorePolicy, file as KeyStorePolicy | null, null, {
      registry: registry as KeyStorePolicy,
    });
    expect(effective).toMatchObject(expected);
    expect(effective.sources).toMatchObject(sources);
  });

  it('renders registryPolicyKey in the JSON form', () => {
    const effective = mergePolicies(null, null, null, {
      registry: {},
      registryPolicyKey: 'HKLM\\SOFTWARE\\Policies\\keystore',
    });
    expect(policyToJson(effective).registryPolicyKey).toBe('HKLM\\SOFTWARE\\Policies\\keystore');
    expect(policyToJson(mergePolicies(null, null)).registryPolicyKey).toBeNull();
  });

  it('rejects an invalid registry policy with ERR_KEYSTORE_INVALID_POLICY', () => {
    expect(() => mergePolicies(null, null, null, { registry: { minimumIsolation: 'tpm' } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_POLICY' }),
    );
  });
});
