/**
 * The basic example: create a key with the best provider the policy allows, sign, verify the
 * signature with `node:crypto`, and delete the key.
 *
 * Run it with `npm start` from the repository root, or `node examples/basic/dist/main.js` after a build.
 */
import { verify } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createKeyStore, type KeyStorePolicy, type KeyStoreProvider } from '@keystore/core';
import { createMemoryProvider } from '@keystore/core/testing';

// Begin example
/**
 * A development policy, stated explicitly: it lowers the isolation floor to `none` so that the
 * in-memory provider may serve on a machine that has no OS key store or TPM. Never ship it:
 * without it the floor is `os-isolated`, and a machine policy can raise it further.
 */
export const developmentPolicy: KeyStorePolicy = {
  minimumIsolation: 'none',
  allowedScopes: ['user'],
};

/** The providers installed next to this example, plus the in-memory one. */
export async function availableProviders(): Promise<KeyStoreProvider[]> {
  const providers: KeyStoreProvider[] = [];
  for (const name of ['@keystore/provider-tpm']) {
    try {
      const mod = (await import(name)) as { createProvider?: () => KeyStoreProvider };
      if (typeof mod.createProvider === 'function') providers.push(mod.createProvider());
    } catch {
      // Not installed: selection will simply not see it.
    }
  }
  providers.push(createMemoryProvider());
  return providers;
}

/** Runs the example, writing what happens to `log`. Returns true when the signature verified. */
export async function main(log: (line: string) => void = console.log): Promise<boolean> {
  const store = await createKeyStore({ providers: await availableProviders(), policy: developmentPolicy });
  try {
    const explanation = await store.explain({ algorithm: 'ECDSA-P256' });
    log(`Isolation floor: ${explanation.minimumIsolation} (development policy)`);
    for (const verdict of explanation.providers) {
      const status = verdict.selected ? 'selected' : verdict.eligible ? 'eligible' : 'refused';
      log(
        `  ${verdict.providerId.padEnd(8)} ${status.padEnd(8)} ${verdict.isolation.padEnd(14)} ${verdict.reasons[0] ?? ''}`,
      );
    }

    const name = `example-basic-${process.pid}-${Date.now()}`;
    await using key = await store.createKey(name, { algorithm: 'ECDSA-P256' });
    log(`Created ${key.ref}`);
    log(`Isolation achieved: ${key.isolation.level}`);
    for (const line of key.isolation.evidence) log(`  ${line}`);
    if (key.isolation.level === 'none') {
      log('NOTE: no OS key store or TPM served this request, so the key lived in JavaScript memory.');
      log('      That is for development only; the default policy would have refused it.');
    }

    const message = Buffer.from('hello from keystore');
    const signature = await key.sign(message);
    const valid = verify('sha256', message, key.publicKey, signature);
    log(`Signed ${message.length} bytes: ${signature.length}-byte ECDSA signature (DER)`);
    log(`Verified with node:crypto: ${valid ? 'valid' : 'INVALID'}`);

    await store.deleteKey(key.ref);
    log(`Deleted ${key.ref}`);
    return valid;
  } finally {
    await store.close();
  }
}
// End example

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (valid) => {
      process.exitCode = valid ? 0 : 1;
    },
    (err: unknown) => {
      const e = err as { code?: string; message?: string; hint?: string };
      console.error(`example failed: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`);
      if (e.hint) console.error(`hint: ${e.hint}`);
      process.exitCode = 1;
    },
  );
}
