// Starting reg.exe can fail for a moment on a loaded Windows machine (Node reports `spawn UNKNOWN`):
// the read tries again a bounded number of times, and still fails closed when reg.exe is missing or
// keeps failing. node:child_process is replaced by a named double of reg.exe; runs on any platform.
import { beforeEach, describe, expect, it, vi } from 'vitest';

type Callback = (error: Error | null, stdout: Buffer, stderr: Buffer) => void;
const spawnResults: (string | null)[] = [];
const calls: string[][] = [];

vi.mock('node:child_process', () => ({
  execFile: (_file: string, args: string[], _options: unknown, callback: Callback) => {
    calls.push(args);
    const code = spawnResults.shift() ?? null;
    if (code === null) {
      const out = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore\r\n    MinimumIsolation    REG_SZ    hardware\r\n';
      setImmediate(() => callback(null, Buffer.from(out), Buffer.alloc(0)));
    } else {
      const error = Object.assign(new Error(`spawn ${code}`), { code, syscall: 'spawn' });
      setImmediate(() => callback(error, Buffer.alloc(0), Buffer.alloc(0)));
    }
  },
}));

const { readRegistryKey } = await import('../src/policy/reg-query.js');
const { KeyStoreError } = await import('../src/errors.js');

beforeEach(() => {
  spawnResults.length = 0;
  calls.length = 0;
});

describe('reading the registry when reg.exe cannot be started for a moment', () => {
  it('tries again after a transient spawn failure (UNKNOWN, EAGAIN) and reads the key', async () => {
    spawnResults.push('UNKNOWN', 'EAGAIN');
    const contents = await readRegistryKey('HKLM\\SOFTWARE\\Policies\\keystore');
    expect(contents?.values).toEqual([{ name: 'MinimumIsolation', type: 'REG_SZ', data: 'hardware' }]);
    expect(calls).toHaveLength(3);
  });

  it('fails closed with ERR_KEYSTORE_NATIVE_FAILURE when every try fails', async () => {
    spawnResults.push('UNKNOWN', 'UNKNOWN', 'UNKNOWN', 'UNKNOWN');
    const error = await readRegistryKey('HKLM\\SOFTWARE\\Policies\\keystore').catch((e: unknown) => e);
    expect(KeyStoreError.is(error) && error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(calls).toHaveLength(3);
  });

  it('never retries a missing or forbidden reg.exe', async () => {
    spawnResults.push('ENOENT');
    const missing = await readRegistryKey('HKLM\\SOFTWARE\\Policies\\keystore').catch((e: unknown) => e);
    expect(KeyStoreError.is(missing) && missing.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(calls).toHaveLength(1);
    spawnResults.push('EACCES');
    const denied = await readRegistryKey('HKLM\\SOFTWARE\\Policies\\keystore').catch((e: unknown) => e);
    expect(KeyStoreError.is(denied) && denied.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(calls).toHaveLength(2);
  });

  it('stops waiting when the caller cancels between tries', async () => {
    spawnResults.push('UNKNOWN', 'UNKNOWN', 'UNKNOWN');
    const controller = new AbortController();
    const pending = readRegistryKey('HKLM\\SOFTWARE\\Policies\\keystore', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = await pending.catch((e: unknown) => e);
    expect(KeyStoreError.is(error) && error.code).toBe('ERR_KEYSTORE_CANCELLED');
    expect(calls).toHaveLength(1);
  });
});
