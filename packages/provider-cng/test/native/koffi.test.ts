/**
 * callAsync over a named double of a koffi function (an object with `.async`, as koffi hands out):
 * koffi's synchronous refusals become typed errors. koffi.int.test.ts triggers the real refusal.
 */
import { KeyStoreError } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { callAsync, type NativeFn } from '../../src/native/koffi.js';

/** A double of a koffi function whose `.async` throws `error` synchronously, as koffi does. */
function refusing(error: unknown): NativeFn {
  const fn = (() => 0) as unknown as NativeFn;
  fn.async = () => {
    throw error;
  };
  return fn;
}

/** A double whose `.async` calls back with `err` or `result` on a later turn, as koffi does. */
function answering(err: unknown, result: unknown): NativeFn & { args: unknown[] } {
  const fn = (() => 0) as unknown as NativeFn & { args: unknown[] };
  fn.args = [];
  fn.async = (...args: unknown[]) => {
    const callback = args.pop() as (e: unknown, r: unknown) => void;
    fn.args = args;
    setImmediate(() => callback(err, result));
  };
  return fn;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('callAsync', () => {
  it('resolves with the result and passes the arguments through', async () => {
    const fn = answering(null, 7);
    expect(await callAsync<number>(fn, [1n, 'x'])).toBe(7);
    expect(fn.args).toEqual([1n, 'x']);
  });

  it("koffi's queue full (a plain Error thrown by .async) is PROVIDER_UNAVAILABLE with a hint and the cause", async () => {
    const cause = new Error('Too many asynchronous calls are running');
    const err = await rejectionOf(callAsync(refusing(cause), [], 'tpm'));
    expect(KeyStoreError.is(err)).toBe(true);
    const e = err as KeyStoreError;
    expect(e.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(e.providerId).toBe('tpm');
    expect(e.hint).toBeTruthy();
    expect(e.cause).toBe(cause);
  });

  it('any other synchronous refusal is NATIVE_FAILURE, never a plain Error', async () => {
    const cause = new TypeError('Unexpected String value, expected number');
    const err = await rejectionOf(callAsync(refusing(cause), []));
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_NATIVE_FAILURE')).toBe(true);
    expect((err as KeyStoreError).cause).toBe(cause);
  });

  it('an error koffi reports through the callback is passed on as it is', async () => {
    const cause = new Error('worker failed');
    expect(await rejectionOf(callAsync(answering(cause, undefined), []))).toBe(cause);
  });
});
