/**
 * What the key store publishes about its decisions (`policy.decision`, `key.*` audit events), and the
 * refusals it reports in `ERR_KEYSTORE_NO_PROVIDER` and "not found" messages.
 *
 * @module
 */
import type { KeyAlgorithm } from './algorithms.js';
import { type AuditAction, publishAudit } from './audit.js';
import type { ProviderRefusal } from './errors.js';
import { type IsolationLevel, isIsolationLevel } from './isolation.js';
import type { KeyStoreKey, ProviderKey, ProviderVerdict } from './types.js';

/** The refusals among `verdicts`: each provider that may not serve, with its reasons. */
export function refusalsOf(verdicts: readonly ProviderVerdict[]): ProviderRefusal[] {
  return verdicts.filter((v) => !v.eligible).map((v) => ({ providerId: v.providerId, reasons: v.reasons }));
}

/** The refusals in one sentence: `id: reason; reason. id: reason`. */
export function describeRefusals(refusals: readonly ProviderRefusal[]): string {
  if (refusals.length === 0) return 'no providers are registered';
  return refusals.map((r) => `${r.providerId}: ${r.reasons.join('; ')}`).join('. ');
}

/** Every reason of the refusals, each prefixed with its provider's id. */
export function flatReasons(refusals: readonly ProviderRefusal[]): string[] {
  return refusals.flatMap((r) => r.reasons.map((reason) => `${r.providerId}: ${reason}`));
}

/** The isolation level a provider key's receipt names, or `null` when it names none the SDK knows. */
export function receiptLevel(key: ProviderKey): IsolationLevel | null {
  const level = key.isolation?.level;
  return isIsolationLevel(level) ? level : null;
}

/** Publishes a `policy.decision` audit event. */
export function decision(
  action: AuditAction,
  outcome: 'allowed' | 'refused',
  selected: string | null,
  reasons: readonly string[],
  extra: { ref?: string; algorithm?: KeyAlgorithm } = {},
): void {
  publishAudit(() => ({
    type: 'policy.decision',
    time: new Date().toISOString(),
    action,
    outcome,
    selected,
    reasons: [...reasons],
    ...extra,
  }));
}

/** Publishes the audit event of a key handed out. */
export function keyEvent(type: 'key.created' | 'key.imported' | 'key.opened', key: KeyStoreKey): void {
  publishAudit(() => ({
    type,
    time: new Date().toISOString(),
    providerId: key.providerId,
    ref: key.ref,
    algorithm: key.algorithm,
    isolation: key.isolation.level,
  }));
}
