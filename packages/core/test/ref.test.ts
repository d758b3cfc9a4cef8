import { formatKeyRef, isKeyRef, KeyStoreError, parseKeyRef } from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return KeyStoreError.is(error) ? error.code : `not a KeyStoreError: ${String(error)}`;
  }
  return undefined;
}

describe('formatKeyRef', () => {
  it('builds keystore:<provider>:<scope>:<encoded name>', () => {
    expect(formatKeyRef({ providerId: 'tpm', scope: 'user', name: 'signing' })).toBe('keystore:tpm:user:signing');
    expect(formatKeyRef({ providerId: 'cng', scope: 'machine', name: 'a:b/c d' })).toBe(
      'keystore:cng:machine:a%3Ab%2Fc%20d',
    );
  });

  it.each([
    [{ providerId: '', scope: 'user', name: 'x' }],
    [{ providerId: 'a:b', scope: 'user', name: 'x' }],
    [{ providerId: '-x', scope: 'user', name: 'x' }],
    [{ providerId: 'tpm', scope: 'system', name: 'x' }],
    [{ providerId: 'tpm', scope: 'user', name: '' }],
    [{ providerId: 'tpm', scope: 'user', name: 'lone \ud800 surrogate' }],
    [{ providerId: 'tpm', scope: 'user', name: 42 }],
  ])('rejects %j with INVALID_ARGUMENT', (parts) => {
    expect(codeOf(() => formatKeyRef(parts as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });
});

describe('parseKeyRef', () => {
  it('parses the parts and decodes the name', () => {
    expect(parseKeyRef('keystore:memory:machine:my%20key%3A1')).toEqual({
      providerId: 'memory',
      scope: 'machine',
      name: 'my key:1',
    });
  });

  it.each([
    'memory:user:x',
    'keystore:memory:user',
    'keystore:memory:user:',
    'keystore::user:x',
    'keystore:memory:global:x',
    'keystore:memory:user:a:b',
    'keystore:memory:user:a b',
    'keystore:memory:user:%',
    'keystore:memory:user:%zz',
    'keystore:memory:user:%C3',
    'keystore:memory:user:%FF',
    'KEYSTORE:memory:user:x',
    ' keystore:memory:user:x',
  ])('rejects %j with INVALID_ARGUMENT', (ref) => {
    expect(codeOf(() => parseKeyRef(ref))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(isKeyRef(ref)).toBe(false);
  });

  it('rejects a non-string', () => {
    expect(codeOf(() => parseKeyRef(undefined as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(isKeyRef(7 as never)).toBe(false);
  });
});

describe('isKeyRef', () => {
  it('is true for a well-formed reference only', () => {
    expect(isKeyRef('keystore:memory:user:signing')).toBe(true);
    expect(isKeyRef('signing')).toBe(false);
    expect(isKeyRef('keystore:memory')).toBe(false);
  });
});

describe('round trip', () => {
  const providerId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/);
  const scope = fc.constantFrom('user' as const, 'machine' as const);

  it('parseKeyRef(formatKeyRef(parts)) returns the parts for any name', () => {
    fc.assert(
      fc.property(providerId, scope, fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }), (id, s, name) => {
        const ref = formatKeyRef({ providerId: id, scope: s, name });
        expect(isKeyRef(ref)).toBe(true);
        expect(parseKeyRef(ref)).toEqual({ providerId: id, scope: s, name });
      }),
      { numRuns: 500 },
    );
  });

  it('formatKeyRef(parseKeyRef(ref)) returns the canonical reference', () => {
    fc.assert(
      fc.property(providerId, scope, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 32 }), (id, s, name) => {
        const ref = formatKeyRef({ providerId: id, scope: s, name });
        expect(formatKeyRef(parseKeyRef(ref))).toBe(ref);
      }),
    );
  });
});
