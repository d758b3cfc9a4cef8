/**
 * The pure parts of nativeRegistryReader: key path validation, value decoding, and the refusals that
 * come before any native call (runs anywhere; on Linux a valid path ends in PROVIDER_UNAVAILABLE).
 */
import { KeyStoreError } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { decodeRegistryValue, nativeRegistryReader, registrySubKeyOf } from '../../src/native/registry.js';

const utf16 = (text: string) => Buffer.from(text, 'utf16le');
const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof KeyStoreError ? error.code : `not a KeyStoreError: ${String(error)}`;
  }
};

describe('registrySubKeyOf', () => {
  it('returns the path below HKLM', () => {
    expect(registrySubKeyOf('HKLM\\SOFTWARE\\Policies\\keystore')).toBe('SOFTWARE\\Policies\\keystore');
    expect(registrySubKeyOf('hkey_local_machine\\SOFTWARE')).toBe('SOFTWARE');
    expect(registrySubKeyOf(`HKLM\\${'k'.repeat(255)}`)).toBe('k'.repeat(255));
  });

  it.each([
    ['another hive', 'HKCU\\Software'],
    ['no subkey', 'HKLM\\'],
    ['the hive alone', 'HKLM'],
    ['an empty segment', 'HKLM\\SOFTWARE\\\\keystore'],
    ['a trailing backslash', 'HKLM\\SOFTWARE\\'],
    ['a NUL', 'HKLM\\SOFTWARE\0x'],
    ['a segment over 255 characters', `HKLM\\${'k'.repeat(256)}`],
    ['not a string', 42],
  ])('refuses %s with INVALID_ARGUMENT', (_, key) => {
    expect(() => registrySubKeyOf(key)).toThrowError(
      expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
    );
  });
});

describe('decodeRegistryValue', () => {
  it('decodes strings, dropping one trailing NUL', () => {
    expect(decodeRegistryValue('a', 1, utf16('hardware\0'))).toEqual({ name: 'a', type: 'REG_SZ', data: 'hardware' });
    expect(decodeRegistryValue('a', 1, utf16('\0')).data).toBe('');
    expect(decodeRegistryValue('a', 1, Buffer.alloc(0)).data).toBe('');
    expect(decodeRegistryValue('a', 1, utf16('no terminator')).data).toBe('no terminator');
    expect(decodeRegistryValue('a', 2, utf16('%TEMP%\0'))).toEqual({
      name: 'a',
      type: 'REG_EXPAND_SZ',
      data: '%TEMP%',
    });
  });

  it('splits string lists, dropping the final empty strings', () => {
    expect(decodeRegistryValue('l', 7, utf16('tpm\0cng\0\0')).data).toEqual(['tpm', 'cng']);
    expect(decodeRegistryValue('l', 7, utf16('\0')).data).toEqual([]);
    expect(decodeRegistryValue('l', 7, Buffer.alloc(0)).data).toEqual([]);
  });

  it('reads REG_DWORD and REG_QWORD little-endian as numbers', () => {
    expect(decodeRegistryValue('d', 4, Buffer.from([0x00, 0x0c, 0, 0]))).toEqual({
      name: 'd',
      type: 'REG_DWORD',
      data: 3072,
    });
    expect(decodeRegistryValue('d', 4, Buffer.from([0xff, 0xff, 0xff, 0xff])).data).toBe(0xffffffff);
    const qword = Buffer.alloc(8);
    qword.writeBigUInt64LE(0x123456789n);
    expect(decodeRegistryValue('q', 11, qword)).toEqual({ name: 'q', type: 'REG_QWORD', data: 0x123456789 });
  });

  it('gives other types, and numbers of the wrong size, as upper-case hex', () => {
    expect(decodeRegistryValue('b', 3, Buffer.from([1, 0xab, 0, 0xff]))).toEqual({
      name: 'b',
      type: 'REG_BINARY',
      data: '01AB00FF',
    });
    expect(decodeRegistryValue('d', 4, Buffer.from([1, 2])).data).toBe('0102');
    expect(decodeRegistryValue('x', 99, Buffer.from([7])).type).toBe('REG_UNKNOWN');
  });
});

describe('nativeRegistryReader', () => {
  it('refuses a bad path and an aborted signal before loading anything', async () => {
    const read = nativeRegistryReader();
    expect(await codeOf(read('HKCU\\Software', {}))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(await codeOf(read('HKLM\\SOFTWARE', { signal: AbortSignal.abort() }))).toBe('ERR_KEYSTORE_CANCELLED');
  });

  it.skipIf(process.platform === 'win32')('is unavailable elsewhere than Windows', async () => {
    expect(await codeOf(nativeRegistryReader()('HKLM\\SOFTWARE\\Policies\\keystore', {}))).toBe(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    );
  });
});
