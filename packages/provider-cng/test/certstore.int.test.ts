/**
 * The certificate store on Wine's real crypt32.dll, inside Windows Node.js under Wine (built
 * packages: `npm run build` first). A CNG RSA-2048 key (Wine's ncrypt makes RSA only) gets a
 * self-signed certificate from @keystore/x509; `storeCertificate` adds it to CurrentUser\My and
 * LocalMachine\My; `findCertificate` finds it by thumbprint, subject and key; the key provider info
 * property read back names the key (provider, name, machine flag); `removeCertificate` deletes it.
 * Node's X509Certificate checks here that what the store returns is the certificate that went in.
 *
 * Wine 8.0 reports the deletion from a system store as done (CertDeleteCertificateFromStore returns
 * TRUE and the certificate leaves the open store) but does not write it to the registry, so a later
 * open finds it again; this test deletes the registry keys itself afterwards. Windows writes it:
 * certstore.windows.test.ts checks that there.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWineExe, runWineScript, wine } from '../../../test-support/wine.js';

interface Found {
  thumbprint: string;
  subject: string;
  pem: string;
  key?: { providerName: string; containerName: string; scope: string; raw: Record<string, number | string> };
}
interface Result {
  name: string;
  spki: string;
  pem: string;
  stored: Found;
  machine: Found;
  byThumbprint: Found | null;
  bySubject: Found | null;
  byKey: Found | null;
  inMachine: Found | null;
  listed: number;
  removed: boolean;
  removedMachine: boolean;
  missingStore: number;
  errors: Record<string, { code: string; nativeName?: string } | null>;
}

const SCRIPT = `
const { createTestKeyStore } = require('@keystore/core/testing');
const { cngProvider } = require('@keystore/provider-cng');
const cs = require('@keystore/provider-cng/certstore');
const { createSelfSignedCertificate } = require('@keystore/x509');
const view = (c) => c && { thumbprint: c.thumbprint, subject: c.subject, pem: c.certificate.toString(), key: c.key };
const code = (p) => p.then(() => null, (e) => ({ code: e.code, nativeName: e.nativeName }));
(async () => {
  const store = await createTestKeyStore({ providers: [cngProvider()], policy: { minimumIsolation: 'none' },
    machinePolicy: null, registryPolicy: null });
  const name = 'certstore-' + process.pid + '-' + Date.now();
  const key = await store.createKey(name, { algorithm: 'RSA-2048' });
  const other = await store.createKey(name + '-other', { algorithm: 'RSA-2048' });
  const subject = 'CN=' + name + '.test, O=keystore';
  const { pem } = await createSelfSignedCertificate(key, { subject });
  const { pem: otherPem } = await createSelfSignedCertificate(other, { subject: 'CN=other' });
  const stored = await cs.storeCertificate(key, pem, { store: 'My', location: 'CurrentUser' });
  const asMachine = { name: key.name, providerId: key.providerId, scope: 'machine', publicKey: key.publicKey };
  const machine = await cs.storeCertificate(asMachine, pem, { store: 'My', location: 'LocalMachine' });
  const out = {
    name, pem, spki: key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    stored: view(stored), machine: view(machine),
    byThumbprint: view(await cs.findCertificate({ thumbprint: stored.thumbprint.toLowerCase() })) || null,
    bySubject: view(await cs.findCertificate({ subject: name.toUpperCase() })) || null,
    byKey: view(await cs.findCertificate({ key })) || null,
    inMachine: view(await cs.findCertificate({ key }, { location: 'LocalMachine' })) || null,
    listed: (await cs.findCertificates()).length,
    missingStore: (await cs.findCertificates({}, { store: 'KeystoreNoSuchStore' })).length,
    errors: {
      otherKey: await code(cs.storeCertificate(key, otherPem)),
      garbage: await code(cs.storeCertificate(key, 'not a certificate')),
      storePath: await code(cs.storeCertificate(key, pem, { store: 'My\\\\..\\\\Root' })),
      memoryKey: await code(cs.storeCertificate({ ...asMachine, providerId: 'memory' }, pem)),
    },
  };
  out.removed = await cs.removeCertificate(stored.thumbprint);
  out.removedMachine = await cs.removeCertificate(machine, { location: 'LocalMachine' });
  await store.deleteKey(name).catch(() => {});
  await store.deleteKey(name + '-other').catch(() => {});
  await store.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe.skipIf(!wine.available)(`Windows certificate store on Wine's crypt32.dll (needs Wine: ${wine.reason})`, () => {
  let r: Result;

  beforeAll(async () => {
    const run = await runWineScript(SCRIPT, { timeoutMs: 180_000 });
    expect(run.code, run.stderr).toBe(0);
    r = run.json as Result;
  }, 200_000);

  afterAll(async () => {
    // Wine 8.0 does not write deletions from system stores to the registry (see above).
    if (!r?.stored) return;
    for (const hive of ['HKCU', 'HKLM']) {
      await runWineExe('reg', [
        'delete',
        `${hive}\\Software\\Microsoft\\SystemCertificates\\My\\Certificates\\${r.stored.thumbprint}`,
        '/f',
      ]);
    }
  }, 60_000);

  it('stores the certificate that went in, under its SHA-1 thumbprint', () => {
    const cert = new X509Certificate(r.stored.pem);
    expect(cert.raw.equals(new X509Certificate(r.pem).raw)).toBe(true);
    expect(r.stored.thumbprint).toBe(cert.fingerprint.replace(/:/g, ''));
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')).toBe(r.spki);
    expect(r.stored.subject).toBe(`CN=${r.name}.test, O=keystore`);
  });

  it('reads back a key provider info property that names the CNG key (provider, name, key spec 0)', () => {
    expect(r.byThumbprint?.key?.raw).toEqual({
      containerName: r.name,
      providerName: 'Microsoft Software Key Storage Provider',
      providerType: 0,
      flags: 0,
      keySpec: 0,
    });
    expect(r.byThumbprint?.key?.scope).toBe('user');
  });

  it('binds a machine key with NCRYPT_MACHINE_KEY_FLAG in LocalMachine\\My', () => {
    expect(r.machine.key?.raw.flags).toBe(0x20);
    expect(r.inMachine?.key).toMatchObject({ containerName: r.name, scope: 'machine' });
  });

  it('finds it by thumbprint, by part of the subject and by key, and lists it', () => {
    expect(r.byThumbprint?.thumbprint).toBe(r.stored.thumbprint);
    expect(r.bySubject?.thumbprint).toBe(r.stored.thumbprint);
    expect(r.byKey?.thumbprint).toBe(r.stored.thumbprint);
    expect(r.listed).toBeGreaterThanOrEqual(1);
    expect(r.missingStore).toBe(0);
  });

  it('refuses a certificate of another key, garbage, a store path and a key Windows cannot find, with typed errors', () => {
    expect(r.errors).toEqual({
      otherKey: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' },
      garbage: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' },
      storePath: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' },
      memoryKey: { code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION' },
    });
  });

  it('removes it from both stores (CertDeleteCertificateFromStore succeeds)', () => {
    expect(r.removed).toBe(true);
    expect(r.removedMachine).toBe(true);
  });
});
