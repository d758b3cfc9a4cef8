// The machine policy file at the fixed path is trusted only when root alone can change it (the
// file, the directories above it, a symbolic link's target and its directories), and no file at a
// policy path can hang the process or make it read without end. The fixed path is relocated into a
// root-owned 0755 tree under a temporary directory (tests cannot write /etc), through the test seam.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMachinePolicy, loadPolicyFile } from '@keystore/core';
import { createTestKeyStore, TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, errorOf } from './helpers/errors.js';

const posixRoot = process.platform !== 'win32' && process.getuid?.() === 0;
const HARDWARE = JSON.stringify({ minimumIsolation: 'hardware' });

/** Settles `promise` or fails after `ms`: a read that blocks (a FIFO) must not pass by hanging the test. */
async function within<T>(promise: Promise<T>, ms = 1000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(!posixRoot)('the machine policy file at the fixed path (needs POSIX and root, to chown)', () => {
  let root: string;
  let dir: string;
  let path: string;
  const load = () =>
    within(loadMachinePolicy({ [TEST_POLICY_SOURCES]: { machinePolicyFile: { path, trustRoot: root }, env: {} } }));

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'kst-trust-'));
    chmodSync(root, 0o755);
    dir = join(root, 'etc', 'keystore');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(join(root, 'etc'), 0o755);
    chmodSync(dir, 0o755);
    path = join(dir, 'policy.json');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads a root-owned 0644 file in root-owned 0755 directories', async () => {
    writeFileSync(path, HARDWARE, { mode: 0o644 });
    expect((await load()).policy).toEqual({ minimumIsolation: 'hardware' });
  });

  it('treats an absent file in a sound directory, or an absent directory, as no machine policy', async () => {
    expect((await load()).policy).toBeNull();
    rmSync(dir, { recursive: true });
    expect((await load()).policy).toBeNull();
  });

  it.each([
    ['writable by others (0666)', 0o666, 'others'],
    ['writable by its group (0664)', 0o664, 'its group'],
  ])('refuses a file %s, with a hint to chown and chmod it', async (_, mode, who) => {
    writeFileSync(path, HARDWARE);
    chmodSync(path, mode);
    const error = await errorOf(load());
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.message).toContain(who);
    expect(error.hint).toBe(`only root may change a machine policy: chown root:root ${path}; chmod 644 ${path}`);
  });

  it('refuses a file owned by an ordinary user', async () => {
    writeFileSync(path, HARDWARE, { mode: 0o644 });
    chownSync(path, 1000, 1000);
    const error = await errorOf(load());
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.hint).toContain(`chown root:root ${path}`);
  });

  it('refuses a directory above the file that others may write (0777) or an ordinary user owns', async () => {
    writeFileSync(path, HARDWARE, { mode: 0o644 });
    chmodSync(dir, 0o777);
    const open = await errorOf(load());
    expect(open.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(open.hint).toBe(
      `only root may change the directories above a machine policy: chown root:root ${dir}; chmod 755 ${dir}`,
    );
    chmodSync(dir, 0o755);
    chownSync(join(root, 'etc'), 1000, 1000);
    expect((await errorOf(load())).hint).toContain(`chown root:root ${join(root, 'etc')}`);
  });

  it('follows a symbolic link and checks its target the same way', async () => {
    const target = join(root, 'etc', 'real.json');
    writeFileSync(target, HARDWARE, { mode: 0o644 });
    symlinkSync(target, path);
    expect((await load()).policy).toEqual({ minimumIsolation: 'hardware' });
    chownSync(target, 1000, 1000);
    expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('refuses a symbolic link to a root-owned file in a directory others may write', async () => {
    // The system temporary directory is 1777: anyone may replace a file there.
    const outside = mkdtempSync(join(tmpdir(), 'kst-outside-'));
    try {
      chmodSync(outside, 0o777);
      const target = join(outside, 'policy.json');
      writeFileSync(target, HARDWARE, { mode: 0o644 });
      symlinkSync(target, path);
      expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('fails closed on a dangling symbolic link, for the file or its directory', async () => {
    symlinkSync(join(root, 'nowhere.json'), path);
    expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
    rmSync(dir, { recursive: true });
    symlinkSync(join(root, 'no-dir'), dir);
    expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('fails closed when the directory is a file, or the file a directory', async () => {
    mkdirSync(path, { mode: 0o755 });
    expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
    rmSync(dir, { recursive: true });
    writeFileSync(dir, HARDWARE, { mode: 0o644 });
    expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('fails closed, promptly, on a FIFO', async () => {
    execFileSync('mkfifo', ['-m', '0644', path]);
    expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('fails closed on a socket and on a device', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    rmSync(path, { force: true });
    symlinkSync('/dev/zero', path);
    expect(await codeOf(load())).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('fails closed on a file over 1 MiB', async () => {
    writeFileSync(path, `{"$schema":"${'x'.repeat(1024 * 1024)}"}`, { mode: 0o644 });
    const error = await errorOf(load());
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.message).toContain('1048576');
  });

  it('fails a key store closed on an untrusted file: it is not read as no policy', async () => {
    writeFileSync(path, HARDWARE);
    chmodSync(path, 0o666);
    const error = await errorOf(
      createTestKeyStore({
        providers: [],
        machinePolicyFile: { path, trustRoot: root },
        env: {},
        registryPolicy: null,
      }),
    );
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });
});

describe.skipIf(process.platform === 'win32')('files named by KEYSTORE_MACHINE_POLICY and by the app', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kst-named-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const named = (path: string) =>
    within(
      loadMachinePolicy({ [TEST_POLICY_SOURCES]: { machinePolicy: null, env: { KEYSTORE_MACHINE_POLICY: path } } }),
    );

  it('reads a file whatever its owner: it can only tighten', async () => {
    const path = join(dir, 'user.json');
    writeFileSync(path, HARDWARE);
    chmodSync(path, 0o666);
    if (process.getuid?.() === 0) chownSync(path, 1000, 1000);
    expect((await named(path)).envPolicy).toEqual({ minimumIsolation: 'hardware' });
  });

  it('fails closed, promptly, on a FIFO, a directory, a device, a dangling link', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const dangling = join(dir, 'dangling');
    symlinkSync(join(dir, 'nowhere'), dangling);
    for (const path of [fifo, dir, '/dev/zero', dangling]) {
      expect(await codeOf(named(path)), path).toBe('ERR_KEYSTORE_INVALID_POLICY');
      expect(await codeOf(within(loadPolicyFile(path))), path).toBe('ERR_KEYSTORE_INVALID_POLICY');
    }
  });
});
