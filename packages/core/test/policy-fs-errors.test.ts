// Read errors the test machine cannot produce on demand (the suite may run as root, who reads any
// file), checked through a double of node:fs/promises that rejects with a given errno code.
import { KeyStoreError, loadMachinePolicy, loadPolicyFile } from '@keystore/core';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const failure = vi.hoisted(() => ({ code: 'EACCES' }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    readFile: async () => {
      throw Object.assign(new Error(`${failure.code}: simulated`), { code: failure.code });
    },
  };
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (KeyStoreError.is(error)) return error.code;
    throw error;
  }
  throw new Error('expected an error');
}

describe('policy file read errors (fs double)', () => {
  beforeEach(() => {
    failure.code = 'EACCES';
  });

  it.each(['EACCES', 'EPERM'])('maps %s to ERR_KEYSTORE_ACCESS_DENIED', async (code) => {
    failure.code = code;
    expect(await codeOf(loadPolicyFile('/etc/keystore/policy.json'))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(await codeOf(loadMachinePolicy({ env: {}, platform: 'linux' }))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
  });

  it('fails closed with ERR_KEYSTORE_INVALID_POLICY on other read errors', async () => {
    failure.code = 'EIO';
    expect(await codeOf(loadMachinePolicy({ env: {}, platform: 'linux' }))).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('treats ENOENT at the known path as no machine policy', async () => {
    failure.code = 'ENOENT';
    expect(await loadMachinePolicy({ env: {}, platform: 'linux' })).toEqual({
      policy: null,
      path: '/etc/keystore/policy.json',
    });
  });
});
