/**
 * The isolation of a module's keys on SoftHSM2: `in-process` unless the machine policy declares the
 * module, then the declared level, with receipts that say it was declared. The machine policy is
 * replaced through the core's test hatch (TEST_POLICY_SOURCES), as only code can.
 */
import type { KeyStorePolicy } from '@keystore/core';
import { createTestKeyStore, TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pkcs11Provider } from '../src/provider.js';
import { createSoftHsmToken, HAVE_SOFTHSM, NEEDS_SOFTHSM, type SoftHsmToken } from './helpers/softhsm.js';

describe.skipIf(!HAVE_SOFTHSM)(`declared isolation on SoftHSM2${HAVE_SOFTHSM ? '' : ` (${NEEDS_SOFTHSM})`}`, () => {
  let token: SoftHsmToken;
  const providers: Pkcs11Provider[] = [];
  const make = (machine: KeyStorePolicy | null) => {
    const p = new Pkcs11Provider({
      module: token.module,
      tokenLabel: token.label,
      pin: token.pin,
      [TEST_POLICY_SOURCES]: { machinePolicy: machine, registryPolicy: null, env: {} },
    });
    providers.push(p);
    return p;
  };
  const declare = (tokenLabel?: string): KeyStorePolicy => ({
    pkcs11: { modules: [{ path: token.module, ...(tokenLabel ? { tokenLabel } : {}), isolation: 'hardware' }] },
  });

  beforeAll(() => {
    token = createSoftHsmToken();
  });
  afterAll(async () => {
    for (const p of providers) await p.close();
    token.dispose();
  });

  it('undeclared: in-process, and the receipt says why', async () => {
    const p = make(null);
    const probe = await p.probe();
    expect(probe.isolation).toBe('in-process');
    // What `keystore doctor` shows: nothing declared, from nowhere.
    expect(probe.details).toMatchObject({
      declaredLevel: 'none',
      policySource: 'none',
      isolationBasis: 'not declared',
    });
    const key = await p.createKey({ name: 'plain', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    expect(key.isolation.level).toBe('in-process');
    expect(key.isolation.basis).toBeUndefined();
    expect(key.isolation.evidence.join(' ')).toContain('not declared in the machine policy');
  });

  it('declared hardware for this token: the keys are hardware, declared by the machine policy, never "measured"', async () => {
    const p = make(declare(token.label));
    const probe = await p.probe();
    expect(probe.isolation).toBe('hardware');
    // What `keystore doctor` shows: the declared level and the policy source it came from.
    expect(probe.details).toMatchObject({
      declaredLevel: 'hardware',
      isolationBasis: 'declared by the machine policy',
    });
    expect(String(probe.details?.policySource)).toMatch(/^machine: /);
    const key = await p.openKey({ name: 'plain', scope: 'user' });
    expect(key.isolation.level).toBe('hardware');
    expect(key.isolation.basis).toBe('declared');
    const evidence = key.isolation.evidence.join(' ');
    expect(evidence).toContain('declared by the machine policy (machine');
    expect(evidence).not.toMatch(/measured/i);
  });

  it('declared for another token label: not this token, so in-process', async () => {
    expect((await make(declare('some-other-token')).probe()).isolation).toBe('in-process');
  });

  it('a key store with a hardware floor uses the module only when the machine policy declares it', async () => {
    const policy = { minimumIsolation: 'hardware' } as const;
    const undeclared = await createTestKeyStore({
      providers: [make(null)],
      policy,
      machinePolicy: null,
      registryPolicy: null,
      env: {},
    });
    await expect(undeclared.createKey('floor', { algorithm: 'ECDSA-P256' })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_NO_PROVIDER',
    });
    const declared = await createTestKeyStore({
      providers: [make(declare())],
      policy,
      machinePolicy: declare(),
      registryPolicy: null,
      env: {},
    });
    const key = await declared.createKey('floor', { algorithm: 'ECDSA-P256' });
    expect(key.isolation.level).toBe('hardware');
  });
});
