/**
 * `keystore doctor`.
 *
 * @module
 */
import { arch, release } from 'node:os';
import {
  compareIsolation,
  type EffectivePolicy,
  type IsolationLevel,
  type KeyStore,
  type KeyStoreProvider,
  type PolicySource,
  policyToJson,
  providerPolicyReasons,
  type SelectionRequest,
} from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { EXIT_BELOW_REQUIRED, EXIT_NO_PROVIDER, EXIT_OK } from '../exit-codes.js';
import { json } from '../io.js';
import type { DiscoveredProvider } from '../providers.js';
import { renderDoctor } from './doctor-render.js';
import { describeSource } from './format.js';
import { type Posture, postureFacts } from './posture.js';
import { withStore } from './store.js';

type Details = Readonly<Record<string, string | number | boolean>>;

/**
 * The version of doctor's JSON output, as its schema (`doctor.schema.json`) describes it: raised when
 * a field is removed, renamed or changes meaning; a new field does not raise it.
 */
const DOCTOR_SCHEMA_VERSION = 1;

/** What `--require LEVEL` found: whether new keys (a default request) get at least LEVEL here. */
export interface DoctorRequirement {
  level: IsolationLevel;
  met: boolean;
  /** The isolation the provider that would serve gets (`null`: no provider would). */
  isolation: string | null;
  provider: string | null;
}

/** A provider's state in doctor's output. */
type DoctorStatus = 'selected' | 'eligible' | 'disabled-by-policy' | 'refused' | 'unavailable';

/** One row of the doctor's provider table (and of its JSON `providers` array). */
export interface DoctorProviderRow {
  id: string;
  displayName: string;
  package: string | null;
  /** The directory the provider's package was loaded from (or, refused by policy, would have been). @since 0.3.0 */
  packagePath: string | null;
  /** That package's version. @since 0.3.0 */
  version: string | null;
  available: boolean;
  isolation: string;
  selected: boolean;
  eligible: boolean;
  rank: number | null;
  /** `disabled-by-policy`: installed and available, but the policy's provider rules refuse it. */
  status: DoctorStatus;
  /** Why the policy's provider rules (deny, allow, legacy CryptoAPI) refuse it, with each rule's source. */
  policyReasons: string[];
  reasons: string[];
  details: Details;
  loadError?: string;
}

/** The row of a provider package that was not loaded (refused by the policy, or failed to load): nothing was measured. */
function notLoadedRow(
  found: DiscoveredProvider,
  status: DoctorStatus,
  why: Pick<DoctorProviderRow, 'policyReasons' | 'reasons' | 'loadError'>,
): DoctorProviderRow {
  return {
    id: found.id,
    displayName: found.packageName,
    package: found.packageName,
    packagePath: found.packageDir,
    version: found.version ?? null,
    available: false,
    isolation: 'none',
    selected: false,
    eligible: false,
    rank: null,
    status,
    ...why,
    details: {},
  };
}

/** The policy field a provider-rule reason names. */
const RULE_FIELDS = ['/legacyCryptoApi', '/providers/deny', '/providers/allow'] as const;

/**
 * The provider-rule reasons that refuse `provider`, each saying once which policy layer set the rule:
 * core's reasons already name a machine policy (file or registry) that set it (", set by the machine
 * policy …"); the others get `[set by …]`.
 */
function policyReasonsOf(provider: KeyStoreProvider, policy: EffectivePolicy): string[] {
  return providerPolicyReasons(provider, policy).map((reason) => {
    if (/\bset by\b/.test(reason)) return reason;
    const field = RULE_FIELDS.find((f) => reason.includes(`(${f}`));
    if (field === undefined) return reason;
    const source = policy.sources[field] as PolicySource | undefined;
    return source === undefined ? reason : `${reason} [set by ${describeSource(source, policy)}]`;
  });
}

/**
 * A `TSS2_LOG` setting that makes tpm2-tss log at trace or debug level (`all+trace`, `fapi+debug`,
 * `esys+debug,tcti+none` …): at those levels it prints command and response buffers, which carry
 * auth values and key material, to stderr. `none`, `error`, `warning` and `info` are fine.
 */
function tss2LogLeaks(value: string | undefined): boolean {
  if (value === undefined) return false;
  return value
    .split(',')
    .map((part) => part.trim().toLowerCase().split('+')[1])
    .some((level) => level === 'trace' || level === 'debug');
}

/** Doctor's warnings about the environment the CLI (and so the app) runs with. */
function environmentWarnings(env: Readonly<Record<string, string | undefined>>): string[] {
  const warnings: string[] = [];
  if (tss2LogLeaks(env.TSS2_LOG)) {
    warnings.push(
      `TSS2_LOG=${env.TSS2_LOG} makes tpm2-tss log at trace/debug level, which prints TPM auth values and ` +
        'command buffers to stderr (and to any log that collects it); unset it or use all+none',
    );
  }
  return warnings;
}

function statusOf(row: { selected: boolean; eligible: boolean; available: boolean }, policyReasons: string[]) {
  if (row.selected) return 'selected';
  if (row.eligible) return 'eligible';
  if (!row.available) return 'unavailable';
  return policyReasons.length > 0 ? 'disabled-by-policy' : 'refused';
}

type Explanation = Awaited<ReturnType<KeyStore['explain']>>;

/** What doctor found, for its JSON and its text. */
export interface DoctorReport {
  readonly store: KeyStore;
  readonly request: SelectionRequest;
  readonly explanation: Explanation;
  readonly rows: DoctorProviderRow[];
  readonly selected: string | null;
  readonly requirement: DoctorRequirement | null;
  /** The provider --provider asked for when it is not installed. */
  readonly missing: string | undefined;
  readonly warnings: string[];
  readonly posture: Posture;
}

