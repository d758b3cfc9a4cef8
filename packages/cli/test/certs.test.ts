// keystore keys csr / keys cert: the request and certificate are signed by a key kept by another
// process's provider (the file-backed test double), judged by openssl and Node's X509Certificate;
// outputs go through the private-output writer; without @keystore/x509 the command says what to install.
import { spawnSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, Sandbox } from './helpers.js';

const WORKSPACE_SCOPE = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../node_modules/@keystore');
const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!HAVE_OPENSSL)(
  `keystore keys csr and keys cert with a key of an installed provider${HAVE_OPENSSL ? '' : ' (needs openssl on the PATH)'}`,
  () => {
    let box: Sandbox;
    let publicPem: string;
    const openssl = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: box.dir, encoding: 'utf8' });
      expect(r.status, `openssl ${args.join(' ')}\n${r.stderr}`).toBe(0);
      return `${r.stdout}${r.stderr}`;
    };

    beforeAll(() => {
      box = new Sandbox();
      box.installFakeProvider({ id: 'fake', ownStore: true });
      publicPem = createPublicKey(box.seedFakeKey('fake', 'web', { algorithm: 'ECDSA-P384' }))
        .export({ type: 'spki', format: 'pem' })
        .toString();
      box.seedFakeKey('fake', 'rsa', { algorithm: 'RSA-2048' });
      // The sandbox's copy of the CLI has core and the providers beside it; add the certificate packages.
      const scope = join(box.bin, '..', '..', '..');
      for (const name of ['x509', 'webcrypto']) symlinkSync(join(WORKSPACE_SCOPE, name), join(scope, name), 'dir');
    });
    afterAll(() => box?.cleanup());

    it('keys csr writes a 0600 CSR that openssl req -verify accepts, with the names asked for', () => {
      const args = ['keys', 'csr', 'web', '--subject', 'CN=web.example', '--san', 'dns:web.example', '--san'];
      const r = box.run([...args, 'ip:192.0.2.9', '--eku', 'serverAuth', '--out', 'web.csr']);
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(box.path('web.csr')).mode & 0o777).toBe(0o600);
      const text = openssl(['req', '-in', 'web.csr', '-verify', '-noout', '-text', '-pubkey']);
      expect(text).toMatch(/verify OK/);
      expect(text).toContain('Subject: CN = web.example');
      expect(text).toContain('DNS:web.example, IP Address:192.0.2.9');
      expect(text).toContain('TLS Web Server Authentication');
      expect(text).toContain(publicPem.trim());
      // An existing file is refused without --force, and replaced with it.
      expect(box.run([...args, 'ip:192.0.2.9', '--out', 'web.csr']).code).toBe(7);
      expect(box.run([...args, 'ip:192.0.2.9', '--out', 'web.csr', '--force']).code).toBe(0);
    });

    it('keys cert --self-signed --days 10: Node verifies it with the key, openssl shows a CA with --ca', () => {
      const r = box.run(['keys', 'cert', 'rsa', '--self-signed', '--subject', 'CN=Dev CA', '--days', '10']);
      const made = box.run([...['keys', 'cert', 'rsa', '--self-signed', '--subject', 'CN=Dev CA'], '--ca', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const certificate = new X509Certificate(r.stdout);
      expect(certificate.subject).toBe('CN=Dev CA');
      expect(certificate.verify(certificate.publicKey)).toBe(true);
      expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(10 * 86_400_000);
      const report = parse<{ certificate: string; format: string; ref: string }>(made);
      expect(report).toMatchObject({ format: 'pem', ref: 'keystore:fake:user:rsa' });
      box.write('ca.pem', report.certificate);
      expect(openssl(['x509', '-in', 'ca.pem', '-noout', '-text'])).toMatch(/CA:TRUE/);
      const der = box.run(['keys', 'cert', 'rsa', '--self-signed', '--subject', 'CN=x', '--format', 'der']);
      expect(new X509Certificate(der.raw).subject).toBe('CN=x');
    });

    it('bad input: usage errors (exit 2) and typed errors (exit 1) with a hint, nothing written', () => {
      expect(box.run(['keys', 'cert', 'web', '--subject', 'CN=x']).code).toBe(2); // no --self-signed
      expect(box.run(['keys', 'cert', 'web', '--self-signed', '--subject', 'CN=x', '--days', '0']).code).toBe(2);
      const bad = box.run(['keys', 'csr', 'web', '--subject', 'CN=x', '--san', 'ftp:x', '--out', 'no.csr']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/ERR_KEYSTORE_INVALID_ARGUMENT\)\nhint: use dns:, ip:, email: or uri:/);
      expect(existsSync(box.path('no.csr'))).toBe(false);
      expect(box.run(['keys', 'csr', 'absent', '--subject', 'CN=x']).code).toBe(4);
    });
  },
);

describe('keystore keys csr without @keystore/x509 installed beside the CLI', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider({ id: 'fake', ownStore: true });
    box.seedFakeKey('fake', 'web', { algorithm: 'ECDSA-P256' });
  });
  afterAll(() => box?.cleanup());

  it('says which package to install, exits 5, and writes nothing', () => {
    expect(existsSync(join(box.bin, '..', '..', '..', 'x509'))).toBe(false);
    const r = box.run(['keys', 'csr', 'web', '--subject', 'CN=x', '--out', 'web.csr', '--json']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('need the @keystore/x509 package');
    expect(r.stderr).toContain('hint: install it where the CLI is installed: npm install @keystore/x509');
    expect(parse<{ error: { code: string } }>(r).error.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(existsSync(box.path('web.csr'))).toBe(false);
    expect(readFileSync(box.machinePolicyFile, 'utf8')).toBe('{}');
  });
});
