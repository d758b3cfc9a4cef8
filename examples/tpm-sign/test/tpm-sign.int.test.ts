import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

const script = fileURLToPath(new URL('../../../scripts/swtpm.sh', import.meta.url));
const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** Ports below the kernel's ephemeral range, where no client socket lingers in TIME_WAIT. */
function belowEphemeral(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12000) return low - 2;
  } catch {
    // no procfs
  }
  return 32766;
}

async function freePortPair(): Promise<string> {
  const top = belowEphemeral();
  for (let i = 0; i < 200; i++) {
    const port = 10000 + 2 * Math.floor(Math.random() * ((top - 10000) / 2));
    if ((await portFree(port)) && (await portFree(port + 1))) return String(port);
  }
  throw new Error('no free port pair for swtpm');
}

const HAVE_SWTPM = process.platform === 'linux' && has('swtpm') && has('tpm2_getrandom');
// With KEYSTORE_REQUIRE_SWTPM=1 (set by CI) a missing simulator fails this file instead of skipping it.
if (!HAVE_SWTPM && process.env.KEYSTORE_REQUIRE_SWTPM === '1') {
  throw new Error(
    'KEYSTORE_REQUIRE_SWTPM=1 but swtpm or tpm2-tools is missing (apt-get install swtpm swtpm-tools tpm2-tools)',
  );
}

describe.skipIf(!HAVE_SWTPM)(
  `examples/tpm-sign on swtpm started by scripts/swtpm.sh (${HAVE_SWTPM ? 'swtpm found' : 'needs swtpm, tpm2-tools and libtss2-fapi1'})`,
  () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    const saved = { conf: process.env.TSS2_FAPICONF, policy: process.env.KEYSTORE_MACHINE_POLICY };

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'keystore-example-tpm-'));
      const port = await freePortPair();
      const out = execFileSync('bash', [script, 'start', join(dir, 'sim')], {
        encoding: 'utf8',
        env: { ...process.env, TPM_SIM_PORT: port },
      });
      const conf = /export TSS2_FAPICONF=(\S+)/.exec(out)?.[1];
      expect(conf).toBeDefined();
      const machinePolicy = join(dir, 'machine-policy.json');
      await writeFile(machinePolicy, '{}');
      env = { ...process.env, TSS2_FAPICONF: conf, TPM_SIM_PORT: port, KEYSTORE_MACHINE_POLICY: machinePolicy };
      process.env.TSS2_FAPICONF = conf;
      process.env.KEYSTORE_MACHINE_POLICY = machinePolicy;
    });
    afterAll(async () => {
      if (env) execFileSync('bash', [script, 'stop', join(dir, 'sim')], { env });
      for (const [key, value] of [
        ['TSS2_FAPICONF', saved.conf],
        ['KEYSTORE_MACHINE_POLICY', saved.policy],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('creates, signs, verifies, decrypts and deletes, saying it is a simulated TPM', async () => {
      const lines: string[] = [];
      expect(await main((line) => lines.push(line))).toBe(true);
      const out = lines.join('\n');
      expect(out).toMatch(/^TPM: manufacturer IBM/m);
      expect(out).toMatch(/simulated TPM/);
      expect(out).toMatch(/^Created keystore:tpm:user:example-tpm-ec-\S+ \(isolation: in-process\)$/m);
      expect(out).toMatch(/tss2_sign --keyPath HS\/SRK\/example-tpm-ec-/);
      expect(out).toMatch(/^ECDSA signature verified with node:crypto: valid$/m);
      expect(out).toMatch(/^RSA-OAEP round trip through the TPM: ok$/m);
    });

    it('runs as a built program, node examples/tpm-sign/dist/main.js (after `npm run build`)', () => {
      expect(existsSync(built), 'examples/tpm-sign is not built: run `npm run build` first').toBe(true);
      const run = spawnSync(process.execPath, [built], { encoding: 'utf8', env, timeout: 60_000 });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/^ECDSA signature verified with node:crypto: valid$/m);
      expect(run.stdout).toMatch(/^Deleted both keys$/m);
    });
  },
);
