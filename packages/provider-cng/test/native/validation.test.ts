/**
 * The argument checks of the Windows bindings, pure (Linux): bad handles, lengths, strings and padding
 * are refused with ERR_KEYSTORE_INVALID_ARGUMENT before any native code is loaded, and the loaders
 * refuse to run off Windows.
 */
import { createRequire } from 'node:module';
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadNCrypt } from '../../src/native/ncrypt.js';
import { loadWindowsSystem } from '../../src/native/system.js';
import type { NCryptPadding } from '../../src/native/types.js';
import {
  checkAlgorithmId,
  checkBytes,
  checkDigest,
  checkDword,
  checkHandle,
  checkKeyName,
  checkLegacyKeySpec,
  checkPadding,
  checkPropertyName,
  checkPropertyValue,
  checkUiPolicy,
  checkWideString,
  MAX_DIGEST_LENGTH,
  NCRYPT_HASH_LENGTHS,
} from '../../src/native/validate.js';

const require = createRequire(import.meta.url);

function codeOf(fn: () => unknown): KeyStoreErrorCode | 'no error' | 'not a KeyStoreError' {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return KeyStoreError.is(err) ? err.code : 'not a KeyStoreError';
  }
}

const INVALID = 'ERR_KEYSTORE_INVALID_ARGUMENT';
const SHA256 = Buffer.alloc(32, 1);

describe('loaders off Windows', () => {
  it('loadNCrypt() throws PROVIDER_UNAVAILABLE with a hint on Linux', () => {
    expect(process.platform).toBe('linux');
    let caught: unknown;
    try {
      loadNCrypt();
    } catch (err) {
      caught = err;
    }
    expect(KeyStoreError.is(caught, 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE')).toBe(true);
    expect((caught as KeyStoreError).hint).toBeTruthy();
  });

  it('loadWindowsSystem() throws PROVIDER_UNAVAILABLE on Linux', () => {
    expect(codeOf(() => loadWindowsSystem())).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
  });

  it('neither loader nor any check has loaded koffi', () => {
    // Every test above and below runs in this file's process; koffi would sit in the CJS cache.
    expect(require.cache[require.resolve('koffi')]).toBeUndefined();
  });
});

describe('handles', () => {
  it('refuses a zero handle', () => {
    expect(codeOf(() => checkHandle(0n))).toBe(INVALID);
  });

  it('refuses handles that are not 64-bit unsigned bigints', () => {
    expect(codeOf(() => checkHandle(-1n))).toBe(INVALID);
    expect(codeOf(() => checkHandle(1n << 64n))).toBe(INVALID);
    expect(codeOf(() => checkHandle(5 as unknown as bigint))).toBe(INVALID);
    expect(codeOf(() => checkHandle(null as unknown as bigint))).toBe(INVALID);
  });

  it('accepts every non-zero 64-bit value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), (h) => {
        expect(checkHandle(h)).toBe(h);
      }),
    );
  });
});

describe('digests', () => {
  const pkcs1: NCryptPadding = { kind: 'pkcs1', hash: 'SHA256' };

  it('refuses an empty digest and one longer than 64 bytes', () => {
    expect(codeOf(() => checkDigest(Buffer.alloc(0), { kind: 'none' }))).toBe(INVALID);
    expect(codeOf(() => checkDigest(Buffer.alloc(MAX_DIGEST_LENGTH + 1), { kind: 'none' }))).toBe(INVALID);
    expect(codeOf(() => checkDigest(Buffer.alloc(MAX_DIGEST_LENGTH), { kind: 'none' }))).toBe('no error');
  });

  it("refuses a digest whose length is not the padding's hash length", () => {
    for (const [hash, length] of Object.entries(NCRYPT_HASH_LENGTHS)) {
      const padding = { kind: 'pss', hash, saltLength: length } as NCryptPadding;
      expect(codeOf(() => checkDigest(Buffer.alloc(length), padding))).toBe('no error');
      expect(codeOf(() => checkDigest(Buffer.alloc(length + 1), padding))).toBe(INVALID);
      expect(codeOf(() => checkDigest(Buffer.alloc(length - 1), padding))).toBe(INVALID);
    }
    expect(codeOf(() => checkDigest(Buffer.alloc(20), pkcs1))).toBe(INVALID);
  });

  it('refuses a digest that is not a Buffer', () => {
    expect(codeOf(() => checkDigest('abc' as unknown as Buffer, pkcs1))).toBe(INVALID);
  });
});

describe('strings', () => {
  it('refuses strings with NUL characters, wherever the NUL is', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(codeOf(() => checkWideString(`${a}\0${b}`, 'name'))).toBe(INVALID);
        expect(codeOf(() => checkKeyName(`${a}\0${b}`))).toBe(INVALID);
        expect(codeOf(() => checkPropertyName(`${a}\0${b}`))).toBe(INVALID);
      }),
    );
  });

  it('refuses empty names and names over the SDK limits', () => {
    expect(codeOf(() => checkKeyName(''))).toBe(INVALID);
    expect(codeOf(() => checkPropertyName(''))).toBe(INVALID);
    expect(codeOf(() => checkAlgorithmId(''))).toBe(INVALID);
    expect(codeOf(() => checkKeyName('k'.repeat(512)))).toBe('no error');
    expect(codeOf(() => checkKeyName('k'.repeat(513)))).toBe(INVALID);
    expect(codeOf(() => checkPropertyName('p'.repeat(64)))).toBe('no error');
    expect(codeOf(() => checkPropertyName('p'.repeat(65)))).toBe(INVALID);
    expect(codeOf(() => checkWideString('', 'value', { allowEmpty: true }))).toBe('no error');
  });

  it('refuses values that are not strings', () => {
    expect(codeOf(() => checkKeyName(42 as unknown as string))).toBe(INVALID);
  });
});

