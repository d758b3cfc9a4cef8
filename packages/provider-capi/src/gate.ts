/**
 * The provider's own check of the machine policy: a machine that denies legacy CryptoAPI, or that
 * limits exportable keys, algorithms or scopes, is obeyed even by code that calls this provider
 * without a key store.
 *
 * @module
 */
import {
  algorithmInfo,
  isAtLeast,
  KeyStoreError,
  type KeyStorePolicy,
  loadMachinePolicy,
  loadRegistryPolicy,
  type PolicyRequest,
  throwIfAborted,
} from '@keystore/core';
import type { TEST_POLICY_SOURCES, TestPolicySources } from '@keystore/core/testing';

/**
 * The key of the test hatch option: the same `Symbol.for` key that `@keystore/core/testing` exports
 * as `TEST_POLICY_SOURCES` (read here without loading the testing entry in production).
 */
export const POLICY_SOURCES_KEY = Symbol.for('@keystore/core/testing/policySources') as typeof TEST_POLICY_SOURCES;

/**
 * The machine policy's verdict on this provider.
 *
 * @since 0.2.0
 */
export interface MachineVerdict {
  /** Why the machine policy refuses the provider, one sentence each; empty when it does not. */
  readonly reasons: readonly string[];
  /**
   * Where the machine policy came from (a file path, the registry key, both joined by " and ", or a
   * note), or `null` when there is none.
   */
  readonly source: string | null;
  /**
   * Each machine policy that was read, with where it came from: the file, the registry key, or both.
   * Their request rules (exportable keys, algorithms, RSA size, scopes) are judged per operation.
   */
  readonly policies: readonly { readonly policy: KeyStorePolicy; readonly source: string }[];
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
 * The reasons a machine policy refuses one request to the CryptoAPI provider: an exportable key
 * where it sets `exportable.create` to `false`, an export where it sets `exportable.export` to
 * `false`, an algorithm outside its `allowedAlgorithms` or below its `minimumRsaBits`, a scope
 * outside its `allowedScopes`. As in {@link machinePolicyRefusals}, fields the machine policy leaves
 * unset refuse nothing.
 *
 * @param policy - The machine policy (already validated).
 * @param source - Where it came from, named in each reason.
 * @param request - What is asked: the parts left out are not judged.
 * @example
 * ```ts
 * machineRequestRefusals({ exportable: { create: false } }, 'HKLM\\SOFTWARE\\Policies\\keystore', { exportable: true });
 * // ['the machine policy (HKLM\\SOFTWARE\\Policies\\keystore) forbids creating exportable keys (/exportable/create: false)']
 * ```
 * @since 0.2.0
 */
export function machineRequestRefusals(policy: KeyStorePolicy, source: string, request: PolicyRequest): string[] {
  const reasons: string[] = [];
  const by = `the machine policy (${source})`;
  const { algorithm, scope } = request;
  if (algorithm !== undefined) {
    if (policy.allowedAlgorithms !== undefined && !policy.allowedAlgorithms.includes(algorithm)) {
      reasons.push(`${by} does not list ${algorithm} in /allowedAlgorithms`);
    }
    const info = algorithmInfo(algorithm);
    if (policy.minimumRsaBits !== undefined && info.family === 'rsa' && info.bits < policy.minimumRsaBits) {
      reasons.push(
        `${by} sets /minimumRsaBits to ${policy.minimumRsaBits}, above the ${info.bits} bits of ${algorithm}`,
      );
    }
  }
  if (scope !== undefined && policy.allowedScopes !== undefined && !policy.allowedScopes.includes(scope)) {
    reasons.push(`${by} does not list the ${scope} scope in /allowedScopes`);
  }
  if (request.exportable === true && policy.exportable?.create === false) {
    reasons.push(`${by} forbids creating exportable keys (/exportable/create: false)`);
  }
  if (request.exportPrivateKey === true && policy.exportable?.export === false) {
    reasons.push(`${by} forbids exporting private keys (/exportable/export: false)`);
  }
  return reasons;
}

/**
 * How long a registry read is reused by default: reg.exe takes 50–200 ms, and Group Policy
 * refreshes in minutes.
 */
const REGISTRY_CACHE_MS = 30_000;

/** Where the gate gets the machine policy from: the machine, unless the test hatch replaces a source. */
interface MachinePolicyGateOptions {
  sources?: TestPolicySources | undefined;
  registryCacheMs?: number | undefined;
}

type RegistryRead = { policy: KeyStorePolicy | null; key: string };

/**
 * One provider's view of the machine policy: the file (read on every operation: it is cheap) and,
 * on Windows, the registry key `HKLM\SOFTWARE\Policies\keystore` (reused for `registryCacheMs`).
 * Every source applies: the file at the fixed path, the file `KEYSTORE_MACHINE_POLICY` names, the
 * registry; only the test hatch replaces one (each replacement is published as an audit event).
 * Reading fails closed, as in the key store.
 */
export class MachinePolicyGate {
  readonly #options: MachinePolicyGateOptions;
  #registry: { at: number; value: Promise<RegistryRead> } | undefined;

