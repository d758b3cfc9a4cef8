// How the CLI shows a receipt whose level the machine policy declared, and the declared PKCS#11
// modules of an effective policy: "declared", never "measured".
import { mergePolicies } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { describePolicy, describeReceipt } from '../src/commands/format.js';

describe('declared isolation in CLI output', () => {
  it('a declared receipt says declared by the machine policy, not measured', () => {
    const [first] = describeReceipt({
      level: 'hardware',
      providerId: 'pkcs11',
      measuredAt: '2026-12-02T00:00:00.000Z',
      evidence: ['declared'],
      basis: 'declared',
    });
    expect(first).toContain('hardware (declared by the machine policy');
    expect(first).not.toContain('measured');
    const [measured] = describeReceipt({ level: 'hardware', providerId: 'tpm', measuredAt: 'now', evidence: [] });
    expect(measured).toContain('measured by tpm');
  });

  it('the effective policy lists each declared module with its level and source', () => {
    const policy = mergePolicies(null, {
      pkcs11: { modules: [{ path: '/opt/hsm/libcryptoki.so', tokenLabel: 'prod', isolation: 'hardware' }] },
    });
    expect(describePolicy(policy, '/etc/keystore/policy.json', 'linux')).toContain(
      '  PKCS#11 module /opt/hsm/libcryptoki.so (token "prod"): hardware, declared by the machine policy (machine)',
    );
  });
});
