/**
 * The TPM example: keys in a TPM 2.0 through a `KeyStore`. It creates an ECDSA-P256 key, signs and
 * verifies with `node:crypto`, shows the FAPI path that `tss2_sign` uses for the same key, does an
 * RSA-2048 OAEP round trip, and deletes both keys.
 *
 * Run it against a simulator from the repository root:
 *
 * ```sh
 * eval "$(bash scripts/swtpm.sh start)"   # prints export TSS2_FAPICONF=… TPM_SIM_PORT=…
 * npm run build && node examples/tpm-sign/dist/main.js
 * ```
 *
 * On a machine with a real TPM, point `TSS2_FAPICONF` at a config written by
 * `writeFapiConfig({ dir, tcti: deviceTcti() })` instead.
 */
import { constants, publicEncrypt, verify } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createKeyStore, type KeyStorePolicy } from '@keystore/core';
import { tpmProvider } from '@keystore/provider-tpm';

// Begin example
/**
 * The policy: keys must be hardware-isolated. On a simulator (swtpm) the TPM provider honestly
 * reports `in-process` isolation, so the example lowers the floor to that, and says so.
 */
export function policyFor(simulator: boolean): KeyStorePolicy {
  return { minimumIsolation: simulator ? 'in-process' : 'hardware', providers: { allow: ['tpm'] } };
}

/** Runs the example, writing what happens to `log`. Returns true when every check passed. */
export async function main(log: (line: string) => void = console.log): Promise<boolean> {
  const provider = tpmProvider(); // FAPI config from TSS2_FAPICONF
  const probe = await provider.probe();
  if (!probe.available) {
    log(`The TPM provider is unavailable: ${probe.reasons.join(' ')}`);
    log('Start a simulator with: eval "$(bash scripts/swtpm.sh start)"');
    await provider.close();
    return false;
  }
  const simulator = probe.details?.simulator === true;
  log(`TPM: manufacturer ${String(probe.details?.manufacturer)}, firmware ${String(probe.details?.firmware)}`);
  if (simulator) {
    log('NOTE: this is a simulated TPM; its keys are reported as in-process, not hardware,');
    log('      and the example lowers its isolation floor to in-process to run here.');
  }
  const store = await createKeyStore({ providers: [provider], policy: policyFor(simulator) });
  const suffix = `${process.pid}-${Date.now()}`;
  try {
    await using signing = await store.createKey(`example-tpm-ec-${suffix}`, { algorithm: 'ECDSA-P256' });
    log(`Created ${signing.ref} (isolation: ${signing.isolation.level})`);
    for (const line of signing.isolation.evidence) log(`  ${line}`);
    log(`tpm2-tools use the same key: tss2_sign --keyPath HS/SRK/${signing.name} --digest FILE --signature OUT`);
    const message = Buffer.from('signed inside the TPM');
    const signature = await signing.sign(message);
    const signed = verify('sha256', message, signing.publicKey, signature);
    log(`ECDSA signature verified with node:crypto: ${signed ? 'valid' : 'INVALID'}`);

    await using decrypting = await store.createKey(`example-tpm-rsa-${suffix}`, { algorithm: 'RSA-2048' });
    const secret = Buffer.from('a secret for the TPM');
    const ciphertext = publicEncrypt(
      { key: decrypting.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      secret,
    );
    const decrypted = await decrypting.decrypt(ciphertext, { hash: 'sha256' });
    const roundTrip = decrypted.equals(secret);
    log(`RSA-OAEP round trip through the TPM: ${roundTrip ? 'ok' : 'MISMATCH'}`);

    await store.deleteKey(signing.ref);
    await store.deleteKey(decrypting.ref);
    log('Deleted both keys');
    return signed && roundTrip;
  } finally {
    await store.close();
  }
}
// End example

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (err: unknown) => {
      const e = err as { code?: string; message?: string; hint?: string };
      console.error(`example failed: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`);
      if (e.hint) console.error(`hint: ${e.hint}`);
      process.exitCode = 1;
    },
  );
}
