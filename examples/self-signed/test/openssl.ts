// What independent tools read from the certificate examples/self-signed printed: openssl x509 for
// the fields, the validity and the SHA-256 fingerprint, held against what the example printed.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

/** Whether openssl is on the PATH. */
export const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

/** The first PEM certificate in `text`. */
export function certificateIn(text: string): string | undefined {
  return /-----BEGIN CERTIFICATE-----\n[\s\S]+?\n-----END CERTIFICATE-----\n/.exec(text)?.[0];
}

/** `openssl x509 ARGS` of a PEM certificate on standard input: its output, failing the test on an error. */
export function opensslX509(pem: string, args: string[]): string {
  const run = spawnSync('openssl', ['x509', ...args], { encoding: 'utf8', input: pem });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout;
}

/** What openssl reads from the certificate the example printed, against what it printed about it. */
export function checkCertificate(stdout: string): void {
  const pem = certificateIn(stdout);
  expect(pem, stdout).toBeDefined();
  const text = opensslX509(pem as string, ['-noout', '-text']);
  expect(text).toMatch(/Subject: CN\s*=\s*localhost, O\s*=\s*Development$/m);
  expect(text).toMatch(/Issuer: CN\s*=\s*localhost, O\s*=\s*Development$/m);
  expect(text).toMatch(/X509v3 Subject Alternative Name:\s*\n\s*DNS:localhost, IP Address:127\.0\.0\.1$/m);
  expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication$/m);
  expect(text).toMatch(/X509v3 Subject Key Identifier/);
  expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);

  // Valid for 30 days from about now.
  const dates = opensslX509(pem as string, ['-noout', '-startdate', '-enddate']);
  const notBefore = Date.parse(/notBefore=(.+)/.exec(dates)?.[1] ?? '');
  const notAfter = Date.parse(/notAfter=(.+)/.exec(dates)?.[1] ?? '');
  expect(Math.abs(notBefore - Date.now())).toBeLessThan(10 * 60_000);
  expect(notAfter - notBefore).toBe(30 * 86_400_000);

  // The fingerprint the example printed is the one openssl computes.
  const fingerprint = /^sha256 Fingerprint=([0-9A-F:]+)$/im.exec(
    opensslX509(pem as string, ['-noout', '-fingerprint', '-sha256']),
  )?.[1];
  expect(fingerprint).toBeDefined();
  expect(stdout).toContain(`SHA-256 fingerprint: ${fingerprint}`);
  expect(stdout).toMatch(/^Subject: CN=localhost, O=Development$/m);
  expect(stdout).toMatch(/^Subject alternative names: DNS:localhost, IP Address:127\.0\.0\.1$/m);
  expect(stdout).toMatch(/^Valid from .+ to .+$/m);
  expect(stdout).toMatch(/^Certificate holds the key's public key: yes$/m);
  expect(stdout).toMatch(/^Signature verified with the key's public key: yes$/m);
}
