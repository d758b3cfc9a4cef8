/**
 * The policy's provider rules (`providers.deny`, `providers.allow`, `legacyCryptoApi`) applied to one
 * provider, as structured reasons (the field, who set it, what would lift it) and as sentences.
 * Selection, `keystore doctor` and `keystore migrate` all read them from here, so they cannot drift.
 *
 * @module
 */

import type { EffectivePolicy, KeyStorePolicy, PolicySource, ResolvedPolicy } from './policy-types.js';
import type { KeyStoreProvider } from './provider-types.js';

/**
 * One provider rule of the policy that refuses a provider.
 *
 * @since 0.4.0
 */
export interface ProviderPolicyReason {
  /** The policy field (JSON pointer) whose rule refuses the provider. */
  readonly field: '/providers/deny' | '/providers/allow' | '/legacyCryptoApi';
  /** What the rule says, without who set it. */
  readonly message: string;
  /** Which layer set the field (`default` when the policy carries no sources). */
  readonly source: PolicySource;
  /** The app policy that would lift the rule, where an app policy can (`legacyCryptoApi: 'allow'`). */
  readonly needs?: KeyStorePolicy;
}

/** Which layer set the field at `pointer`: `default` when the policy does not say. */
function sourceOf(policy: ResolvedPolicy, pointer: string): PolicySource {
  return (policy as Partial<EffectivePolicy>).sources?.[pointer] ?? 'default';
}

/**
 * The provider rules of `policy` that refuse `provider`, whatever the request, in the order deny,
 * allow, legacy CryptoAPI; empty when they allow it.
 *
 * @example
 * ```ts
 * import { providerPolicyRefusals } from '@keystore/core/provider';
 * for (const reason of providerPolicyRefusals(capi, store.policy)) {
 *   console.log(reason.field, reason.source, reason.message);
 * }
 * // /legacyCryptoApi default legacy CryptoAPI is denied by policy (/legacyCryptoApi)
 * ```
 * @since 0.4.0
 */
export function providerPolicyRefusals(provider: KeyStoreProvider, policy: ResolvedPolicy): ProviderPolicyReason[] {
  const reasons: ProviderPolicyReason[] = [];
  const { id } = provider;
  if (policy.providers.deny.includes(id)) {
    reasons.push({
      field: '/providers/deny',
      message: `${id} is denied by policy (/providers/deny)`,
      source: sourceOf(policy, '/providers/deny'),
    });
  }
  if (policy.providers.allow !== null && !policy.providers.allow.includes(id)) {
    const allowed = policy.providers.allow.length === 0 ? 'none' : policy.providers.allow.join(', ');
    reasons.push({
      field: '/providers/allow',
      message: `${id} is not in the providers the policy allows (/providers/allow: ${allowed})`,
      source: sourceOf(policy, '/providers/allow'),
    });
  }
  if (provider.capabilities.legacyCryptoApi && policy.legacyCryptoApi === 'deny') {
    reasons.push({
      field: '/legacyCryptoApi',
      message: 'legacy CryptoAPI is denied by policy (/legacyCryptoApi)',
      source: sourceOf(policy, '/legacyCryptoApi'),
      needs: { legacyCryptoApi: 'allow' },
    });
  }
  return reasons;
}

/**
 * The reasons the policy's provider rules (`providers.deny`, `providers.allow`, `legacyCryptoApi`)
 * refuse `provider`, whatever the request; empty when they allow it. A provider these rules refuse is
 * installed but disabled by policy: it never serves, and keys it holds cannot be opened.
 *
 * @example
 * ```ts
 * providerPolicyReasons(capi, store.policy);
 * // ["legacy CryptoAPI is denied by policy (/legacyCryptoApi): …"] under the default policy
 * ```
 * @since 0.2.0
 */
export function providerPolicyReasons(provider: KeyStoreProvider, policy: ResolvedPolicy): string[] {
  return providerPolicyRefusals(provider, policy).map((reason) => {
    const by = setBy(policy, reason.field);
    if (reason.field !== '/legacyCryptoApi') return `${reason.message}${by}`;
    return (
      `${reason.message}${by}: its keys are loaded into the app's own process; ` +
      (by ? 'only the machine policy can change that' : 'set legacyCryptoApi to allow in a policy to opt in')
    );
  });
}

/**
 * `, set by the machine policy (/etc/keystore/policy.json)` when the machine policy (file or
 * registry) decided the field at `pointer`; empty otherwise (the app's policy or the defaults).
 */
export function setBy(policy: ResolvedPolicy, pointer: string): string {
  const effective = policy as Partial<EffectivePolicy>;
  switch (effective.sources?.[pointer]) {
    case 'machine':
      return `, set by the machine policy${effective.machinePolicyPath ? ` (${effective.machinePolicyPath})` : ''}`;
    case 'machine-env':
      return `, set by the machine policy named by KEYSTORE_MACHINE_POLICY${effective.machineEnvPolicyPath ? ` (${effective.machineEnvPolicyPath})` : ''}`;
    case 'registry':
      return `, set by the machine policy in the registry${effective.registryPolicyKey ? ` (${effective.registryPolicyKey})` : ''}`;
    default:
      return '';
  }
}
