// Read errors the test machine cannot produce on demand (the suite may run as root, who reads any
// file), checked through a double of node:fs/promises whose open rejects with a given errno code.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStoreError, loadMachinePolicy, loadPolicyFile } from '@keystore/core';
import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const failure = vi.hoisted(() => ({ code: 'EACCES' }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: async () => {
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

const file = join(mkdtempSync(join(tmpdir(), 'kst-fserr-')), 'policy.json');
writeFileSync(file, '{}');
const named = { [TEST_POLICY_SOURCES]: { machinePolicy: null, env: { KEYSTORE_MACHINE_POLICY: file } } };

describe('policy file read errors (fs double)', () => {
  beforeEach(() => {
    failure.code = 'EACCES';
  });

  it.each(['EACCES', 'EPERM'])('maps %s to ERR_KEYSTORE_ACCESS_DENIED', async (code) => {
    failure.code = code;
    expect(await codeOf(loadPolicyFile(file))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(await codeOf(loadMachinePolicy(named))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
  });

  it.each(['EIO', 'ENXIO', 'ELOOP'])('fails closed with ERR_KEYSTORE_INVALID_POLICY on %s', async (code) => {
    failure.code = code;
    expect(await codeOf(loadPolicyFile(file))).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(await codeOf(loadMachinePolicy(named))).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });
});
