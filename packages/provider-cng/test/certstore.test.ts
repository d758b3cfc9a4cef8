/**
 * The certificate-store layer over a double of crypt32 (test/helpers/crypt32-double.ts): the key
 * binding it writes, what it refuses before any native call, how it finds and removes certificates,
 * and that every store it opens is closed. Certificates are made by @keystore/x509 for keys of the
 * in-memory provider, presented as CNG or TPM keys (only name, provider, scope and public key count).
 */
import { X509Certificate } from 'node:crypto';
import { type KeyStore, KeyStoreError } from '@keystore/core';
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
import { createSelfSignedCertificate } from '@keystore/x509';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CERTIFICATE_KEY_PROVIDERS,
  type CertificateKey,
  CertificateStore,
  findCertificates,
} from '../src/certstore/index.js';
import { type Crypt32Double, createCrypt32Double } from './helpers/crypt32-double.js';
import { rejection } from './helpers/setup.js';

let keys: KeyStore;
let alice: CertificateKey;
let bob: CertificateKey;
let alicePem: string;
let bobPem: string;

beforeAll(async () => {
  keys = await createTestKeyStore({
    providers: [createMemoryProvider()],
    policy: { minimumIsolation: 'none' },
    machinePolicy: null,
    registryPolicy: null,
  });
  const a = await keys.createKey('alice', { algorithm: 'ECDSA-P256' });
  const b = await keys.createKey('bob', { algorithm: 'ECDSA-P256' });
  alicePem = (await createSelfSignedCertificate(a, { subject: 'CN=Alice Server, O=Example' })).pem;
  bobPem = (await createSelfSignedCertificate(b, { subject: 'CN=bob.example' })).pem;
  alice = { name: 'alice', providerId: 'cng', scope: 'user', publicKey: a.publicKey };
  bob = { name: 'bob', providerId: 'cng', scope: 'user', publicKey: b.publicKey };
});
afterAll(async () => keys?.close());

let crypt32: Crypt32Double;
let store: CertificateStore;
beforeEach(() => {
  crypt32 = createCrypt32Double();
  store = new CertificateStore({ bindings: () => crypt32 });
});

const thumbprintOf = (pem: string) => new X509Certificate(pem).fingerprint.replace(/:/g, '');

