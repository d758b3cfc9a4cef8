/**
 * The certificate store on real Windows: what Wine cannot show. A certificate stored for a CNG key
 * (ECDSA-P256 and RSA-2048) is used through the store by Windows' own programs: `certutil -store`
 * finds its private key and runs its signature test, .NET (`Cert:\` in PowerShell) signs with it,
 * Schannel (`SslStream` in PowerShell) serves TLS with it to a Node.js client, and a deletion is
 * gone for the next reader. Skipped elsewhere (it needs Windows).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, verify } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import type { KeyAlgorithm } from '@keystore/core';
import { createTestKeyStore } from '@keystore/core/testing';
import { createSelfSignedCertificate } from '@keystore/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { findCertificate, removeCertificate, storeCertificate } from '../src/certstore/index.js';
import { createProvider } from '../src/index.js';

const onWindows = process.platform === 'win32';
const prefix = `keystore-cert-${randomBytes(4).toString('hex')}-`;

function powershell(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', script], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

describe.skipIf(!onWindows)(
  'Windows certificate store bound to CNG keys (needs Windows: crypt32, certutil, .NET, Schannel)',
  () => {
    const thumbprints: string[] = [];
    afterAll(async () => {
      for (const t of thumbprints) await removeCertificate(t).catch(() => {});
    });

    for (const algorithm of ['ECDSA-P256', 'RSA-2048'] as KeyAlgorithm[]) {
      it(`${algorithm}: certutil and .NET use the key through the certificate; a removal is gone`, async () => {
        const store = await createTestKeyStore({
          providers: [createProvider()],
          policy: { minimumIsolation: 'none' },
          machinePolicy: null,
          registryPolicy: null,
        });
        const name = `${prefix}${algorithm}`;
        try {
          const key = await store.createKey(name, { algorithm });
          const { pem } = await createSelfSignedCertificate(key, {
            subject: `CN=${name}`,
            subjectAltNames: ['dns:localhost'],
            extendedKeyUsages: ['serverAuth'],
          });
          const stored = await storeCertificate(key, pem);
          thumbprints.push(stored.thumbprint);

          // certutil finds the private key through CERT_KEY_PROV_INFO_PROP_ID and signs with it.
          const certutil = spawnSync('certutil', ['-user', '-store', 'My', stored.thumbprint], { encoding: 'utf8' });
          expect(certutil.status, certutil.stdout).toBe(0);
          expect(certutil.stdout).toContain(name);
          expect(certutil.stdout).toMatch(/Signature test passed|Encryption test passed/);

          // .NET opens the key through the store and signs; Node verifies with the key's public key.
          const data = randomBytes(32).toString('base64');
          const getKey = algorithm.startsWith('ECDSA')
            ? '[System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPrivateKey($c)'
            : '[System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($c)';
          const signArgs = algorithm.startsWith('ECDSA')
            ? '$d, [System.Security.Cryptography.HashAlgorithmName]::SHA256'
            : '$d, [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1';
          const ps = powershell(
            `$c = Get-Item Cert:\\CurrentUser\\My\\${stored.thumbprint}; if (-not $c.HasPrivateKey) { exit 3 }; ` +
              `$k = ${getKey}; $d = [Convert]::FromBase64String('${data}'); ` +
              `[Convert]::ToBase64String($k.SignData(${signArgs}))`,
          );
          expect(ps.status, ps.stderr).toBe(0);
          const signature = Buffer.from(ps.stdout, 'base64');
          const ok = algorithm.startsWith('ECDSA')
            ? verify(
                'sha256',
                Buffer.from(data, 'base64'),
                { key: key.publicKey, dsaEncoding: 'ieee-p1363' },
                signature,
              )
            : verify('sha256', Buffer.from(data, 'base64'), key.publicKey, signature);
          expect(ok).toBe(true);

          // Schannel serves TLS with the certificate and its key.
          const port = 20_000 + Math.floor(Math.random() * 20_000);
          const server = spawn('powershell.exe', [
            '-NoProfile',
            '-NonInteractive',
            '-Command',
            `$c = Get-Item Cert:\\CurrentUser\\My\\${stored.thumbprint}; ` +
              `$l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, ${port}); $l.Start(); ` +
              `Write-Output ready; $t = $l.AcceptTcpClient(); $s = [System.Net.Security.SslStream]::new($t.GetStream()); ` +
              `$s.AuthenticateAsServer($c); $s.Write([byte[]](111,107)); $s.Flush(); Start-Sleep -Milliseconds 500; $s.Close(); $l.Stop()`,
          ]);
          await new Promise<void>((resolve, reject) => {
            server.stdout.once('data', () => resolve());
            server.once('exit', (code) => reject(new Error(`the TLS server exited (${code})`)));
          });
          const peer = await new Promise<{ fingerprint: string; data: string }>((resolve, reject) => {
            const socket = tlsConnect(
              { port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false },
              () => {
                const fingerprint = socket.getPeerCertificate().fingerprint.replace(/:/g, '');
                socket.once('data', (d) => {
                  resolve({ fingerprint, data: d.toString() });
                  socket.end();
                });
              },
            );
            socket.once('error', reject);
          });
          expect(peer).toEqual({ fingerprint: stored.thumbprint, data: 'ok' });
          server.kill();

          // Windows writes the deletion: a new reader no longer finds it.
          expect(await removeCertificate(stored.thumbprint)).toBe(true);
          expect(await findCertificate({ thumbprint: stored.thumbprint })).toBeUndefined();
          expect(powershell(`Test-Path Cert:\\CurrentUser\\My\\${stored.thumbprint}`).stdout).toBe('False');
        } finally {
          await store.deleteKey(name).catch(() => {});
          await store.close();
        }
      }, 120_000);
    }
  },
);
