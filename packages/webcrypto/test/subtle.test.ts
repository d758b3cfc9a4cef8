// The facade as a WebCrypto user sees it: algorithm dictionaries, P1363 signatures that Node's own
// subtle verifies, the DOMException names WebCrypto raises, the keystore error as `cause`, ordinary
// CryptoKeys passed to Node unchanged, and every use going through the key (audit, close, policy).
import { createPublicKey, verify, webcrypto } from 'node:crypto';
import { type AuditEvent, auditChannel, type KeyStore, KeyStoreError, type KeyStoreKey } from '@keystore/core';
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
import { installGlobalCrypto, keyStoreCrypto, toCryptoKeyPair } from '@keystore/webcrypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const node = webcrypto.subtle;
const data = new TextEncoder().encode('signed through the facade');
let store: KeyStore;
const keys: Record<string, KeyStoreKey> = {};

async function rejection(promise: Promise<unknown>): Promise<DOMException> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call should have rejected').toBeInstanceOf(DOMException);
  return error as DOMException;
}

beforeAll(async () => {
  store = await createTestKeyStore({
    providers: [createMemoryProvider()],
    policy: { minimumIsolation: 'none', exportable: { create: true, export: true } },
    machinePolicy: null,
    registryPolicy: null,
  });
  for (const algorithm of ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'ECDH-P256'] as const) {
    keys[algorithm] = await store.createKey(algorithm, { algorithm });
  }
  keys.exportable = await store.createKey('exportable', { algorithm: 'ECDSA-P256', exportable: true });
});
afterAll(() => store.close());