  constructor(options: MachinePolicyGateOptions) {
    this.#options = options;
  }

  /** Reads the machine policies and judges the provider (not a request). */
  async judge(signal?: AbortSignal): Promise<MachineVerdict> {
    throwIfAborted(signal);
    const policies: { policy: KeyStorePolicy; source: string }[] = [];
    const { sources } = this.#options;
    const files = await loadMachinePolicy({
      ...(signal ? { signal } : {}),
      ...(sources === undefined ? {} : { [POLICY_SOURCES_KEY]: sources }),
    });
    if (files.policy !== null) {
      const replaced = sources?.machinePolicy !== undefined;
      policies.push({
        policy: files.policy,
        source: replaced ? 'the machinePolicy test option of the capi provider' : files.path,
      });
    }
    if (files.envPolicy !== null && files.envPath !== null)
      policies.push({ policy: files.envPolicy, source: files.envPath });
    // On Windows, Group Policy's registry key is a machine policy too (elsewhere nothing is read).
    const read = await this.#readRegistry(signal);
    if (read.policy !== null) {
      const replaced = sources?.registryPolicy !== undefined;
      policies.push({
        policy: read.policy,
        source: replaced ? 'the registryPolicy test option of the capi provider' : read.key,
      });
    }
    throwIfAborted(signal);
    return {
      reasons: policies.flatMap(({ policy, source }) => machinePolicyRefusals(policy, source)),
      source: policies.length === 0 ? null : policies.map((p) => p.source).join(' and '),
      policies,
    };
  }

  #readRegistry(signal: AbortSignal | undefined): Promise<RegistryRead> {
    const now = Date.now();
    const ttl = this.#options.registryCacheMs ?? REGISTRY_CACHE_MS;
    const cached = this.#registry;
    if (cached !== undefined && now - cached.at < ttl) return cached.value;
    const { sources } = this.#options;
    // The read is shared by every operation within the cache time, so no one operation's signal
    // cancels it; each operation checks its own signal when the read is done.
    const value = loadRegistryPolicy(sources === undefined ? {} : { [POLICY_SOURCES_KEY]: sources });
    this.#registry = { at: now, value };
    // A failed read (fail closed) is not kept: the next operation reads again.
    value.catch(() => {
      if (this.#registry?.value === value) this.#registry = undefined;
    });
    throwIfAborted(signal);
    return value;
  }
}

/** Every reason the machine policies refuse a request (not the provider). */
export function requestRefusals(verdict: MachineVerdict, request: PolicyRequest): string[] {
  return verdict.policies.flatMap(({ policy, source }) => machineRequestRefusals(policy, source, request));
}

/** The error for an operation the machine policy refuses: the provider as a whole, or this request. */
export function refusedByMachine(reasons: readonly string[], what: 'provider' | 'request'): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_POLICY_VIOLATION',
    what === 'provider'
      ? `the CryptoAPI provider is disabled by the machine policy: ${reasons.join('; ')}`
      : `the machine policy refuses this request to the CryptoAPI provider: ${reasons.join('; ')}`,
    {
      providerId: 'capi',
      hint:
        what === 'provider'
          ? "a machine policy is set by the machine's administrators; move keys to CNG (keystore migrate --from capi:NAME --to cng) rather than loosen it"
          : "a machine policy is set by the machine's administrators; ask for what it allows (a non-exportable key, an allowed algorithm and scope)",
    },
  );
}
