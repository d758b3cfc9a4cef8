import {
  type IsolationLevel,
  KEY_ALGORITHMS,
  KeyStoreError,
  type KeyStorePolicy,
  type KeyStoreProvider,
  mergePolicies,
  type ProbeResult,
  type ProviderCapabilities,
  probeAll,
  type SelectionCandidate,
  selectProvider,
} from '@keystore/core';
import { describe, expect, it } from 'vitest';

/** A fake provider for selection: only `id`, `capabilities` and `probe` matter here. */
function fakeProvider(
  id: string,
  probe: Partial<ProbeResult> | (() => Promise<ProbeResult>) = {},
  caps: Partial<ProviderCapabilities> = {},
): KeyStoreProvider {
  const capabilities: ProviderCapabilities = {
    algorithms: [...KEY_ALGORITHMS],
    operations: ['sign', 'decrypt', 'derive'],
    scopes: ['user', 'machine'],
    exportableKeys: true,
    passwords: true,
    legacyCryptoApi: false,
    rsaSignaturePaddings: ['pkcs1', 'pss'],
    oaepHashes: ['sha1', 'sha256', 'sha384', 'sha512'],
    ...caps,
  };
  const answer: ProbeResult = { available: true, isolation: 'os-isolated', reasons: [], ...(probe as object) };
  const refuse = () => Promise.reject(new Error('fake: not used in selection tests'));
  return {
    id,
    displayName: `fake ${id}`,
    capabilities,
    probe: typeof probe === 'function' ? probe : async () => answer,
    createKey: refuse,
    openKey: refuse,
    listKeys: refuse,
    deleteKey: refuse,
  };
}

async function candidates(...providers: KeyStoreProvider[]): Promise<SelectionCandidate[]> {
  return probeAll(providers);
}

function policy(app: KeyStorePolicy = {}, machine: KeyStorePolicy | null = null) {
  return mergePolicies(app, machine);
}

const at = (id: string, isolation: IsolationLevel, caps: Partial<ProviderCapabilities> = {}) =>
  fakeProvider(id, { isolation }, caps);

