// Bad input gets a typed KeyStoreError with a message and hint, before anything is signed.
import { generateKeyPairSync } from 'node:crypto';
import type { KeyStore, KeyStoreKey } from '@keystore/core';
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
import { createCertificate, createCsr, createSelfSignedCertificate } from '@keystore/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let store: KeyStore;
let key: KeyStoreKey;
let other: KeyStoreKey;
let ecdh: KeyStoreKey;
const subject = 'CN=test';

beforeAll(async () => {
  store = await createTestKeyStore({
    providers: [createMemoryProvider()],
    policy: { minimumIsolation: 'none' },
    machinePolicy: null,
    registryPolicy: null,
  });
  key = await store.createKey('signer', { algorithm: 'ECDSA-P256' });
  other = await store.createKey('other', { algorithm: 'ECDSA-P256' });
  ecdh = await store.createKey('agreement', { algorithm: 'ECDH-P256' });
});
afterAll(() => store.close());

const invalid = { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' };

describe('createCsr and createSelfSignedCertificate reject bad input with INVALID_ARGUMENT', () => {
  it.each([
    ['an empty subject', { subject: '' }],
    ['a subject that is no DN', { subject: 'just words' }],
    ['a SAN without a type', { subject, subjectAltNames: ['host.example'] }],
    ['a SAN of an unknown type', { subject, subjectAltNames: ['smtp:host'] }],
    ['an IP SAN that is no address', { subject, subjectAltNames: ['ip:999.1.1.1'] }],
    ['an unknown key usage', { subject, keyUsages: ['signEverything'] }],
    ['an unknown extended key usage', { subject, extendedKeyUsages: ['superuser'] }],
    ['an unknown hash', { subject, hash: 'SHA-1' }],
  ])('%s', async (_, options) => {
    await expect(createCsr(key, options as never)).rejects.toMatchObject(invalid);
    await expect(createSelfSignedCertificate(key, options as never)).rejects.toMatchObject(invalid);
  });

  it('a subject that is no DN says how to write one', async () => {
    await expect(createCsr(key, { subject: 'just words' })).rejects.toMatchObject({
      hint: expect.stringContaining('CN='),
    });
  });

  it('an ECDH key cannot sign a CSR', async () => {
    await expect(createCsr(ecdh, { subject })).rejects.toMatchObject(invalid);
  });

  it.each([
    ['zero days', { days: 0 }],
    ['days and notAfter', { days: 3, notAfter: new Date(Date.now() + 1e9) }],
    ['notAfter before notBefore', { notBefore: new Date(), notAfter: new Date(Date.now() - 1e6) }],
  ])('validity: %s', async (_, validity) => {
    await expect(createSelfSignedCertificate(key, { subject, validity })).rejects.toMatchObject(invalid);
  });

  it('a closed key rejects with the key’s own error', async () => {
    const closed = await store.createKey('closed', { algorithm: 'ECDSA-P256' });
    await closed.close();
    await expect(createCsr(closed, { subject })).rejects.toMatchObject({ code: 'ERR_KEYSTORE_KEY_CLOSED' });
  });
});

describe('createCertificate checks its issuer', () => {
  const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;

  it('the issuer key must be the issuer certificate’s key', async () => {
    const ca = await createSelfSignedCertificate(key, { subject: 'CN=CA', ca: true });
    await expect(createCertificate(other, ca.pem, leaf, { subject })).rejects.toMatchObject(invalid);
    await expect(createCertificate(key, ca.der, leaf, { subject })).resolves.toMatchObject({ pem: expect.any(String) });
  });

  it('the issuer certificate must be a CA’s', async () => {
    const notCa = await createSelfSignedCertificate(key, { subject: 'CN=not a CA' });
    await expect(createCertificate(key, notCa.pem, leaf, { subject })).rejects.toMatchObject({
      ...invalid,
      hint: expect.stringContaining('ca: true'),
    });
  });

  it('rejects a certificate or public key that is not one', async () => {
    const ca = await createSelfSignedCertificate(key, { subject: 'CN=CA', ca: true });
    await expect(createCertificate(key, 'not a certificate', leaf, { subject })).rejects.toMatchObject(invalid);
    await expect(createCertificate(key, ca.pem, 'not a key', { subject })).rejects.toMatchObject(invalid);
  });
});
