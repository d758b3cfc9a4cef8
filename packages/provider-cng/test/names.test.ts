/** Key names and NCrypt algorithm identifiers (pure). */
import { KEY_ALGORITHMS } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { assertKeyName, isValidKeyName, keyAlgorithmOf, MAX_KEY_NAME_LENGTH, ncryptAlgorithmId } from '../src/index.js';

describe('key names', () => {
  it('accepts the documented rule and nothing else', () => {
    for (const ok of ['a', 'A-z_0.9', 'x'.repeat(MAX_KEY_NAME_LENGTH), '...', '.hidden', 'app.signing-2']) {
      expect(isValidKeyName(ok)).toBe(true);
    }
    for (const bad of [
      '',
      '.',
      '..',
      'a/b',
      'a\\b',
      'x'.repeat(65),
      'a b',
      'é',
      'a\0',
      'a:b',
      'a*',
      42,
      null,
      undefined,
    ]) {
      expect(isValidKeyName(bad)).toBe(false);
    }
  });

  it('assertKeyName throws INVALID_NAME for the provider that asked', () => {
    expect(() => assertKeyName('a/b', 'cng')).toThrow(
      expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_NAME', providerId: 'cng' }),
    );
    expect(() => assertKeyName('ok', 'cng')).not.toThrow();
  });
});

describe('NCrypt algorithm identifiers', () => {
  it('round-trips every SDK algorithm', () => {
    for (const algorithm of KEY_ALGORITHMS) {
      const id = ncryptAlgorithmId(algorithm);
      const bits = algorithm.startsWith('RSA-') ? Number(algorithm.slice(4)) : undefined;
      expect(keyAlgorithmOf(id, bits === undefined ? {} : { bits })).toBe(algorithm);
    }
    expect(ncryptAlgorithmId('RSA-4096')).toBe('RSA');
    expect(ncryptAlgorithmId('ECDSA-P521')).toBe('ECDSA_P521');
  });

  it('reads generic ids with the curve property, and knows nothing else', () => {
    expect(keyAlgorithmOf('ECDSA', { curve: 'nistP256' })).toBe('ECDSA-P256');
    expect(keyAlgorithmOf('ECDH', { curve: 'secp384r1' })).toBe('ECDH-P384');
    expect(keyAlgorithmOf('ecdsa_p384')).toBe('ECDSA-P384');
    for (const [id, extra] of [
      ['DSA', {}],
      ['DH', {}],
      ['RSA', {}],
      ['RSA', { bits: 1024 }],
      ['ECDSA', {}],
      ['ECDSA', { curve: 'secp256k1' }],
      ['ECDSA_P192', {}],
    ] as const) {
      expect(keyAlgorithmOf(id, extra)).toBeUndefined();
    }
  });
});
