import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkCertificate, HAVE_OPENSSL } from './openssl.js';

const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe.skipIf(!HAVE_OPENSSL)(
  `examples/self-signed with the in-memory provider (built example run as a process; needs \`npm run build\`${HAVE_OPENSSL ? '' : '; skipped: needs openssl on the PATH'})`,
  () => {
    it('prints a certificate that openssl reads with the subject, names, usage, validity and fingerprint it printed', () => {
      expect(existsSync(built), 'examples/self-signed is not built: run `npm run build` first').toBe(true);
      const run = spawnSync(process.execPath, [built, '--memory'], {
        encoding: 'utf8',
        env: {
          ...process.env,
          KEYSTORE_MACHINE_POLICY: fileURLToPath(new URL('./empty-machine-policy.json', import.meta.url)),
        },
        timeout: 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/for development only/);
      expect(run.stdout).toMatch(/^Created keystore:memory:user:example-self-signed-\S+ \(isolation: none\)$/m);
      checkCertificate(run.stdout);
      expect(run.stdout).toMatch(/^Deleted the key$/m);
    });
  },
);