describe('toCryptoKeyPair', () => {
  it('gives the WebCrypto algorithm dictionaries, usages and extractability', async () => {
    const ec = await toCryptoKeyPair(keys['ECDSA-P384'] as KeyStoreKey);
    expect(ec.privateKey).toMatchObject({
      type: 'private',
      extractable: false,
      algorithm: { name: 'ECDSA', namedCurve: 'P-384' },
      usages: ['sign'],
    });
    expect(Object.prototype.toString.call(ec.privateKey)).toBe('[object CryptoKey]');
    expect(ec.publicKey).toBeInstanceOf(keyStoreCrypto().CryptoKey);
    expect(ec.publicKey).toMatchObject({ type: 'public', extractable: true, usages: ['verify'] });

    const rsa = await toCryptoKeyPair(keys['RSA-2048'] as KeyStoreKey, { algorithm: 'RSA-PSS', hash: 'SHA-384' });
    expect(rsa.privateKey.algorithm).toEqual({
      name: 'RSA-PSS',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: { name: 'SHA-384' },
    });
    expect(rsa.publicKey.algorithm).toMatchObject({ name: 'RSA-PSS', modulusLength: 2048, hash: { name: 'SHA-384' } });

    const dh = await toCryptoKeyPair(keys['ECDH-P256'] as KeyStoreKey);
    expect(dh.privateKey).toMatchObject({
      algorithm: { name: 'ECDH', namedCurve: 'P-256' },
      usages: ['deriveBits', 'deriveKey'],
    });
    expect((await toCryptoKeyPair(keys.exportable as KeyStoreKey)).privateKey.extractable).toBe(true);
  });

  it('rejects what is not a key or an unknown RSA algorithm with INVALID_ARGUMENT', async () => {
    await expect(toCryptoKeyPair({} as KeyStoreKey)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' });
    await expect(
      toCryptoKeyPair(keys['RSA-2048'] as KeyStoreKey, { algorithm: 'RSA-OAEP-512' as never }),
    ).rejects.toMatchObject({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' });
  });
});

describe('subtle with keystore handles', () => {
  const { subtle } = keyStoreCrypto();

  it.each([
    ['ECDSA-P256', 'SHA-256', 64],
    ['ECDSA-P384', 'SHA-384', 96],
  ] as const)('%s signs in IEEE P1363 (%s), which Node’s own subtle verifies', async (name, hash, length) => {
    const { privateKey, publicKey } = await toCryptoKeyPair(keys[name] as KeyStoreKey);
    const signature = await subtle.sign({ name: 'ecdsa', hash }, privateKey, data);
    expect(signature).toBeInstanceOf(ArrayBuffer);
    expect(signature.byteLength).toBe(length);
    expect(await node.verify({ name: 'ECDSA', hash }, publicKey, signature, data)).toBe(true);
    expect(await subtle.verify({ name: 'ECDSA', hash }, publicKey, signature, new Uint8Array(3))).toBe(false);
  });

  it('RSASSA-PKCS1-v1_5 and RSA-PSS use the hash bound to the key and the salt asked for', async () => {
    const key = keys['RSA-2048'] as KeyStoreKey;
    const pkcs1 = await toCryptoKeyPair(key, { hash: 'SHA-512' });
    const s1 = await subtle.sign('RSASSA-PKCS1-v1_5', pkcs1.privateKey, data);
    expect(await node.verify('RSASSA-PKCS1-v1_5', pkcs1.publicKey, s1, data)).toBe(true);
    const pss = await toCryptoKeyPair(key, { algorithm: 'RSA-PSS' });
    const s2 = await subtle.sign({ name: 'RSA-PSS', saltLength: 20 }, pss.privateKey, data);
    expect(await node.verify({ name: 'RSA-PSS', saltLength: 20 }, pss.publicKey, s2, data)).toBe(true);
    expect(await node.verify({ name: 'RSA-PSS', saltLength: 32 }, pss.publicKey, s2, data)).toBe(false);
  });

  it('RSA-OAEP decrypts what Node encrypted with the public key', async () => {
    const { privateKey, publicKey } = await toCryptoKeyPair(keys['RSA-2048'] as KeyStoreKey, { algorithm: 'RSA-OAEP' });
    const ciphertext = await node.encrypt({ name: 'RSA-OAEP' }, publicKey, data);
    expect(new Uint8Array(await subtle.decrypt({ name: 'RSA-OAEP' }, privateKey, ciphertext))).toEqual(data);
    const label = await rejection(
      subtle.decrypt({ name: 'RSA-OAEP', label: new Uint8Array([1]) }, privateKey, ciphertext),
    );
    expect(label.name).toBe('NotSupportedError');
  });

  it('unwrapKey: an AES key wrapped with the public RSA-OAEP key is unwrapped by the keystore key', async () => {
    const { privateKey, publicKey } = await toCryptoKeyPair(keys['RSA-2048'] as KeyStoreKey, { algorithm: 'RSA-OAEP' });
    const aes = await node.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
    const wrapped = await subtle.wrapKey('raw', aes, publicKey, { name: 'RSA-OAEP' });
    const { unwrapKey } = subtle; // used unbound, as some libraries do
    const unwrapped = await unwrapKey('raw', wrapped, privateKey, { name: 'RSA-OAEP' }, 'AES-GCM', true, ['decrypt']);
    expect(Buffer.from(await node.exportKey('raw', unwrapped))).toEqual(Buffer.from(await node.exportKey('raw', aes)));
  });

  it('ECDH derives the bits and keys a software peer derives', async () => {
    const { privateKey, publicKey } = await toCryptoKeyPair(keys['ECDH-P256'] as KeyStoreKey);
    const peer = (await node.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, [
      'deriveBits',
    ])) as webcrypto.CryptoKeyPair;
    const ours = await subtle.deriveBits({ name: 'ECDH', public: peer.publicKey }, privateKey, 256);
    const theirs = await node.deriveBits({ name: 'ECDH', public: publicKey }, peer.privateKey, 256);
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
    const aes = await subtle.deriveKey(
      { name: 'ECDH', public: peer.publicKey },
      privateKey,
      { name: 'AES-GCM', length: 128 },
      true,
      ['encrypt'],
    );
    expect(Buffer.from(await node.exportKey('raw', aes)).equals(Buffer.from(theirs).subarray(0, 16))).toBe(true);
  });

  it('raises InvalidAccessError for another algorithm or a usage the key lacks; NotSupportedError for SHA-1', async () => {
    const { privateKey, publicKey } = await toCryptoKeyPair(keys['ECDSA-P256'] as KeyStoreKey);
    expect((await rejection(subtle.sign({ name: 'RSA-PSS', saltLength: 32 }, privateKey, data))).name).toBe(
      'InvalidAccessError',
    );
    expect((await rejection(subtle.decrypt({ name: 'ECDSA' }, privateKey, data))).name).toBe('InvalidAccessError');
    expect((await rejection(subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data, data))).name).toBe(
      'InvalidAccessError',
    );
    expect((await rejection(subtle.sign({ name: 'ECDSA', hash: 'SHA-1' }, privateKey, data))).name).toBe(
      'NotSupportedError',
    );
    // Node raises the same name for the same mistake with an ordinary key.
    expect((await rejection(subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, data))).name).toBe(
      'InvalidAccessError',
    );
    await expect(subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, 'text' as never)).rejects.toThrow(
      TypeError,
    );
  });

  it('exportKey: spki and jwk of the public key; InvalidAccessError with the keystore error as cause for the private key', async () => {
    const { privateKey, publicKey } = await toCryptoKeyPair(keys['ECDSA-P256'] as KeyStoreKey);
    const spki = await subtle.exportKey('spki', publicKey);
    expect(
      createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).equals(
        (keys['ECDSA-P256'] as KeyStoreKey).publicKey,
      ),
    ).toBe(true);
    expect(await subtle.exportKey('jwk', publicKey)).toMatchObject({ kty: 'EC', crv: 'P-256' });
    const refused = await rejection(subtle.exportKey('pkcs8', privateKey));
    expect(refused.name).toBe('InvalidAccessError');
    expect(KeyStoreError.is(refused.cause) && refused.cause.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    // Exportable: WebCrypto's formats of the private key; a store whose policy forbids exports refuses.
    const exportable = await toCryptoKeyPair(keys.exportable as KeyStoreKey);
    expect(await subtle.exportKey('jwk', exportable.privateKey)).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      d: expect.any(String),
    });
    expect((await rejection(subtle.exportKey('spki', exportable.privateKey))).name).toBe('InvalidAccessError');
    const strict = await createTestKeyStore({
      providers: [createMemoryProvider()],
      policy: { minimumIsolation: 'none', exportable: { create: true, export: false } },
      machinePolicy: null,
      registryPolicy: null,
    });
    try {
      const key = await strict.createKey('kept', { algorithm: 'ECDSA-P256', exportable: true });
      const policy = await rejection(subtle.exportKey('pkcs8', (await toCryptoKeyPair(key)).privateKey));
      expect(policy.name).toBe('InvalidAccessError');
      expect(KeyStoreError.is(policy.cause) && policy.cause.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    } finally {
      await strict.close();
    }
  });

  it('every use goes through the key: an audit event per signature, OperationError with KEY_CLOSED once closed', async () => {
    const key = await store.createKey('short-lived', { algorithm: 'ECDSA-P256' });
    const { privateKey } = await toCryptoKeyPair(key);
    const events: AuditEvent[] = [];
    const listen = (event: unknown) => events.push(event as AuditEvent);
    auditChannel.subscribe(listen);
    try {
      await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data);
    } finally {
      auditChannel.unsubscribe(listen);
    }
    expect(events).toEqual([expect.objectContaining({ type: 'key.used', operation: 'sign', ref: key.ref })]);
    await key.close();
    const closed = await rejection(subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data));
    expect(closed.name).toBe('OperationError');
    expect(KeyStoreError.is(closed.cause) && closed.cause.code).toBe('ERR_KEYSTORE_KEY_CLOSED');
  });
});

