// The seeded operation fuzzer over the in-memory provider, and proof that it catches what it claims
// to catch: a store that loses a key, throws a plain Error, never settles, leaves a key behind a
// rejected create, or whose provider process dies. A crash of an in-process provider ends this
// process, which fails the run: there is nothing left to count.
import { type KeyStore, KeyStoreError, type KeyStoreKey } from '@keystore/core';
import {
  createMemoryProvider,
  createTestKeyStore,
  type FuzzReport,
  formatFuzzFailures,
  formatFuzzReport,
  MemoryKeyVault,
  planFuzzSteps,
  runOperationFuzz,
} from '@keystore/core/testing';
import { describe, expect, it } from 'vitest';
import { expectCleanFuzz } from '../../../test-support/fuzz.js';

const SEED = process.env.KEYSTORE_FUZZ_SEED === undefined ? 20261202 : Number(process.env.KEYSTORE_FUZZ_SEED);

/** A store over the in-memory provider; every store of one vault sees the same keys. */
function memoryStore(vault: MemoryKeyVault): Promise<KeyStore> {
  return createTestKeyStore({
    providers: [createMemoryProvider({ vault })],
    policy: { minimumIsolation: 'none' },
    machinePolicy: null,
    registryPolicy: null,
  });
}

describe('operation fuzz: memory provider', () => {
  it('2000 random operations: no crash, no hang, only KeyStoreErrors, no key lost', async () => {
    const vault = new MemoryKeyVault();
    const report = await runOperationFuzz({
      openStore: () => memoryStore(vault),
      algorithms: ['ECDSA-P256', 'ECDSA-P384', 'ECDSA-P521', 'ECDH-P256', 'ECDH-P384', 'RSA-2048'],
      seed: SEED,
      operations: 2000,
      timeLimitMs: 100_000,
      callLimitMs: 20_000,
    });
    expectCleanFuzz('memory', report, 2000);
    // The run did what it says: every kind of step ran, stores were closed and reopened, calls were cancelled.
    expect(Object.keys(report.byKind).sort()).toEqual(
      [
        'closeKey',
        'closeStore',
        'create',
        'decrypt',
        'delete',
        'derive',
        'exportPublicKey',
        'import',
        'list',
        'open',
        'sign',
        'signDigest',
        'verify',
      ].sort(),
    );
    expect(report.storesOpened).toBeGreaterThan(1);
    expect(report.byCode.ERR_KEYSTORE_CANCELLED).toBeGreaterThan(0);
    expect(report.byCode.ERR_KEYSTORE_INVALID_ARGUMENT).toBeGreaterThan(0);
    expect(report.byCode.ok).toBeGreaterThan(1000);
    expect(vault.size).toBe(0);
  }, 180_000);

  it('the same seed draws the same steps; another seed draws others', () => {
    const plan = (seed: number) =>
      planFuzzSteps({ seed, operations: 300, algorithms: ['ECDSA-P256', 'RSA-2048'], names: 6, maxDataBytes: 1 << 20 });
    expect(plan(7)).toEqual(plan(7));
    expect(plan(8)).not.toEqual(plan(7));
    const sizes = plan(7).map((s) => s.size);
    expect(Math.min(...sizes)).toBe(0);
    expect(Math.max(...sizes)).toBe(1 << 20);
  });

  it('rejects a bad seed with a typed error', () => {
    expect(() =>
      planFuzzSteps({ seed: -1, operations: 1, algorithms: ['ECDSA-P256'], names: 1, maxDataBytes: 0 }),
    ).toThrow(expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }));
  });
});

// ---------------------------------------------------------------------------------------------
// Broken stores: each wraps a good one and breaks one promise; the fuzzer must report it.

type Break = {
  openKey?: (name: string, real: () => Promise<KeyStoreKey>) => Promise<KeyStoreKey>;
  createKey?: (name: string, real: () => Promise<KeyStoreKey>) => Promise<KeyStoreKey>;
  sign?: (real: () => Promise<Buffer>) => Promise<Buffer>;
};

