/**
 * callAsync with the real koffi of this machine (its Linux build; the refusal is the same C++ code in
 * the Windows build): more asynchronous calls than koffi's `max_async_calls` (256 by default) make
 * koffi throw a plain Error from `.async`, which callAsync turns into PROVIDER_UNAVAILABLE. Needs
 * Linux with glibc (`usleep` from libc.so.6).
 */
import { KeyStoreError } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { callAsync, loadKoffi, type NativeFn } from '../../src/native/koffi.js';

const linux = process.platform === 'linux';

describe.skipIf(!linux)("callAsync past koffi's queue (needs Linux: usleep from libc.so.6 through koffi)", () => {
  it('calls beyond max_async_calls reject with PROVIDER_UNAVAILABLE; the others complete', async () => {
    const koffi = loadKoffi();
    const limit = koffi.config().max_async_calls ?? 256;
    const usleep = koffi.load('libc.so.6').func('int usleep(unsigned int usec)') as NativeFn;
    const settled = await Promise.allSettled(
      Array.from({ length: limit + 20 }, () => callAsync<number>(usleep, [2_000])),
    );
    const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    // koffi frees a call's slot on the main thread when the call completes: none can free before the loop ends.
    expect(rejected.length).toBe(20);
    for (const r of rejected) {
      expect(KeyStoreError.is(r.reason, 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE')).toBe(true);
    }
    expect(settled.filter((s) => s.status === 'fulfilled').every((s) => s.value === 0)).toBe(true);
    // The queue drained: a call now goes through.
    expect(await callAsync<number>(usleep, [0])).toBe(0);
  });

  it('loadKoffi raised the async stack to 1 MiB, the stack ncrypt.dll runs on', () => {
    expect(loadKoffi().config().async_stack_size).toBeGreaterThanOrEqual(1 << 20);
  });
});
