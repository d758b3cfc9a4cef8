// Helpers shared by bench/startup.mjs, bench/memory.mjs and bench/pool.mjs: summaries (median, min,
// max), a private swtpm for the TPM parts, and the built packages' entry points.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** `median (min–max)` of `xs`, each shown with `digits` decimals. */
export function summary(xs, digits = 1) {
  const f = (x) => x.toFixed(digits);
  return `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
}

export const MiB = 1024 * 1024;

/** The ES module entry of a built package, e.g. `dist('core', 'testing/index.js')`. */
export const dist = (pkg, file = 'index.js') => pathToFileURL(join(root, 'packages', pkg, 'dist', file)).href;

export function haveSwtpm() {
  return (
    process.platform === 'linux' &&
    spawnSync('sh', ['-c', 'command -v swtpm && command -v tpm2_getrandom'], { stdio: 'ignore' }).status === 0
  );
}

const portFree = (port) =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** Ports below the kernel's ephemeral range, where no client socket lingers in TIME_WAIT. */
function belowEphemeral() {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12000) return low - 2;
  } catch {
    // no procfs
  }
  return 32766;
}

async function freePortPair() {
  const top = belowEphemeral();
  for (;;) {
    const port = 10000 + 2 * Math.floor(Math.random() * ((top - 10000) / 2));
    if ((await portFree(port)) && (await portFree(port + 1))) return String(port);
  }
}

/** Starts a private simulator with scripts/swtpm.sh unless TSS2_FAPICONF names one; returns a stop function. */
export async function ensureSimulator() {
  if (process.env.TSS2_FAPICONF) return { stop() {} };
  const dir = mkdtempSync(join(tmpdir(), 'keystore-bench-swtpm-'));
  const port = await freePortPair();
  const script = join(root, 'scripts', 'swtpm.sh');
  const out = execFileSync('bash', [script, 'start', dir], {
    encoding: 'utf8',
    env: { ...process.env, TPM_SIM_PORT: port },
  });
  process.env.TSS2_FAPICONF = /export TSS2_FAPICONF=(\S+)/.exec(out)[1];
  process.env.TSS2_LOG ??= 'all+none';
  return {
    stop() {
      execFileSync('bash', [script, 'stop', dir], { env: { ...process.env, TPM_SIM_PORT: port } });
      rmSync(dir, { recursive: true, force: true });
      delete process.env.TSS2_FAPICONF;
    },
  };
}

export const SWTPM_MISSING =
  'skipped: needs swtpm and tpm2-tools (apt-get install swtpm swtpm-tools tpm2-tools libtss2-fapi1), or TSS2_FAPICONF';
