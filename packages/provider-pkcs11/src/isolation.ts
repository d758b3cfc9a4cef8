/**
 * The isolation of a module's keys. Software cannot look behind a PKCS#11 module, so the level is
 * `in-process` (the module's code runs in the app's process) unless the machine policy declares the
 * module: then it is the level the machine's owners vouch for, and the receipt says it was declared.
 *
 * @module
 */
import { realpathSync, statSync } from 'node:fs';
import {
  type DeclaredPkcs11Module,
  type EffectivePolicy,
  type IsolationLevel,
  isolationRank,
  KeyStoreError,
  resolvePolicy,
} from '@keystore/core';
import type { TEST_POLICY_SOURCES, TestPolicySources } from '@keystore/core/testing';

/**
 * The key of the test hatch option: the same `Symbol.for` key that `@keystore/core/testing` exports
 * as `TEST_POLICY_SOURCES` (read here without loading the testing entry in production).
 */
export const POLICY_SOURCES_KEY = Symbol.for('@keystore/core/testing/policySources') as typeof TEST_POLICY_SOURCES;

/** A module's level, why, and whether it was declared. */
export interface ModuleIsolation {
  readonly level: IsolationLevel;
  readonly evidence: readonly string[];
  readonly basis: 'declared' | undefined;
  /** The level the machine policy declares for the module (honoured or not), if any. */
  readonly declared?: IsolationLevel;
  /** Where that declaration comes from (`machine: /etc/…`, `registry: HKLM\…`), if any. */
  readonly source?: string;
}

function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Why the module file cannot carry a declaration (another user could replace its code), or nothing. */
function untrustedFile(path: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    const stat = statSync(path);
    if (stat.uid !== 0) return `the module file ${path} is not owned by root`;
    if ((stat.mode & 0o022) !== 0) return `the module file ${path} can be written by group or others`;
  } catch (cause) {
    return `the module file ${path} could not be checked (${String(cause)})`;
  }
  return undefined;
}

function describeSource(policy: EffectivePolicy, declared: DeclaredPkcs11Module): string {
  if (declared.source === 'registry') return `registry: ${policy.registryPolicyKey ?? 'the registry policy'}`;
  return `${declared.source}: ${policy.machinePolicyPath ?? 'the machine policy file'}`;
}

const IN_PROCESS = (
  module: string,
  token: string,
  why: string,
  declaration: { declared?: IsolationLevel; source?: string } = {},
): ModuleIsolation => ({
  level: 'in-process',
  evidence: [
    `the PKCS#11 module ${module} (token "${token}") ${why}: its code runs in this process, and software cannot look behind a module`,
  ],
  basis: undefined,
  ...declaration,
});

/** The isolation of the keys of `module`'s token `tokenLabel`, from the machine policy's declarations. */
export async function moduleIsolation(
  module: string,
  tokenLabel: string,
  sources: TestPolicySources | undefined,
): Promise<ModuleIsolation> {
  let policy: EffectivePolicy;
  try {
    policy = await resolvePolicy(sources === undefined ? {} : { [POLICY_SOURCES_KEY]: sources });
  } catch (err) {
    const why = KeyStoreError.is(err) ? err.message : String(err);
    return IN_PROCESS(
      module,
      tokenLabel,
      `has no level the machine policy declares, because the machine policy could not be read (${why})`,
    );
  }
  const target = realPath(module);
  const matches = (policy.pkcs11Modules ?? []).filter(
    (d) =>
      target !== undefined &&
      realPath(d.path) === target &&
      (d.tokenLabel === undefined || d.tokenLabel === tokenLabel),
  );
  if (matches.length === 0) return IN_PROCESS(module, tokenLabel, 'is not declared in the machine policy');
  // Two declarations of one module: the weaker level holds.
  const declared = matches.reduce((a, b) => (isolationRank(b.isolation) < isolationRank(a.isolation) ? b : a));
  const untrusted = untrustedFile(target!);
  if (untrusted) {
    return IN_PROCESS(
      module,
      tokenLabel,
      `is declared ${declared.isolation} by the machine policy, but ${untrusted}, so the declaration is not honoured`,
      { declared: declared.isolation, source: describeSource(policy, declared) },
    );
  }
  return {
    level: declared.isolation,
    evidence: [
      `${declared.isolation} declared by the machine policy (${describeSource(policy, declared)}) for the PKCS#11 module ${declared.path}${declared.tokenLabel === undefined ? '' : ` token "${declared.tokenLabel}"`}; software cannot look behind a module, so this is the machine owners' declaration`,
    ],
    basis: 'declared',
    declared: declared.isolation,
    source: describeSource(policy, declared),
  };
}
