/**
 * The provider's own check of the machine policy: a machine that denies legacy CryptoAPI is obeyed
 * even by code that calls this provider without a key store.
 *
 * @module
 */
import {
  isAtLeast,
  KeyStoreError,
  type KeyStorePolicy,
  loadMachinePolicy,
  loadRegistryPolicy,
  parsePolicy,
  throwIfAborted,
} from '@keystore/core';

/**
 * The machine policy's verdict on this provider.
 *
 * @since 0.2.0
 */
export interface MachineVerdict {
  /** Why the machine policy refuses the provider, one sentence each; empty when it does not. */
  readonly reasons: readonly string[];
  /** Where the machine policy came from (a file path, or a note), or `null` when there is none. */
  readonly source: string | null;
}

/**
 * The reasons a machine policy refuses the CryptoAPI provider: it denies legacy CryptoAPI, sets an
 * isolation floor above `in-process`, denies the `capi` provider, or allows only other providers.
 * Fields the machine policy leaves unset refuse nothing (the app's policy and the defaults are the
 * key store's business).
 *
 * @param policy - The machine policy (already validated).
 * @param source - Where it came from, named in each reason.
 * @example
 * ```ts
 * machinePolicyRefusals({ legacyCryptoApi: 'deny' }, 'C:\\ProgramData\\keystore\\policy.json');
 * // ['the machine policy (C:\\ProgramData\\keystore\\policy.json) denies legacy CryptoAPI (/legacyCryptoApi: deny) …']
 * ```
 * @since 0.2.0
 */
export function machinePolicyRefusals(policy: KeyStorePolicy, source: string): string[] {
  const reasons: string[] = [];
  const by = `the machine policy (${source})`;
  if (policy.legacyCryptoApi === 'deny') {
    reasons.push(`${by} denies legacy CryptoAPI (/legacyCryptoApi: deny), which no app policy can override`);
  }
  if (policy.minimumIsolation !== undefined && !isAtLeast('in-process', policy.minimumIsolation)) {
    reasons.push(
      `${by} sets the isolation floor to ${policy.minimumIsolation} (/minimumIsolation), above the in-process isolation of CryptoAPI keys`,
    );
  }
  if (policy.providers?.deny?.includes('capi')) reasons.push(`${by} denies the capi provider (/providers/deny)`);
  if (policy.providers?.allow !== undefined && !policy.providers.allow.includes('capi')) {
    reasons.push(`${by} does not list capi in /providers/allow`);
  }
  return reasons;
}

/**
 * Reads the machine policy (unless `given`) and judges the provider. `given` `null` means none; an
 * object is validated and used. Reading fails closed, as in the key store: a policy file that is
 * named but missing, unreadable or invalid rejects with its error.
 */
export async function judgeMachinePolicy(
  given: KeyStorePolicy | null | undefined,
  env: NodeJS.ProcessEnv | undefined,
  signal?: AbortSignal,
): Promise<MachineVerdict> {
  throwIfAborted(signal);
  if (given === null) return { reasons: [], source: null };
  if (given !== undefined) {
    const policy = parsePolicy(given, 'machine policy');
    return {
      reasons: machinePolicyRefusals(policy, 'given to the capi provider'),
      source: 'given to the capi provider',
    };
  }
  const loaded = await loadMachinePolicy({ ...(env === undefined ? {} : { env }), ...(signal ? { signal } : {}) });
  // On Windows, Group Policy's registry key is a machine policy too (read with reg.exe; elsewhere nothing).
  const registry = await registryPolicy(signal);
  const reasons = [
    ...(loaded.policy === null ? [] : machinePolicyRefusals(loaded.policy, loaded.path)),
    ...(registry.policy === null ? [] : machinePolicyRefusals(registry.policy, registry.key)),
  ];
  const sources = [loaded.policy === null ? null : loaded.path, registry.policy === null ? null : registry.key].filter(
    (x): x is string => x !== null,
  );
  return { reasons, source: sources.length === 0 ? null : sources.join(' and ') };
}

/** How long a registry read is reused: reg.exe takes 50–200 ms, and Group Policy refreshes in minutes. */
const REGISTRY_TTL_MS = 30_000;
let registryCache: { at: number; value: Promise<{ policy: KeyStorePolicy | null; key: string }> } | undefined;

function registryPolicy(signal: AbortSignal | undefined): Promise<{ policy: KeyStorePolicy | null; key: string }> {
  const now = Date.now();
  if (registryCache === undefined || now - registryCache.at > REGISTRY_TTL_MS) {
    const value = loadRegistryPolicy();
    registryCache = { at: now, value };
    // A failed read (fail closed) is not kept: the next operation reads again.
    value.catch(() => {
      if (registryCache?.value === value) registryCache = undefined;
    });
  }
  throwIfAborted(signal);
  return registryCache.value;
}

/** The error for an operation the machine policy refuses. */
export function refusedByMachine(verdict: MachineVerdict): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_POLICY_VIOLATION',
    `the CryptoAPI provider is disabled by the machine policy: ${verdict.reasons.join('; ')}`,
    {
      providerId: 'capi',
      hint: "a machine policy is set by the machine's administrators; move keys to CNG (keystore migrate --from capi:NAME --to cng) rather than loosen it",
    },
  );
}
