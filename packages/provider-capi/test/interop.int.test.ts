// Interop with other CryptoAPI programs, for real under Wine: a small C program (interop/capi-tool.c,
// built here with mingw-w64) uses key containers through advapi32 directly. Containers it makes are
// listed, opened and used by the provider; containers the provider makes are used by it. Every
// signature is verified on Linux, with node:crypto and with openssl.
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mingw, repoRoot, runWineExe, startWineProvider, type WineProvider, wine } from '../../../test-support/wine.js';

const run = `interop-${process.pid}-${randomBytes(3).toString('hex')}`;
const workDir = `.tmp/capi-interop/${run}`;
const exe = `${workDir}/capi-tool.exe`;
const haveOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

interface ToolKey {
  spec: string;
  bits: number;
  e: number;
  n: string;
}

async function tool(...args: string[]): Promise<Record<string, unknown>> {
  const r = await runWineExe(exe, args);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const json = JSON.parse(line || '{}') as Record<string, unknown>;
  if (r.code !== 0) throw new Error(`capi-tool ${args.join(' ')}: exit ${r.code}: ${line} ${r.stderr}`);
  return json;
}

/** The public key as the C program reads it from the container, as a Node KeyObject. */
function toolPublicKey(k: ToolKey) {
  const e = Buffer.alloc(4);
  e.writeUInt32BE(k.e);
  return createPublicKey({
    key: {
      kty: 'RSA',
      n: Buffer.from(k.n, 'hex').toString('base64url'),
      e: e.subarray(e.findIndex((b) => b !== 0)).toString('base64url'),
    },
    format: 'jwk',
  });
}

function opensslVerifies(publicKeyPem: string, data: Buffer, signature: Buffer, hash: string): boolean {
  const dir = `${repoRoot}${workDir}/openssl-${randomBytes(3).toString('hex')}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/pub.pem`, publicKeyPem);
  writeFileSync(`${dir}/data`, data);
  writeFileSync(`${dir}/sig`, signature);
  const r = spawnSync(
    'openssl',
    ['dgst', `-${hash}`, '-verify', `${dir}/pub.pem`, '-signature', `${dir}/sig`, `${dir}/data`],
    {
      encoding: 'utf8',
    },
  );
  return r.status === 0 && r.stdout.includes('Verified OK');
}

const ready = wine.available && mingw.available;
const why = !wine.available ? `needs Wine: ${wine.reason}` : `needs mingw-w64: ${mingw.reason}`;

describe.skipIf(!ready)(
  `interop with a C program using CryptoAPI directly (${ready ? 'Wine and mingw-w64' : why})`,
  () => {
    let remote: WineProvider;
    const made: Array<{ name: string; machine: boolean }> = [];

    beforeAll(async () => {
      mkdirSync(`${repoRoot}${workDir}`, { recursive: true });
      const cc = spawnSync(
        mingw.gcc,
        [
          '-O2',
          '-Wall',
          '-Wextra',
          '-Werror',
          '-o',
          exe,
          'packages/provider-capi/test/interop/capi-tool.c',
          '-ladvapi32',
        ],
        { cwd: repoRoot, encoding: 'utf8' },
      );
      if (cc.status !== 0) throw new Error(`building capi-tool failed: ${cc.stderr}`);
      remote = await startWineProvider({
        module: 'packages/provider-capi/dist/index.cjs',
        options: { testPolicySources: { machinePolicy: null, registryPolicy: null }, listAlgorithms: true },
      });
    }, 120_000);

    afterAll(async () => {
      for (const { name, machine } of made) {
        await runWineExe(exe, ['delete', name, ...(machine ? ['--machine'] : [])]).catch(() => {});
      }
      await remote?.stop();
      rmSync(`${repoRoot}${workDir}`, { recursive: true, force: true });
    }, 60_000);

    for (const machine of [false, true]) {
      const scope = machine ? 'machine' : 'user';
      it(`a container the C program creates (AT_SIGNATURE, ${scope} scope) is listed, opened and signs through the provider`, async () => {
        const name = `${run}-c-${scope}`;
        made.push({ name, machine });
        const flags = machine ? ['--machine'] : [];
        await tool('create', name, '--signature', '--bits', '2048', ...flags);
        const listed = await remote.listKeys({ scope });
        expect(listed).toContainEqual({ name, scope, algorithm: 'RSA-2048' });

        const key = await remote.openKey({ name, scope });
        const fromTool = toolPublicKey((await tool('pubkey', name, ...flags)) as unknown as ToolKey);
        expect(key.publicKey.equals(fromTool)).toBe(true);
        for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
          const data = randomBytes(64);
          const { signature } = await key.signDigest(createHash(hash).update(data).digest(), {
            hash,
            padding: 'pkcs1',
            saltLength: 0,
          });
          expect(verify(hash, data, fromTool, signature)).toBe(true);
          if (haveOpenssl) {
            expect(
              opensslVerifies(fromTool.export({ type: 'spki', format: 'pem' }) as string, data, signature, hash),
            ).toBe(true);
          }
        }
        // An AT_SIGNATURE key signs only.
        const err = await key.decrypt!(Buffer.alloc(256), 'sha1').catch((e: unknown) => e);
        expect(KeyStoreError.is(err, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION')).toBe(true);
        await key.close();
      });
    }

    it('a key the provider creates is an ordinary container: the C program reads its public key and signs with it', async () => {
      const name = `${run}-p`;
      made.push({ name, machine: false });
      const key = await remote.createKey({ name, algorithm: 'RSA-2048', scope: 'user', exportable: false });
      await key.close();

      const pub = (await tool('pubkey', name)) as unknown as ToolKey;
      expect(pub.spec).toBe('AT_KEYEXCHANGE');
      expect(pub.bits).toBe(2048);
      expect(toolPublicKey(pub).equals(key.publicKey)).toBe(true);

      // A digest signed as is.
      const data = randomBytes(100);
      const digest = createHash('sha512').update(data).digest('hex');
      const signed = await tool('sign', name, digest, '--sha512');
      expect(verify('sha512', data, key.publicKey, Buffer.from(String(signed.signature), 'hex'))).toBe(true);

      // A file hashed by CryptoAPI itself.
      const file = `${workDir}/message.bin`;
      const message = randomBytes(5000);
      writeFileSync(`${repoRoot}${file}`, message);
      const fileSignature = Buffer.from(String((await tool('sign', name, file)).signature), 'hex');
      expect(verify('sha256', message, key.publicKey, fileSignature)).toBe(true);
      if (haveOpenssl) {
        expect(
          opensslVerifies(
            key.publicKey.export({ type: 'spki', format: 'pem' }) as string,
            message,
            fileSignature,
            'sha256',
          ),
        ).toBe(true);
      }

      // The provider signs the same digest to the same bytes (PKCS#1 v1.5 is deterministic).
      const reopened = await remote.openKey({ name, scope: 'user' });
      const again = await reopened.signDigest(createHash('sha256').update(message).digest(), {
        hash: 'sha256',
        padding: 'pkcs1',
        saltLength: 32,
      });
      expect(again.signature.equals(fileSignature)).toBe(true);
      await reopened.close();
    });

    it('a container the provider deletes is gone for the C program too', async () => {
      const name = `${run}-d`;
      made.push({ name, machine: false });
      await tool('create', name);
      await remote.deleteKey({ name, scope: 'user' });
      const r = await runWineExe(exe, ['pubkey', name]);
      expect(r.code).toBe(2);
      expect(r.stdout).toContain('0x80090016'); // NTE_BAD_KEYSET
    });
  },
);
