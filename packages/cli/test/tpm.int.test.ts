/**
 * The CLI against the real TPM provider on a TPM 2.0 simulator (swtpm, through tpm2-tss FAPI): keys made
 * by one `keystore` process are used by the next, and by the tpm2-tools FAPI commands, and the reverse.
 * Skipped, with a message, when swtpm, tpm2-tools or the built TPM provider is missing.
 */
import { spawnSync } from 'node:child_process';
import { constants, createHash, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorSchemaErrors } from './doctor-schema.js';
import { parse, Sandbox } from './helpers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const SWTPM_SCRIPT = resolve(here, '../../../scripts/swtpm.sh');
const TPM_DIST = resolve(here, '../../provider-tpm/dist/index.js');

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

const missing = [
  ...['swtpm', 'tpm2_getrandom', 'tss2_sign', 'tss2_createkey', 'openssl'].filter((t) => !which(t)),
  ...(existsSync(SWTPM_SCRIPT) ? [] : ['scripts/swtpm.sh']),
  ...(existsSync(TPM_DIST) ? [] : ['a built @keystore/provider-tpm (npm run build)']),
];
// With KEYSTORE_REQUIRE_SWTPM=1 (set by CI) a missing tool fails this file instead of skipping it.
if (missing.length > 0 && process.env.KEYSTORE_REQUIRE_SWTPM === '1') {
  throw new Error(
    `KEYSTORE_REQUIRE_SWTPM=1 but the CLI + TPM simulator tests cannot run: missing ${missing.join(', ')}`,
  );
}
if (missing.length > 0) {
  console.warn(`skipping the CLI + TPM simulator tests: missing ${missing.join(', ')}`);
}

/** A port whose successor is free too (swtpm's control channel). */
async function freePortPair(): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<boolean>((done) => {
      const server = createServer();
      server.once('error', () => done(false));
      server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
    });
  for (let i = 0; i < 50; i++) {
    const port = 10000 + Math.floor(Math.random() * 10000) * 2; // below the ephemeral range (see docs/providers/tpm.md)
    if ((await tryListen(port)) && (await tryListen(port + 1))) return port;
  }
  throw new Error('no free port pair for swtpm');
}

