// How the CLI writes what it produces: --out files are 0600, exclusive, never through a symbolic link
// (replaced atomically with --force), and a failed write is one line on stderr and exit 7, never a stack.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, Sandbox, stderrLines } from './helpers.js';

const fake = ['--provider', 'fake'];
const SECRET = Buffer.from('the plaintext nobody else may read');

describe('keys decrypt/sign/public --out', () => {
  let box: Sandbox;
  let ciphertext: string;
  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider();
    expect(box.run(['keys', 'create', 'rsa', '--algorithm', 'RSA-2048', ...fake]).code).toBe(0);
    const pem = box.run(['keys', 'public', 'rsa', ...fake]).stdout;
    const encrypted = publicEncrypt(
      { key: createPublicKey(pem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      SECRET,
    );
    ciphertext = box.write('secret.bin', encrypted);
  });
  afterAll(() => box.cleanup());

  /** Runs the built CLI under `umask 000`, where a file created with the default mode would be 0666. */
  function underUmask000(args: string[]): SpawnSyncReturns<string> {
    const env: NodeJS.ProcessEnv = { ...process.env, KEYSTORE_MACHINE_POLICY: box.machinePolicyFile };
    env.KEYSTORE_FAKE_STORE = box.path('fake-keys');
    const quoted = [process.execPath, box.bin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    return spawnSync('sh', ['-c', `umask 000 && exec ${quoted}`], { cwd: box.dir, env, encoding: 'utf8' });
  }

  it('creates the file with mode 0600 even under umask 000', () => {
    const r = underUmask000(['keys', 'decrypt', 'rsa', ...fake, '--in', ciphertext, '--out', 'plain.txt']);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(box.path('plain.txt'))).toEqual(SECRET);
    expect(statSync(box.path('plain.txt')).mode & 0o777).toBe(0o600);
    const sig = underUmask000(['keys', 'sign', 'rsa', ...fake, '--in', ciphertext, '--out', 'sig.bin']);
    expect(sig.status, sig.stderr).toBe(0);
    expect(statSync(box.path('sig.bin')).mode & 0o777).toBe(0o600);
  });

  it('refuses an existing file (exit 7, ERR_OUTPUT, hint --force) and leaves it alone', () => {
    const existing = box.write('taken.txt', 'keep me');
    const r = box.run(['keys', 'decrypt', 'rsa', ...fake, '--in', ciphertext, '--out', 'taken.txt', '--json']);
    expect(r.code).toBe(7);
    const { error } = parse<{ error: { code: string; hint: string } }>(r);
    expect(error.code).toBe('ERR_OUTPUT');
    expect(error.hint).toContain('--force');
    expect(stderrLines(r)[0]).toMatch(/^keystore: cannot write taken\.txt: it exists.*\(ERR_OUTPUT\)$/);
    expect(readFileSync(existing, 'utf8')).toBe('keep me');
  });

  it('never writes through a symbolic link: refused without --force; replaced, not followed, with it', () => {
    const victim = box.write('victim.txt', 'victim');
    symlinkSync(victim, box.path('link.txt'));
    const refused = box.run(['keys', 'decrypt', 'rsa', ...fake, '--in', ciphertext, '--out', 'link.txt']);
    expect(refused.code).toBe(7);
    expect(stderrLines(refused)[0]).toContain('it is a symbolic link');
    expect(readFileSync(victim, 'utf8')).toBe('victim');

    const dangling = box.path('dangling.txt');
    symlinkSync(box.path('would-be-created.txt'), dangling);
    expect(box.run(['keys', 'public', 'rsa', ...fake, '--out', 'dangling.txt']).code).toBe(7);
    expect(() => statSync(box.path('would-be-created.txt'))).toThrow();

    const forced = underUmask000([
      'keys',
      'decrypt',
      'rsa',
      ...fake,
      '--in',
      ciphertext,
      '--out',
      'link.txt',
      '--force',
    ]);
    expect(forced.status, forced.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('victim');
    const replaced = lstatSync(box.path('link.txt'));
    expect(replaced.isSymbolicLink()).toBe(false);
    expect(replaced.mode & 0o777).toBe(0o600);
    expect(readFileSync(box.path('link.txt'))).toEqual(SECRET);
    // No temporary file is left behind.
    expect(readdirSync(box.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('--force replaces an existing file with a 0600 one', () => {
    const existing = box.write('old.txt', 'old');
    writeFileSync(existing, 'old', { mode: 0o644 });
    const r = underUmask000(['keys', 'decrypt', 'rsa', ...fake, '--in', ciphertext, '--out', 'old.txt', '--force']);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(existing)).toEqual(SECRET);
    expect(statSync(existing).mode & 0o777).toBe(0o600);
  });

  it('a directory in the way is refused with ERR_OUTPUT', () => {
    const r = box.run(['keys', 'public', 'rsa', ...fake, '--out', '.', '--force', '--json']);
    expect(r.code).toBe(7);
    expect(parse<{ error: { code: string } }>(r).error.code).toBe('ERR_OUTPUT');
  });
});

describe('a write that fails', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider();
    expect(box.run(['keys', 'create', 'ec', '--algorithm', 'ECDSA-P256', ...fake]).code).toBe(0);
  });
  afterAll(() => box.cleanup());

  /** Runs the built CLI with stdout redirected to `/dev/full` (every write fails with ENOSPC). */
  function toDevFull(args: string[]): SpawnSyncReturns<string> {
    const env: NodeJS.ProcessEnv = { ...process.env, KEYSTORE_MACHINE_POLICY: box.machinePolicyFile };
    env.KEYSTORE_FAKE_STORE = box.path('fake-keys');
    const quoted = [process.execPath, box.bin, ...args].map((a) => `'${a}'`).join(' ');
    return spawnSync('sh', ['-c', `exec ${quoted} > /dev/full`], { cwd: box.dir, env, encoding: 'utf8' });
  }

  it.skipIf(process.platform === 'win32')('stdout on a full disk: one line on stderr, exit 7, no stack trace', () => {
    for (const args of [
      ['keys', 'public', 'ec', ...fake],
      ['keys', 'public', 'ec', ...fake, '--json'],
      ['keys', 'list', '--json'],
      ['doctor'],
    ]) {
      const r = toDevFull(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(7);
      const lines = r.stderr.split('\n').filter((l) => l.length > 0);
      expect(lines[0]).toBe('keystore: cannot write the output: no space left on device (ENOSPC) (ERR_OUTPUT)');
      expect(lines).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a device named by --out is refused before anything is written, with --force too', () => {
    const r = box.run(['keys', 'public', 'ec', ...fake, '--out', '/dev/full', '--force']);
    expect(r.code).toBe(7);
    expect(stderrLines(r)).toEqual([
      'keystore: cannot write /dev/full: it is not a regular file (ERR_OUTPUT)',
      'hint: name a new file with --out',
    ]);
  });
});
