/**
 * The self-signed certificate example: a certificate for development (a local TLS server, say) for a
 * new key, signed by the key where it lives (the TPM), printed with its subject, validity and SHA-256
 * fingerprint, and verified with Node's `X509Certificate`.
 *
 * Run it against a simulator from the repository root:
 *
 * ```sh
 * eval "$(bash scripts/swtpm.sh start)"   # prints export TSS2_FAPICONF=… TPM_SIM_PORT=…
 * npm run build && node examples/self-signed/dist/main.js
 * ```
 *
 * `node examples/self-signed/dist/main.js --memory` uses the in-memory provider instead (development only).
 */
import { X509Certificate } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createKeyStore, type KeyStore } from '@keystore/core';
import { createMemoryProvider } from '@keystore/core/testing';
import { tpmProvider } from '@keystore/provider-tpm';
import { createSelfSignedCertificate } from '@keystore/x509';

/** A store on the TPM (the floor lowered to in-process on a simulator, and said so), or in memory. */
async function openStore(memory: boolean, log: (line: string) => void): Promise<KeyStore | undefined> {
  if (memory) {
    log('NOTE: the in-memory provider keeps the key in JavaScript memory; for development only.');
    return createKeyStore({ providers: [createMemoryProvider()], policy: { minimumIsolation: 'none' } });
  }
  const provider = tpmProvider(); // FAPI config from TSS2_FAPICONF
  const probe = await provider.probe();
  if (!probe.available) {
    log(`The TPM provider is unavailable: ${probe.reasons.join(' ')}`);
    log('Start a simulator with: eval "$(bash scripts/swtpm.sh start)", or run with --memory');
    await provider.close();
    return undefined;
  }
  const simulator = probe.details?.simulator === true;
  if (simulator) log('NOTE: this is a simulated TPM; its keys are reported as in-process, not hardware.');
  return createKeyStore({
    providers: [provider],
    policy: { minimumIsolation: simulator ? 'in-process' : 'hardware', providers: { allow: ['tpm'] } },
  });
}

/** Runs the example, writing what happens to `log`. Returns true when the certificate verified. */
export async function main(log: (line: string) => void = console.log, memory = false): Promise<boolean> {
  const store = await openStore(memory, log);
  if (store === undefined) return false;
  const name = `example-self-signed-${process.pid}-${Date.now()}`;
  try {
    // Begin example
    await using key = await store.createKey(name, { algorithm: 'ECDSA-P256' });
    log(`Created ${key.ref} (isolation: ${key.isolation.level})`);
    const { pem } = await createSelfSignedCertificate(key, {
      subject: 'CN=localhost, O=Development',
      subjectAltNames: ['dns:localhost', 'ip:127.0.0.1'],
      keyUsages: ['digitalSignature'],
      extendedKeyUsages: ['serverAuth'],
      validity: { days: 30 },
    });
    log(pem.trimEnd());

    // Node's X509Certificate (OpenSSL) reads it back and checks the signature with the key's public key.
    const certificate = new X509Certificate(pem);
    log(`Subject: ${certificate.subject.replaceAll('\n', ', ')}`);
    log(`Issuer: ${certificate.issuer.replaceAll('\n', ', ')}`);
    log(`Subject alternative names: ${certificate.subjectAltName ?? '(none)'}`);
    log(`Valid from ${certificate.validFrom} to ${certificate.validTo}`);
    log(`SHA-256 fingerprint: ${certificate.fingerprint256}`);
    const ownKey = certificate.publicKey.export({ format: 'der', type: 'spki' }).equals(key.exportPublicKey('der'));
    log(`Certificate holds the key's public key: ${ownKey ? 'yes' : 'NO'}`);
    const verified = certificate.verify(key.publicKey);
    log(`Signature verified with the key's public key: ${verified ? 'yes' : 'NO'}`);
    // End example
    return ownKey && verified;
  } finally {
    await store.deleteKey(name).catch(() => undefined);
    log('Deleted the key');
    await store.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(console.log, process.argv.includes('--memory')).then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
