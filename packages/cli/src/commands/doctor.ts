/**
 * `keystore doctor`.
 *
 * @module
 */
import { arch, release } from 'node:os';
import {
  type EffectivePolicy,
  type KeyStoreProvider,
  machinePolicyPath,
  type PolicySource,
  policyToJson,
  providerPolicyReasons,
  type SelectionRequest,
} from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { EXIT_NO_PROVIDER, EXIT_OK } from '../exit-codes.js';
import { json, line } from '../io.js';
import { describePolicy, describeSource } from './format.js';
import { describePosture, type Posture, postureFacts } from './posture.js';
import { withStore } from './store.js';

type Details = Readonly<Record<string, string | number | boolean>>;

/** A provider's state in doctor's output. */
export type DoctorStatus = 'selected' | 'eligible' | 'disabled-by-policy' | 'refused' | 'unavailable';

/** One row of the doctor's provider table (and of its JSON `providers` array). */
export interface DoctorProviderRow {
  id: string;
  displayName: string;
  package: string | null;
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
    async ({ store, discovered, provider, scope, packages }) => {
      const registered = new Set(store.providers.map((p) => p.id));
      const request: SelectionRequest = {};
      if (scope !== undefined) request.scope = scope;
      if (provider !== undefined && registered.has(provider)) request.provider = provider;
      const explanation = await store.explain(request, ctx.io.signal ? { signal: ctx.io.signal } : undefined);
      const byId = new Map(store.providers.map((p) => [p.id, p]));
      const rows: DoctorProviderRow[] = explanation.providers.map((v) => {
        const found = byId.get(v.providerId);
        const policyReasons = found === undefined ? [] : policyReasonsOf(found, store.policy);
        return {
          id: v.providerId,
          displayName: found?.displayName ?? v.providerId,
          package: packages.get(v.providerId) ?? null,
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
        if (found.loadError === undefined) continue;
        rows.push({
          id: found.id,
          displayName: found.packageName,
          package: found.packageName,
          available: false,
          isolation: 'none',
          selected: false,
          eligible: false,
          rank: null,
          status: 'unavailable',
          policyReasons: [],
          reasons: [`the package could not be loaded: ${found.loadError}`],
          details: {},
          loadError: found.loadError,
        });
      }
      let selected = explanation.selected;
      const missing = provider !== undefined && !registered.has(provider);
      if (missing) selected = null;
      const effective = policyToJson(store.policy);
      const code = selected === null ? EXIT_NO_PROVIDER : EXIT_OK;
      const posture: Posture = {
        facts: postureFacts(rows),
        isolation: rows.map((r) => ({ id: r.id, available: r.available, isolation: r.isolation, status: r.status })),
      };
      if (ctx.json) {
        await json(ctx.io.stdout, {
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
        await line(out, `    isolation: ${row.available ? row.isolation : `${row.isolation} (unavailable)`}`);
        if (row.package) await line(out, `    package:   ${row.package}`);
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
      return code;
    },
    false,
  );
}