describe('selectProvider: filters', () => {
  it('refuses a provider below the floor, naming the achieved level, the floor and /minimumIsolation', async () => {
    const c = await candidates(at('weak', 'in-process'), at('good', 'os-isolated'));
    const e = selectProvider(c, policy(), { algorithm: 'ECDSA-P256' });
    expect(e.selected).toBe('good');
    expect(e.minimumIsolation).toBe('os-isolated');
    const weak = e.providers.find((v) => v.providerId === 'weak')!;
    expect(weak.eligible).toBe(false);
    expect(weak.rank).toBeNull();
    expect(weak.reasons).toEqual(['achieves in-process, below the floor os-isolated (/minimumIsolation)']);
  });

  it('never downgrades: when only providers below the floor are available, nothing is selected', async () => {
    const c = await candidates(at('memory', 'none'), at('capi', 'in-process'));
    const e = selectProvider(c, policy({ minimumIsolation: 'hardware' }), { algorithm: 'RSA-2048' });
    expect(e.selected).toBeNull();
    expect(e.providers.every((v) => !v.eligible && !v.selected && v.rank === null)).toBe(true);
    for (const v of e.providers) expect(v.reasons.join(' ')).toContain('below the floor hardware (/minimumIsolation)');
  });

  it('a provider exactly at the floor qualifies', async () => {
    const c = await candidates(at('tpm', 'hardware'));
    expect(selectProvider(c, policy({ minimumIsolation: 'hardware' }), {}).selected).toBe('tpm');
  });

  it('honours providers.deny and providers.allow', async () => {
    const c = await candidates(at('a', 'hardware'), at('b', 'os-isolated'), at('c', 'os-isolated'));
    const denied = selectProvider(c, policy({ providers: { deny: ['a'] } }), {});
    expect(denied.selected).toBe('b');
    expect(denied.providers.find((v) => v.providerId === 'a')!.reasons).toEqual([
      'a is denied by policy (/providers/deny)',
    ]);
    const allowed = selectProvider(c, policy({ providers: { allow: ['c'] } }), {});
    expect(allowed.selected).toBe('c');
    const a = allowed.providers.find((v) => v.providerId === 'a')!;
    expect(a.reasons[0]).toMatch(/not in the providers the policy allows \(\/providers\/allow: c\)/);
  });

  it('refuses legacy CryptoAPI providers unless legacyCryptoApi is allow', async () => {
    const c = await candidates(at('capi', 'in-process', { legacyCryptoApi: true }));
    const denied = selectProvider(c, policy({ minimumIsolation: 'in-process' }), {});
    expect(denied.selected).toBeNull();
    expect(denied.providers[0]!.reasons[0]).toMatch(/^legacy CryptoAPI is denied by policy \(\/legacyCryptoApi\)/);
    expect(denied.providers[0]!.reasons[0]).toContain('set legacyCryptoApi to allow in a policy to opt in');
    const allowed = selectProvider(c, policy({ minimumIsolation: 'in-process', legacyCryptoApi: 'allow' }), {});
    expect(allowed.selected).toBe('capi');
  });

  it('the machine policy keeps legacy CryptoAPI denied even when the app allows it', async () => {
    const c = await candidates(at('capi', 'in-process', { legacyCryptoApi: true }));
    const p = policy({ minimumIsolation: 'in-process', legacyCryptoApi: 'allow' }, { legacyCryptoApi: 'deny' });
    expect(selectProvider(c, p, {}).selected).toBeNull();
  });

  it('restricts to the requested provider', async () => {
    const c = await candidates(at('tpm', 'hardware'), at('cng', 'os-isolated'));
    const e = selectProvider(c, policy(), { provider: 'cng' });
    expect(e.selected).toBe('cng');
    expect(e.providers.find((v) => v.providerId === 'tpm')!.reasons).toEqual(['the request asks for provider cng']);
  });

  it('the requested provider must still meet the floor', async () => {
    const c = await candidates(at('tpm', 'hardware'), at('memory', 'none'));
    const e = selectProvider(c, policy(), { provider: 'memory' });
    expect(e.selected).toBeNull();
    expect(e.providers.find((v) => v.providerId === 'memory')!.reasons).toEqual([
      'achieves none, below the floor os-isolated (/minimumIsolation)',
    ]);
  });

  it('refuses unavailable providers with the probe reasons and does not add a floor reason', async () => {
    const c = await candidates(
      fakeProvider('tpm', { available: false, isolation: 'none', reasons: ['no TPM device (/dev/tpmrm0 missing)'] }),
      fakeProvider('silent', { available: false, isolation: 'none', reasons: [] }),
    );
    const e = selectProvider(c, policy(), {});
    expect(e.providers[0]).toMatchObject({ providerId: 'tpm', available: false, eligible: false });
    expect(e.providers[0]!.reasons).toEqual(['not available here: no TPM device (/dev/tpmrm0 missing)']);
    expect(e.providers[1]!.reasons).toEqual(['not available here (its probe gave no reason)']);
  });

  it('refuses a provider lacking the algorithm, scope, exportable keys or passwords', async () => {
    const limited = at('limited', 'hardware', {
      algorithms: ['RSA-2048'],
      scopes: ['user'],
      exportableKeys: false,
      passwords: false,
    });
    const c = await candidates(limited, at('full', 'os-isolated'));
    const p = policy({ exportable: { create: true } });
    const cases: [object, string][] = [
      [{ algorithm: 'ECDSA-P256' }, 'does not support ECDSA-P256'],
      [{ scope: 'machine' }, 'does not support the machine scope'],
      [{ exportable: true }, 'cannot create exportable keys'],
      [{ password: true }, 'does not support key passwords'],
    ];
    for (const [request, reason] of cases) {
      const e = selectProvider(c, p, request);
      expect(e.selected).toBe('full');
      expect(e.providers.find((v) => v.providerId === 'limited')!.reasons).toEqual([reason]);
    }
    expect(selectProvider(c, p, { algorithm: 'RSA-2048' }).selected).toBe('limited');
  });

  it('lists every failed check, in filter order', async () => {
    const c = await candidates(
      at('x', 'in-process', { legacyCryptoApi: true, algorithms: [], scopes: ['user'], exportableKeys: false }),
    );
    const e = selectProvider(c, policy({ providers: { deny: ['x'] }, exportable: { create: true } }), {
      algorithm: 'ECDSA-P384',
      scope: 'machine',
      exportable: true,
      password: false,
      provider: 'y',
    });
    expect(e.providers[0]!.reasons).toEqual([
      'x is denied by policy (/providers/deny)',
      expect.stringMatching(/^legacy CryptoAPI is denied/),
      'the request asks for provider y',
      'achieves in-process, below the floor os-isolated (/minimumIsolation)',
      'does not support ECDSA-P384',
      'does not support the machine scope',
      'cannot create exportable keys',
    ]);
  });

  it('request-level policy violations refuse every provider', async () => {
    const c = await candidates(at('a', 'hardware'), at('b', 'os-isolated'));
    const e = selectProvider(c, policy({ minimumRsaBits: 3072, allowedScopes: ['user'] }), {
      algorithm: 'RSA-2048',
      scope: 'machine',
      exportable: true,
    });
    expect(e.selected).toBeNull();
    for (const v of e.providers) {
      expect(v.eligible).toBe(false);
      expect(v.reasons.join('\n')).toMatch(/\/minimumRsaBits/);
      expect(v.reasons.join('\n')).toMatch(/\/allowedScopes/);
      expect(v.reasons.join('\n')).toMatch(/\/exportable\/create/);
    }
  });

  it('with nothing registered, nothing is selected', () => {
    const e = selectProvider([], policy(), {});
    expect(e).toMatchObject({ selected: null, providers: [] });
  });
});

