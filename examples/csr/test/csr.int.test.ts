import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStoreError } from '@keystore/core';
import { createTestKeyStore } from '@keystore/core/testing';
import { tpmProvider } from '@keystore/provider-tpm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HAVE_SWTPM,
  NEEDS_SWTPM,
  type SwtpmInstance,
  startSwtpm,
} from '../../../packages/provider-tpm/test/helpers/swtpm.js';
import { main } from '../src/main.js';

const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
const READY = HAVE_SWTPM && HAVE_OPENSSL;
if (process.env.KEYSTORE_REQUIRE_SWTPM === '1' && !HAVE_OPENSSL) {
  throw new Error('KEYSTORE_REQUIRE_SWTPM=1 but openssl is missing, so examples/csr on swtpm cannot be checked');
}

describe.skipIf(!READY)(
  `examples/csr with a TPM key on swtpm${READY ? '' : ` (skipped: ${NEEDS_SWTPM}; and openssl)`}`,
  () => {
    let tpm: SwtpmInstance;
    let dir: string;
    const saved = { conf: process.env.TSS2_FAPICONF, policy: process.env.KEYSTORE_MACHINE_POLICY };

    beforeAll(async () => {
      tpm = await startSwtpm();
      dir = await mkdtemp(join(tmpdir(), 'keystore-example-csr-'));
      await writeFile(join(dir, 'machine-policy.json'), '{}');
      process.env.TSS2_FAPICONF = tpm.configFile;
      process.env.KEYSTORE_MACHINE_POLICY = join(dir, 'machine-policy.json');
    });
    afterAll(async () => {
      for (const [key, value] of [
        ['TSS2_FAPICONF', saved.conf],
        ['KEYSTORE_MACHINE_POLICY', saved.policy],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await tpm?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const openTpm = () =>
      createTestKeyStore({
        providers: [tpmProvider({ configFile: tpm.configFile })],
        policy: { minimumIsolation: 'none' },
        machinePolicy: null,
        registryPolicy: null,
      });

    it('the TPM signs the CSR; openssl req -verify accepts it, and with --keep its public key is the TPM key’s', async () => {
      const out = join(dir, 'tpm.csr');
      const lines: string[] = [];
      expect(await main({ out, keep: true, host: 'tpm-device.example' }, (line) => lines.push(line))).toBe(true);
      const log = lines.join('\n');
      expect(log).toMatch(/simulated TPM/);
      const ref = /^Created (keystore:tpm:user:example-csr-\S+) \(isolation: in-process\)$/m.exec(log)?.[1];
      expect(ref, log).toBeDefined();
      expect(log).toContain(`Kept the key ${ref}`);
      expect((await stat(out)).mode & 0o777).toBe(0o600);

      const req = spawnSync('openssl', ['req', '-in', out, '-verify', '-noout', '-text'], { encoding: 'utf8' });
      expect(req.status, req.stderr).toBe(0);
      expect(`${req.stdout}${req.stderr}`).toMatch(/verify OK/);
      expect(req.stdout).toMatch(/Subject: CN\s*=\s*tpm-device\.example$/m);
      expect(req.stdout).toMatch(/DNS:tpm-device\.example$/m);
      expect(req.stdout).toMatch(/X509v3 Key Usage: critical\s*\n\s*Digital Signature$/m);

      const pubkey = spawnSync('openssl', ['req', '-in', out, '-pubkey', '-noout'], { encoding: 'utf8' });
      expect(pubkey.status, pubkey.stderr).toBe(0);
      const store = await openTpm();
      try {
        const key = await store.openKey(ref as string);
        expect(key.publicKey.equals(createPublicKey(pubkey.stdout))).toBe(true);
        await key.close();
        await store.deleteKey(ref as string);
      } finally {
        await store.close();
      }
    });

    it('without --keep the key is deleted from the TPM after the CSR is printed', async () => {
      const lines: string[] = [];
      expect(await main({}, (line) => lines.push(line))).toBe(true);
      const log = lines.join('\n');
      expect(log).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----$/m);
      expect(log).toMatch(/^Deleted the key$/m);
      const ref = /^Created (keystore:tpm:user:example-csr-\S+) /m.exec(log)?.[1];
      expect(ref, log).toBeDefined();
      const store = await openTpm();
      try {
        const error = await store.openKey(ref as string).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(KeyStoreError.is(error, 'ERR_KEYSTORE_KEY_NOT_FOUND'), String(error)).toBe(true);
      } finally {
        await store.close();
      }
    });
  },
);