describe('ordinary CryptoKeys and the rest of Crypto are Node’s, unchanged', () => {
  const crypto = keyStoreCrypto();

  it('signs, verifies, digests, generates and exports Node keys as Node does', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    expect(pair.privateKey).toBeInstanceOf(keyStoreCrypto().CryptoKey);
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, data);
    expect(await node.verify({ name: 'ECDSA', hash: 'SHA-256' }, pair.publicKey, signature, data)).toBe(true);
    const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
    const der = Buffer.from(await crypto.subtle.exportKey('spki', pair.publicKey));
    expect(
      verify(
        'sha256',
        data,
        { key: createPublicKey({ key: der, format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' },
        Buffer.from(signature),
      ),
    ).toBe(true);
    expect(jwk.d).toBeDefined();
    expect(Buffer.from(await crypto.subtle.digest('SHA-256', data))).toEqual(
      Buffer.from(await node.digest('SHA-256', data)),
    );
    expect(crypto.randomUUID()).toMatch(/^[0-9a-f-]{36}$/);
    expect(crypto.getRandomValues(new Uint8Array(8))).toHaveLength(8);
  });

  it('openKeyPair opens a key of the store; without a store it says so', async () => {
    const pair = await keyStoreCrypto(store).openKeyPair('ECDSA-P256');
    expect(pair.key.name).toBe('ECDSA-P256');
    expect(pair.privateKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    await pair.key.close();
    await expect(crypto.openKeyPair('ECDSA-P256')).rejects.toMatchObject({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' });
  });

  it('installGlobalCrypto replaces globalThis.crypto until restored, and restores Node’s own', () => {
    const before = globalThis.crypto;
    const installation = installGlobalCrypto(crypto);
    expect(globalThis.crypto).toBe(crypto);
    installation.restore();
    installation.restore();
    expect(globalThis.crypto).toBe(before);
    expect(() => installGlobalCrypto(webcrypto as never)).toThrow(KeyStoreError);
  });
});
