// The C baselines of the TPM benchmark (bench/tpm.mjs): builds sign-loop.c (a Fapi_Sign loop, and an
// Esys_Sign loop on a loaded key) and count-tcti.c (a TCTI that counts the TPM commands it passes on)
// with gcc against the tpm2-tss headers (Debian: libtss2-dev), runs the loops in child processes, and
// counts TPM commands per signature through a FAPI config whose tcti goes through the counting TCTI.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const HEADER = '/usr/include/tss2/tss2_fapi.h';

/** What is missing to build the C baselines (empty when nothing is). */
export function missingForBaselines() {
  const missing = [];
  if (spawnSync('sh', ['-c', 'command -v gcc'], { stdio: 'ignore' }).status !== 0) missing.push('gcc');
  if (!existsSync(HEADER)) missing.push('the tpm2-tss headers (apt-get install libtss2-dev)');
  return missing;
}

/** Builds the loop program and the counting TCTI into `dir`; returns their paths. */
export function buildBaselines(dir) {
  const loop = join(dir, 'sign-loop');
  const tcti = join(dir, 'libtcti-count.so');
  const cflags = ['-O2', '-Wall'];
  execFileSync('gcc', [
    ...cflags,
    '-o',
    loop,
    join(here, 'sign-loop.c'),
    '-ltss2-fapi',
    '-ltss2-esys',
    '-ltss2-mu',
    '-ltss2-tctildr',
    '-lpthread',
  ]);
  execFileSync('gcc', [...cflags, '-shared', '-fPIC', '-o', tcti, join(here, 'count-tcti.c'), '-ltss2-tctildr']);
  return { loop, tcti };
}

/**
 * One run of a C loop for `seconds`: `{ rate, signatures }`, the rate over the signing time (set-up excluded).
 * `esys` is `{ srk, tcti, hmac }` for the loaded-key loop, absent for the Fapi_Sign loop.
 */
export function cRate(built, { path, padding, seconds, threads = 1, esys, env }) {
  const args = [esys ? 'esys' : 'fapi', path, padding ?? '-', String(seconds), String(threads)];
  if (esys) args.push(`0x${esys.srk.toString(16)}`, esys.tcti, ...(esys.hmac ? ['hmac'] : []));
  return new Promise((resolve, reject) => {
    execFile(built.loop, args, { env: { ...process.env, TSS2_LOG: 'all+none', ...env } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${built.loop} ${args.join(' ')}: ${stderr || err.message}`));
      const [n, t] = stdout.trim().split(/\s+/).map(Number);
      resolve({ rate: n / t, signatures: n });
    });
  });
}

const SLOTS = 256;
const FIRST_CC = 0x11f;
/** TPM command codes (TPM 2.0 spec part 2, TPM_CC; tss2_tpm2_types.h), for the breakdown of a signature. */
const COMMANDS = {
  324: 'Startup',
  343: 'Load',
  349: 'Sign',
  357: 'FlushContext',
  371: 'ReadPublic',
  374: 'StartAuthSession',
  378: 'GetCapability',
  379: 'GetRandom',
  385: 'ReadClock',
};

/** A counter file for the counting TCTI (env KEYSTORE_TCTI_COUNT), zeroed. */
export function counterFile(dir) {
  const file = join(dir, 'tpm-commands.bin');
  writeFileSync(file, Buffer.alloc(SLOTS * 8));
  return {
    file,
    reset: () => writeFileSync(file, Buffer.alloc(SLOTS * 8)),
    /** `{ total, byName }` since the last reset. */
    read() {
      const b = readFileSync(file);
      const byName = {};
      for (let i = 1; i < SLOTS; i++) {
        const n = Number(b.readBigUInt64LE(i * 8));
        const cc = FIRST_CC + i - 1;
        if (n) byName[COMMANDS[cc] ?? `0x${cc.toString(16)}`] = n;
      }
      return { total: Number(b.readBigUInt64LE(0)), byName };
    },
  };
}

/** A copy of the FAPI config at `configFile` whose tcti goes through the counting TCTI; returns its path. */
export function countingConfig(configFile, built, dir) {
  const raw = readFileSync(configFile, 'utf8');
  const config = JSON.parse(raw);
  config.tcti = `${built.tcti}:${config.tcti}`;
  const file = join(dir, 'fapi-config-counting.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** The persistent SRK handle of a FAPI profile (its srk_template's last field, e.g. 0x81000001). */
export function srkHandle(profileDir, profile) {
  const text = readFileSync(join(profileDir, `${profile}.json`), 'utf8');
  const m = /"srk_template"\s*:\s*"[^"]*?(0x81[0-9a-fA-F]{6})"/.exec(text);
  if (!m) throw new Error(`no persistent SRK handle in profile ${profile}`);
  return Number.parseInt(m[1], 16);
}

/** Per-signature command counts: `counts` divided by `signatures`, rounded to 0.1. */
export function perSignature(counts, signatures) {
  const r = (x) => Math.round((x / signatures) * 10) / 10;
  return {
    total: r(counts.total),
    byName: Object.fromEntries(
      Object.entries(counts.byName)
        .map(([k, v]) => [k, r(v)])
        .filter(([, v]) => v > 0),
    ),
  };
}
