import { KEYSTORE_ERROR_CODES, KeyStoreError, throwIfAborted } from '@keystore/core';
import { describe, expect, it } from 'vitest';

describe('KeyStoreError', () => {
  it('carries a stable code, cause, native status, symbolic name and hint', () => {
    const cause = new Error('low level');
    const err = new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', 'NCryptOpenKey failed', {
      cause,
      providerId: 'cng',
      nativeStatus: -2146893802, // 0x80090016 as a signed SECURITY_STATUS
      nativeName: 'NTE_BAD_KEYSET',
      hint: 'no key by that name in the user scope; was it created for the machine?',
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('KeyStoreError');
    expect(err.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(err.cause).toBe(cause);
    expect(err.nativeStatus).toBe(0x80090016);
    expect(err.toJSON()).toMatchObject({
      code: 'ERR_KEYSTORE_NATIVE_FAILURE',
      providerId: 'cng',
      nativeStatus: '0x80090016',
      nativeName: 'NTE_BAD_KEYSET',
    });
  });

  it('is() checks a brand, not the class identity, so it works across duplicated installs', () => {
    const err = new KeyStoreError('ERR_KEYSTORE_KEY_NOT_FOUND', 'no key');
    expect(KeyStoreError.is(err)).toBe(true);
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')).toBe(true);
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_EXISTS')).toBe(false);
    // An error made by another copy of the class carries the same global brand.
    const foreign = Object.assign(new Error('x'), { code: 'ERR_KEYSTORE_KEY_EXISTS' });
    Object.defineProperty(foreign, Symbol.for('@keystore/core/KeyStoreError'), { value: true });
    expect(KeyStoreError.is(foreign, 'ERR_KEYSTORE_KEY_EXISTS')).toBe(true);
    // A look-alike without the brand is not one: detection never relies on names or messages.
    expect(KeyStoreError.is(Object.assign(new Error('x'), { code: 'ERR_KEYSTORE_KEY_EXISTS' }))).toBe(false);
    expect(KeyStoreError.is(null)).toBe(false);
    expect(KeyStoreError.is('ERR_KEYSTORE_KEY_EXISTS')).toBe(false);
  });

  it('lists every code once', () => {
    expect(new Set(KEYSTORE_ERROR_CODES).size).toBe(KEYSTORE_ERROR_CODES.length);
    for (const code of KEYSTORE_ERROR_CODES) expect(code).toMatch(/^ERR_KEYSTORE_[A-Z_]+$/);
  });

  it('throwIfAborted turns an aborted signal into ERR_KEYSTORE_CANCELLED', () => {
    expect(() => throwIfAborted(undefined)).not.toThrow();
    const ac = new AbortController();
    expect(() => throwIfAborted(ac.signal)).not.toThrow();
    ac.abort(new Error('stop'));
    try {
      throwIfAborted(ac.signal);
      expect.unreachable();
    } catch (err) {
      expect(KeyStoreError.is(err, 'ERR_KEYSTORE_CANCELLED')).toBe(true);
    }
  });
});