describe('flags, key specs and buffers', () => {
  it('accepts DWORDs and refuses anything else', () => {
    expect(checkDword(undefined)).toBe(0);
    expect(checkDword(0xffffffff)).toBe(0xffffffff);
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN, '1' as unknown as number]) {
      expect(codeOf(() => checkDword(bad))).toBe(INVALID);
    }
  });

  it('accepts the legacy key specs 0, 1, 2 only', () => {
    for (const spec of [0, 1, 2]) expect(checkLegacyKeySpec(spec)).toBe(spec);
    for (const spec of [3, -1, 0.5]) expect(codeOf(() => checkLegacyKeySpec(spec))).toBe(INVALID);
  });

  it('checks buffer lengths against their bounds', () => {
    expect(codeOf(() => checkBytes(Buffer.alloc(3), 'data', 1, 3))).toBe('no error');
    expect(codeOf(() => checkBytes(Buffer.alloc(4), 'data', 1, 3))).toBe(INVALID);
    expect(codeOf(() => checkBytes(Buffer.alloc(0), 'data', 1, 3))).toBe(INVALID);
    expect(codeOf(() => checkBytes(new Uint8Array(2) as Buffer, 'data', 1, 3))).toBe(INVALID);
  });

  it('checks property values: DWORD, NUL-free string or Buffer', () => {
    expect(codeOf(() => checkPropertyValue(2048))).toBe('no error');
    expect(codeOf(() => checkPropertyValue('nistP256'))).toBe('no error');
    expect(codeOf(() => checkPropertyValue(Buffer.alloc(8)))).toBe('no error');
    expect(codeOf(() => checkPropertyValue(-5))).toBe(INVALID);
    expect(codeOf(() => checkPropertyValue('a\0b'))).toBe(INVALID);
    expect(codeOf(() => checkPropertyValue(Buffer.alloc(0x100001)))).toBe(INVALID);
    expect(codeOf(() => checkPropertyValue({} as unknown as number))).toBe(INVALID);
  });

  it('checks UI policies', () => {
    expect(codeOf(() => checkUiPolicy({ flags: 1, friendlyName: 'Signing key', description: '' }))).toBe('no error');
    expect(codeOf(() => checkUiPolicy({ flags: -1 }))).toBe(INVALID);
    expect(codeOf(() => checkUiPolicy({ flags: 1, description: 'x\0y' }))).toBe(INVALID);
    expect(codeOf(() => checkUiPolicy(null as unknown as { flags: number }))).toBe(INVALID);
  });
});

describe('padding', () => {
  it('fits the padding to the operation', () => {
    const pss: NCryptPadding = { kind: 'pss', hash: 'SHA256', saltLength: 32 };
    const oaep: NCryptPadding = { kind: 'oaep', hash: 'SHA256' };
    expect(codeOf(() => checkPadding(pss, 'sign'))).toBe('no error');
    expect(codeOf(() => checkPadding(pss, 'encrypt'))).toBe(INVALID);
    expect(codeOf(() => checkPadding(oaep, 'decrypt'))).toBe('no error');
    expect(codeOf(() => checkPadding(oaep, 'verify'))).toBe(INVALID);
    expect(codeOf(() => checkPadding({ kind: 'pkcs1' }, 'encrypt'))).toBe('no error');
    expect(codeOf(() => checkPadding({ kind: 'none' }, 'sign'))).toBe('no error');
  });

  it('refuses unknown kinds and hashes, bad salts and labels', () => {
    expect(codeOf(() => checkPadding({ kind: 'raw' } as unknown as NCryptPadding, 'sign'))).toBe(INVALID);
    expect(codeOf(() => checkPadding({ kind: 'pkcs1', hash: 'MD5' } as unknown as NCryptPadding, 'sign'))).toBe(
      INVALID,
    );
    expect(codeOf(() => checkPadding({ kind: 'pss', hash: 'SHA256', saltLength: -1 }, 'sign'))).toBe(INVALID);
    expect(codeOf(() => checkPadding({ kind: 'pss', hash: 'SHA256', saltLength: 1.5 }, 'sign'))).toBe(INVALID);
    expect(codeOf(() => checkPadding({ kind: 'oaep', hash: 'SHA1', label: 'x' as unknown as Buffer }, 'encrypt'))).toBe(
      INVALID,
    );
    expect(codeOf(() => checkPadding(undefined as unknown as NCryptPadding, 'sign'))).toBe(INVALID);
  });

  it('never throws anything but a KeyStoreError for arbitrary input', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (padding, digest) => {
        for (const fn of [
          () => checkPadding(padding as NCryptPadding, 'sign'),
          () => checkDigest(digest as Buffer, { kind: 'pkcs1', hash: 'SHA256' }),
          () => checkDigest(SHA256, padding as NCryptPadding),
          () => checkHandle(padding as bigint),
          () => checkWideString(padding as string, 'x'),
        ]) {
          expect(codeOf(fn)).not.toBe('not a KeyStoreError');
        }
      }),
    );
  });
});
