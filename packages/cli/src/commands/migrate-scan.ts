/**
 * `keystore migrate --scan`: the keys of the installed legacy providers, and for each whether it can
 * move, where to, and why not.
 *
 * @module
 */
import {
  createKeyStore,
  type EffectivePolicy,
  formatKeyRef,
  type IsolationLevel,
  type KeyScope,
  type KeyStore,
  KeyStoreError,
  type KeyStoreKey,
  type KeyStoreProvider,
  type PolicySource,
} from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { describeError, oneLine } from '../errors.js';
import { EXIT_OK } from '../exit-codes.js';
import { json, line } from '../io.js';
import { describeSource } from './format.js';
import { type Blocker, describeBlockers, OPEN_FIELDS, remedy, sourceBlockers, targetPolicy } from './migrate-policy.js';
import { closeAll, loadProviders, notInstalled } from './migrate-providers.js';
import { appPolicy } from './store.js';

/** One legacy key in `--scan`. */
interface ScanRow {
  ref: string;
  provider: string;
  name: string;
  scope: KeyScope;
  algorithm: string | null;
  exportable: boolean | null;
  movable: boolean;
  /** Where it could go (providers that would take it under the policy). */
  targets: string[];
  reasons: string[];
}

/** A policy rule that keeps the legacy keys of `provider` from being read, in words with its layer. */
interface PolicyBlocker {
  provider: string;
  field: string;
  message: string;
  source: PolicySource;
}

/** What the scan found: the rows, which of them could not be judged, and the policy rules in the way. */
interface ScanResult {
  readonly rows: ScanRow[];
  readonly undetermined: Set<ScanRow>;
  readonly policyBlockers: PolicyBlocker[];
}

/** The stores a scan reads through, and the options every call gets. */
interface Scan {
  readonly sourceStore: KeyStore;
  readonly targetStore: KeyStore;
  readonly scope: KeyScope | undefined;
  readonly opts: { signal?: AbortSignal };
}

export async function migrateScan(ctx: CommandContext): Promise<number> {
  const signal = ctx.io.signal;
  const opts = signal === undefined ? {} : { signal };
  const scope = typeof ctx.values.scope === 'string' ? (ctx.values.scope as KeyScope) : undefined;
  const app = await appPolicy(ctx);
  const { providers, all } = await loadProviders(ctx, app);
  const stores: KeyStore[] = [];
  try {
    const legacy = providers.filter((p) => p.capabilities.legacyCryptoApi);
    if (legacy.length === 0) {
      const broken = all.find((d) => d.id === 'capi' && d.loadError !== undefined);
      throw broken ? notInstalled('capi', all, 'legacy') : notInstalled('capi', all, 'legacy CryptoAPI');
    }
    const targets = providers.filter((p) => !p.capabilities.legacyCryptoApi);
    const sourceStore = await createKeyStore({ providers: legacy, ...(app ? { policy: app } : {}), ...opts });
    stores.push(sourceStore);
    // The targets are judged as the move judges them, with or without --unsafe-allow-weak-target.
    const wanted = targetPolicy(app, ctx.values['unsafe-allow-weak-target'] === true);
    const targetStore = await createKeyStore({
      providers: targets,
      ...(wanted ? { policy: wanted } : {}),
      ...opts,
    });
    stores.push(targetStore);
    const result = await scanProviders({ sourceStore, targetStore, scope, opts }, legacy);
    if (ctx.json) {
      // The providers that could take a moved key here: those that import and are available (a
      // provider that is installed but not configured, such as pkcs11 without a module, is not).
      const verdicts = (await targetStore.explain({}, opts)).providers;
      const available = new Set(verdicts.filter((v) => v.available).map((v) => v.providerId));
      await json(ctx.io.stdout, {
        keys: result.rows,
        targets: targets.filter((p) => p.capabilities.importKeys === true && available.has(p.id)).map((p) => p.id),
        policyBlockers: result.policyBlockers,
      });
      return EXIT_OK;
    }
    await renderScan(ctx, scope, result);
    return EXIT_OK;
  } finally {
    for (const store of stores) await store.close().catch(() => undefined);
    await closeAll(providers);
  }
}

/** Every key of every legacy provider, judged. */
async function scanProviders(scan: Scan, legacy: readonly KeyStoreProvider[]): Promise<ScanResult> {
  const result: ScanResult = { rows: [], undetermined: new Set(), policyBlockers: [] };
  const explained = await scan.sourceStore.explain({}, scan.opts);
  for (const provider of legacy) {
    const verdict = explained.providers.find((v) => v.providerId === provider.id);
    if (!verdict?.available) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `the legacy provider ${provider.id} cannot serve here: ${verdict?.reasons.join('; ') ?? 'no answer'}`,
        { providerId: provider.id, hint: "'keystore doctor' shows every provider and why" },
      );
    }
    await scanProvider(scan, provider, verdict.isolation, result);
  }
  return result;
}

