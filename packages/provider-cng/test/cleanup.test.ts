/**
 * A failing NCryptFreeObject at the end of an operation never hides the operation's own error: over
 * the NCrypt double, the error keeps its code, status and hint, is the cause of what is thrown, and
 * the message names the cleanup failure too.
 */
import { KeyStoreError } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { S } from './helpers/ncrypt-double.js';
import { overDouble, rejection } from './helpers/setup.js';

function causeOf(err: KeyStoreError): KeyStoreError {
  if (!KeyStoreError.is(err.cause)) throw new Error(`expected a KeyStoreError cause, got ${String(err.cause)}`);
  return err.cause;
}

describe('cleanup failures keep the original error', () => {
  it('openKey of a missing key: KEY_NOT_FOUND survives a failing free of the provider handle', async () => {
    const { provider, ncrypt } = overDouble();
    ncrypt.fail('freeObject', S.NTE_INVALID_HANDLE);
    const err = await rejection(provider.openKey({ name: 'missing', scope: 'user' }));
    expect(err.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(causeOf(err).code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(err.hint).toBe(causeOf(err).hint);
    expect(err.message).toMatch(/freeing its handles afterwards failed too: .*NTE_INVALID_HANDLE/);
  });

  it('createKey whose property set fails: its status survives a failing free of both handles', async () => {
    const { provider, ncrypt } = overDouble();
    ncrypt.fail('setProperty', S.NTE_PERM);
    ncrypt.fail('freeObject', S.NTE_INVALID_HANDLE, { times: 2 });
    const err = await rejection(
      provider.createKey({ name: 'c1', algorithm: 'ECDSA-P256', scope: 'user', exportable: false }),
    );
    expect(err.nativeName).toBe('NTE_PERM');
    expect(causeOf(err).nativeName).toBe('NTE_PERM');
    expect(err.code).toBe(causeOf(err).code);
    // Both handles were tried, though the first free failed.
    expect(ncrypt.callsOf('freeObject')).toHaveLength(2);
  });

  it('deleteKey refused by the provider: ACCESS_DENIED survives a failing free', async () => {
    const { provider, ncrypt } = overDouble();
    const key = await provider.createKey({ name: 'd1', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    await key.close();
    ncrypt.fail('deleteKey', S.NTE_PERM);
    ncrypt.fail('freeObject', S.NTE_INVALID_HANDLE);
    const err = await rejection(provider.deleteKey({ name: 'd1', scope: 'user' }));
    expect(err.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(err.nativeName).toBe('NTE_PERM');
    await provider.deleteKey({ name: 'd1', scope: 'user' });
  });

  it('with no error in flight, a failing free is still reported', async () => {
    const { provider, ncrypt } = overDouble();
    ncrypt.fail('freeObject', S.NTE_INVALID_HANDLE);
    const err = await rejection(provider.listKeys());
    expect(err.nativeName).toBe('NTE_INVALID_HANDLE');
  });
});
