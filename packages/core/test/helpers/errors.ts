/** How a promise settled, for tests that assert on error codes. */
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';

/** The code a promise rejected with, `resolved`, or a note that the rejection was not a KeyStoreError. */
export async function codeOf(promise: Promise<unknown>): Promise<KeyStoreErrorCode | string> {
  try {
    await promise;
  } catch (error) {
    return KeyStoreError.is(error) ? error.code : `not a KeyStoreError: ${String(error)}`;
  }
  return 'resolved';
}

/** The KeyStoreError a promise rejected with; anything else fails the test. */
export async function errorOf(promise: Promise<unknown>): Promise<KeyStoreError> {
  try {
    await promise;
  } catch (error) {
    if (KeyStoreError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}
