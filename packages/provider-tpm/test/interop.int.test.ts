import { execFile } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmProvider } from '../src/index.js';
import { HAVE_SWTPM, HAVE_TSS2_TOOLS, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(root, 'packages', 'cli', 'dist', 'bin.js');
const HAVE_CLI = existsSync(CLI) && existsSync(join(root, 'packages', 'provider-tpm', 'dist', 'index.js'));
const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

describe.skipIf(!HAVE_SWTPM || !HAVE_TSS2_TOOLS)(
  `interop with tpm2-tools FAPI commands and openssl (${HAVE_SWTPM && HAVE_TSS2_TOOLS ? 'tools found' : `${NEEDS_SWTPM}; and openssl`})`,
  () => {
    let tpm: SwtpmInstance;
    let provider: TpmProvider;
    const tss2 = (cmd: string, args: string[]) => run(cmd, args, { env: tpm.env });

    beforeAll(async () => {
      tpm = await startSwtpm();
      provider = new TpmProvider({ configFile: tpm.configFile });
      await provider.listKeys(); // provisions both profiles
    });
    afterAll(async () => {
      await provider?.close();
      await tpm?.dispose();
    });

    it('SDK key → tss2_sign --keyPath HS/SRK/<name> → openssl verifies with the SDK public key', async () => {
      const key = await provider.createKey({
        name: 'sdk-made',
        algorithm: 'ECDSA-P256',
        scope: 'user',
        exportable: false,
      });
      const data = Buffer.from('signed by tss2_sign');
      const files = {
        data: join(tpm.dir, 'sdk.data'),
        digest: join(tpm.dir, 'sdk.digest'),
        sig: join(tpm.dir, 'sdk.sig'),
        pub: join(tpm.dir, 'sdk.pub.pem'),
      };
      await writeFile(files.data, data);
      await writeFile(files.digest, createHash('sha256').update(data).digest());
      await writeFile(files.pub, key.publicKey.export({ type: 'spki', format: 'pem' }));
      await tss2('tss2_sign', [
        '--keyPath',
        'HS/SRK/sdk-made',
        '--digest',
        files.digest,
        '--signature',
        files.sig,
        '-f',
      ]);
      const { stdout } = await run('openssl', [
        'dgst',
        '-sha256',
        '-verify',
        files.pub,
        '-signature',
        files.sig,
        files.data,
      ]);
      expect(stdout).toMatch(/Verified OK/);
    });

    it('tss2_createkey keys are listed, opened and used through the SDK (sign; RSA decrypt-only refuses to sign before any native call)', async () => {
      await tss2('tss2_createkey', ['--path', 'HS/SRK/tool-made', '--type', 'sign,noDa', '--authValue', '']);
      await tss2('tss2_createkey', [
        '--path',
        '/P_RSA2048SHA256/HS/SRK/tool-dec',
        '--type',
        'decrypt,noDa',
        '--authValue',
        '',
      ]);
      const listed = await provider.listKeys({ scope: 'user' });
      expect(listed).toContainEqual({ name: 'tool-made', scope: 'user', algorithm: 'ECDSA-P256' });
      expect(listed).toContainEqual({ name: 'tool-dec', scope: 'user', algorithm: 'RSA-2048' });
      const key = await provider.openKey({ name: 'tool-made', scope: 'user' });
      const data = Buffer.from('made by tss2_createkey');
      const sig = await key.signDigest(createHash('sha256').update(data).digest(), P);
      expect(verify('sha256', data, key.publicKey, sig.signature)).toBe(true);

      const dec = await provider.openKey({ name: 'tool-dec', scope: 'user' });
      await expect(dec.signDigest(createHash('sha256').update(data).digest(), P)).rejects.toMatchObject({
        code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      });
      const { publicEncrypt, constants } = await import('node:crypto');
      const ct = publicEncrypt(
        { key: dec.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        data,
      );
      expect((await dec.decrypt(ct, 'sha256')).equals(data)).toBe(true);
      // the provider still signs after the refused call (no context was broken)
      expect((await key.signDigest(createHash('sha256').update(data).digest(), P)).signature.length).toBeGreaterThan(0);
    });

    describe.skipIf(!HAVE_CLI)(
      `keystore CLI (${HAVE_CLI ? 'built' : 'needs the built CLI and provider: run npm run build'})`,
      () => {
        it('keys create --provider tpm → tss2_sign → openssl verify; keys sign output verifies too', async () => {
          const policy = join(tpm.dir, 'policy.json');
          await writeFile(policy, JSON.stringify({ minimumIsolation: 'in-process' }));
          const env = { ...tpm.env };
          const cli = (args: string[], input?: string) =>
            new Promise<{ stdout: Buffer; code: number | null }>((resolve, reject) => {
              const child = execFile(process.execPath, [CLI, ...args], { env, encoding: 'buffer' }, (err, stdout) => {
                if (err && typeof (err as { code?: unknown }).code !== 'number') reject(err);
                else resolve({ stdout, code: err ? Number((err as { code?: number }).code) : 0 });
              });
              if (input !== undefined) child.stdin?.end(input);
            });
          const created = await cli([
            'keys',
            'create',
            'cli-made',
            '--algorithm',
            'ECDSA-P256',
            '--provider',
            'tpm',
            '--policy',
            policy,
            '--json',
          ]);
          expect(created.code).toBe(0);
          const info = JSON.parse(created.stdout.toString('utf8')) as {
            isolation: { level: string };
            publicKey: string;
          };
          expect(info.isolation.level).toBe('in-process');
          const files = {
            data: join(tpm.dir, 'cli.data'),
            digest: join(tpm.dir, 'cli.digest'),
            sig: join(tpm.dir, 'cli.sig'),
            pub: join(tpm.dir, 'cli.pub.pem'),
            sig2: join(tpm.dir, 'cli2.sig'),
          };
          const data = Buffer.from('created by the keystore CLI');
          await writeFile(files.data, data);
          await writeFile(files.digest, createHash('sha256').update(data).digest());
          await writeFile(files.pub, createPublicKey(info.publicKey).export({ type: 'spki', format: 'pem' }));
          await tss2('tss2_sign', [
            '--keyPath',
            'HS/SRK/cli-made',
            '--digest',
            files.digest,
            '--signature',
            files.sig,
            '-f',
          ]);
          const ok = await run('openssl', [
            'dgst',
            '-sha256',
            '-verify',
            files.pub,
            '-signature',
            files.sig,
            files.data,
          ]);
          expect(ok.stdout).toMatch(/Verified OK/);

          const signed = await cli([
            'keys',
            'sign',
            'cli-made',
            '--in',
            files.data,
            '--out',
            files.sig2,
            '--policy',
            policy,
          ]);
          expect(signed.code).toBe(0);
          expect(verify('sha256', data, createPublicKey(info.publicKey), await readFile(files.sig2))).toBe(true);
          // and the SDK in this process sees the key the CLI made in another
          const opened = await provider.openKey({ name: 'cli-made', scope: 'user' });
          expect(opened.publicKey.export({ type: 'spki', format: 'pem' })).toBe(
            createPublicKey(info.publicKey).export({ type: 'spki', format: 'pem' }),
          );
        }, 60_000);
      },
    );
  },
);
