/**
 * What the policy must allow before `keystore migrate` may read a legacy key, and how to allow it.
 *
 * @module
 */
import {
  DEFAULT_POLICY,
  type EffectivePolicy,
  type IsolationLevel,
  isAtLeast,
  KeyStoreError,
  type KeyStorePolicy,
  type KeyStoreProvider,
  type PolicySource,
  strongerIsolation,
} from '@keystore/core';
import { providerPolicyRefusals } from '@keystore/core/provider';
import { describeSource } from './format.js';

/**
 * The app policy for the target: the app's policy with its floor raised to at least the built-in
 * default, so that what `--policy` lowers to read the legacy source does not let the new key be as
 * weak (unless `--unsafe-allow-weak-target`).
 */
export function targetPolicy(app: KeyStorePolicy | undefined, allowWeak: boolean): KeyStorePolicy | undefined {
  if (allowWeak) return app;
  const floor = strongerIsolation(
    app?.minimumIsolation ?? DEFAULT_POLICY.minimumIsolation,
    DEFAULT_POLICY.minimumIsolation,
  );
  return { ...app, minimumIsolation: floor };
}

/** One thing the effective policy must change before a legacy key can be read for the migration. */
export interface Blocker {
  /** The policy field (JSON pointer). */
  readonly field: string;
  /** What is wrong, in words. */
  readonly message: string;
  /** Which layer set the field. */
  readonly source: PolicySource;
  /** What the app policy would need for the field, when the app layer decides it. */
  readonly needs?: Record<string, unknown>;
}

/**
 * What stops the migration from reading a key of `source` under `policy`: provider rules (deny, allow,
 * legacy CryptoAPI), the floor (against the isolation `source` reaches here), and exportable.export.
 */
export function sourceBlockers(
  source: KeyStoreProvider,
  isolation: IsolationLevel,
  policy: EffectivePolicy,
): Blocker[] {
  const from = (field: string) => (policy.sources[field] as PolicySource | undefined) ?? 'default';
  // The provider rules, as the core states them (selection and doctor give the same reasons).
  const blockers: Blocker[] = providerPolicyRefusals(source, policy).map((reason) => ({
    field: reason.field,
    message: reason.message,
    source: reason.source,
    ...(reason.needs === undefined ? {} : { needs: { ...reason.needs } }),
  }));
  if (!isAtLeast(isolation, policy.minimumIsolation)) {
    blockers.push({
      field: '/minimumIsolation',
      message: `the isolation floor is ${policy.minimumIsolation}, above the ${isolation} that ${source.id} reaches (/minimumIsolation)`,
      source: from('/minimumIsolation'),
      needs: { minimumIsolation: isolation },
    });
  }
  if (!policy.exportable.export) {
    blockers.push({
      field: '/exportable/export',
      message: 'private keys may not be exported (/exportable/export is false)',
      source: from('/exportable/export'),
      needs: { exportable: { export: true } },
    });
  }
  return blockers;
}

/**
 * How to lift `blockers`: the app policy that allows `what` (for the rules the app layer decides), and
 * who must change the rules a machine policy set.
 */
export function remedy(source: KeyStoreProvider, blockers: readonly Blocker[], policy: EffectivePolicy, what: string) {
  const machine = blockers.filter(
    (b) => b.source === 'machine' || b.source === 'machine-env' || b.source === 'registry',
  );
  const app = blockers.filter((b) => b.source === 'default' || b.source === 'app');
  const needs = Object.assign({}, ...app.map((b) => b.needs ?? {}));
  const parts: string[] = [];
  if (app.length > 0) {
    parts.push(
      `to allow ${what} for the migration, put ${JSON.stringify(needs)} in an app policy and pass it with --policy FILE` +
        (app.some((b) => b.needs === undefined) ? `, and take ${source.id} off the provider lists that refuse it` : ''),
    );
  }
  if (machine.length > 0) {
    const where = [...new Set(machine.map((b) => describeSource(b.source, policy)))].join(' and ');
    parts.push(
      `${machine.map((b) => b.field).join(', ')} ${machine.length === 1 ? 'is' : 'are'} set by ${where}, ` +
        'which --policy cannot loosen: an administrator must allow it there for the migration (and can restore it afterwards)',
    );
  }
  return parts.join('; ');
}

/** Each blocker in words, with the layer that set it. */
export function describeBlockers(blockers: readonly Blocker[], policy: EffectivePolicy): string {
  return blockers.map((b) => `${b.message}, set by ${describeSource(b.source, policy)}`).join('; ');
}

/** The error for `blockers`: each with who set it, and how to allow the migration. */
export function blockedError(
  source: KeyStoreProvider,
  key: string,
  blockers: readonly Blocker[],
  policy: EffectivePolicy,
) {
  return new KeyStoreError(
    'ERR_KEYSTORE_POLICY_VIOLATION',
    `the policy does not let the migration read ${key} from ${source.id}: ${describeBlockers(blockers, policy)}`,
    { providerId: source.id, hint: remedy(source, blockers, policy, 'reading the legacy key') },
  );
}

/**
 * The policy fields that decide whether keys of a legacy provider may be opened at all (to read
 * whether they are exportable); exporting is not needed for that.
 */
export const OPEN_FIELDS: readonly string[] = [
  '/providers/deny',
  '/providers/allow',
  '/legacyCryptoApi',
  '/minimumIsolation',
];