describe.skipIf(missing.length > 0)(
  `keystore keys --provider tpm on swtpm${missing.length > 0 ? ` (skipped: needs ${missing.join(', ')})` : ''}`,
  () => {
    let box: Sandbox;
    let simDir: string;
    let port: number;
    const env: Record<string, string> = {};
    const tpm = ['--provider', 'tpm', '--policy', 'sim.json'];

    const swtpm = (action: string) =>
      spawnSync('bash', [SWTPM_SCRIPT, action, simDir], {
        env: { ...process.env, TPM_SIM_PORT: String(port) },
        encoding: 'utf8',
      });

    const ok = (args: string[], input?: Buffer | string) => {
      const r = box.run(args, { env, ...(input === undefined ? {} : { input }) });
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      return r;
    };

    const tools = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', cwd: box.dir });
      expect(r.status, `${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
      return r;
    };

    beforeAll(async () => {
      box = new Sandbox();
      // A simulator is software: its keys get in-process isolation, so this policy lowers the floor to that.
      box.write('sim.json', { minimumIsolation: 'in-process' });
      simDir = mkdtempSync(join(tmpdir(), 'keystore-cli-swtpm-'));
      port = await freePortPair();
      const started = swtpm('start');
      expect(started.status, started.stderr).toBe(0);
      const config = /TSS2_FAPICONF=(\S+)/.exec(started.stdout)?.[1];
      expect(config).toBeTruthy();
      env.TSS2_FAPICONF = config as string;
    }, 60_000);

    afterAll(() => {
      if (simDir) {
        swtpm('stop');
        rmSync(simDir, { recursive: true, force: true });
      }
      box?.cleanup();
    });

    it('doctor shows a simulated TPM whose isolation is not hardware; the default floor refuses it', () => {
      const r = box.run(['doctor', '--json'], { env });
      const d = parse<{
        providers: { id: string; available: boolean; isolation: string; details: Record<string, unknown> }[];
      }>(r);
      const row = d.providers.find((p) => p.id === 'tpm');
      expect(row?.available).toBe(true);
      expect(row?.details.simulator).toBe(true);
      expect(row?.isolation).not.toBe('hardware');
      expect(doctorSchemaErrors(d)).toEqual([]);
      expect(box.run(['doctor'], { env }).stdout).toContain('simulated TPM');
      const allowed = box.run(['doctor', '--provider', 'tpm', '--policy', 'sim.json', '--json'], { env });
      expect(allowed.code).toBe(0);
      expect(parse<{ selected: string }>(allowed).selected).toBe('tpm');
      expect(doctorSchemaErrors(parse(allowed))).toEqual([]);
      // A simulated TPM is not hardware: a compliance check for hardware keys fails (exit 8).
      const compliance = box.run(['doctor', '--provider', 'tpm', '--policy', 'sim.json', '--require', 'hardware'], {
        env,
      });
      expect(compliance.code).toBe(8);
    });

    it('an ECDSA key created by one process signs in the next; openssl and tss2_sign agree', () => {
      const created = parse<{ ref: string; isolation: { level: string } }>(
        ok(['keys', 'create', 'cli-ec', '--algorithm', 'ECDSA-P256', ...tpm, '--json']),
      );
      expect(created.ref).toBe('keystore:tpm:user:cli-ec');
      expect(created.isolation.level).not.toBe('hardware');
      const list = parse<{ keys: { ref: string }[] }>(ok(['keys', 'list', ...tpm, '--json']));
      expect(list.keys.map((k) => k.ref)).toContain('keystore:tpm:user:cli-ec');

      ok(['keys', 'public', 'cli-ec', ...tpm, '--out', 'cli-ec.pem']);
      const data = Buffer.from('signed through the keystore CLI by a simulated TPM');
      box.write('data.bin', data);
      ok(['keys', 'sign', 'cli-ec', ...tpm, '--in', 'data.bin', '--out', 'cli-ec.sig']);
      tools('openssl', ['dgst', '-sha256', '-verify', 'cli-ec.pem', '-signature', 'cli-ec.sig', 'data.bin']);
      expect(ok(['keys', 'verify', 'cli-ec', ...tpm, '--in', 'data.bin', '--signature', 'cli-ec.sig']).code).toBe(0);

      // The same key through the tpm2-tools FAPI command, checked against the CLI's public key.
      box.write('digest.bin', createHash('sha256').update(data).digest());
      tools('tss2_sign', ['--keyPath', 'HS/SRK/cli-ec', '--digest', 'digest.bin', '--signature', 'tss.sig', '--force']);
      const pub = createPublicKey(readFileSync(box.path('cli-ec.pem')));
      expect(verify('sha256', data, pub, readFileSync(box.path('tss.sig')))).toBe(true);
    });

    it('RSA-2048: PKCS#1 v1.5 signature for openssl, OAEP-SHA-256 decryption', () => {
      ok(['keys', 'create', 'cli-rsa', '--algorithm', 'RSA-2048', ...tpm]);
      ok(['keys', 'public', 'cli-rsa', ...tpm, '--out', 'cli-rsa.pem']);
      box.write('data.bin', 'rsa data');
      ok(['keys', 'sign', 'cli-rsa', ...tpm, '--in', 'data.bin', '--out', 'cli-rsa.sig']);
      tools('openssl', ['dgst', '-sha256', '-verify', 'cli-rsa.pem', '-signature', 'cli-rsa.sig', 'data.bin']);
      const pub = createPublicKey(readFileSync(box.path('cli-rsa.pem')));
      const secret = Buffer.from('a secret for the TPM');
      const ct = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
      writeFileSync(box.path('ct.bin'), ct);
      expect(ok(['keys', 'decrypt', 'cli-rsa', ...tpm, '--in', 'ct.bin']).raw.equals(secret)).toBe(true);
      // The FAPI profile decrypts with SHA-256 only: another hash is a typed refusal, exit 5.
      const sha1 = box.run(['keys', 'decrypt', 'cli-rsa', ...tpm, '--in', 'ct.bin', '--hash', 'sha1', '--json'], {
        env,
      });
      expect(sha1.code).toBe(5);
      expect(parse<{ error: { code: string } }>(sha1).error.code).toMatch(/^ERR_KEYSTORE_UNSUPPORTED_/);
    });

    it('a key made by tss2_createkey is listed and used by the CLI', () => {
      tools('tss2_createkey', ['--path', 'HS/SRK/tools-ec', '--type', 'sign', '--authValue', '']);
      const list = parse<{ keys: { ref: string }[] }>(ok(['keys', 'list', ...tpm, '--json']));
      expect(list.keys.map((k) => k.ref)).toContain('keystore:tpm:user:tools-ec');
      const pub = createPublicKey(ok(['keys', 'public', 'tools-ec', ...tpm]).stdout);
      const sig = ok(['keys', 'sign', 'tools-ec', ...tpm], 'from tools').raw;
      expect(verify('sha256', Buffer.from('from tools'), pub, sig)).toBe(true);
    });

    it('missing keys exit 4; deleted keys are gone', () => {
      const missingKey = box.run(['keys', 'sign', 'no-such-key', ...tpm, '--json'], { env, input: 'x' });
      expect(missingKey.code).toBe(4);
      expect(parse<{ error: { code: string } }>(missingKey).error.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      ok(['keys', 'delete', 'cli-ec', 'keystore:tpm:user:tools-ec', ...tpm]);
      expect(box.run(['keys', 'sign', 'cli-ec', ...tpm], { env, input: 'x' }).code).toBe(4);
      const list = parse<{ keys: { ref: string }[] }>(ok(['keys', 'list', ...tpm, '--json']));
      expect(list.keys.map((k) => k.ref)).not.toContain('keystore:tpm:user:cli-ec');
    });
  },
);
