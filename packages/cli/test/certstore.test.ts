// keystore certs list|add|remove as a process on this (non-Windows) machine: the arguments are checked
// before anything else (usage errors exit 2, a bad thumbprint exits 1 before any store is opened),
// and the store itself answers ERR_KEYSTORE_PROVIDER_UNAVAILABLE (exit 3) off Windows. The commands
// on Wine's crypt32 are in certstore-wine.int.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, Sandbox } from './helpers.js';

describe.skipIf(process.platform === 'win32')('keystore certs off Windows', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = new Sandbox();
  });
  afterAll(() => box?.cleanup());

  it('lists the certs group and its three commands in the help', () => {
    const r = box.run(['certs', '--help']);
    expect(r.code).toBe(0);
    for (const c of ['certs list', 'certs add NAME', 'certs remove THUMBPRINT']) expect(r.stdout).toContain(c);
  });

  it('refuses usage errors with exit 2: a location outside the choices, add without --cert, extra arguments', () => {
    for (const args of [
      ['certs', 'list', '--location', 'Everyone'],
      ['certs', 'add', 'web'],
      ['certs', 'remove'],
      ['certs', 'list', 'extra'],
    ]) {
      const r = box.run([...args, '--json']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(parse<{ error: { code: string } }>(r).error.code).toBe('ERR_USAGE');
    }
  });

  it('refuses a malformed thumbprint with exit 1 before any store is opened', () => {
    for (const bad of ['abc', 'zz'.repeat(20), `${'ab'.repeat(20)}00`]) {
      const r = box.run(['certs', 'remove', bad, '--json']);
      expect(r.code, bad).toBe(1);
      expect(parse<{ error: { code: string } }>(r).error.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    }
  });

  it('says the Windows store exists only on Windows (exit 3, ERR_KEYSTORE_PROVIDER_UNAVAILABLE)', () => {
    for (const args of [
      ['certs', 'list'],
      ['certs', 'remove', 'ab'.repeat(20)],
    ]) {
      const r = box.run([...args, '--json']);
      expect(r.code, args.join(' ')).toBe(3);
      const error = parse<{ error: { code: string; message: string } }>(r).error;
      expect(error.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
      expect(error.message).toContain('only on Windows');
    }
  });
});
