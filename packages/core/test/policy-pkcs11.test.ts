// The policy's PKCS#11 section: only the machine policy file at the fixed path and the registry may
// declare a module (a declaration raises the isolation of a module's keys); the app's policy and the
// file KEYSTORE_MACHINE_POLICY names, which may only tighten, are refused when they try.
import { KeyStoreError, type KeyStorePolicy, mergePolicies, policyToJson, validatePolicy } from '@keystore/core';
import { resolveTestPolicy } from '@keystore/core/testing';
import { describe, expect, it } from 'vitest';

const declaring: KeyStorePolicy = {
  pkcs11: { modules: [{ path: '/opt/hsm/lib/libcryptoki.so', tokenLabel: 'prod', isolation: 'hardware' }] },
};

function refusal(action: () => unknown): KeyStoreError {
  try {
    action();
  } catch (err) {
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_INVALID_POLICY')).toBe(true);
    return err as KeyStoreError;
  }
  throw new Error('expected ERR_KEYSTORE_INVALID_POLICY');
}

describe('pkcs11.modules in the policy', () => {
  it('is a valid document section (a machine policy file may hold it)', () => {
    expect(validatePolicy(declaring)).toEqual([]);
  });

  it('declared by the machine file and the registry: in the effective policy, each with its source', () => {
    const effective = mergePolicies(null, declaring, '/etc/keystore/policy.json', {
      registry: { pkcs11: { modules: [{ path: 'C:\\HSM\\cryptoki.dll', isolation: 'hardware' }] } },
    });
    expect(effective.pkcs11Modules).toEqual([
      { path: '/opt/hsm/lib/libcryptoki.so', tokenLabel: 'prod', isolation: 'hardware', source: 'machine' },
      { path: 'C:\\HSM\\cryptoki.dll', isolation: 'hardware', source: 'registry' },
    ]);
    const json = policyToJson(effective);
    expect(json.policy.pkcs11?.modules).toHaveLength(2);
    expect(json.pkcs11ModuleSources).toEqual(['machine', 'registry']);
    expect(validatePolicy(json.policy)).toEqual([]);
  });

  it('none declared: empty, and absent from the JSON form', () => {
    const effective = mergePolicies({ minimumIsolation: 'none' }, { minimumIsolation: 'in-process' });
    expect(effective.pkcs11Modules).toEqual([]);
    expect(policyToJson(effective).policy.pkcs11).toBeUndefined();
  });

  it('an app policy that declares a module is refused, with the pointer and a hint', () => {
    const err = refusal(() => mergePolicies(declaring, null));
    expect(err.issues.map((i) => i.pointer)).toEqual(['/pkcs11/modules']);
    expect(err.hint).toContain('machine');
    // Even when the machine policy declares the same module.
    refusal(() => mergePolicies(declaring, declaring));
  });

  it('the file KEYSTORE_MACHINE_POLICY names may not declare one either', () => {
    const err = refusal(() =>
      mergePolicies(null, null, null, { machineEnv: declaring, machineEnvPolicyPath: '/tmp/p.json' }),
    );
    expect(err.message).toContain('KEYSTORE_MACHINE_POLICY');
  });

  it('through resolvePolicy: the machine file declares, an app policy cannot', async () => {
    const effective = await resolveTestPolicy({ machine: declaring, registry: null, env: {} });
    expect(effective.pkcs11Modules?.map((m) => m.source)).toEqual(['machine']);
    await expect(resolveTestPolicy({ app: declaring, machine: null, registry: null, env: {} })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_INVALID_POLICY',
    });
  });
});
