// The registry read on real Windows: reg.exe is found through the object manager's \SystemRoot link,
// so an environment that names another Windows directory does not choose the program that reports
// the machine policy. Under Wine that link does not exist (registry-policy.int.test.ts shows the
// fallback to SystemRoot there). Skipped elsewhere, with the reason.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type KeyStoreError, readRegistryKey } from '@keystore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { windowsDirectory } from '../src/policy/registry.js';

const onWindows = process.platform === 'win32';
const NEEDS = 'needs Windows: the object manager link \\SystemRoot and a real reg.exe';

describe.skipIf(!onWindows)(`registry read on Windows (${onWindows ? 'Windows' : NEEDS})`, () => {
  // Under HKCU, so that no elevation is needed.
  const key = `HKCU\\Software\\keystore-test-${randomBytes(4).toString('hex')}`;

  afterAll(() => {
    try {
      execFileSync(`${windowsDirectory().path}\\System32\\reg.exe`, ['delete', key, '/f'], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  });

  it('finds the Windows directory without the environment, where Windows says it is', () => {
    const found = windowsDirectory();
    expect(found.source).toBe('object-manager');
    expect(found.path.toLowerCase()).toBe((process.env.SystemRoot ?? '').replace(/\\$/, '').toLowerCase());
  });

  it('reads a key with the real reg.exe while SystemRoot and windir name another directory', async () => {
    const reg = `${windowsDirectory().path}\\System32\\reg.exe`;
    execFileSync(reg, ['add', key, '/v', 'MinimumIsolation', '/t', 'REG_SZ', '/d', 'hardware', '/f'], {
      stdio: 'ignore',
    });
    const saved = { SystemRoot: process.env.SystemRoot, windir: process.env.windir };
    let contents: Awaited<ReturnType<typeof readRegistryKey>> | KeyStoreError;
    try {
      process.env.SystemRoot = 'C:\\nowhere';
      process.env.windir = 'C:\\nowhere';
      contents = await readRegistryKey(key).catch((error: KeyStoreError) => error);
    } finally {
      process.env.SystemRoot = saved.SystemRoot;
      process.env.windir = saved.windir;
    }
    expect(contents).toEqual({ values: [{ name: 'MinimumIsolation', type: 'REG_SZ', data: 'hardware' }], subkeys: [] });
  });
});
