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

describe.skipIf(!HAVE_SWTPM)(`examples/jwt with a TPM key on swtpm${HAVE_SWTPM ? '' : ` (${NEEDS_SWTPM})`}`, () => {
  let tpm: SwtpmInstance;
  let dir: string;
  const saved = { conf: process.env.TSS2_FAPICONF, policy: process.env.KEYSTORE_MACHINE_POLICY };

  beforeAll(async () => {
    tpm = await startSwtpm();
    dir = await mkdtemp(join(tmpdir(), 'keystore-example-jwt-'));
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

  it('the TPM signs the JWT; jose verifies it with the public JWK and rejects a tampered one', async () => {
    const lines: string[] = [];
    expect(await main((line) => lines.push(line))).toBe(true);
    const out = lines.join('\n');
    expect(out).toMatch(/simulated TPM/);
    expect(out).toMatch(/^Created keystore:tpm:user:example-jwt-\S+ \(isolation: in-process\)$/m);
    expect(out).toMatch(/^Verified with the public JWK: sub=device-42$/m);
    expect(out).toMatch(/^Tampered token rejected: yes$/m);
  });
});
