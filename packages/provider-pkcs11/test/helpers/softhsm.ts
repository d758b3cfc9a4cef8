/**
 * Test helper: a SoftHSM2 token of its own per test file, in a temporary directory named by a
 * temporary SOFTHSM2_CONF, so files running in parallel never share a token.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Where Debian's softhsm2 package puts the module. */
export const SOFTHSM_MODULE =
  ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => existsSync(p)) ??
  '/usr/lib/softhsm/libsofthsm2.so';

/** Whether SoftHSM2 (module and softhsm2-util) is here. */
export const HAVE_SOFTHSM = process.platform === 'linux' && existsSync(SOFTHSM_MODULE) && which('softhsm2-util');
/** Whether the interop tools are here too. */
export const HAVE_INTEROP_TOOLS = which('pkcs11-tool') && which('openssl');

/** The skip message for tests that need SoftHSM2. */
export const NEEDS_SOFTHSM = 'needs Linux with SoftHSM2 (apt-get install softhsm2)';
/** The skip message for tests that need OpenSC's pkcs11-tool and openssl as well. */
export const NEEDS_INTEROP =
  "needs SoftHSM2, OpenSC's pkcs11-tool and openssl (apt-get install softhsm2 opensc openssl)";

// CI sets KEYSTORE_REQUIRE_SOFTHSM=1: there a missing SoftHSM2 or tool fails every test file that
// imports this helper, instead of letting its tests skip and the run stay green without a token.
if (process.env.KEYSTORE_REQUIRE_SOFTHSM === '1' && !(HAVE_SOFTHSM && HAVE_INTEROP_TOOLS)) {
  throw new Error(`KEYSTORE_REQUIRE_SOFTHSM=1 but the SoftHSM2 suites cannot run here: ${NEEDS_INTEROP}`);
}

/** A token initialized for one test file. */
export interface SoftHsmToken {
  readonly module: string;
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
  readonly dir: string;
  readonly conf: string;
  readonly tokenDir: string;
  /** The environment for tools (pkcs11-tool) that must see the same token. */
  readonly env: NodeJS.ProcessEnv;
  /** Initializes one more token in the same directory (before the module is loaded); returns its label. */
  addToken(label: string): string;
  dispose(): void;
}

/**
 * Initializes a token in a new directory and points this process's SOFTHSM2_CONF at it (SoftHSM2
 * reads it at C_Initialize, so call this before the first provider loads the module).
 */
export function createSoftHsmToken(label = `t${randomBytes(4).toString('hex')}`): SoftHsmToken {
  const dir = mkdtempSync(join(tmpdir(), 'keystore-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(
    conf,
    `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  const pin = `user-${randomBytes(4).toString('hex')}`;
  const soPin = `so-${randomBytes(4).toString('hex')}`;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
    env,
    stdio: 'pipe',
  });
  process.env.SOFTHSM2_CONF = conf;
  return {
    module: SOFTHSM_MODULE,
    label,
    pin,
    soPin,
    dir,
    conf,
    tokenDir,
    env,
    addToken: (extra: string) => {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', extra, '--pin', pin, '--so-pin', soPin], {
        env,
        stdio: 'pipe',
      });
      return extra;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
