import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

function example(args: string[]) {
  expect(existsSync(built), 'examples/csr is not built: run `npm run build` first').toBe(true);
  return spawnSync(process.execPath, [built, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      KEYSTORE_MACHINE_POLICY: fileURLToPath(new URL('./empty-machine-policy.json', import.meta.url)),
    },
    timeout: 60_000,
  });
}

/** `openssl req -verify -noout -text` of a PEM request (from a file or stdin): its whole output and exit code. */
function opensslReq(input: { file: string } | { pem: string }) {
  const run = spawnSync(
    'openssl',
    ['req', '-verify', '-noout', '-text', ...('file' in input ? ['-in', input.file] : [])],
    { encoding: 'utf8', input: 'pem' in input ? input.pem : undefined },
  );
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe.skipIf(!HAVE_OPENSSL)(
  `examples/csr with the in-memory provider (built example run as a process; needs \`npm run build\`${HAVE_OPENSSL ? '' : '; skipped: needs openssl on the PATH'})`,
  () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'keystore-example-csr-'));
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('--out writes a new 0600 file that openssl req -verify accepts, with the subject, DNS name and key usage', () => {
      const out = join(dir, 'device.csr');
      const run = example(['--memory', '--host', 'sensor-7.example', '--out', out]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/for development only/);
      expect(run.stdout).toMatch(/^Created keystore:memory:user:example-csr-\S+ \(isolation: none\)$/m);
      expect(run.stdout).toContain(`Wrote the CSR to ${out} (mode 0600)`);
      expect(run.stdout).not.toContain('BEGIN CERTIFICATE REQUEST');
      expect(run.stdout).toMatch(/^Deleted the key$/m);
      expect(statSync(out).mode & 0o777).toBe(0o600);

      const req = opensslReq({ file: out });
      expect(req.status, req.out).toBe(0);
      expect(req.out).toMatch(/verify OK/);
      expect(req.out).toMatch(/Subject: CN\s*=\s*sensor-7\.example$/m);
      expect(req.out).toMatch(/ASN1 OID: prime256v1/);
      expect(req.out).toMatch(/X509v3 Subject Alternative Name:\s*\n\s*DNS:sensor-7\.example$/m);
      expect(req.out).toMatch(/X509v3 Key Usage: critical\s*\n\s*Digital Signature$/m);
      expect(req.out).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
      expect(req.out).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    });

    it('an existing --out file is refused before a key is made, and left as it was', () => {
      const out = join(dir, 'taken.csr');
      writeFileSync(out, 'not mine\n');
      const run = example(['--memory', '--out', out]);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(
        /^ERR_KEYSTORE_INVALID_ARGUMENT: cannot write .*taken\.csr: it exists; not overwriting it$/m,
      );
      expect(run.stdout).not.toMatch(/^Created /m);
      expect(readFileSync(out, 'utf8')).toBe('not mine\n');
    });

    it('without --out the PEM is printed, and openssl req -verify accepts it from standard input', () => {
      const run = example(['--memory']);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const pem = /-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+?\n-----END CERTIFICATE REQUEST-----\n/.exec(
        run.stdout,
      )?.[0];
      expect(pem, run.stdout).toBeDefined();
      const req = opensslReq({ pem: pem ?? '' });
      expect(req.status, req.out).toBe(0);
      expect(req.out).toMatch(/verify OK/);
      expect(req.out).toMatch(/DNS:device\.example$/m);
    });

    it('a --host that is not a DNS name, or an unknown option, is a usage error (exit 2) and makes nothing', () => {
      const out = join(dir, 'never.csr');
      for (const args of [
        ['--host', 'a.example, O=Other'],
        ['--hots', 'a.example'],
      ]) {
        const run = example(['--memory', '--out', out, ...args]);
        expect(run.status, run.stderr).toBe(2);
        expect(run.stderr).toMatch(/^Usage: node dist\/main\.js/m);
        expect(run.stdout).toBe('');
        expect(existsSync(out)).toBe(false);
      }
    });
  },
);
