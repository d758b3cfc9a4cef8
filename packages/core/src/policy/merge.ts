/**
 * Merging policy layers (defaults ← app ← machine ceiling), checking requests against the result,
 * and rendering it as JSON.
 *
 * @module
 */
import { algorithmInfo, type KeyAlgorithm, type KeyScope } from '../algorithms.js';
import { type IsolationLevel, strongerIsolation } from '../isolation.js';
import type {
  DeclaredPkcs11Module,
  EffectivePolicy,
  KeyStorePolicy,
  MachinePolicySource,
  PolicyOverride,
  PolicySource,
  ResolvedPolicy,
} from '../types.js';
import { DEFAULT_POLICY } from './defaults.js';
import { deepFreeze } from './util.js';
import { invalidPolicyError, validatePolicy } from './validate.js';

/**
 * The JSON pointer of every field of an effective policy, in document order: the keys of
 * {@link EffectivePolicy.sources}.
 *
 * @since 0.1.0
 */
export const POLICY_FIELDS = [
  '/minimumIsolation',
  '/providers/allow',
  '/providers/deny',
  '/providers/prefer',
  '/legacyCryptoApi',
  '/exportable/create',
  '/exportable/export',
  '/allowedAlgorithms',
  '/minimumRsaBits',
  '/allowedScopes',
] as const;

/**
 * One of {@link POLICY_FIELDS}.
 *
 * @since 0.1.0
 */
export type PolicyField = (typeof POLICY_FIELDS)[number];

type Merged<T> = { value: T; source: PolicySource };

/**
 * Options of {@link mergePolicies}.
 *
 * @since 0.2.0
 */
