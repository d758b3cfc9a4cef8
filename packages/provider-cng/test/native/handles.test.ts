/**
 * HandleTracker, over a recording free function (a named double of NCryptFreeObject): handles are
 * freed exactly once, whether by freeOnce or by the finalizer of a dropped owner.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { KeyStoreError } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { HandleTracker } from '../../src/native/handles.js';
import type { NCryptHandle, NCryptKeyHandle, NCryptProvHandle } from '../../src/native/types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A double of NCryptFreeObject that records what it frees. */
function recordingFree() {
  const freed: bigint[] = [];
  return { freed, free: (handle: NCryptHandle) => void freed.push(handle) };
}

const key = 0x1000n as NCryptKeyHandle;
const prov = 0x2000n as NCryptProvHandle;

describe('HandleTracker', () => {
  it('frees every handle of an owner once, however often freeOnce is called', () => {
    const { freed, free } = recordingFree();
    const tracker = new HandleTracker(free);
    const owner = {};
    tracker.register(owner, [key, prov]);
    expect(tracker.has(owner)).toBe(true);
    expect(tracker.size).toBe(1);
    expect(tracker.freeOnce(owner)).toBe(true);
    expect(tracker.freeOnce(owner)).toBe(false);
    expect(freed).toEqual([key, prov]);
    expect(tracker.has(owner)).toBe(false);
    expect(tracker.size).toBe(0);
  });

  it('unregister hands the handles back without freeing them', () => {
    const { freed, free } = recordingFree();
    const tracker = new HandleTracker(free);
    const owner = {};
    tracker.track(owner, [key]);
    expect(tracker.untrack(owner)).toEqual([key]);
    expect(tracker.unregister(owner)).toBeUndefined();
    expect(tracker.freeOnce(owner)).toBe(false);
    expect(freed).toEqual([]);
  });

  it('accepts NCryptBindings (anything with freeObject)', () => {
    const freed: bigint[] = [];
    const tracker = new HandleTracker({ freeObject: (h: NCryptHandle) => void freed.push(h) });
    const owner = {};
    tracker.register(owner, key);
    tracker.freeOnce(owner);
    expect(freed).toEqual([key]);
  });

  it('refuses zero handles, empty lists, non-object owners and a second registration', () => {
    const tracker = new HandleTracker(() => {});
    const owner = {};
    const code = (fn: () => void) => {
      try {
        fn();
        return 'no error';
      } catch (err) {
        return KeyStoreError.is(err) ? err.code : 'other';
      }
    };
    expect(code(() => tracker.register(owner, 0n as NCryptKeyHandle))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(code(() => tracker.register(owner, []))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(code(() => tracker.register(42 as unknown as object, key))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    tracker.register(owner, key);
    expect(code(() => tracker.register(owner, prov))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(code(() => new HandleTracker(null as unknown as () => void))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('reports a failing free to onError and still frees the other handles', () => {
    const errors: bigint[] = [];
    const freed: bigint[] = [];
    const tracker = new HandleTracker(
      (h) => {
        if (h === key) throw new Error('NCryptFreeObject failed');
        freed.push(h);
      },
      { onError: (_err, h) => void errors.push(h) },
    );
    const owner = {};
    tracker.register(owner, [key, prov]);
    expect(tracker.freeOnce(owner)).toBe(true);
    expect(errors).toEqual([key]);
    expect(freed).toEqual([prov]);
  });

  it('frees the handles of an owner that is garbage-collected unclosed, and only those', async () => {
    const { freed, free } = recordingFree();
    const tracker = new HandleTracker(free);
    const kept = {};
    tracker.register(kept, prov);
    (() => {
      tracker.register({}, [key]);
    })();
    for (let i = 0; i < 50 && freed.length === 0; i++) {
      gc();
      await sleep(10);
    }
    expect(freed).toEqual([key]);
    expect(tracker.size).toBe(1);
    // The finalizer does not free a second time, and closing the kept owner still works.
    expect(tracker.freeOnce(kept)).toBe(true);
    expect(freed).toEqual([key, prov]);
  });

  it('does not free the handles of an owner that was closed before it was collected', async () => {
    const { freed, free } = recordingFree();
    const tracker = new HandleTracker(free);
    (() => {
      const owner = {};
      tracker.register(owner, [key]);
      tracker.freeOnce(owner);
    })();
    for (let i = 0; i < 10; i++) {
      gc();
      await sleep(5);
    }
    expect(freed).toEqual([key]);
  });
});
