/**
 * The JWT example: jose signs a JWT with a keystore key through the WebCrypto facade, and verifies
 * it with the key's exported public JWK. The private key stays in the TPM.
 *
 * Run it against a simulator from the repository root:
 *
 * ```sh
 * eval "$(bash scripts/swtpm.sh start)"   # prints export TSS2_FAPICONF=… TPM_SIM_PORT=…
 * npm run build && node examples/jwt/dist/main.js
 * ```
 *
 * `node examples/jwt/dist/main.js --memory` uses the in-memory provider instead (development only).
 */
import { pathToFileURL } from 'node:url';
import { createKeyStore, type KeyStore } from '@keystore/core';
import { createMemoryProvider } from '@keystore/core/testing';
import { tpmProvider } from '@keystore/provider-tpm';
import { installGlobalCrypto, keyStoreCrypto, toCryptoKeyPair } from '@keystore/webcrypto';
import { decodeJwt, exportJWK, jwtVerify, SignJWT } from 'jose';

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

/** Runs the example, writing what happens to `log`. Returns true when every check passed. */
export async function main(log: (line: string) => void = console.log, memory = false): Promise<boolean> {
  const store = await openStore(memory, log);
  if (store === undefined) return false;
  const name = `example-jwt-${process.pid}-${Date.now()}`;
  try {
    // Begin example
    await using key = await store.createKey(name, { algorithm: 'ECDSA-P256' });
    log(`Created ${key.ref} (isolation: ${key.isolation.level})`);
    const { privateKey, publicKey } = await toCryptoKeyPair(key);

    // jose signs with the global crypto.subtle: install the facade for the signing only.
    let jwt: string;
    {
      using _facade = installGlobalCrypto(keyStoreCrypto(store));
      jwt = await new SignJWT({ sub: 'device-42', scope: 'telemetry:write' })
        .setProtectedHeader({ alg: 'ES256', kid: key.name })
        .setIssuer('urn:example:device')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey);
    }
    log(`JWT: ${jwt}`);

    // Anyone with the public JWK verifies it; the private key never left the provider.
    const jwk = await exportJWK(publicKey);
    log(`Public JWK: ${JSON.stringify(jwk)}`);
    const { payload } = await jwtVerify(jwt, jwk, { issuer: 'urn:example:device', algorithms: ['ES256'] });
    log(`Verified with the public JWK: sub=${String(payload.sub)}`);

    // A token whose claims were changed is rejected.
    const [header, , signature] = jwt.split('.');
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(jwt), scope: 'admin' })).toString('base64url');
    const rejected = await jwtVerify(`${header}.${forged}.${signature}`, jwk).then(
      () => false,
      () => true,
    );
    log(`Tampered token rejected: ${rejected ? 'yes' : 'NO'}`);
    // End example
    return rejected && payload.sub === 'device-42';
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
