import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HAVE_SWTPM,
  NEEDS_SWTPM,
  type SwtpmInstance,
  startSwtpm,
} from '../../../packages/provider-tpm/test/helpers/swtpm.js';
import { main } from '../src/main.js';
import { checkCertificate, HAVE_OPENSSL } from './openssl.js';

const READY = HAVE_SWTPM && HAVE_OPENSSL;
if (process.env.KEYSTORE_REQUIRE_SWTPM === '1' && !HAVE_OPENSSL) {
  throw new Error(
    'KEYSTORE_REQUIRE_SWTPM=1 but openssl is missing, so examples/self-signed on swtpm cannot be checked',
  );
}

describe.skipIf(!READY)(
  `examples/self-signed with a TPM key on swtpm${READY ? '' : ` (skipped: ${NEEDS_SWTPM}; and openssl)`}`,
  () => {
    let tpm: SwtpmInstance;
    let dir: string;
    const saved = { conf: process.env.TSS2_FAPICONF, policy: process.env.KEYSTORE_MACHINE_POLICY };

    beforeAll(async () => {
      tpm = await startSwtpm();
      dir = await mkdtemp(join(tmpdir(), 'keystore-example-self-signed-'));
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

    it('the TPM signs the certificate; Node verifies it and openssl reads what the example printed', async () => {
      const lines: string[] = [];
      expect(await main((line) => lines.push(line))).toBe(true);
      const out = `${lines.join('\n')}\n`;
      expect(out).toMatch(/simulated TPM/);
      expect(out).toMatch(/^Created keystore:tpm:user:example-self-signed-\S+ \(isolation: in-process\)$/m);
      checkCertificate(out);
      expect(out).toMatch(/^Deleted the key$/m);
    });
  },
);