/** One row per provider the store explains, then one per discovered provider that was not loaded. */
function providerRows(store: KeyStore, explanation: Explanation, discovered: readonly DiscoveredProvider[]) {
  const byId = new Map(store.providers.map((p) => [p.id, p]));
  const loadedFrom = new Map(
    discovered.filter((d) => d.provider !== undefined).map((d) => [d.provider?.id as string, d] as const),
  );
  const rows: DoctorProviderRow[] = explanation.providers.map((v) => {
    const found = byId.get(v.providerId);
    const policyReasons = found === undefined ? [] : policyReasonsOf(found, store.policy);
    return {
      id: v.providerId,
      displayName: found?.displayName ?? v.providerId,
      package:
        loadedFrom.get(v.providerId)?.packageName ?? (v.providerId === 'memory' ? '@keystore/core/testing' : null),
      packagePath: loadedFrom.get(v.providerId)?.packageDir ?? null,
      version: loadedFrom.get(v.providerId)?.version ?? null,
      available: v.available,
      isolation: v.isolation,
      selected: v.selected,
      eligible: v.eligible,
      rank: v.rank,
      status: statusOf(v, policyReasons),
      policyReasons,
      reasons: [...v.reasons],
      details: { ...(v.details ?? {}) },
    };
  });
  for (const found of discovered) {
    const row = notLoaded(found, store.policy);
    if (row !== undefined) rows.push(row);
  }
  return rows;
}

/** The row of a discovered provider that was not loaded: refused by the policy, or broken. */
function notLoaded(found: DiscoveredProvider, policy: EffectivePolicy): DoctorProviderRow | undefined {
  if (found.policyReasons.length > 0) {
    // Not imported: its code never ran, so there is no probe to report, only the rules.
    const declared = { id: found.id, capabilities: { legacyCryptoApi: found.id === 'capi' } };
    const policyReasons = policyReasonsOf(declared as unknown as KeyStoreProvider, policy);
    return notLoadedRow(found, 'disabled-by-policy', {
      policyReasons: policyReasons.length > 0 ? policyReasons : [...found.policyReasons],
      reasons: ['not loaded: the policy refuses this provider, so its package was not imported'],
    });
  }
  if (found.loadError === undefined) return undefined;
  return notLoadedRow(found, 'unavailable', {
    policyReasons: [],
    reasons: [`the package could not be loaded: ${found.loadError}`],
    loadError: found.loadError,
  });
}

/** `--require LEVEL`: whether the provider that would serve reaches it (`null` without --require). */
function requirementOf(
  level: IsolationLevel | undefined,
  rows: readonly DoctorProviderRow[],
  selected: string | null,
): DoctorRequirement | null {
  if (level === undefined) return null;
  const servedBy = selected === null ? undefined : rows.find((r) => r.id === selected);
  return {
    level,
    met: servedBy !== undefined && compareIsolation(servedBy.isolation as IsolationLevel, level) >= 0,
    isolation: servedBy?.isolation ?? null,
    provider: servedBy?.id ?? null,
  };
}

function exitCode(selected: string | null, requirement: DoctorRequirement | null): number {
  if (selected === null) return EXIT_NO_PROVIDER;
  return requirement?.met === false ? EXIT_BELOW_REQUIRED : EXIT_OK;
}

export async function doctor(ctx: CommandContext): Promise<number> {
  return withStore(
    ctx,
    async ({ store, discovered, provider, scope }) => {
      const registered = new Set(store.providers.map((p) => p.id));
      const request: SelectionRequest = {};
      if (scope !== undefined) request.scope = scope;
      if (provider !== undefined && registered.has(provider)) request.provider = provider;
      const explanation = await store.explain(request, ctx.io.signal ? { signal: ctx.io.signal } : undefined);
      const rows = providerRows(store, explanation, discovered);
      const missing = provider !== undefined && !registered.has(provider);
      const selected = missing ? null : explanation.selected;
      const requirement = requirementOf(ctx.values.require as IsolationLevel | undefined, rows, selected);
      const report: DoctorReport = {
        store,
        request,
        explanation,
        rows,
        selected,
        requirement,
        missing: missing ? provider : undefined,
        warnings: environmentWarnings(ctx.io.env),
        posture: {
          facts: postureFacts(rows),
          isolation: rows.map((r) => ({ id: r.id, available: r.available, isolation: r.isolation, status: r.status })),
        },
      };
      if (ctx.json) await doctorJson(ctx, report);
      else await renderDoctor(ctx, report);
      return exitCode(selected, requirement);
    },
    false,
  );
}

async function doctorJson(ctx: CommandContext, report: DoctorReport): Promise<void> {
  const { explanation } = report;
  const effective = policyToJson(report.store.policy);
  await json(ctx.io.stdout, {
    schemaVersion: DOCTOR_SCHEMA_VERSION,
    platform: process.platform,
    arch: arch(),
    release: release(),
    node: process.version,
    providers: report.rows,
    policy: effective.policy,
    sources: effective.sources,
    machinePolicyPath: effective.machinePolicyPath,
    machineEnvPolicyPath: effective.machineEnvPolicyPath,
    registryPolicyKey: effective.registryPolicyKey,
    policyOverrides: effective.overrides,
    posture: report.posture,
    request: explanation.request,
    minimumIsolation: explanation.minimumIsolation,
    selected: report.selected,
    require: report.requirement,
    warnings: report.warnings,
  });
}