/** The keys of one legacy provider, and the policy rules that keep them from being read. */
async function scanProvider(scan: Scan, provider: KeyStoreProvider, isolation: IsolationLevel, result: ScanResult) {
  const policy = scan.sourceStore.policy;
  const blockers = sourceBlockers(provider, isolation, policy);
  for (const b of blockers) {
    result.policyBlockers.push({
      provider: provider.id,
      field: b.field,
      message: `${b.message}, set by ${describeSource(b.source, policy)}`,
      source: b.source,
    });
  }
  const cannotTell = cannotTellWhy(provider, blockers, policy);
  const { scope, opts } = scan;
  const entries = await provider.listKeys({ ...(scope === undefined ? {} : { scope }), ...opts });
  for (const entry of entries) {
    if (scope !== undefined && entry.scope !== scope) continue;
    const row: ScanRow = {
      ref: formatKeyRef({ providerId: provider.id, scope: entry.scope, name: entry.name }),
      provider: provider.id,
      name: entry.name,
      scope: entry.scope,
      algorithm: entry.algorithm ?? null,
      exportable: null,
      movable: false,
      targets: [],
      reasons: [],
    };
    if (cannotTell !== undefined) {
      row.reasons.push(cannotTell);
      result.undetermined.add(row);
    } else {
      await readKey(scan, row);
    }
    if (row.exportable === false) {
      row.reasons.push(
        `created non-exportable: its private key cannot leave ${provider.id}; issue a new key in a stronger ` +
          'provider and re-enrol it wherever this one is used',
      );
    }
    if (row.algorithm !== null) await findTargets(scan, row);
    row.movable = row.reasons.length === 0;
    result.rows.push(row);
  }
}

/**
 * Opening a legacy key loads it (CryptoAPI decrypts its private key into this process): only when the
 * policy lets keys of this provider be opened. Otherwise the containers are only listed, and this says
 * why the scan cannot tell whether they can move.
 */
function cannotTellWhy(
  provider: KeyStoreProvider,
  blockers: readonly Blocker[],
  policy: EffectivePolicy,
): string | undefined {
  const openBlockers = blockers.filter((b) => OPEN_FIELDS.includes(b.field));
  if (openBlockers.length === 0) return undefined;
  return (
    `cannot tell whether it can move, because the policy does not let ${provider.id} keys be opened ` +
    `(${describeBlockers(openBlockers, policy)}): ` +
    remedy(provider, openBlockers, policy, `the scan to open them`)
  );
}

/** Opens the key to read its algorithm and whether it is exportable; a failure becomes a reason. */
async function readKey(scan: Scan, row: ScanRow): Promise<void> {
  // Through the key store, so that the policy that allowed this decides the open too.
  try {
    const key = await scan.sourceStore.openKey(row.ref, scan.opts);
    try {
      row.algorithm = key.algorithm;
      row.exportable = key.exportable === true;
    } finally {
      await key.close().catch(() => undefined);
    }
  } catch (error) {
    const report = describeError(error);
    if (report.code === 'ERR_KEYSTORE_CANCELLED') throw error;
    row.reasons.push(`it could not be opened: ${oneLine(report.message)}`); // one line in the scan table
  }
}

/** The installed providers that would take the key under the policy; none is a reason. */
async function findTargets(scan: Scan, row: ScanRow): Promise<void> {
  const where = await scan.targetStore.explain(
    { algorithm: row.algorithm as KeyStoreKey['algorithm'], scope: row.scope, importKey: true },
    scan.opts,
  );
  row.targets = where.providers.filter((v) => v.eligible).map((v) => v.providerId);
  if (row.targets.length === 0) {
    const why = where.providers.map((v) => `${v.providerId}: ${v.reasons.join('; ')}`).join('. ');
    row.reasons.push(
      `no installed provider can take a ${row.algorithm} key in the ${row.scope} scope here` +
        (why === '' ? '' : ` (${why})`),
    );
  }
}

/** The verdict column of the human output. */
function verdictText(row: ScanRow, undetermined: boolean): string {
  if (row.movable) return `can move to ${row.targets.join(', ')}`;
  if (undetermined) return row.reasons.join('; ');
  return `cannot move: ${row.reasons.join('; ')}`;
}

/** The exportable column of the human output. */
function exportableText(row: ScanRow): string {
  if (row.exportable === null) return '?';
  return row.exportable ? 'exportable' : 'not exportable';
}

/** One line per key, then what the policy needs. */
async function renderScan(ctx: CommandContext, scope: KeyScope | undefined, result: ScanResult): Promise<void> {
  const { rows, undetermined, policyBlockers } = result;
  const out = ctx.io.stdout;
  if (rows.length === 0) {
    await line(out, `No legacy keys${scope === undefined ? '' : ` in the ${scope} scope`}.`);
  } else {
    const width = Math.max(...rows.map((r) => r.ref.length)) + 2;
    for (const row of rows) {
      const verdict = verdictText(row, undetermined.has(row));
      await line(
        out,
        `${row.ref.padEnd(width)}${(row.algorithm ?? '(unknown)').padEnd(12)}${exportableText(row).padEnd(16)}${verdict}`,
      );
    }
  }
  if (policyBlockers.length > 0 && rows.length > 0) {
    await line(out);
    await line(out, 'Moving needs a policy that lets the legacy keys be read:');
    for (const b of policyBlockers) await line(out, `  - ${b.message}`);
    await line(out, "See 'keystore migrate --help' for a migration policy.");
  }
}
