/**
 * The text of `keystore doctor`: each provider with its status, reach, package and reasons, then the
 * posture, the policy, and which provider a default request would get.
 *
 * @module
 */
import { arch, release } from 'node:os';
import { machinePolicyPath, policyToJson } from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { line } from '../io.js';
import type { DoctorProviderRow, DoctorReport } from './doctor.js';
import { describePolicy } from './format.js';
import { describePosture } from './posture.js';

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

/** What a row's isolation line says: a row disabled by policy and not available was never imported. */
function reachText(row: DoctorProviderRow): string {
  if (row.available) return row.isolation;
  if (row.status === 'disabled-by-policy') return 'not measured (not loaded)';
  return `${row.isolation} (unavailable)`;
}

/** The lines of one provider. */
async function providerLines(out: CommandContext['io']['stdout'], row: DoctorProviderRow): Promise<void> {
  const simulated = row.details.simulator === true ? ' (simulated TPM)' : '';
  await line(out, `  ${row.id}: ${row.displayName}${simulated}`);
  await line(out, `    status:    ${statusText(row)}`);
  await line(out, `    isolation: ${reachText(row)}`);
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

export async function renderDoctor(ctx: CommandContext, report: DoctorReport): Promise<void> {
  const { rows, store } = report;
  const out = ctx.io.stdout;
  await line(out, `Platform: ${process.platform} ${arch()} (kernel ${release()}), Node.js ${process.version}`);
  await line(out);
  await line(out, 'Providers:');
  if (rows.length === 0) {
    await line(out, '  none installed (install a @keystore/provider-* package, or try --provider memory)');
  }
  for (const row of rows) await providerLines(out, row);
  if (report.missing !== undefined) {
    await line(out, `  ${report.missing}: not installed (asked for with --provider)`);
  }
  await line(out);
  for (const text of describePosture(report.posture)) await line(out, text);
  for (const warning of report.warnings) await line(out, `Warning: ${warning}.`);
  await line(out);
  for (const text of describePolicy(store.policy, machinePolicyPath())) await line(out, text);
  // doctor never lifts a machine policy; the line exists so that a build that did would show it.
  const { overrides } = policyToJson(store.policy);
  await line(
    out,
    overrides.length === 0
      ? 'Policy overrides: none (every machine policy applies)'
      : `Policy overrides: ${overrides.map((o) => `${o.source} by ${o.by} ${o.name}: ${o.detail}`).join('; ')}`,
  );
  await line(out);
  await selectionLines(out, report);
}

/** Which provider a default request would get, and whether --require is met. */
async function selectionLines(out: CommandContext['io']['stdout'], report: DoctorReport): Promise<void> {
  const { explanation, request, selected, requirement } = report;
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
}
