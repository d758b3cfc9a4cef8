// The check `keystore migrate` runs on the new key before anything is deleted, on keys of the in-memory
// provider: a signature for signing keys, the agreed secret for ECDH keys, each named for what it checked.
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiedJson, verifyMove } from '../src/commands/migrate-verify.js';

const provider = createMemoryProvider();
let store: Awaited<ReturnType<typeof createTestKeyStore>>;

beforeAll(async () => {
  store = await createTestKeyStore({
    providers: [provider],
    policy: { minimumIsolation: 'none' },
    machinePolicy: null,
    registryPolicy: null,
  });
});
afterAll(async () => {
  await store.close();
});

describe('verifyMove', () => {
  it('an ECDH key: checks the shared secret, and says so (sharedSecretMatches, not signatureVerifies)', async () => {
    const source = await store.createKey('ecdh-source', { algorithm: 'ECDH-P256' });
    const same = await store.openKey(source.ref);
    const check = await verifyMove(source, same, provider, undefined);
    expect(check).toEqual({ publicKeyMatches: true, proof: 'shared-secret', proofHolds: true });
    expect(verifiedJson(check)).toEqual({ publicKeyMatches: true, sharedSecretMatches: true });

    const other = await store.createKey('ecdh-other', { algorithm: 'ECDH-P256' });
    const wrong = await verifyMove(source, other, provider, undefined);
    expect(wrong).toMatchObject({ publicKeyMatches: false, proof: 'shared-secret', proofHolds: false });
    expect(wrong.problem).toContain("shared secret differs from the one the source's public key gives");
    expect(verifiedJson(wrong)).toEqual({ publicKeyMatches: false, sharedSecretMatches: false });
  });

  it('a signing key: checks a signature over a random challenge (signatureVerifies)', async () => {
    const source = await store.createKey('ecdsa-source', { algorithm: 'ECDSA-P256' });
    const check = await verifyMove(source, await store.openKey(source.ref), provider, undefined);
    expect(verifiedJson(check)).toEqual({ publicKeyMatches: true, signatureVerifies: true });

    const other = await store.createKey('ecdsa-other', { algorithm: 'ECDSA-P256' });
    const wrong = await verifyMove(source, other, provider, undefined);
    expect(wrong).toMatchObject({ proof: 'signature', proofHolds: false });
    expect(wrong.problem).toContain("does not verify with the source's public key");
  });
});
