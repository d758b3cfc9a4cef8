// The pool's side of the loaded-key path, over a double of the FAPI table: a context that keeps
// keys loaded is finalized only after its flush has run (on close, and when the TPM runs out of
// slots and the idle contexts give their keys back); contexts without loaded keys are left alone.
import { describe, expect, it } from 'vitest';
import { NativeCallBudget } from '../src/budget.js';
import { dispose, type LoadedState } from '../src/loaded.js';
import type { EsysBindings } from '../src/native/esys.js';
import { ContextPool, type PoolContext } from '../src/pool.js';
import { createFapiDouble } from './helpers/fapi-double.js';

const opts = (size: number) => ({
  size,
  configFile: '/dev/null',
  connectTimeoutMs: 500,
  budget: new NativeCallBudget(4),
});

/** Marks a context as keeping loaded keys, with a flush that takes `ms` and records its order. */
function keepLoaded(context: PoolContext, log: string[], ms: number): void {
  context.loaded = {};
  context.beforeRelease = async () => {
    log.push('flush start');
    await new Promise((r) => setTimeout(r, ms));
    log.push('flush end');
    return undefined;
  };
}

describe('pool contexts that keep keys loaded', () => {
  it('close() flushes before it finalizes, and resolves only after', async () => {
    const fapi = createFapiDouble();
    const pool = new ContextPool(fapi, opts(1));
    const log: string[] = [];
    await pool.run(async (ctx) => keepLoaded(ctx, log, 30), { timeoutMs: 1000, what: 'sign' });
    const closing = pool.close();
    expect(fapi.finalized).toHaveLength(0);
    await closing;
    expect(log).toEqual(['flush start', 'flush end']);
    expect(fapi.finalized).toHaveLength(1);
  });

  it('releaseLoaded() releases only the idle contexts with loaded keys; the next call opens a fresh one', async () => {
    const fapi = createFapiDouble();
    const pool = new ContextPool(fapi, opts(2));
    const log: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    // Context A is busy with a call (and keeps no key); context B keeps a key loaded and is idle.
    const busy = pool.run(() => held, { timeoutMs: 1000, what: 'sign' });
    await pool.run(async (ctx) => keepLoaded(ctx, log, 5), { timeoutMs: 1000, what: 'sign' });
    expect(pool.openContexts).toBe(2);
    await pool.releaseLoaded();
    expect(log).toEqual(['flush start', 'flush end']);
    expect(fapi.finalized).toHaveLength(1);
    expect(pool.openContexts).toBe(1);
    release();
    await busy;
    // Two calls at once: A is reused, B's slot opens a fresh context.
    await Promise.all([1, 2].map(() => pool.run(async () => undefined, { timeoutMs: 1000, what: 'sign' })));
    expect(fapi.calls.filter((c) => c.fn === 'initialize')).toHaveLength(3);
    await pool.close();
    expect(fapi.finalized).toHaveLength(3);
  });
});

describe('a flush given up on while it still runs', () => {
  it('the pool: close() resolves, but the FAPI context is finalized only once the running call has returned', async () => {
    const fapi = createFapiDouble();
    const pool = new ContextPool(fapi, opts(1));
    let returned!: () => void;
    const later = new Promise<void>((r) => {
      returned = r;
    });
    await pool.run(
      async (ctx) => {
        ctx.loaded = {};
        ctx.beforeRelease = async () => ({ after: later });
      },
      { timeoutMs: 1000, what: 'sign' },
    );
    await pool.close();
    expect(fapi.finalized).toHaveLength(0);
    returned();
    await new Promise((r) => setTimeout(r, 10));
    expect(fapi.finalized).toHaveLength(1);
  });

  it('dispose(): the ESYS context is finalized only once the flush has returned, and no later flush starts', async () => {
    const log: string[] = [];
    let flushReturns!: () => void;
    const esys = {
      flush: (_ctx: unknown, handle: number) => {
        log.push(`flush ${handle}`);
        return new Promise<number>((resolve) => {
          flushReturns = () => resolve(0);
        });
      },
      finalize: () => log.push('finalize'),
    } as unknown as EsysBindings;
    const state: LoadedState = {
      esys: 1n as LoadedState['esys'],
      srks: new Map(),
      session: 0x3000000,
      objects: new Map([
        ['a', { handle: 0x80000001, stamp: '', publicBlob: Buffer.alloc(0), checkedFor: undefined }],
        ['b', { handle: 0x80000002, stamp: '', publicBlob: Buffer.alloc(0), checkedFor: undefined }],
      ]),
    };
    const later = await dispose(esys, state, 20);
    // the first flush timed out and still runs: nothing is finalized, no other flush was started
    expect(later?.after).toBeInstanceOf(Promise);
    expect(log).toEqual([`flush ${0x80000001}`]);
    flushReturns();
    await later?.after;
    expect(log).toEqual([`flush ${0x80000001}`, 'finalize']);
  });
});
