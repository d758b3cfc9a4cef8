/**
 * Test helper: one suite, run for each provider, in which tools nobody here wrote judge what a
 * keystore key produced through the WebCrypto facade: openssl (CSR, chain, extensions), Node's
 * X509Certificate (parse, verify with the issuer's public key) and jose (JWT sign and verify).
 */
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KeyAlgorithm, KeyStore, KeyStoreKey } from '@keystore/core';
import { installGlobalCrypto, keyStoreCrypto, toCryptoKeyPair } from '@keystore/webcrypto';
import { createCertificate, createCsr, createSelfSignedCertificate } from '@keystore/x509';
import { exportJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Whether openssl is on the PATH. */
export const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

/** The JWS algorithms a key algorithm is checked with (`PS256` only where the provider signs PSS). */
const JWS: Readonly<Partial<Record<KeyAlgorithm, readonly string[]>>> = {
  'ECDSA-P256': ['ES256'],
  'ECDSA-P384': ['ES384'],
  'ECDSA-P521': ['ES512'],
  'RSA-2048': ['RS256', 'PS256'],
};

export interface InteropSuiteOptions {
  /** Opens the store under test (called once, in beforeAll). */
  open(): Promise<KeyStore>;
  /** Closes what `open` started. */
  close(store: KeyStore | undefined): Promise<void>;
  /** The algorithms to check. */
  algorithms: readonly KeyAlgorithm[];
  /** Options for createKey (provider, scope). */
  createOptions?: Record<string, unknown>;
  /** The JWS algorithms to check per key algorithm, where the provider signs fewer than `JWS` lists. */
  jws?: Readonly<Partial<Record<KeyAlgorithm, readonly string[]>>>;
}

async function openssl(args: string[]): Promise<string> {
  const { stdout, stderr } = await run('openssl', args, { encoding: 'utf8' });
  return `${stdout}${stderr}`;
}

/** Defines the interop suite for one provider (call inside a describe). */
export function defineInteropSuite(options: InteropSuiteOptions): void {
  let store: KeyStore | undefined;
  let dir: string;
  const keys = new Map<KeyAlgorithm, KeyStoreKey>();
  const file = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keystore-x509-'));
    store = await options.open();
    for (const algorithm of options.algorithms) {
      // A name of this run: some providers (CryptoAPI under Wine) keep keys across runs.
      const name = `interop-${algorithm}-${process.pid}-${randomBytes(3).toString('hex')}`;
      keys.set(algorithm, await store.createKey(name, { algorithm, ...options.createOptions }));
    }
  });
  afterAll(async () => {
    for (const key of keys.values()) {
      await key.close();
      // Wine's ncrypt cannot delete (nor keep) keys: what cannot be deleted is not kept either.
      await store?.deleteKey(key.ref).catch(() => undefined);
    }
    await options.close(store);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  for (const algorithm of options.algorithms) {
    const key = () => keys.get(algorithm) as KeyStoreKey;

    describe(algorithm, () => {
      it('openssl req -verify accepts the CSR; openssl shows the requested subject and extensions', async () => {
        const csr = await createCsr(key(), {
          subject: 'CN=host.example, O=Keystore Test',
          subjectAltNames: ['dns:host.example', 'ip:192.0.2.7'],
          keyUsages: ['digitalSignature'],
          extendedKeyUsages: ['serverAuth', 'clientAuth'],
        });
        await writeFile(file(`${algorithm}.csr.pem`), csr.pem);
        await writeFile(file(`${algorithm}.csr.der`), csr.der);
        const text = await openssl(['req', '-in', file(`${algorithm}.csr.pem`), '-verify', '-noout', '-text']);
        expect(text).toMatch(/verify OK|Certificate request self-signature verify OK/);
        expect(text).toContain('Subject: CN = host.example, O = Keystore Test');
        expect(text).toContain('DNS:host.example');
        expect(text).toContain('IP Address:192.0.2.7');
        expect(text).toContain('Digital Signature');
        expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
        const der = await openssl(['req', '-inform', 'DER', '-in', file(`${algorithm}.csr.der`), '-verify', '-noout']);
        expect(der).toMatch(/verify OK/);
        const pub = await openssl(['req', '-in', file(`${algorithm}.csr.pem`), '-pubkey', '-noout']);
        expect(pub.trim()).toBe(key().exportPublicKey('pem').trim());
      });

      it("a self-signed certificate: Node's X509Certificate parses it and verifies it with the key's public key", async () => {
        const cert = await createSelfSignedCertificate(key(), {
          subject: 'CN=localhost',
          subjectAltNames: ['dns:localhost'],
          extendedKeyUsages: ['serverAuth'],
          validity: { days: 7 },
        });
        const parsed = new X509Certificate(cert.der);
        expect(parsed.subject).toBe('CN=localhost');
        expect(parsed.subjectAltName).toBe('DNS:localhost');
        expect(parsed.publicKey.equals(key().publicKey)).toBe(true);
        expect(parsed.verify(key().publicKey)).toBe(true);
        expect(new Date(parsed.validTo).getTime() - new Date(parsed.validFrom).getTime()).toBe(7 * 86_400_000);
        expect(new X509Certificate(cert.pem).fingerprint256).toBe(parsed.fingerprint256);
      });

      it('a local CA made with this key issues a certificate; openssl verify accepts the chain', async () => {
        const ca = await createSelfSignedCertificate(key(), { subject: `CN=Test CA ${algorithm}`, ca: true });
        // The issued certificate's key is any public key: one made in software here.
        const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
        {
          const leaf = await createCertificate(key(), ca.pem, leafKey, {
            subject: 'CN=server.internal',
            subjectAltNames: ['dns:server.internal'],
            keyUsages: ['digitalSignature', 'keyAgreement'],
            extendedKeyUsages: ['serverAuth'],
            validity: { days: 30 },
          });
          await writeFile(file(`${algorithm}.ca.pem`), ca.pem);
          await writeFile(file(`${algorithm}.leaf.pem`), leaf.pem);
          const verified = await openssl([
            'verify',
            '-x509_strict',
            '-CAfile',
            file(`${algorithm}.ca.pem`),
            file(`${algorithm}.leaf.pem`),
          ]);
          expect(verified).toContain(': OK');
          const text = await openssl(['x509', '-in', file(`${algorithm}.leaf.pem`), '-noout', '-text']);
          expect(text).toContain(`Issuer: CN = Test CA ${algorithm}`);
          expect(text).toContain('Subject: CN = server.internal');
          expect(text).toContain('DNS:server.internal');
          expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Agreement/);
          expect(text).toContain('TLS Web Server Authentication');
          const caText = await openssl(['x509', '-in', file(`${algorithm}.ca.pem`), '-noout', '-text']);
          expect(caText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
          expect(caText).toMatch(/Certificate Sign, CRL Sign/);
          const issued = new X509Certificate(leaf.der);
          expect(issued.verify(key().publicKey)).toBe(true);
          expect(issued.checkIssued(new X509Certificate(ca.der))).toBe(true);
          expect(issued.publicKey.equals(leafKey)).toBe(true);
        }
      });

      for (const alg of (options.jws ?? JWS)[algorithm] ?? []) {
        it(`jose: a ${alg} JWT signed through the facade verifies with the exported public JWK; a tampered one does not`, async () => {
          const pair = await toCryptoKeyPair(key(), alg === 'PS256' ? { algorithm: 'RSA-PSS' } : undefined);
          let jwt: string;
          {
            using _ = installGlobalCrypto(keyStoreCrypto());
            jwt = await new SignJWT({ sub: 'device-1', scope: 'read' })
              .setProtectedHeader({ alg })
              .setIssuedAt()
              .setExpirationTime('5m')
              .sign(pair.privateKey);
          }
          const jwk = await exportJWK(pair.publicKey);
          expect(jwk.d).toBeUndefined();
          const { payload, protectedHeader } = await jwtVerify(jwt, jwk, { algorithms: [alg] });
          expect(protectedHeader.alg).toBe(alg);
          expect(payload.sub).toBe('device-1');
          const [header, body, signature] = jwt.split('.') as [string, string, string];
          const forged = Buffer.from(JSON.stringify({ ...payload, scope: 'admin' })).toString('base64url');
          await expect(jwtVerify(`${header}.${forged}.${signature}`, jwk)).rejects.toMatchObject({
            code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
          });
          expect(body).not.toBe(forged);
        });
      }
    });
  }
}
