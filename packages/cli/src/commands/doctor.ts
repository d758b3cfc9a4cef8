/**
 * `keystore doctor`.
 *
 * @module
 */
import { arch, release } from 'node:os';
import { machinePolicyPath, policyToJson, type SelectionRequest } from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { EXIT_NO_PROVIDER, EXIT_OK } from '../exit-codes.js';
import { json, line } from '../io.js';
import { describePolicy } from './format.js';
import { withStore } from './store.js';

type Details = Readonly<Record<string, string | number | boolean>>;

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
  reasons: string[];
  details: Details;
  loadError?: string;
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
      const names = new Map(store.providers.map((p) => [p.id, p.displayName]));
      const rows: DoctorProviderRow[] = explanation.providers.map((v) => ({
        id: v.providerId,
        displayName: names.get(v.providerId) ?? v.providerId,
        package: packages.get(v.providerId) ?? null,
        available: v.available,
        isolation: v.isolation,
        selected: v.selected,
        eligible: v.eligible,
        rank: v.rank,
        reasons: [...v.reasons],
        details: { ...(v.details ?? {}) },
      }));
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
        const state = row.selected ? 'selected' : row.eligible ? 'eligible' : row.available ? 'refused' : 'unavailable';
        await line(out, `  ${row.id}: ${row.displayName}${simulated}`);
        await line(out, `    status:    ${state}`);
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
      for (const text of describePolicy(store.policy, machinePolicyPath(ctx.io.env as NodeJS.ProcessEnv)))
        await line(out, text);
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
