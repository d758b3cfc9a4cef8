// keystore certs list|remove inside Windows Node under Wine, on Wine's crypt32. A certificate for a
// CNG RSA key is put into CurrentUser\My by a script in Windows Node (Wine's CNG keeps no key beyond
// its process, so `certs add NAME` cannot open a key made by another process there; certstore.windows
// .test.ts of the provider covers the add path on Windows); the CLI then lists it with the key it is
// bound to and removes it. Wine 8.0 does not write deletions from system stores to the registry, so the
// test deletes the registry key itself afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWineExe, runWineNode, runWineScript, wine } from '../../../test-support/wine.js';

const TIMEOUT = 180_000;

interface Listing {
  store: string;
  location: string;
  certificates: {
    thumbprint: string;
    subject: string;
    key: { provider: string; name: string; scope: string } | null;
  }[];
}

describe.skipIf(!wine.available)(`keystore certs under Wine (needs Wine: ${wine.reason})`, () => {
  let placed: { name: string; thumbprint: string };

  beforeAll(async () => {
    const r = await runWineScript(
      `
      const { createTestKeyStore } = require('@keystore/core/testing');
      const { cngProvider } = require('@keystore/provider-cng');
      const { storeCertificate } = require('@keystore/provider-cng/certstore');
      const { createSelfSignedCertificate } = require('@keystore/x509');
      (async () => {
        const store = await createTestKeyStore({ providers: [cngProvider()], policy: { minimumIsolation: 'none' },
          machinePolicy: null, registryPolicy: null });
        const name = 'cli-certs-' + process.pid + '-' + Date.now();
        const key = await store.createKey(name, { algorithm: 'RSA-2048' });
        const { pem } = await createSelfSignedCertificate(key, { subject: 'CN=' + name });
        const stored = await storeCertificate(key, pem);
        await store.close();
        console.log(JSON.stringify({ name, thumbprint: stored.thumbprint }));
      })().catch((e) => { console.error(e); process.exit(1); });
      `,
      { timeoutMs: TIMEOUT - 10_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    placed = r.json as typeof placed;
  }, TIMEOUT);

  afterAll(async () => {
    if (!placed) return;
    await runWineExe('reg', [
      'delete',
      `HKCU\\Software\\Microsoft\\SystemCertificates\\My\\Certificates\\${placed.thumbprint}`,
      '/f',
    ]);
  }, 60_000);

  it(
    'certs list shows the certificate with the CNG key it is bound to; certs remove removes it (exit 0)',
    async () => {
      const list = await runWineNode(
        ['packages/cli/dist/bin.js', 'certs', 'list', '--subject', placed.name, '--json'],
        {
          timeoutMs: TIMEOUT - 10_000,
        },
      );
      expect(list.code, list.stderr).toBe(0);
      const listing = JSON.parse(list.stdout) as Listing;
      expect(listing).toMatchObject({ store: 'My', location: 'CurrentUser' });
      expect(listing.certificates).toEqual([
        expect.objectContaining({
          thumbprint: placed.thumbprint,
          subject: `CN=${placed.name}`,
          key: { provider: 'Microsoft Software Key Storage Provider', name: placed.name, scope: 'user' },
        }),
      ]);

      const removed = await runWineNode(
        ['packages/cli/dist/bin.js', 'certs', 'remove', placed.thumbprint.toLowerCase(), '--json'],
        { timeoutMs: TIMEOUT - 10_000 },
      );
      expect(removed.code, removed.stderr).toBe(0);
      expect(JSON.parse(removed.stdout)).toEqual({
        store: 'My',
        location: 'CurrentUser',
        thumbprint: placed.thumbprint,
        removed: true,
      });

      const none = await runWineNode(
        ['packages/cli/dist/bin.js', 'certs', 'remove', placed.thumbprint, '--store', 'KeystoreNoSuchStore', '--json'],
        { timeoutMs: TIMEOUT - 10_000 },
      );
      expect(none.code, none.stdout).toBe(4);
      expect(JSON.parse(none.stdout).error.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    },
    TIMEOUT,
  );
});
