/**
 * The test hatch for machine policies: the only way to build a key store or an effective policy with
 * a machine policy source replaced or dropped. Each use is recorded in the effective policy's
 * `overrides`, shown by `explain()`, and published as a `policy.override` audit event.
 *
 * @module
 */
import { createKeyStore } from '../keystore.js';
import { type ResolvePolicyOptions, resolvePolicy } from '../policy/load.js';
import type { RegistryReader } from '../policy/registry.js';
import { POLICY_SOURCES, type TestPolicySources } from '../policy/sources.js';
import type { EffectivePolicy, KeyStore, KeyStorePolicy, KeyStoreProvider } from '../types.js';

/**
 * The symbol-keyed option that replaces machine policy sources, for options objects of the key store
 * and of providers that read the machine policy themselves (e.g. the CryptoAPI provider). Code only:
 * no JSON document or configuration file can hold a symbol key.
 *
 * @example
 * ```ts
 * import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
 * const provider = capiProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
 * ```
 * @since 0.3.0
 */
export const TEST_POLICY_SOURCES: typeof POLICY_SOURCES = POLICY_SOURCES;

export type { TestPolicySources };

/**
 * Options of {@link createTestKeyStore}: those of `createKeyStore`, and the machine policy sources to
 * replace.
 *
 * @since 0.3.0
 */
export interface TestKeyStoreOptions {
  /** The providers. */
  providers: readonly KeyStoreProvider[];
  /** The app's policy. */
  policy?: KeyStorePolicy;
  /** Replaces the file at the fixed path: `null` for none, a policy for that one. */
  machinePolicy?: KeyStorePolicy | null;
  /** Reads the fixed-path file from elsewhere, checked up to `trustRoot` (tests of the file checks). */
  machinePolicyFile?: { readonly path: string; readonly trustRoot: string };
  /** The environment `KEYSTORE_MACHINE_POLICY` is read from. */
  env?: NodeJS.ProcessEnv;
  /** The platform machine policies are looked for as. */
  platform?: NodeJS.Platform;
  /** Replaces the registry policy: `null` for none, a policy for that one. */
  registryPolicy?: KeyStorePolicy | null;
  /** Reads the registry key with this. */
  registryReader?: RegistryReader;
  /** Cancels reading the machine policy. */
  signal?: AbortSignal;
}

/** The replacements among `options`, or `undefined` when there are none. */
function sourcesOf(
  options: Omit<TestKeyStoreOptions, 'providers' | 'policy' | 'signal'>,
): TestPolicySources | undefined {
  const sources: { -readonly [K in keyof TestPolicySources]: TestPolicySources[K] } = {};
  if (options.machinePolicy !== undefined) sources.machinePolicy = options.machinePolicy;
  if (options.machinePolicyFile !== undefined) sources.machinePolicyFile = options.machinePolicyFile;
  if (options.env !== undefined) sources.env = options.env;
  if (options.platform !== undefined) sources.platform = options.platform;
  if (options.registryPolicy !== undefined) sources.registryPolicy = options.registryPolicy;
  if (options.registryReader !== undefined) sources.registryReader = options.registryReader;
  return Object.keys(sources).length === 0 ? undefined : sources;
}

/**
 * Creates a key store like `createKeyStore`, with machine policy sources replaced: for tests and
 * demos that must not depend on the machine's `/etc/keystore/policy.json`. Every replaced source is
 * recorded in `store.policy.overrides` and `explain().policyOverrides`, and published as a
 * `policy.override` audit event.
 *
 * @example
 * ```ts
 * import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
 * const store = await createTestKeyStore({
 *   providers: [createMemoryProvider()],
 *   policy: { minimumIsolation: 'none' },
 *   machinePolicy: null,
 *   registryPolicy: null,
 * });
 * store.policy.overrides.length; // 2
 * ```
 * @since 0.3.0
 */
export async function createTestKeyStore(options: TestKeyStoreOptions): Promise<KeyStore> {
  const { providers, policy, signal, ...rest } = options;
  const sources = sourcesOf(rest);
  return createKeyStore({
    providers,
    ...(policy === undefined ? {} : { policy }),
    ...(signal === undefined ? {} : { signal }),
    ...(sources === undefined ? {} : { [POLICY_SOURCES]: sources }),
  });
}

/**
 * Options of {@link resolveTestPolicy}: those of `resolvePolicy`, and the machine policy sources to
 * replace (`machine` and `registry` as `resolvePolicy` took them before 0.3.0).
 *
 * @since 0.3.0
 */
export interface ResolveTestPolicyOptions extends Omit<ResolvePolicyOptions, typeof POLICY_SOURCES> {
  /** Replaces the file at the fixed path: `null` for none, a policy for that one. */
  machine?: KeyStorePolicy | null;
  /** Reads the fixed-path file from elsewhere, checked up to `trustRoot`. */
  machinePolicyFile?: { readonly path: string; readonly trustRoot: string };
  /** The environment `KEYSTORE_MACHINE_POLICY` is read from. */
  env?: NodeJS.ProcessEnv;
  /** The platform machine policies are looked for as. */
  platform?: NodeJS.Platform;
  /** Replaces the registry policy: `null` for none, a policy for that one. */
  registry?: KeyStorePolicy | null;
  /** Reads the registry key with this. */
  registryReader?: RegistryReader;
}

/**
 * Builds an effective policy like `resolvePolicy`, with machine policy sources replaced, recorded in
 * its `overrides` and published as `policy.override` audit events.
 *
 * @example
 * ```ts
 * const effective = await resolveTestPolicy({ app: { minimumIsolation: 'none' }, machine: { minimumIsolation: 'hardware' }, registry: null });
 * effective.minimumIsolation; // 'hardware'
 * ```
 * @since 0.3.0
 */
export async function resolveTestPolicy(options: ResolveTestPolicyOptions = {}): Promise<EffectivePolicy> {
  const { app, signal, machine, registry, ...rest } = options;
  const sources = sourcesOf({
    ...rest,
    ...(machine === undefined ? {} : { machinePolicy: machine }),
    ...(registry === undefined ? {} : { registryPolicy: registry }),
  });
  return resolvePolicy({
    ...(app === undefined ? {} : { app }),
    ...(signal === undefined ? {} : { signal }),
    ...(sources === undefined ? {} : { [POLICY_SOURCES]: sources }),
  });
}
