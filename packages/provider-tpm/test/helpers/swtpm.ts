/**
 * Test helper: one swtpm instance per test file (own ports, state and FAPI directories), so files
 * running in parallel never share a TPM.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { swtpmTcti, writeFapiConfig } from '../../src/config.js';

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function libraryPresent(): boolean {
  const r = spawnSync('sh', ['-c', 'ldconfig -p | grep -q "libtss2-fapi.so.1 "'], { stdio: 'ignore' });
  return r.status === 0 || existsSync('/usr/lib/x86_64-linux-gnu/libtss2-fapi.so.1');
}

/** Whether swtpm, tpm2-tools and libtss2-fapi are here; tests that need them skip otherwise. */
export const HAVE_SWTPM = process.platform === 'linux' && which('swtpm') && which('tpm2_getrandom') && libraryPresent();

/** The skip message for tests that need a simulator. */
export const NEEDS_SWTPM =
  'needs Linux with swtpm, tpm2-tools and libtss2-fapi1 (apt-get install swtpm swtpm-tools libtss2-fapi1 libtss2-tcti-swtpm0 tpm2-tools)';

/** Whether the tpm2-tools FAPI commands are here. */
export const HAVE_TSS2_TOOLS = which('tss2_createkey') && which('tss2_sign') && which('openssl');

// CI sets KEYSTORE_REQUIRE_SWTPM=1 (as it sets KEYSTORE_REQUIRE_WINE=1 for the Wine suites): there a
// missing simulator or tool fails every test file that imports this helper, instead of letting its
// tests skip and the run stay green without having touched a TPM.
if (process.env.KEYSTORE_REQUIRE_SWTPM === '1' && !(HAVE_SWTPM && HAVE_TSS2_TOOLS)) {
  const what = HAVE_SWTPM
    ? 'the tpm2-tools FAPI commands (tss2_createkey, tss2_sign) or openssl are missing'
    : NEEDS_SWTPM;
  throw new Error(`KEYSTORE_REQUIRE_SWTPM=1 but the TPM simulator suites cannot run here: ${what}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The highest port below the kernel's ephemeral range. tcti-swtpm opens one connection per TPM
 * command and closes it first, so thousands of client ports sit in TIME_WAIT inside that range, and
 * swtpm (which binds without SO_REUSEADDR) cannot listen on one of them.
 */
function belowEphemeral(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12000) return low - 2;
  } catch {
    // not Linux, or no procfs
  }
  return 32766;
}

/** A free port below the ephemeral range whose successor is free too (swtpm's control channel). */
export async function freePortPair(): Promise<number> {
  const top = belowEphemeral();
  for (let i = 0; i < 200; i++) {
    const port = 10000 + 2 * Math.floor(Math.random() * ((top - 10000) / 2));
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
  throw new Error('no free port pair found for swtpm');
}

/** A running swtpm with its FAPI config. */
export interface SwtpmInstance {
  readonly dir: string;
  readonly port: number;
  readonly tcti: string;
  readonly configFile: string;
  readonly stateDir: string;
  /** Environment for tss2_* commands (TSS2_FAPICONF, quiet logs). */
  readonly env: NodeJS.ProcessEnv;
  /** Kills the simulator with SIGKILL (no clean shutdown). */
  kill(): void;
  /** Stops the simulator with SIGSTOP: it keeps its sockets but answers nothing (a stalled TPM). */
  pause(): void;
  /** Lets a paused simulator run again (SIGCONT). */
  resume(): void;
  /** Starts it again on the same state directory and ports. */
  start(): Promise<void>;
  /** Stops it and removes every file. */
  dispose(): Promise<void>;
}

/** Starts a fresh swtpm on a random free port pair, with a FAPI config from writeFapiConfig(). */
export async function startSwtpm(): Promise<SwtpmInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'keystore-swtpm-'));
  const stateDir = join(dir, 'state');
  execFileSync('mkdir', ['-p', stateDir]);
  const pidFile = join(dir, 'swtpm.pid');
  let port = await freePortPair();
  const start = async () => {
    const args = [
      'socket',
      '--tpmstate',
      `dir=${stateDir}`,
      '--tpm2',
      '--server',
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl',
      `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--flags',
      'not-need-init,startup-clear',
      '--pid',
      `file=${pidFile}`,
      '--daemon',
    ];
    for (let attempt = 0; attempt < 30; attempt++) {
      const r = spawnSync('swtpm', args, { encoding: 'utf8' });
      if (r.status === 0) {
        const probe = spawnSync('tpm2_getrandom', ['8', '--hex', '-T', `swtpm:host=127.0.0.1,port=${port}`], {
          encoding: 'utf8',
          env: { ...process.env, TSS2_LOG: 'all+none' },
        });
        if (probe.status === 0) return;
      }
      await new Promise((r2) => setTimeout(r2, 100));
    }
    throw new Error(`swtpm did not start on port ${port}`);
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 4) throw err;
      port = await freePortPair();
    }
  }
  const tcti = swtpmTcti('127.0.0.1', port);
  const configFile = await writeFapiConfig({ dir: join(dir, 'fapi'), tcti });
  const pid = () => {
    try {
      return Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      return 0;
    }
  };
  const signal = (name: NodeJS.Signals) => {
    const p = pid();
    if (p > 0) {
      try {
        process.kill(p, name);
      } catch {
        // already gone
      }
    }
  };
  const kill = () => signal('SIGKILL');
  const waitGone = async () => {
    const p = pid();
    for (let i = 0; p > 0 && i < 100; i++) {
      try {
        process.kill(p, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    dir,
    get port() {
      return port;
    },
    tcti,
    configFile,
    stateDir,
    env: { ...process.env, TSS2_FAPICONF: configFile, TSS2_LOG: 'all+none' },
    kill,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    async start() {
      await waitGone();
      await start();
    },
    async dispose() {
      kill();
      await waitGone();
      port = 0;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
