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
  type KeyStoreProvider,
  machinePolicyPath,
  type PolicySource,
  policyToJson,
  providerPolicyReasons,
  type SelectionRequest,
} from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { EXIT_BELOW_REQUIRED, EXIT_NO_PROVIDER, EXIT_OK } from '../exit-codes.js';
import { json, line } from '../io.js';
import type { DiscoveredProvider } from '../providers.js';
import { describePolicy, describeSource } from './format.js';
import { describePosture, type Posture, postureFacts } from './posture.js';
import { withStore } from './store.js';

type Details = Readonly<Record<string, string | number | boolean>>;

/**
 * The version of doctor's JSON output, as its schema (`doctor.schema.json`) describes it: raised when
 * a field is removed, renamed or changes meaning; a new field does not raise it.
 */
const DOCTOR_SCHEMA_VERSION = 1;

/** What `--require LEVEL` found: whether new keys (a default request) get at least LEVEL here. */
interface DoctorRequirement {
  level: IsolationLevel;
  met: boolean;
  /** The isolation the provider that would serve gets (`null`: no provider would). */
  isolation: string | null;
  provider: string | null;
}

/** A provider's state in doctor's output. */
type DoctorStatus = 'selected' | 'eligible' | 'disabled-by-policy' | 'refused' | 'unavailable';

/** One row of the doctor's provider table (and of its JSON `providers` array). */
interface DoctorProviderRow {
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

function statusText(row: DoctorProviderRow): string {
  switch (row.status) {
    case 'disabled-by-policy':
      return `installed, disabled by policy: ${row.policyReasons.join('; ')}`;
    case 'unavailable':
      return row.policyReasons.length > 0
        ? `unavailable (and disabled by policy: ${row.policyReasons.join('; ')})`
        : 'unavailable';
    default:
      return row.status;
  }
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
        if (found.policyReasons.length > 0) {
          // Not imported: its code never ran, so there is no probe to report, only the rules.
          const declared = { id: found.id, capabilities: { legacyCryptoApi: found.id === 'capi' } };
          const policyReasons = policyReasonsOf(declared as unknown as KeyStoreProvider, store.policy);
          rows.push(
            notLoadedRow(found, 'disabled-by-policy', {
              policyReasons: policyReasons.length > 0 ? policyReasons : [...found.policyReasons],
              reasons: ['not loaded: the policy refuses this provider, so its package was not imported'],
            }),
          );
          continue;
        }
        if (found.loadError === undefined) continue;
        rows.push(
          notLoadedRow(found, 'unavailable', {
            policyReasons: [],
            reasons: [`the package could not be loaded: ${found.loadError}`],
            loadError: found.loadError,
          }),
        );
      }
      let selected = explanation.selected;
      const missing = provider !== undefined && !registered.has(provider);
      if (missing) selected = null;
      const effective = policyToJson(store.policy);
      const level = ctx.values.require as IsolationLevel | undefined;
      const servedBy = selected === null ? undefined : rows.find((r) => r.id === selected);
      const requirement: DoctorRequirement | null =
        level === undefined
          ? null
          : {
              level,
              met: servedBy !== undefined && compareIsolation(servedBy.isolation as IsolationLevel, level) >= 0,
              isolation: servedBy?.isolation ?? null,
              provider: servedBy?.id ?? null,
            };
      const code = selected === null ? EXIT_NO_PROVIDER : requirement?.met === false ? EXIT_BELOW_REQUIRED : EXIT_OK;
      const warnings = environmentWarnings(ctx.io.env);
      const posture: Posture = {
        facts: postureFacts(rows),
        isolation: rows.map((r) => ({ id: r.id, available: r.available, isolation: r.isolation, status: r.status })),
      };
      if (ctx.json) {
        await json(ctx.io.stdout, {
          schemaVersion: DOCTOR_SCHEMA_VERSION,
          platform: process.platform,
          arch: arch(),
          release: release(),
          node: process.version,
          providers: rows,
          policy: effective.policy,
          sources: effective.sources,
          machinePolicyPath: effective.machinePolicyPath,
          machineEnvPolicyPath: effective.machineEnvPolicyPath,
          registryPolicyKey: effective.registryPolicyKey,
          policyOverrides: effective.overrides,
          posture,
          request: explanation.request,
          minimumIsolation: explanation.minimumIsolation,
          selected,
          require: requirement,
          warnings,
        });
        return code;
      }
      const out = ctx.io.stdout;
      await line(out, `Platform: ${process.platform} ${arch()} (kernel ${release()}), Node.js ${process.version}`);
      await line(out);
      await line(out, 'Providers:');
      if (rows.length === 0) {
        await line(out, '  none installed (install a @keystore/provider-* package, or try --provider memory)');
      }
      for (const row of rows) {
        const simulated = row.details.simulator === true ? ' (simulated TPM)' : '';
        await line(out, `  ${row.id}: ${row.displayName}${simulated}`);
        await line(out, `    status:    ${statusText(row)}`);
        // A row disabled by policy and not available was never imported: nothing of it was measured.
        const notLoaded = !row.available && row.status === 'disabled-by-policy';
        const reach = row.available
          ? row.isolation
          : notLoaded
            ? 'not measured (not loaded)'
            : `${row.isolation} (unavailable)`;
        await line(out, `    isolation: ${reach}`);
        if (row.package) {
          const from = row.packagePath === null ? '' : ` from ${row.packagePath}`;
          await line(out, `    package:   ${row.package}${row.version === null ? '' : `@${row.version}`}${from}`);
        }
        const details = Object.entries(row.details);
        if (details.length > 0) {
          await line(out, `    details:   ${details.map(([k, v]) => `${k}=${String(v)}`).join(', ')}`);
        }
        for (const reason of row.reasons) await line(out, `    - ${reason}`);
      }
      if (missing) {
        await line(out, `  ${provider}: not installed (asked for with --provider)`);
      }
      await line(out);
      for (const text of describePosture(posture)) await line(out, text);
      for (const warning of warnings) await line(out, `Warning: ${warning}.`);
      await line(out);
      for (const text of describePolicy(store.policy, machinePolicyPath())) await line(out, text);
      // doctor never lifts a machine policy; the line exists so that a build that did would show it.
      await line(
        out,
        effective.overrides.length === 0
          ? 'Policy overrides: none (every machine policy applies)'
          : `Policy overrides: ${effective.overrides.map((o) => `${o.source} by ${o.by} ${o.name}: ${o.detail}`).join('; ')}`,
      );
      await line(out);
      const what = `A default request (no algorithm, ${explanation.request.scope ?? 'user'} scope, not exportable${
        request.provider ? `, provider ${request.provider}` : ''
      })`;
      if (selected !== null) {
        await line(out, `${what} would be served by: ${selected}`);
        if (selected === 'memory') {
          await line(
            out,
            'Note: the in-memory provider keeps keys in JavaScript memory of this one process (isolation none); ' +
              'it is for tests and demos only.',
          );
        }
      } else {
        await line(out, `${what} would be served by: no provider (minimum isolation ${explanation.minimumIsolation})`);
      }
      if (requirement !== null) {
        const got =
          requirement.provider === null
            ? 'no provider would serve'
            : `${requirement.provider} gives ${requirement.isolation}`;
        await line(out, `Required isolation ${requirement.level}: ${requirement.met ? 'met' : 'NOT met'} (${got})`);
      }
      return code;
    },
    false,
  );
}
