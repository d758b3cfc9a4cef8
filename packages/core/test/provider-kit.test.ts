import { describe, expect, it } from 'vitest';
import { KeyStoreError } from '../src/index.js';
import {
  checkDigestLength,
  checkKeyName,
  checkNoPassword,
  checkPassword,
  checkProviderScope,
  checkRequest,
  checkScope,
  checkSignal,
  checkUserPrompt,
  explainError,
  MAX_PROMPT_TEXT,
  providerPolicyRefusals,
  unavailableProbe,
} from '../src/provider/index.js';
import { createMemoryProvider } from '../src/testing/index.js';
import type { EffectivePolicy } from '../src/types.js';

function codeOf(fn: () => unknown): { code: string; providerId: string | undefined } {
  try {
    fn();
  } catch (error) {
    if (!KeyStoreError.is(error)) throw error;
    return { code: error.code, providerId: error.providerId };
  }
  throw new Error('did not throw');
}

describe('@keystore/core/provider request checks', () => {
  it('refuse what is not a request, a scope, a signal or a password, naming the provider', () => {
    expect(codeOf(() => checkRequest(null, 'openKey', 'vault'))).toEqual({
      code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
      providerId: 'vault',
    });
    expect(codeOf(() => checkScope('system'))).toEqual({
      code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
      providerId: undefined,
    });
    expect(codeOf(() => checkScope(10n, 'vault')).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => checkSignal({ aborted: false }, 'vault')).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => checkPassword(1234)).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(codeOf(() => checkPassword('a\0b')).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    const signal = new AbortController().signal;
    expect(checkSignal(signal)).toBe(signal);
    expect(checkPassword('')).toBe('');
    expect(checkScope(undefined)).toBeUndefined();
    expect(checkScope('machine')).toBe('machine');
  });

  it('default a provider request to the user scope and refuse a scope the provider has not', () => {
    expect(checkProviderScope(undefined, 'vault', ['user'])).toBe('user');
    expect(codeOf(() => checkProviderScope('machine', 'vault', ['user']))).toEqual({
      code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      providerId: 'vault',
    });
    expect(checkProviderScope('machine', 'vault')).toBe('machine');
  });

  it('treat null and the empty string as no password where keys take none', () => {
    const refusal = { message: 'vault keys take no password', hint: 'omit it' };
    expect(() => checkNoPassword(undefined, 'vault', refusal)).not.toThrow();
    expect(() => checkNoPassword(null, 'vault', refusal)).not.toThrow();
    expect(() => checkNoPassword('', 'vault', refusal)).not.toThrow();
    try {
      checkNoPassword('secret', 'vault', refusal);
      expect.unreachable();
    } catch (error) {
      expect(KeyStoreError.is(error, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION')).toBe(true);
      expect((error as KeyStoreError).hint).toBe('omit it');
      expect((error as KeyStoreError).providerId).toBe('vault');
    }
  });

  it('copy a user prompt into a frozen object, so the caller cannot change it after the check', () => {
    const given: Record<string, unknown> = { friendlyName: 'Signing key', forceHighProtection: true };
    const prompt = checkUserPrompt(given)!;
    given.friendlyName = 'x'.repeat(MAX_PROMPT_TEXT + 1);
    expect(prompt).toEqual({ friendlyName: 'Signing key', forceHighProtection: true });
    expect(Object.isFrozen(prompt)).toBe(true);
    expect(checkUserPrompt({ description: 'd'.repeat(MAX_PROMPT_TEXT) })?.description).toHaveLength(MAX_PROMPT_TEXT);
  });

  it.each([
    ['a text one character too long', { description: 'd'.repeat(MAX_PROMPT_TEXT + 1) }],
    ['a NUL in the text', { friendlyName: 'a\0b' }],
    ['a text that is not a string', { friendlyName: 7 }],
    ['a forceHighProtection that is not a boolean', { forceHighProtection: 'yes' }],
    ['an unknown member', { title: 'x' }],
    ['an array', []],
  ])('refuse a user prompt with %s', (_, prompt) => {
    expect(codeOf(() => checkUserPrompt(prompt, 'vault'))).toEqual({
      code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
      providerId: 'vault',
    });
  });

  it.each([
    ['empty', ''],
    ['too long', 'n'.repeat(256)],
    ['a control character', 'a\u0007b'],
    ['a reference prefix', 'keystore:memory/user/a'],
    ['a lone surrogate', 'a\ud800'],
    ['not a string', 42],
  ])('refuse a key name that is %s with ERR_KEYSTORE_INVALID_NAME', (_, name) => {
    expect(codeOf(() => checkKeyName(name, 'vault'))).toEqual({
      code: 'ERR_KEYSTORE_INVALID_NAME',
      providerId: 'vault',
    });
  });

  it('accept a key name of the longest length', () => {
    expect(checkKeyName('n'.repeat(255))).toHaveLength(255);
  });

  it('check a digest against the length of its hash', () => {
    expect(() => checkDigestLength(new Uint8Array(32), 'sha256')).not.toThrow();
    expect(() => checkDigestLength(new Uint8Array(48), 'sha384')).not.toThrow();
    expect(codeOf(() => checkDigestLength(new Uint8Array(31), 'sha256', 'vault')).code).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(codeOf(() => checkDigestLength(new Uint8Array(32), 'sha512')).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });
});

describe('@keystore/core/provider probe answers', () => {
  it('say unavailable with isolation none, copying the reasons and details', () => {
    const reasons = ['no device'];
    const probe = unavailableProbe(reasons, { platform: 'linux' });
    reasons.push('later');
    expect(probe).toEqual({
      available: false,
      isolation: 'none',
      reasons: ['no device'],
      details: { platform: 'linux' },
    });
    expect(unavailableProbe([])).toEqual({ available: false, isolation: 'none', reasons: [] });
  });

  it('explain a KeyStoreError by its message and hint, anything else as unexpected', () => {
    const error = new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'no TPM', { hint: 'start swtpm' });
    expect(explainError(error)).toEqual(['no TPM', 'start swtpm']);
    expect(explainError(new TypeError('boom'))).toEqual(['unexpected failure: boom']);
    expect(explainError('text')).toEqual(['unexpected failure: text']);
  });
});

describe('providerPolicyRefusals', () => {
  const base = {
    providers: { allow: null, deny: [] as string[] },
    legacyCryptoApi: 'deny',
    sources: {},
  } as unknown as EffectivePolicy;
  const provider = createMemoryProvider();
  const legacy = Object.assign(Object.create(provider), {
    id: 'capi',
    capabilities: { ...provider.capabilities, legacyCryptoApi: true },
  });

  it('is empty when the provider rules allow the provider', () => {
    expect(providerPolicyRefusals(provider, base)).toEqual([]);
  });

  it('names the field, who set it and what the app would need, for each rule that refuses', () => {
    const policy = {
      ...base,
      providers: { allow: ['tpm'], deny: ['capi'] },
      sources: { '/providers/deny': 'machine', '/legacyCryptoApi': 'app' },
    } as unknown as EffectivePolicy;
    const reasons = providerPolicyRefusals(legacy, policy);
    expect(reasons.map((r) => [r.field, r.source])).toEqual([
      ['/providers/deny', 'machine'],
      ['/providers/allow', 'default'],
      ['/legacyCryptoApi', 'app'],
    ]);
    expect(reasons[2]?.needs).toEqual({ legacyCryptoApi: 'allow' });
    expect(reasons[1]?.message).toBe('capi is not in the providers the policy allows (/providers/allow: tpm)');
  });
});
