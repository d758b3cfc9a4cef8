// Status names and their mapping to typed errors: pure.
import { KEYSTORE_ERROR_CODES, KeyStoreError } from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capiError, capiStatusName, classifyStatus } from '../src/status.js';

describe('capiStatusName', () => {
  it('names NTE codes, Win32 codes and Win32 codes wrapped as HRESULTs', () => {
    expect(capiStatusName(0x80090001)).toBe('NTE_BAD_UID');
    expect(capiStatusName(0x8009000b)).toBe('NTE_BAD_KEY_STATE');
    expect(capiStatusName(0x8009000d)).toBe('NTE_NO_KEY');
    expect(capiStatusName(0x8009000f)).toBe('NTE_EXISTS');
    expect(capiStatusName(0x80090016)).toBe('NTE_BAD_KEYSET');
    expect(capiStatusName(0x80090022)).toBe('NTE_SILENT_CONTEXT');
    expect(capiStatusName(0x80090036)).toBe('NTE_USER_CANCELLED');
    expect(capiStatusName(-0x7ff6ffea)).toBe('NTE_BAD_KEYSET'); // the same status, read as a signed LONG
    expect(capiStatusName(259)).toBe('ERROR_NO_MORE_ITEMS');
    expect(capiStatusName(0x80070005)).toBe('E_ACCESSDENIED');
    expect(capiStatusName(0x80070103)).toBe('HRESULT_FROM_WIN32(ERROR_NO_MORE_ITEMS)');
    expect(capiStatusName(0x12345678)).toBe('0x12345678');
  });
});

describe('classifyStatus and capiError', () => {
  const cases: Array<[number, string]> = [
    [0x80090016, 'ERR_KEYSTORE_KEY_NOT_FOUND'],
    [0x8009000d, 'ERR_KEYSTORE_KEY_NOT_FOUND'],
    [0x8009000f, 'ERR_KEYSTORE_KEY_EXISTS'],
    [0x8009000b, 'ERR_KEYSTORE_NOT_EXPORTABLE'],
    [0x80090010, 'ERR_KEYSTORE_ACCESS_DENIED'],
    [5, 'ERR_KEYSTORE_ACCESS_DENIED'],
    [0x80090022, 'ERR_KEYSTORE_ACCESS_DENIED'],
    [0x80090008, 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM'],
    [0x80090003, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'],
    [0x80090013, 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'],
    [0x80090024, 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'],
    [0x80090005, 'ERR_KEYSTORE_NATIVE_FAILURE'],
    [0x80090020, 'ERR_KEYSTORE_NATIVE_FAILURE'],
  ];

  it('maps the statuses users meet to the codes they branch on', () => {
    for (const [status, code] of cases)
      expect([capiStatusName(status), classifyStatus(status).code]).toEqual([capiStatusName(status), code]);
  });

  it('keeps the status, its name, a hint and the provider id', () => {
    const err = capiError(0x80090016, 'open key container "x"');
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')).toBe(true);
    expect(err.nativeStatus).toBe(0x80090016);
    expect(err.nativeName).toBe('NTE_BAD_KEYSET');
    expect(err.providerId).toBe('capi');
    expect(err.hint).toBeTypeOf('string');
    expect(capiError(0x80090016, 'x', 'ERR_KEYSTORE_NATIVE_FAILURE').code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
  });

  it('gives every 32-bit status a known code, a name and a hint', () => {
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0xffffffff }), (status) => {
        const err = capiError(status, 'anything');
        expect(KEYSTORE_ERROR_CODES).toContain(err.code);
        expect(err.nativeStatus).toBe(status >>> 0);
        expect(err.nativeName?.length).toBeGreaterThan(0);
        expect(err.hint?.length).toBeGreaterThan(0);
      }),
    );
  });
});