describe('selectProvider: ranking', () => {
  it('prefers stronger isolation, then registration order', async () => {
    const c = await candidates(
      at('cng', 'os-isolated'),
      at('vbs', 'virtualization'),
      at('tpm', 'hardware'),
      at('cng2', 'os-isolated'),
    );
    const e = selectProvider(c, policy(), {});
    expect(e.providers.map((v) => [v.providerId, v.rank])).toEqual([
      ['tpm', 0],
      ['vbs', 1],
      ['cng', 2],
      ['cng2', 3],
    ]);
    expect(e.selected).toBe('tpm');
    expect(e.providers[0]!.selected).toBe(true);
    expect(e.providers.slice(1).every((v) => !v.selected && v.eligible)).toBe(true);
    expect(e.providers[0]!.reasons).toContain('strongest isolation available: hardware');
    expect(e.providers[1]!.reasons).toContain('tpm achieves stronger isolation (hardware > virtualization)');
    expect(e.providers[3]!.reasons).toContain('qualifies; ranked 4 of 4');
  });

  it('providers.prefer comes before isolation', async () => {
    const c = await candidates(at('tpm', 'hardware'), at('cng', 'os-isolated'), at('other', 'os-protected'));
    const e = selectProvider(c, policy({ providers: { prefer: ['cng'] } }), {});
    expect(e.selected).toBe('cng');
    expect(e.providers.map((v) => v.providerId)).toEqual(['cng', 'tpm', 'other']);
    expect(e.providers[0]!.reasons).toContain('preferred by policy (/providers/prefer)');
    expect(e.providers[1]!.reasons).toContain('cng is preferred by policy (/providers/prefer)');
  });

  it('prefer order among several preferred providers', async () => {
    const c = await candidates(at('a', 'hardware'), at('b', 'os-isolated'), at('c', 'os-isolated'));
    const e = selectProvider(c, policy({ providers: { prefer: ['c', 'b'] } }), {});
    expect(e.providers.map((v) => v.providerId)).toEqual(['c', 'b', 'a']);
  });

  it('a preferred provider below the floor is still refused', async () => {
    const c = await candidates(at('memory', 'none'), at('cng', 'os-isolated'));
    const e = selectProvider(c, policy({ providers: { prefer: ['memory'] } }), {});
    expect(e.selected).toBe('cng');
    expect(e.providers.map((v) => v.providerId)).toEqual(['cng', 'memory']);
  });

  it('ties on isolation go to the first registered', async () => {
    const c = await candidates(at('one', 'os-isolated'), at('two', 'os-isolated'));
    const e = selectProvider(c, policy(), {});
    expect(e.selected).toBe('one');
    expect(e.providers[1]!.reasons).toContain('one was registered first');
  });

  it('the only qualifying provider says so', async () => {
    const c = await candidates(at('only', 'os-isolated'), at('weak', 'none'));
    const e = selectProvider(c, policy(), {});
    expect(e.providers[0]!.reasons).toContain('the only provider that qualifies');
  });

  it('refused providers follow the qualifying ones, in registration order', async () => {
    const c = await candidates(at('r1', 'none'), at('ok', 'os-isolated'), at('r2', 'in-process'));
    const e = selectProvider(c, policy(), {});
    expect(e.providers.map((v) => [v.providerId, v.rank])).toEqual([
      ['ok', 0],
      ['r1', null],
      ['r2', null],
    ]);
  });

  it('copies the probe facts into the verdicts', async () => {
    const c = await candidates(
      fakeProvider('tpm', { isolation: 'hardware', details: { manufacturer: 'IBM', simulator: true } }),
    );
    const e = selectProvider(c, policy(), {});
    expect(e.providers[0]).toMatchObject({
      providerId: 'tpm',
      available: true,
      isolation: 'hardware',
      details: { manufacturer: 'IBM', simulator: true },
    });
  });
});

