/**
 * The one way to replace a machine policy source: a symbol-keyed option that only code can set (never
 * JSON, a config file or an environment variable), exported from `@keystore/core/testing` for tests
 * and tools. Every use of it is recorded as a {@link PolicyOverride} and published on the audit channel.
 *
 * @module
 */
import { publishAudit } from '../audit.js';
import { KeyStoreError } from '../errors.js';
import type { KeyStorePolicy, PolicyOverride } from '../types.js';
import type { RegistryReader } from './registry.js';

/**
 * The key of the option that replaces machine policy sources (`Symbol.for`, so that the ESM and
 * CommonJS builds agree on it). Exported from `@keystore/core/testing` as `TEST_POLICY_SOURCES`.
 */
export const POLICY_SOURCES: unique symbol = Symbol.for('@keystore/core/testing/policySources');

/**
 * Replacements for machine policy sources, for tests and tools. Each field that is set replaces that
 * source and is recorded as an override.
 *
 * @since 0.3.0
 */
export interface TestPolicySources {
  /** Replaces the machine policy file at the fixed path: `null` for none, a policy for that one. */
  readonly machinePolicy?: KeyStorePolicy | null;
  /**
   * Reads the fixed-path machine policy file from `path` instead, checking owners and modes up to
   * `trustRoot` (inclusive) instead of `/`: for tests of the file checks, which cannot write `/etc`.
   */
  readonly machinePolicyFile?: { readonly path: string; readonly trustRoot: string };
  /** The environment `KEYSTORE_MACHINE_POLICY` is read from, instead of `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** The platform, instead of `process.platform` (decides the file's path and whether the registry is read). */
  readonly platform?: NodeJS.Platform;
  /** Replaces the registry policy (`HKLM\SOFTWARE\Policies\keystore`): `null` for none, a policy for that one. */
  readonly registryPolicy?: KeyStorePolicy | null;
  /** Reads the registry key with this instead of `reg.exe`. */
  readonly registryReader?: RegistryReader;
}

/** An options object that may carry {@link POLICY_SOURCES}. */
export interface WithPolicySources {
  readonly [POLICY_SOURCES]?: TestPolicySources | undefined;
}

/** The replacements `options` carries, checked to be an object; `undefined` when none. */
export function policySourcesOf(options: object | undefined): TestPolicySources | undefined {
  const sources = (options as WithPolicySources | undefined)?.[POLICY_SOURCES];
  if (sources === undefined) return undefined;
  const invalid = (message: string) =>
    new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, {
      hint: 'see createTestKeyStore in @keystore/core/testing for the fields',
    });
  if (typeof sources !== 'object' || sources === null) throw invalid('the test policy sources must be an object');
  for (const field of ['machinePolicy', 'registryPolicy'] as const) {
    const value: unknown = sources[field];
    if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      throw invalid(`${field} must be a policy object, null or omitted`);
    }
  }
  if (sources.registryReader !== undefined && typeof sources.registryReader !== 'function') {
    throw invalid('registryReader must be a function');
  }
  const file: unknown = sources.machinePolicyFile;
  if (
    file !== undefined &&
    (typeof file !== 'object' ||
      file === null ||
      typeof (file as { path?: unknown }).path !== 'string' ||
      typeof (file as { trustRoot?: unknown }).trustRoot !== 'string')
  ) {
    throw invalid('machinePolicyFile must be { path, trustRoot } (two strings)');
  }
  return sources;
}

const describe = (policy: KeyStorePolicy | null | undefined) =>
  policy === null ? 'none: nothing is read' : 'replaced by the given policy';

/** The overrides `sources` makes of the machine policy files (fixed path and `KEYSTORE_MACHINE_POLICY`). */
export function fileOverrides(sources: TestPolicySources | undefined): PolicyOverride[] {
  if (sources === undefined) return [];
  const out: PolicyOverride[] = [];
  if (sources.machinePolicy !== undefined) {
    out.push({
      source: 'machine',
      by: 'option',
      name: 'machinePolicy',
      detail: `the machine policy file is ${describe(sources.machinePolicy)}`,
    });
  } else if (sources.machinePolicyFile !== undefined) {
    out.push({
      source: 'machine',
      by: 'option',
      name: 'machinePolicyFile',
      detail: `the machine policy file is read from ${sources.machinePolicyFile.path}, checked up to ${sources.machinePolicyFile.trustRoot}`,
    });
  }
  if (sources.platform !== undefined && sources.platform !== process.platform) {
    out.push({
      source: 'machine',
      by: 'option',
      name: 'platform',
      detail: `machine policies are looked for as on ${sources.platform}, not ${process.platform}`,
    });
  }
  if (sources.env !== undefined && sources.env !== process.env) {
    out.push({
      source: 'machine-env',
      by: 'option',
      name: 'env',
      detail: 'KEYSTORE_MACHINE_POLICY is read from the given environment, not the process environment',
    });
  }
  return out;
}

/** The overrides `sources` makes of the registry policy. */
export function registryOverrides(sources: TestPolicySources | undefined): PolicyOverride[] {
  if (sources === undefined) return [];
  const out: PolicyOverride[] = [];
  if (sources.registryPolicy !== undefined) {
    out.push({
      source: 'registry',
      by: 'option',
      name: 'registryPolicy',
      detail: `the registry policy is ${describe(sources.registryPolicy)}`,
    });
  } else if (sources.registryReader !== undefined) {
    out.push({
      source: 'registry',
      by: 'option',
      name: 'registryReader',
      detail: 'the registry policy is read by the given reader',
    });
  }
  return out;
}

/** Publishes a `policy.override` audit event for each override. */
export function publishOverrides(overrides: readonly PolicyOverride[]): void {
  const time = new Date().toISOString();
  for (const override of overrides) publishAudit(() => ({ type: 'policy.override', time, ...override }));
}
