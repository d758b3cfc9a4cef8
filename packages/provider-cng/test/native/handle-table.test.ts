/**
 * The handle table of the NCrypt bindings over a recording double of NCryptFreeObject: a handle is
 * freed natively at most once, never under a running call, and never after NCryptDeleteKey freed it.
 * The table is the part of ncrypt.ts that decides these; the koffi calls around it need Windows.
 */
import { KeyStoreError } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { HandleTable } from '../../src/native/handle-table.js';

/** A double of NCryptFreeObject that records what it frees. */
function table() {
  const freed: bigint[] = [];
  return { freed, t: new HandleTable((h) => void freed.push(h)) };
}

/** A call that runs until `release()` is called: an async native call in flight. */
function gate<T>(value: T) {
  let release!: () => void;
  const done = new Promise<void>((r) => {
    release = r;
  });
  const run = async (): Promise<T> => {
    await done;
    return value;
  };
  return { release, run };
}

const KEY = 0x1000n;

describe('HandleTable', () => {
  it('a free while a call runs is deferred until the call ends, then frees once', async () => {
    const { freed, t } = table();
    t.adopt(KEY, 'key');
    const g = gate('signed');
    const call = t.withHandles([KEY], g.run);
    t.free(KEY);
    expect(freed).toEqual([]);
    expect(t.kindOf(KEY)).toBeUndefined();
    g.release();
    expect(await call).toBe('signed');
    expect(freed).toEqual([KEY]);
    t.free(KEY);
    expect(freed).toEqual([KEY]);
  });

  it('a free queued while NCryptDeleteKey runs is dropped after a successful delete: no double free', async () => {
    const { freed, t } = table();
    t.adopt(KEY, 'key');
    const g = gate(true);
    const deleting = t.deleteWith(KEY, g.run);
    t.free(KEY); // the key object is closed while the delete is in flight
    g.release();
    expect(await deleting).toBe(true);
    // NCryptDeleteKey freed the handle; NCryptFreeObject must never see it.
    expect(freed).toEqual([]);
    expect(t.kindOf(KEY)).toBeUndefined();
    expect(t.busyCount(KEY)).toBe(0);
  });

  it('a failed delete leaves the handle open; a free queued during it frees it once', async () => {
    const { freed, t } = table();
    t.adopt(KEY, 'key');
    const refused = t.deleteWith(KEY, async () => false);
    expect(await refused).toBe(false);
    expect(t.kindOf(KEY)).toBe('key');
    const g = gate(false);
    const again = t.deleteWith(KEY, g.run);
    t.free(KEY);
    g.release();
    await again;
    expect(freed).toEqual([KEY]);
  });

  it('a delete that throws leaves the handle open', async () => {
    const { freed, t } = table();
    t.adopt(KEY, 'key');
    await expect(
      t.deleteWith(KEY, async () => {
        throw new Error('koffi failed');
      }),
    ).rejects.toThrow('koffi failed');
    expect(t.kindOf(KEY)).toBe('key');
    t.free(KEY);
    expect(freed).toEqual([KEY]);
  });

  it('refuses to delete a handle another call is running on, before the delete runs', async () => {
    const { t } = table();
    t.adopt(KEY, 'key');
    const g = gate('decrypted');
    const call = t.withHandles([KEY], g.run);
    let ran = false;
    const err = await t
      .deleteWith(KEY, async () => {
        ran = true;
        return true;
      })
      .catch((e: unknown) => e);
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION')).toBe(true);
    expect((err as KeyStoreError).hint).toMatch(/wait/);
    expect(ran).toBe(false);
    g.release();
    await call;
    // Once idle, the delete goes ahead.
    expect(await t.deleteWith(KEY, async () => true)).toBe(true);
    expect(t.kindOf(KEY)).toBeUndefined();
  });

  it('a handle handed out twice is freed on the last free only', () => {
    const { freed, t } = table();
    t.adopt(KEY, 'provider');
    t.adopt(KEY, 'provider');
    t.free(KEY);
    expect(freed).toEqual([]);
    t.free(KEY);
    expect(freed).toEqual([KEY]);
  });
});
