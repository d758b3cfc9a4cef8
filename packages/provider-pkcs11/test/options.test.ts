// The provider's options and the PIN's sources, checked before any module is loaded, and the
// mapping of PKCS#11 return values to typed errors.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { KeyStoreError } from '@keystore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createProvider, Pkcs11Provider, resolvePin, Secret } from '../src/index.js';
import { checkName, checkScope } from '../src/options.js';
import { isSessionLost, rvError } from '../src/rv.js';

const dir = mkdtempSync(join(tmpdir(), 'keystore-pkcs11-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';

function code(action: () => unknown): string {
  try {
    action();
  } catch (err) {
    expect(KeyStoreError.is(err)).toBe(true);
    return (err as KeyStoreError).code;
  }
  return 'resolved';
}

describe('options', () => {
  it.each([
    ['no options', undefined],
    ['a relative module path', { module: 'libsofthsm2.so' }],
    ['label and serial both', { module: MODULE, tokenLabel: 'a', tokenSerial: 'b' }],
    ['an empty label', { module: MODULE, tokenLabel: '' }],
    ['a label over 32 bytes', { module: MODULE, tokenLabel: 'é'.repeat(17) }],
    ['a pool of 0', { module: MODULE, poolSize: 0 }],
    ['a pool of 33', { module: MODULE, poolSize: 33 }],
    ['an unknown OAEP hash', { module: MODULE, oaepHashes: ['md5'] }],
    ['two PIN sources', { module: MODULE, pin: '1', pinEnv: 'X' }],
  ])('refuses %s with ERR_KEYSTORE_INVALID_ARGUMENT, before loading anything', (_what, options) => {
    expect(code(() => new Pkcs11Provider(options as never))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('accepts a module path and nothing else (the only token is used)', () => {
    expect(new Pkcs11Provider({ module: MODULE }).capabilities.scopes).toEqual(['user']);
  });
});

describe('the PIN', () => {
  it('from an option, a file (one trailing newline dropped) or an environment variable, always as a Secret', () => {
    expect(resolvePin({ pin: '1234' })?.reveal()).toBe('1234');
    const file = join(dir, 'pin');
    writeFileSync(file, '5678\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    expect(resolvePin({ pinFile: file })?.reveal()).toBe('5678');
    process.env.KEYSTORE_TEST_PKCS11_PIN = '9012';
    expect(resolvePin({ pinEnv: 'KEYSTORE_TEST_PKCS11_PIN' })?.reveal()).toBe('9012');
    expect(resolvePin({})).toBeUndefined();
  });

  it('a PIN file others can read, a relative PIN file, a missing file or an unset variable is refused', () => {
    const open = join(dir, 'open-pin');
    writeFileSync(open, '1');
    chmodSync(open, 0o644);
    expect(code(() => resolvePin({ pinFile: open }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(code(() => resolvePin({ pinFile: 'pin' }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(code(() => resolvePin({ pinFile: join(dir, 'none') }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(code(() => resolvePin({ pinEnv: 'KEYSTORE_TEST_PKCS11_UNSET' }))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it('never shows in inspect, JSON or string conversion of the provider or the Secret', () => {
    const pin = 'pin-that-must-not-leak';
    const provider = new Pkcs11Provider({ module: MODULE, pin });
    const secret = new Secret(pin);
    for (const text of [
      inspect(provider, { depth: 20, showHidden: true }),
      inspect(secret, { depth: 20, showHidden: true }),
      JSON.stringify(secret),
      JSON.stringify({ secret }),
      String(secret),
      `${secret}`,
    ]) {
      expect(text).not.toContain(pin);
    }
  });
});

describe('names and scopes', () => {
  it('takes label-safe names and refuses others with ERR_KEYSTORE_INVALID_NAME', () => {
    expect(checkName('signing.key-1@prod:v2')).toBe('signing.key-1@prod:v2');
    for (const bad of ['', 'a b', 'x'.repeat(65), 'tab\t', 'slash/', 7])
      expect(code(() => checkName(bad))).toBe('ERR_KEYSTORE_INVALID_NAME');
  });

  it('user scope only; machine is unsupported with a reason, anything else invalid', () => {
    expect(checkScope(undefined)).toBe('user');
    expect(code(() => checkScope('machine'))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(code(() => checkScope('global'))).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });
});

describe('CK_RV mapping', () => {
  it.each([
    [0xa0, 'CKR_PIN_INCORRECT', 'ERR_KEYSTORE_ACCESS_DENIED'],
    [0xa4, 'CKR_PIN_LOCKED', 'ERR_KEYSTORE_ACCESS_DENIED'],
    [0x101, 'CKR_USER_NOT_LOGGED_IN', 'ERR_KEYSTORE_ACCESS_DENIED'],
    [0x32, 'CKR_DEVICE_REMOVED', 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'],
    [0xe0, 'CKR_TOKEN_NOT_PRESENT', 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'],
    [0xb3, 'CKR_SESSION_HANDLE_INVALID', 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'],
    [0x70, 'CKR_MECHANISM_INVALID', 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM'],
    [0x82, 'CKR_OBJECT_HANDLE_INVALID', 'ERR_KEYSTORE_KEY_NOT_FOUND'],
    [0x5, 'CKR_GENERAL_ERROR', 'ERR_KEYSTORE_NATIVE_FAILURE'],
    [0x80000001, 'CKR_VENDOR_DEFINED+0x1', 'ERR_KEYSTORE_NATIVE_FAILURE'],
  ])('0x%s is %s: %s with a hint', (rv, name, expected) => {
    const err = rvError(rv, 'C_Sign');
    expect(err.code).toBe(expected);
    expect(err.nativeName).toBe(name);
    expect(err.nativeStatus).toBe(rv);
    expect(err.providerId).toBe('pkcs11');
    expect(err.hint?.length).toBeGreaterThan(20);
    expect(err.message).toContain('C_Sign');
  });

  it('the return values after which a new session may help', () => {
    for (const rv of [0x3, 0x32, 0xb0, 0xb3, 0xe0, 0x101]) expect(isSessionLost(rv)).toBe(true);
    for (const rv of [0, 0x5, 0xa0, 0xa4, 0x70, undefined]) expect(isSessionLost(rv)).toBe(false);
  });
});

describe('createProvider from the environment, unconfigured', () => {
  it('probes unavailable with what to set, refuses every key operation typed, and closes', async () => {
    const provider = createProvider({});
    const probe = await provider.probe();
    expect(probe.available).toBe(false);
    expect(probe.reasons.join(' ')).toContain('KEYSTORE_PKCS11_MODULE');
    const request = { name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false } as const;
    await expect(provider.createKey(request)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' });
    const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await expect(provider.importKey?.({ ...request, privateKey })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    });
    await expect(provider.close?.()).resolves.toBeUndefined();
  });
});