describe('selectProvider: request', () => {
  it('applies defaults in the explanation', () => {
    expect(selectProvider([], policy(), {}).request).toEqual({
      scope: 'user',
      exportable: false,
      password: false,
      userPrompt: false,
      importKey: false,
    });
    expect(selectProvider([], policy(), { algorithm: 'RSA-3072', provider: 'x' }).request).toEqual({
      algorithm: 'RSA-3072',
      scope: 'user',
      exportable: false,
      password: false,
      userPrompt: false,
      importKey: false,
      provider: 'x',
    });
  });

  it.each([
    [{ algorithm: 'RSA-1024' }],
    [{ scope: 'global' }],
    [{ exportable: 'yes' }],
    [{ password: 1 }],
    [{ provider: '' }],
  ])('rejects %j with INVALID_ARGUMENT', (request) => {
    try {
      selectProvider([], policy(), request as never);
      expect.unreachable();
    } catch (error) {
      expect(KeyStoreError.is(error, 'ERR_KEYSTORE_INVALID_ARGUMENT')).toBe(true);
    }
  });
});

describe('probeAll', () => {
  it('probes concurrently and keeps registration order', async () => {
    const order: string[] = [];
    const slow = fakeProvider('slow', async () => {
      await new Promise((r) => setTimeout(r, 50));
      order.push('slow');
      return { available: true, isolation: 'hardware', reasons: [] };
    });
    const fast = fakeProvider('fast', async () => {
      order.push('fast');
      return { available: true, isolation: 'none', reasons: [] };
    });
    const c = await probeAll([slow, fast]);
    expect(c.map((x) => x.provider.id)).toEqual(['slow', 'fast']);
    expect(order).toEqual(['fast', 'slow']);
  });

  it('a probe that throws counts as unavailable, with the error as reason', async () => {
    const c = await probeAll([
      fakeProvider('boom', async () => {
        throw new Error('koffi: cannot load tbs.dll');
      }),
    ]);
    expect(c[0]!.probe).toEqual({
      available: false,
      isolation: 'none',
      reasons: ['its probe failed: koffi: cannot load tbs.dll'],
    });
  });

  it('a probe that answers nonsense counts as unavailable', async () => {
    const c = await probeAll([
      fakeProvider('bad', async () => ({ available: true, isolation: 'tpm' }) as never),
      fakeProvider('none', async () => undefined as never),
    ]);
    expect(c[0]!.probe.available).toBe(false);
    expect(c[0]!.probe.reasons[0]).toMatch(/unknown isolation level: tpm/);
    expect(c[1]!.probe.available).toBe(false);
  });

  it('a probe that takes too long counts as unavailable', async () => {
    const hanging = fakeProvider('hang', () => new Promise<ProbeResult>(() => {}));
    const c = await probeAll([hanging, at('ok', 'hardware')], undefined, 30);
    expect(c[0]!.probe).toMatchObject({ available: false, reasons: ['its probe did not answer within 0.03 s'] });
    expect(c[1]!.probe.available).toBe(true);
  });

  it('gives the signal to each probe and rejects with CANCELLED when it fires', async () => {
    let seen: AbortSignal | undefined;
    const hanging = fakeProvider('hang', (options?: { signal?: AbortSignal }) => {
      seen = options?.signal;
      return new Promise<ProbeResult>(() => {});
    });
    const controller = new AbortController();
    const probing = probeAll([hanging], controller.signal);
    controller.abort();
    await expect(probing).rejects.toMatchObject({ code: 'ERR_KEYSTORE_CANCELLED' });
    expect(seen).toBe(controller.signal);
    await expect(probeAll([hanging], AbortSignal.abort())).rejects.toMatchObject({ code: 'ERR_KEYSTORE_CANCELLED' });
  });
});