export interface MergePoliciesOptions {
  /** The machine policy read from the Windows registry (validated again here), or nothing. */
  registry?: KeyStorePolicy | null;
  /** The registry key it was read from, for the result's `registryPolicyKey`. */
  registryPolicyKey?: string | null;
  /**
   * The additional machine policy named by `KEYSTORE_MACHINE_POLICY` (validated again here), or
   * nothing: a third ceiling, applied after the fixed-path file.
   *
   * @since 0.3.0
   */
  machineEnv?: KeyStorePolicy | null;
  /** The file it was read from, for the result's `machineEnvPolicyPath`. @since 0.3.0 */
  machineEnvPolicyPath?: string | null;
  /** The machine sources replaced or dropped, for the result's `overrides`. @since 0.3.0 */
  overrides?: readonly PolicyOverride[];
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((item, index) => item === b[index]);

const sameSet = (a: readonly string[] | null, b: readonly string[] | null) =>
  a === null || b === null ? a === b : a.length === b.length && a.every((item) => b.includes(item));

/** Keeps the items of `base` (in its order) that `limit` also holds; `null` means everything. */
function intersect<T extends string>(base: readonly T[] | null, limit: readonly T[] | null): readonly T[] | null {
  if (limit === null) return base;
  if (base === null) return limit;
  return base.filter((item) => limit.includes(item));
}

/** `base`, then the items of `extra` not already in it. */
function union<T extends string>(base: readonly T[], extra: readonly T[]): readonly T[] {
  return [...base, ...extra.filter((item) => !base.includes(item))];
}

/** One machine layer's value of a field: a file's or the registry's. */
interface Ceiling<T> {
  readonly value: T | undefined;
  readonly source: PolicySource;
}

/**
 * Merges one field. `appValue` and each ceiling's value are `undefined` when that layer does not set
 * the field. The value is the app's (or the default), combined with each ceiling in turn. The source
 * is `app` when the value is what the app asked for; else the ceiling whose own value it is (the
 * registry before the file); else the last ceiling that changed it; else `default`.
 */
function mergeField<T>(
  appValue: T | undefined,
  ceilings: readonly Ceiling<T>[],
  fallback: T,
  combine: (base: T, machine: T) => T,
  same: (a: T, b: T) => boolean,
): Merged<T> {
  let value = appValue === undefined ? fallback : appValue;
  let changedBy: PolicySource | undefined;
  for (const ceiling of ceilings) {
    if (ceiling.value === undefined) continue;
    const next = combine(value, ceiling.value);
    if (!same(next, value)) changedBy = ceiling.source;
    value = next;
  }
  if (appValue !== undefined && same(value, appValue)) return { value, source: 'app' };
  for (let i = ceilings.length - 1; i >= 0; i--) {
    const ceiling = ceilings[i]!;
    if (ceiling.value !== undefined && same(value, ceiling.value)) return { value, source: ceiling.source };
  }
  return { value, source: changedBy ?? 'default' };
}

const same = <T>(a: T, b: T) => a === b;

function checked(policy: KeyStorePolicy | null | undefined, origin: string): KeyStorePolicy {
  if (policy === null || policy === undefined) return {};
  const issues = validatePolicy(policy);
  if (issues.length > 0) throw invalidPolicyError(issues, origin);
  return policy;
}

/**
 * Refuses a PKCS#11 module declaration from a source that may only tighten (the app's policy, the
 * file `KEYSTORE_MACHINE_POLICY` names): a declaration raises the isolation of a module's keys.
 */
function refuseDeclarations(policy: KeyStorePolicy, origin: string, hint: string): void {
  if (policy.pkcs11?.modules === undefined) return;
  throw invalidPolicyError(
    [
      {
        pointer: '/pkcs11/modules',
        message: `only the machine policy file at the fixed path or the registry may declare PKCS#11 modules, not the ${origin}`,
      },
    ],
    origin,
    { hint },
  );
}

/** The declarations of the machine file and the registry, each with its source. */
function declaredModules(machine: KeyStorePolicy, registry: KeyStorePolicy): DeclaredPkcs11Module[] {
  const out: DeclaredPkcs11Module[] = [];
  for (const [policy, source] of [
    [machine, 'machine'],
    [registry, 'registry'],
  ] as const) {
    for (const m of policy.pkcs11?.modules ?? []) {
      out.push({
        path: m.path,
        ...(m.tokenLabel === undefined ? {} : { tokenLabel: m.tokenLabel }),
        isolation: m.isolation,
        source,
      });
    }
  }
  return out;
}

/** The files' and the registry's value of one field, in the order they are applied. */
type Caps = <T>(pick: (policy: KeyStorePolicy) => T | undefined) => Ceiling<T>[];

/** The rules that choose providers: the isolation floor, allow, deny, prefer, legacy CryptoAPI. */
function mergeProviderRules(a: KeyStorePolicy, caps: Caps) {
  const d = DEFAULT_POLICY;
  const minimumIsolation = mergeField<IsolationLevel>(
    a.minimumIsolation,
    caps((p) => p.minimumIsolation),
    d.minimumIsolation,
    strongerIsolation,
    same,
  );
  const allow = mergeField<readonly string[] | null>(
    a.providers?.allow,
    caps((p) => p.providers?.allow),
    d.providers.allow,
    intersect,
    sameSet,
  );
  const deny = mergeField<readonly string[]>(
    a.providers?.deny,
    caps((p) => p.providers?.deny),
    d.providers.deny,
    union,
    sameSet,
  );
  const prefer = mergeField<readonly string[]>(
    a.providers?.prefer,
    caps((p) => p.providers?.prefer),
    d.providers.prefer,
    (base, machineOrder) => union(machineOrder, base),
    sameList,
  );
  const legacyCryptoApi = mergeField<'allow' | 'deny'>(
    a.legacyCryptoApi,
    caps((p) => p.legacyCryptoApi),
    d.legacyCryptoApi,
    (x, y) => (x === 'deny' || y === 'deny' ? 'deny' : 'allow'),
    same,
  );
  return { minimumIsolation, allow, deny, prefer, legacyCryptoApi };
}

/** The rules on keys: exportable, algorithms, RSA size, scopes. */
function mergeKeyRules(a: KeyStorePolicy, caps: Caps) {
  const d = DEFAULT_POLICY;
  const both = (x: boolean, y: boolean) => x && y;
  const create = mergeField(
    a.exportable?.create,
    caps((p) => p.exportable?.create),
    d.exportable.create,
    both,
    same,
  );
  const exportKeys = mergeField(
    a.exportable?.export,
    caps((p) => p.exportable?.export),
    d.exportable.export,
    both,
    same,
  );
  const allowedAlgorithms = mergeField<readonly KeyAlgorithm[]>(
    a.allowedAlgorithms,
    caps((p) => p.allowedAlgorithms),
    d.allowedAlgorithms,
    (x, y) => intersect(x, y) ?? [],
    sameSet,
  );
  const minimumRsaBits = mergeField(
    a.minimumRsaBits,
    caps((p) => p.minimumRsaBits),
    d.minimumRsaBits,
    Math.max,
    same,
  );
  const allowedScopes = mergeField<readonly KeyScope[]>(
    a.allowedScopes,
    caps((p) => p.allowedScopes),
    d.allowedScopes,
    (x, y) => intersect(x, y) ?? [],
    sameSet,
  );

  return { create, exportKeys, allowedAlgorithms, minimumRsaBits, allowedScopes };
}

/**
 * Merges the built-in defaults, the app's policy and the machine policy into the effective policy.
 * Pure: reads no files.
 *
 * The app's policy replaces the defaults field by field (it may loosen them: that is how a development
 * policy lowers the isolation floor). The machine policy is a ceiling over the result: for every field
 * the effective value is the stricter of the two:
 *
 * | field | effective value |
 * |---|---|
 * | `minimumIsolation` | the stronger level |
 * | `providers.allow` | the intersection (unset means every provider) |
 * | `providers.deny` | the union |
 * | `providers.prefer` | the machine's order first, then the app's other entries (not a strictness question) |
 * | `legacyCryptoApi` | `deny` if either says `deny` |
 * | `exportable.create`, `exportable.export` | `false` if either says `false` |
 * | `allowedAlgorithms`, `allowedScopes` | the intersection |
 * | `minimumRsaBits` | the larger |
 *
 * The file named by `KEYSTORE_MACHINE_POLICY` (`options.machineEnv`, since 0.3.0) is a further
 * ceiling, applied after the fixed-path file; on Windows the registry (`options.registry`, since
 * 0.2.0) is applied last. Every field takes the strictest of all of them. For `providers.prefer`, the
 * registry's order comes first, then the env-named file's, then the fixed file's, then the app's.
 *
 * `sources` credits each field to `app` when the effective value is what the app asked for (so when
 * app and machine agree, `app`); else to the machine layer whose own value it is (`registry`, then
 * `machine-env`, then `machine`, the fixed-path file); else to the last machine layer that changed
 * it; else to `default`.
 *
 * @param app - The app's policy (validated again here), or nothing.
 * @param machine - The machine policy file's policy (validated again here), or nothing.
 * @param machinePolicyPath - The file the machine policy was read from, for the result.
 * @param options - The registry's machine policy and the key it was read from (since 0.2.0).
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY` when a policy is invalid.
 * @example
 * ```ts
 * const effective = mergePolicies({ minimumIsolation: 'none' }, { minimumIsolation: 'hardware' });
 * effective.minimumIsolation; // 'hardware'
 * effective.sources['/minimumIsolation']; // 'machine'
 * ```
 * @since 0.1.0
 */
export function mergePolicies(
  app: KeyStorePolicy | null | undefined,
  machine: KeyStorePolicy | null | undefined,
  machinePolicyPath: string | null = null,
  options: MergePoliciesOptions = {},
): EffectivePolicy {
  const a = checked(app, 'app policy');
  const m = checked(machine, 'machine policy');
  const e = checked(options.machineEnv, 'machine policy (KEYSTORE_MACHINE_POLICY)');
  const r = checked(options.registry, 'registry policy');
  refuseDeclarations(
    a,
    'app policy',
    'remove pkcs11 from the app policy; the machine owners declare modules in /etc/keystore/policy.json (%ProgramData%\\keystore\\policy.json, or the registry, on Windows)',
  );
  refuseDeclarations(
    e,
    'machine policy (KEYSTORE_MACHINE_POLICY)',
    'KEYSTORE_MACHINE_POLICY names a file anyone who sets the environment controls, so it may only tighten; declare modules in the machine policy file at the fixed path',
  );
  /** The files' and the registry's value of one field, in the order they are applied. */
  const caps: Caps = (pick) => [
    { value: pick(m), source: 'machine' },
    { value: pick(e), source: 'machine-env' },
    { value: pick(r), source: 'registry' },
  ];
  const { minimumIsolation, allow, deny, prefer, legacyCryptoApi } = mergeProviderRules(a, caps);
  const { create, exportKeys, allowedAlgorithms, minimumRsaBits, allowedScopes } = mergeKeyRules(a, caps);

  const sources: Record<PolicyField, PolicySource> = {
    '/minimumIsolation': minimumIsolation.source,
    '/providers/allow': allow.source,
    '/providers/deny': deny.source,
    '/providers/prefer': prefer.source,
    '/legacyCryptoApi': legacyCryptoApi.source,
    '/exportable/create': create.source,
    '/exportable/export': exportKeys.source,
    '/allowedAlgorithms': allowedAlgorithms.source,
    '/minimumRsaBits': minimumRsaBits.source,
    '/allowedScopes': allowedScopes.source,
  };
  const copy = <T>(list: readonly T[]) => [...list];
  return deepFreeze({
    minimumIsolation: minimumIsolation.value,
    providers: {
      allow: allow.value === null ? null : copy(allow.value),
      deny: copy(deny.value),
      prefer: copy(prefer.value),
    },
    legacyCryptoApi: legacyCryptoApi.value,
    exportable: { create: create.value, export: exportKeys.value },
    allowedAlgorithms: copy(allowedAlgorithms.value),
    minimumRsaBits: minimumRsaBits.value,
    allowedScopes: copy(allowedScopes.value),
    pkcs11Modules: declaredModules(m, r),
    sources,
    machinePolicyPath,
    machineEnvPolicyPath: options.machineEnvPolicyPath ?? null,
    registryPolicyKey: options.registryPolicyKey ?? null,
    overrides: (options.overrides ?? []).map((override) => ({ ...override })),
  });
}

/**
 * What a request asks of the policy, for {@link requestViolations}. Omitted parts are not checked.
 *
 * @since 0.1.0
 */
export interface PolicyRequest {
  /** The algorithm of a key to create. */
  algorithm?: KeyAlgorithm;
  /** The scope of the key. */
  scope?: KeyScope;
  /** Whether the key to create is exportable. */
  exportable?: boolean;
  /** Whether the private key is to be exported. */
  exportPrivateKey?: boolean;
}

/**
 * Checks a request against an effective policy and returns one sentence per rule it breaks, naming the
 * policy field (with its JSON pointer) and what to do; an empty array when the policy allows it.
 * Provider rules (allow, deny, legacy CryptoAPI, isolation floor) are the business of selection.
 *
 * @example
 * ```ts
 * const policy = mergePolicies({ minimumRsaBits: 3072 }, null);
 * requestViolations(policy, { algorithm: 'RSA-2048' });
 * // ["algorithm RSA-2048 is below the policy's minimumRsaBits 3072 (/minimumRsaBits); use RSA-3072 or larger"]
 * ```
 * @since 0.1.0
 */
export function requestViolations(policy: ResolvedPolicy, request: PolicyRequest): string[] {
  const violations: string[] = [];
  const { algorithm, scope } = request;
  if (algorithm !== undefined) {
    if (!policy.allowedAlgorithms.includes(algorithm)) {
      const allowed = policy.allowedAlgorithms.length === 0 ? 'none' : policy.allowedAlgorithms.join(', ');
      violations.push(
        `algorithm ${algorithm} is not in the policy's allowedAlgorithms (/allowedAlgorithms); choose one of: ${allowed}`,
      );
    }
    const info = algorithmInfo(algorithm);
    if (info.family === 'rsa' && info.bits < policy.minimumRsaBits) {
      violations.push(
        `algorithm ${algorithm} is below the policy's minimumRsaBits ${policy.minimumRsaBits} (/minimumRsaBits); use a larger RSA key or an ECDSA/ECDH algorithm`,
      );
    }
  }
  if (scope !== undefined && !policy.allowedScopes.includes(scope)) {
    const allowed = policy.allowedScopes.length === 0 ? 'none' : policy.allowedScopes.join(', ');
    violations.push(`scope ${scope} is not in the policy's allowedScopes (/allowedScopes); use one of: ${allowed}`);
  }
  if (request.exportable === true && !policy.exportable.create) {
    violations.push(
      "exportable keys may not be created: the policy's exportable.create is false (/exportable/create); create a non-exportable key",
    );
  }
  if (request.exportPrivateKey === true && !policy.exportable.export) {
    violations.push(
      "private keys may not be exported: the policy's exportable.export is false (/exportable/export); keep the key in its store",
    );
  }
  return violations;
}

/**
 * The JSON form of an effective policy, as `keystore policy effective --json` prints it.
 *
 * @since 0.1.0
 */
export interface EffectivePolicyJson {
  /** The effective policy as a complete policy document (`providers.allow` omitted when every provider is allowed). */
  policy: KeyStorePolicy;
  /** The machine source of each entry of `policy.pkcs11.modules`, in order; absent when none (since 0.3.0). */
  pkcs11ModuleSources?: MachinePolicySource[];
  /** The source of each field, keyed by JSON pointer. */
  sources: Record<string, PolicySource>;
  /** The machine policy file at the fixed path that was read, or `null`. */
  machinePolicyPath: string | null;
  /** The additional file named by `KEYSTORE_MACHINE_POLICY` that was read, or `null` (since 0.3.0). */
  machineEnvPolicyPath: string | null;
  /** The registry key a machine policy was read from, or `null` (since 0.2.0). */
  registryPolicyKey: string | null;
  /** The machine sources replaced or dropped (the test hatch only; since 0.3.0). */
  overrides: PolicyOverride[];
}

/**
 * Renders an effective policy as plain JSON data. The `policy` member is itself a valid policy
 * document with every field filled in, except `providers.allow`, which is omitted when every provider
 * is allowed (the document's meaning for an absent `allow`).
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(policyToJson(await resolvePolicy({ app })), null, 2));
 * ```
 * @since 0.1.0
 */
export function policyToJson(policy: EffectivePolicy): EffectivePolicyJson {
  const providers: NonNullable<KeyStorePolicy['providers']> = {};
  if (policy.providers.allow !== null) providers.allow = [...policy.providers.allow];
  providers.deny = [...policy.providers.deny];
  providers.prefer = [...policy.providers.prefer];
  return {
    policy: {
      minimumIsolation: policy.minimumIsolation,
      providers,
      legacyCryptoApi: policy.legacyCryptoApi,
      exportable: { create: policy.exportable.create, export: policy.exportable.export },
      allowedAlgorithms: [...policy.allowedAlgorithms],
      minimumRsaBits: policy.minimumRsaBits,
      allowedScopes: [...policy.allowedScopes],
      ...(policy.pkcs11Modules && policy.pkcs11Modules.length > 0
        ? {
            pkcs11: {
              modules: policy.pkcs11Modules.map((m) => ({
                path: m.path,
                ...(m.tokenLabel === undefined ? {} : { tokenLabel: m.tokenLabel }),
                isolation: m.isolation,
              })),
            },
          }
        : {}),
    },
    ...(policy.pkcs11Modules && policy.pkcs11Modules.length > 0
      ? { pkcs11ModuleSources: policy.pkcs11Modules.map((m) => m.source) }
      : {}),
    sources: { ...policy.sources },
    machinePolicyPath: policy.machinePolicyPath,
    machineEnvPolicyPath: policy.machineEnvPolicyPath ?? null,
    registryPolicyKey: policy.registryPolicyKey ?? null,
    overrides: (policy.overrides ?? []).map((override) => ({ ...override })),
  };
}
