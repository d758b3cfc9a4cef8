/**
 * Human-readable rendering shared by commands.
 *
 * @module
 */
import { type EffectivePolicy, type IsolationReceipt, type PolicySource, REGISTRY_POLICY_KEY } from '@keystore/core';

/** The value at an RFC 6901 JSON pointer. */
function atPointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let current: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[token];
  }
  return current;
}

function show(value: unknown): string {
  if (value === null) return 'all';
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(', ');
  return String(value);
}

/** Where a policy field's value came from, in words. */
export function describeSource(source: PolicySource, policy: EffectivePolicy): string {
  switch (source) {
    case 'default':
      return 'the built-in default';
    case 'app':
      return 'the app policy (--policy)';
    case 'machine':
      return `the machine policy file${policy.machinePolicyPath ? ` ${policy.machinePolicyPath}` : ''}`;
    case 'machine-env':
      return `the machine policy file named by KEYSTORE_MACHINE_POLICY${policy.machineEnvPolicyPath ? ` ${policy.machineEnvPolicyPath}` : ''}`;
    case 'registry':
      return `the registry policy ${policy.registryPolicyKey ?? REGISTRY_POLICY_KEY}`;
  }
}

/**
 * The effective policy as lines: one per field, with its source. The registry policy is named when
 * one was read, and on Windows also when none was.
 */
export function describePolicy(
  policy: EffectivePolicy,
  lookedAt?: string,
  platform: NodeJS.Platform = process.platform,
): string[] {
  const machine = policy.machinePolicyPath ?? (lookedAt === undefined ? 'none' : `none, no file at ${lookedAt}`);
  const registry =
    policy.registryPolicyKey ?? (platform === 'win32' ? `none, no key ${REGISTRY_POLICY_KEY}` : undefined);
  const named = policy.machineEnvPolicyPath ? `; KEYSTORE_MACHINE_POLICY: ${policy.machineEnvPolicyPath}` : '';
  const lines = [
    `Effective policy (machine policy: ${machine}${named}${registry === undefined ? '' : `; registry policy: ${registry}`}):`,
  ];
  const entries = Object.entries(policy.sources);
  const width = Math.max(0, ...entries.map(([pointer]) => pointer.length)) + 2;
  const values = entries.map(([pointer]) => show(atPointer(policy, pointer)));
  const valueWidth = Math.min(26, Math.max(0, ...values.map((v) => v.length)) + 2);
  entries.forEach(([pointer, source], i) => {
    lines.push(`  ${pointer.padEnd(width)}${(values[i] ?? '').padEnd(valueWidth - 1)} (${source})`);
  });
  for (const m of policy.pkcs11Modules ?? []) {
    const token = m.tokenLabel === undefined ? 'every token' : `token "${m.tokenLabel}"`;
    lines.push(`  PKCS#11 module ${m.path} (${token}): ${m.isolation}, declared by the machine policy (${m.source})`);
  }
  return lines;
}

/** An isolation receipt as lines. */
export function describeReceipt(receipt: IsolationReceipt): string[] {
  const how =
    receipt.basis === 'declared'
      ? `declared by the machine policy, reported by ${receipt.providerId} at ${receipt.measuredAt}`
      : `measured by ${receipt.providerId} at ${receipt.measuredAt}`;
  const lines = [`  isolation:  ${receipt.level} (${how})`];
  for (const evidence of receipt.evidence) lines.push(`              - ${evidence}`);
  return lines;
}