describe('storeCertificate', () => {
  it('binds a CNG user key by storage provider and key name, with key spec and provider type 0', async () => {
    const stored = await store.storeCertificate(alice, alicePem);
    expect(stored.thumbprint).toBe(thumbprintOf(alicePem));
    expect(stored.subject).toBe('CN=Alice Server, O=Example');
    expect(stored).toMatchObject({ store: 'My', location: 'CurrentUser' });
    expect(stored.key).toEqual({
      providerName: 'Microsoft Software Key Storage Provider',
      containerName: 'alice',
      scope: 'user',
      raw: {
        containerName: 'alice',
        providerName: 'Microsoft Software Key Storage Provider',
        providerType: 0,
        flags: 0,
        keySpec: 0,
      },
    });
    expect(crypt32.stores.get('CurrentUser\\My')?.size).toBe(1);
  });

  it('binds a machine key with NCRYPT_MACHINE_KEY_FLAG, and a Windows TPM key to the Platform Crypto Provider', async () => {
    const machine = await store.storeCertificate({ ...alice, scope: 'machine' }, alicePem, {
      store: 'WebHosting',
      location: 'LocalMachine',
    });
    expect(machine.key?.raw.flags).toBe(0x20);
    expect(machine.key?.scope).toBe('machine');
    expect(crypt32.calls).toContain('openStore(LocalMachine,WebHosting,create)');
    const tpm = await store.storeCertificate({ ...bob, providerId: 'tpm' }, bobPem);
    expect(tpm.key?.providerName).toBe('Microsoft Platform Crypto Provider');
    expect(CERTIFICATE_KEY_PROVIDERS).toEqual({
      cng: 'Microsoft Software Key Storage Provider',
      tpm: 'Microsoft Platform Crypto Provider',
    });
  });

  it('takes PEM, DER and X509Certificate alike', async () => {
    const x = new X509Certificate(alicePem);
    for (const input of [alicePem, x.raw, new Uint8Array(x.raw), x]) {
      expect((await store.storeCertificate(alice, input)).thumbprint).toBe(thumbprintOf(alicePem));
    }
    expect(crypt32.stores.get('CurrentUser\\My')?.size).toBe(1);
  });

  it('refuses, before any native call, a certificate made for another key', async () => {
    const err = await rejection(store.storeCertificate(alice, bobPem));
    expect(err.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(err.message).toContain('not for the key "alice"');
    expect(crypt32.calls).toEqual([]);
  });

  it('refuses, before any native call, keys of providers Windows cannot find a key through', async () => {
    for (const providerId of ['memory', 'capi', 'pkcs11', 'toString', '__proto__']) {
      const err = await rejection(store.storeCertificate({ ...alice, providerId }, alicePem));
      expect(err.code, providerId).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    }
    expect(crypt32.calls).toEqual([]);
  });

  it('refuses bad input with ERR_KEYSTORE_INVALID_ARGUMENT before any native call', async () => {
    const bad: [string, Promise<unknown>][] = [
      ['garbage', store.storeCertificate(alice, 'not a certificate')],
      ['empty', store.storeCertificate(alice, new Uint8Array())],
      ['number', store.storeCertificate(alice, 42 as never)],
      ['no key', store.storeCertificate(null as never, alicePem)],
      ['private key', store.storeCertificate({ ...alice, publicKey: 'x' as never }, alicePem)],
      ['scope', store.storeCertificate({ ...alice, scope: 'other' as never }, alicePem)],
      ['store path', store.storeCertificate(alice, alicePem, { store: '..\\Root' })],
      ['store NUL', store.storeCertificate(alice, alicePem, { store: 'My\0' })],
      ['store empty', store.storeCertificate(alice, alicePem, { store: '' })],
      ['store spaces', store.storeCertificate(alice, alicePem, { store: ' My' })],
      ['location', store.storeCertificate(alice, alicePem, { location: 'Everyone' as never })],
      ['thumbprint', store.removeCertificate('abc')],
      ['thumbprint type', store.removeCertificate(7 as never)],
      ['query thumbprint', store.findCertificates({ thumbprint: 'zz'.repeat(20) })],
      ['query subject', store.findCertificates({ subject: '  ' })],
      ['query key', store.findCertificates({ key: { ...alice, publicKey: undefined as never } })],
      ['empty query', store.findCertificate({})],
    ];
    for (const [what, promise] of bad) {
      const err = await rejection(promise);
      expect(err.code, what).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    }
    expect(crypt32.calls).toEqual([]);
  });
});

describe('findCertificate and findCertificates', () => {
  beforeEach(async () => {
    await store.storeCertificate(alice, alicePem);
    await store.storeCertificate(bob, bobPem);
    crypt32.calls.length = 0;
  });

  it('finds by thumbprint (any case, with colons or spaces) through the store’s SHA-1 lookup', async () => {
    const hex = thumbprintOf(alicePem);
    const colons = hex.toLowerCase().replace(/(..)(?!$)/g, '$1:');
    for (const thumbprint of [hex, colons, hex.replace(/(.{8})/g, '$1 ')]) {
      const found = await store.findCertificate({ thumbprint });
      expect(found?.key?.containerName, thumbprint).toBe('alice');
    }
    expect(crypt32.calls).not.toContain('enumCertificates');
    expect(await store.findCertificate({ thumbprint: '00'.repeat(20) })).toBeUndefined();
  });

  it('finds by part of the subject, ignoring case, and by key', async () => {
    expect((await store.findCertificate({ subject: 'alice server' }))?.key?.containerName).toBe('alice');
    expect((await store.findCertificate({ subject: 'CN=BOB' }))?.key?.containerName).toBe('bob');
    expect((await store.findCertificate({ key: bob }))?.subject).toBe('CN=bob.example');
    expect(await store.findCertificate({ subject: 'carol' })).toBeUndefined();
    // Every field must match.
    expect(await store.findCertificate({ subject: 'alice', key: bob })).toBeUndefined();
    expect((await store.findCertificates()).map((c) => c.key?.containerName).sort()).toEqual(['alice', 'bob']);
  });

  it('reads only (CERT_STORE_READONLY_FLAG), and finds nothing in a store that does not exist', async () => {
    await store.findCertificates({}, { store: 'Nothing' });
    expect(crypt32.calls[0]).toBe('openStore(CurrentUser,Nothing,read)');
    expect(await store.findCertificates({}, { store: 'Nothing' })).toEqual([]);
    expect(await store.findCertificates({}, { location: 'LocalMachine' })).toEqual([]);
  });

  it('lists a certificate the store holds without a key binding, with key undefined', async () => {
    const der = new X509Certificate(alicePem).raw;
    const id = thumbprintOf(alicePem).toLowerCase();
    crypt32.stores.get('CurrentUser\\My')?.set(id, { der, keyProvInfo: undefined });
    expect((await store.findCertificate({ subject: 'alice' }))?.key).toBeUndefined();
  });
});

describe('removeCertificate', () => {
  it('deletes by thumbprint or by a found certificate, then reports false', async () => {
    const stored = await store.storeCertificate(alice, alicePem);
    await store.storeCertificate(bob, bobPem);
    expect(await store.removeCertificate(stored.thumbprint.toLowerCase())).toBe(true);
    expect(await store.removeCertificate(stored)).toBe(false);
    expect((await store.findCertificates()).map((c) => c.subject)).toEqual(['CN=bob.example']);
    expect(await store.removeCertificate(stored, { store: 'Nothing' })).toBe(false);
  });
});

describe('native failures', () => {
  it('pass through typed, with the native status (a LocalMachine store without administrator rights)', async () => {
    crypt32.deniedMachineWrites = true;
    const err = await rejection(store.storeCertificate(alice, alicePem, { location: 'LocalMachine' }));
    expect(err.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(err.nativeStatus).toBe(0x80070005);
  });

  it('close every store they open, also when the operation fails', async () => {
    await store.storeCertificate(alice, alicePem);
    await store.findCertificates({ key: alice });
    await store.removeCertificate(thumbprintOf(alicePem));
    crypt32.addCertificate = async () => {
      throw new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', 'double: add fails');
    };
    await rejection(store.storeCertificate(alice, alicePem));
    expect(crypt32.calls.filter((c) => c.startsWith('openStore')).length).toBe(4);
    expect(crypt32.open.size).toBe(0);
  });
});

describe.skipIf(process.platform === 'win32')('off Windows', () => {
  it('the store functions say the Windows store exists only on Windows (ERR_KEYSTORE_PROVIDER_UNAVAILABLE)', async () => {
    const err = await rejection(findCertificates());
    expect(err.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(err.message).toContain('only on Windows');
  });
});