function brokenKey(key: KeyStoreKey, b: Break): KeyStoreKey {
  return new Proxy(key, {
    get(target, prop) {
      if (prop === 'sign' && b.sign)
        return (...args: Parameters<KeyStoreKey['sign']>) => b.sign!(() => target.sign(...args));
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function brokenStore(store: KeyStore, b: Break): KeyStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'openKey') {
        return async (name: string, o?: Parameters<KeyStore['openKey']>[1]) => {
          const real = () => target.openKey(name, o);
          return brokenKey(await (b.openKey ? b.openKey(name, real) : real()), b);
        };
      }
      if (prop === 'createKey') {
        return async (name: string, o: Parameters<KeyStore['createKey']>[1]) => {
          const real = () => target.createKey(name, o);
          return brokenKey(await (b.createKey ? b.createKey(name, real) : real()), b);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function fuzzBroken(b: Break, extra: Partial<Parameters<typeof runOperationFuzz>[0]> = {}): Promise<FuzzReport> {
  const vault = new MemoryKeyVault();
  const report = await runOperationFuzz({
    openStore: async () => brokenStore(await memoryStore(vault), b),
    algorithms: ['ECDSA-P256'],
    seed: 5,
    operations: 300,
    maxDataBytes: 4096,
    checkpointEvery: 50,
    callLimitMs: 1000,
    ...extra,
  });
  console.log(formatFuzzReport('broken store', report));
  return report;
}

describe('operation fuzz: it catches a broken store', () => {
  it('a key that can no longer be opened is counted as lost, with the steps that led to it', async () => {
    let lost: string | undefined;
    const report = await fuzzBroken({
      createKey: async (name, real) => {
        const key = await real();
        lost ??= name;
        return key;
      },
      openKey: (name, real) =>
        name === lost ? Promise.reject(new KeyStoreError('ERR_KEYSTORE_KEY_NOT_FOUND', `no key ${name}`)) : real(),
    });
    expect(report.keysLost).toBeGreaterThan(0);
    const failure = report.failures.find((f) => f.kind === 'lost')!;
    expect(failure.message).toContain(lost!);
    expect(failure.sequence.some((s) => s.includes(' create '))).toBe(true);
    expect(formatFuzzFailures(report)).toContain('seed 5');
  });

  it('a create that replaces an existing key is counted as a lost key', async () => {
    const vault = new MemoryKeyVault();
    const report = await runOperationFuzz({
      openStore: async () => {
        const inner = await memoryStore(vault);
        return brokenStore(inner, {
          // Overwrites instead of answering ERR_KEYSTORE_KEY_EXISTS.
          createKey: (name, real) =>
            real().catch(async (error: unknown) => {
              if (!KeyStoreError.is(error, 'ERR_KEYSTORE_KEY_EXISTS')) throw error;
              await inner.deleteKey(name);
              return real();
            }),
        });
      },
      algorithms: ['ECDSA-P256'],
      seed: 5,
      operations: 300,
      maxDataBytes: 4096,
    });
    expect(report.keysLost).toBeGreaterThan(0);
    expect(report.failures.find((f) => f.kind === 'lost')?.message).toMatch(/succeeded over the key|at once/);
  });

  it('a plain Error is counted as untyped', async () => {
    let n = 0;
    const report = await fuzzBroken({
      sign: (real) => (++n % 10 === 0 ? Promise.reject(new Error('boom')) : real()),
    });
    expect(report.untypedErrors).toBeGreaterThan(0);
    expect(report.failures.find((f) => f.kind === 'untyped')?.message).toContain('boom');
  });

  it('a call that never settles is counted as a hang and not awaited', async () => {
    let n = 0;
    const started = Date.now();
    const report = await fuzzBroken({
      sign: (real) => (++n % 5 === 0 ? new Promise<Buffer>(() => {}) : real()),
    });
    expect(report.hangs).toBeGreaterThan(0);
    expect(report.settled).toBe(report.operations - report.hangs);
    expect(report.operations).toBe(300);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);

  it('a signature that does not verify is counted as a wrong result', async () => {
    let n = 0;
    const report = await fuzzBroken({
      sign: async (real) => {
        const signature = await real();
        if (++n % 4 === 0) signature[signature.length - 1]! ^= 0x01;
        return signature;
      },
    });
    expect(report.wrongResults).toBeGreaterThan(0);
    expect(report.failures.find((f) => f.kind === 'wrongResult')?.message).toContain('does not verify');
  });

  it('a create that rejects but leaves its key behind is counted as an unexpected key', async () => {
    let n = 0;
    const report = await fuzzBroken(
      {
        createKey: async (name, real) => {
          const key = await real();
          if (++n % 3 === 0)
            throw new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `failed making ${name} (but made it)`);
          return key;
        },
      },
      // One step at a time: no create overlaps a delete, so the model knows the key should not exist.
      { concurrency: 1 },
    );
    expect(report.unexpectedKeys).toBeGreaterThan(0);
  });

  it('a provider process that dies is counted as a crash and ends the run', async () => {
    let alive = true;
    let created = 0;
    const report = await fuzzBroken(
      {
        createKey: (_name, real) => {
          // The fifth create "kills the process": isAlive says so from then on.
          if (++created === 5) alive = false;
          return real();
        },
      },
      { isAlive: () => alive },
    );
    expect(report.crashes).toBe(1);
    expect(report.failures.find((f) => f.kind === 'crash')?.step).toBe(-1);
    expect(report.operations).toBeLessThan(300);
  });
});
