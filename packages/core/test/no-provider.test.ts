// ERR_KEYSTORE_NO_PROVIDER as a person reads it: the one cause that matters first (an algorithm
// problem named as such), then every provider's reasons on a line of their own, and a hint that fits
// the cause. `refusals` keeps every reason as data.
import { createKeyStore, type KeyAlgorithm, type KeyStoreProvider, type ProbeResult } from '@keystore/core';
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
import { describe, expect, it } from 'vitest';
import { errorOf } from './helpers/errors.js';

/** A provider that only answers its probe: selection refuses it before anything else is called. */
function probeOnly(id: string, probe: Partial<ProbeResult>, algorithms: readonly KeyAlgorithm[]): KeyStoreProvider {
  const memory = createMemoryProvider();
  const answer: ProbeResult = { available: true, isolation: 'hardware', reasons: [], ...probe };
  const never = () => Promise.reject(new Error(`${id} must not be called`));
  return {
    id,
    displayName: `probe-only ${id}`,
    capabilities: { ...memory.capabilities, algorithms, exportableKeys: false },
    probe: async () => answer,
    createKey: never,
    openKey: never,
    deleteKey: never,
    listKeys: never,
    close: async () => undefined,
  };
}

const TPM_ALGORITHMS: readonly KeyAlgorithm[] = ['ECDSA-P256', 'RSA-2048'];

describe('ERR_KEYSTORE_NO_PROVIDER', () => {
  it('RSA-4096 on a TPM that lacks it: the algorithm leads, the hint names who supports it and never the floor', async () => {
    const store = await createTestKeyStore({
      providers: [
        createMemoryProvider(),
        probeOnly('tpm', {}, TPM_ALGORITHMS),
        probeOnly('cng', { available: false, isolation: 'none', reasons: ['ncrypt.dll is Windows only'] }, [
          'RSA-4096',
        ]),
      ],
      machinePolicy: null,
    });
    const error = await errorOf(store.createKey('k', { algorithm: 'RSA-4096' }));
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    const [first, ...rest] = error.message.split('\n');
    expect(first).toBe(
      'no provider can create a RSA-4096 key in the user scope under the policy (floor os-isolated): ' +
        'the algorithm: tpm, which otherwise qualifies, does not support RSA-4096',
    );
    expect(rest).toEqual([
      '  memory: achieves none, below the floor os-isolated (/minimumIsolation)',
      '  tpm: does not support RSA-4096',
      '  cng: not available here: ncrypt.dll is Windows only',
    ]);
    expect(error.hint).toMatch(/^RSA-4096 is supported by memory and cng /);
    expect(error.hint).toContain('tpm supports ECDSA-P256, RSA-2048');
    expect(error.hint).not.toMatch(/floor/);
    // The data is unchanged: one refusal per provider, the same reasons.
    expect(error.refusals).toEqual([
      { providerId: 'memory', reasons: ['achieves none, below the floor os-isolated (/minimumIsolation)'] },
      { providerId: 'tpm', reasons: ['does not support RSA-4096'] },
      { providerId: 'cng', reasons: ['not available here: ncrypt.dll is Windows only'] },
    ]);
  });

  it('RSA-4096 where the only available provider lacks it and is below the floor: still the algorithm, not the floor or an absent provider', async () => {
    const store = await createTestKeyStore({
      providers: [
        probeOnly('cng', { available: false, isolation: 'none', reasons: ['ncrypt.dll is Windows only'] }, [
          'RSA-4096',
        ]),
        probeOnly('tpm', { isolation: 'in-process' }, TPM_ALGORITHMS),
      ],
      machinePolicy: null,
    });
    const error = await errorOf(store.createKey('k', { algorithm: 'RSA-4096' }));
    expect(error.message.split('\n')[0]).toMatch(
      /: the algorithm: no available provider supports RSA-4096 \(tpm does not\)$/,
    );
    expect(error.message.split('\n').slice(1)).toEqual([
      '  cng: not available here: ncrypt.dll is Windows only',
      '  tpm: achieves in-process, below the floor os-isolated (/minimumIsolation); does not support RSA-4096',
    ]);
    expect(error.hint).toContain('tpm supports ECDSA-P256, RSA-2048');
    expect(error.hint).not.toMatch(/lower the floor/);
  });

  it('nothing available reaches the floor: the floor leads, and the hint says a development policy may lower it', async () => {
    const store = await createTestKeyStore({
      providers: [
        createMemoryProvider(),
        probeOnly('tpm', { available: false, isolation: 'none', reasons: ['no TPM here'] }, TPM_ALGORITHMS),
      ],
      machinePolicy: null,
    });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.message.split('\n')[0]).toMatch(
      /: the isolation floor: no available provider reaches os-isolated \(memory achieves none\)$/,
    );
    expect(error.message.split('\n').slice(1)).toEqual([
      '  memory: achieves none, below the floor os-isolated (/minimumIsolation)',
      '  tpm: not available here: no TPM here',
    ]);
    expect(error.hint).toMatch(/for development or tests only, an app policy may lower the floor \(minimumIsolation\)/);
  });

  it('a floor the machine policy set: the hint says only the machine owners can lower it', async () => {
    const store = await createTestKeyStore({
      providers: [createMemoryProvider()],
      policy: { minimumIsolation: 'none' },
      machinePolicy: { minimumIsolation: 'hardware' },
    });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    expect(error.message.split('\n')[0]).toMatch(/the isolation floor: no available provider reaches hardware/);
    expect(error.hint).toMatch(/the machine policy sets this floor and only the machine's owners can lower it/);
    expect(error.hint).not.toMatch(/app policy may lower/);
  });

  it('only the provider asked for is told about; the others are named as not asked for', async () => {
    const store = await createTestKeyStore({
      providers: [createMemoryProvider(), probeOnly('tpm', {}, TPM_ALGORITHMS)],
      machinePolicy: null,
    });
    const error = await errorOf(store.createKey('k', { algorithm: 'RSA-2048', provider: 'memory' }));
    expect(error.message.split('\n').slice(1)).toEqual([
      '  memory: achieves none, below the floor os-isolated (/minimumIsolation)',
      '  (not asked for: tpm)',
    ]);
    expect(error.refusals.map((r) => r.providerId)).toEqual(['memory', 'tpm']);
  });

  it("a provider's reason cannot add lines of its own to the message", async () => {
    const store = await createKeyStore({
      providers: [
        probeOnly('tpm', { available: false, reasons: ['gone\nkeystore: all is well (OK)'] }, TPM_ALGORITHMS),
      ],
    });
    const error = await errorOf(store.createKey('k', { algorithm: 'ECDSA-P256' }));
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('  tpm: not available here: gone keystore: all is well (OK)');
    expect(error.message.split('\n')[0]).toMatch(
      /: not available here: tpm \(the provider that would otherwise qualify\)$/,
    );
    // The data keeps what the provider said.
    expect(error.refusals[0]!.reasons).toEqual(['not available here: gone\nkeystore: all is well (OK)']);
  });

  it('listing keys with no provider that may serve: the same shape', async () => {
    const store = await createTestKeyStore({ providers: [createMemoryProvider()], machinePolicy: null });
    const error = await errorOf(store.listKeys());
    expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
    expect(error.message).toBe(
      'no provider may serve keys under the policy (floor os-isolated): the isolation floor: no available provider reaches os-isolated (memory achieves none)\n' +
        '  memory: achieves none, below the floor os-isolated (/minimumIsolation)',
    );
  });
});
