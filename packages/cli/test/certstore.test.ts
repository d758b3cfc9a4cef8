// keystore certs list|add|remove as a process on this (non-Windows) machine: the arguments are checked
// before anything else (usage errors exit 2, a bad thumbprint exits 1 before any store is opened),
// and the store itself answers ERR_KEYSTORE_PROVIDER_UNAVAILABLE (exit 3) off Windows. The commands
// on Wine's crypt32 are in certstore-wine.int.test.ts.
import { symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, Sandbox } from './helpers.js';

const WORKSPACE_SCOPE = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../node_modules/@keystore');

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

// certs add opens the key through the store (here a file-backed test double installed as the `tpm`
// provider, whose keys outlive a process), reads the certificate, and checks that they belong together
// before the Windows store is touched: a certificate for another key is exit 1, a key of a provider
// Windows cannot find keys through is exit 5, and the right pair reaches the store, which off Windows
// is exit 3.
describe.skipIf(process.platform === 'win32')(
  'keystore certs add off Windows, with a key of a test-double provider',
  () => {
    let box: Sandbox;
    const run = (args: string[]) => {
      const r = box.run([...args, '--json']);
      return {
        code: r.code,
        error: r.code === 0 ? undefined : parse<{ error: { code: string; message: string } }>(r).error,
      };
    };

    beforeAll(() => {
      box = new Sandbox();
      box.installFakeProvider({ id: 'tpm', ownStore: true });
      box.installFakeProvider({ id: 'fake', ownStore: true });
      box.seedFakeKey('tpm', 'web', { algorithm: 'ECDSA-P256' });
      box.seedFakeKey('tpm', 'other', { algorithm: 'ECDSA-P256' });
      box.seedFakeKey('fake', 'web', { algorithm: 'ECDSA-P256' });
      const scope = join(box.bin, '..', '..', '..');
      for (const name of ['x509', 'webcrypto']) symlinkSync(join(WORKSPACE_SCOPE, name), join(scope, name), 'dir');
      for (const [provider, key, file] of [
        ['tpm', 'web', 'web.pem'],
        ['tpm', 'other', 'other.pem'],
        ['fake', 'web', 'fake.pem'],
      ] as const) {
        const r = box.run([
          'keys',
          'cert',
          key,
          '--self-signed',
          '--subject',
          `CN=${key}`,
          '--provider',
          provider,
          '--out',
          box.path(file),
        ]);
        expect(r.code, r.stderr).toBe(0);
      }
    });
    afterAll(() => box?.cleanup());

    it('refuses a certificate made for another key (exit 1) before the store is opened', () => {
      const r = run(['certs', 'add', 'web', '--provider', 'tpm', '--cert', box.path('other.pem')]);
      expect(r.code).toBe(1);
      expect(r.error?.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
      expect(r.error?.message).toContain('not for the key "web"');
    });

    it('refuses a key of a provider Windows cannot find keys through (exit 5)', () => {
      const r = run(['certs', 'add', 'web', '--provider', 'fake', '--cert', box.path('fake.pem')]);
      expect(r.code).toBe(5);
      expect(r.error?.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    });

    it('takes the key and its certificate to the store, which exists only on Windows (exit 3)', () => {
      const r = run(['certs', 'add', 'web', '--provider', 'tpm', '--cert', box.path('web.pem')]);
      expect(r.code).toBe(3);
      expect(r.error?.message).toContain('only on Windows');
    });

    it('says the CLI needs @keystore/provider-cng when the package beside it has no certificate store', () => {
      box.installFakeProvider({ id: 'cng' });
      const r = run(['certs', 'list']);
      expect(r.code).toBe(3);
      expect(r.error?.message).toContain('needs the @keystore/provider-cng package');
    });
  },
);
