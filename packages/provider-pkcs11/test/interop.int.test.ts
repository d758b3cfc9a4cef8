/**
 * Interop both ways with OpenSC's pkcs11-tool on one SoftHSM2 token, each tool in its own process:
 * keys pkcs11-tool generated are listed, opened and used by the provider, their signatures checked
 * by `openssl` with the public key pkcs11-tool read off the token; keys the provider generated sign
 * through `pkcs11-tool --sign`, checked with the provider's public key.
 */
import { execFile, execFileSync } from 'node:child_process';
import { constants, createHash, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { p1363ToDer } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pkcs11Provider } from '../src/provider.js';
import {
  createSoftHsmToken,
  HAVE_INTEROP_TOOLS,
  HAVE_SOFTHSM,
  NEEDS_INTEROP,
  type SoftHsmToken,
} from './helpers/softhsm.js';

const HAVE = HAVE_SOFTHSM && HAVE_INTEROP_TOOLS;
const data = Buffer.from('signed by one tool, verified by another');

describe.skipIf(!HAVE)(`interop with pkcs11-tool and openssl on SoftHSM2${HAVE ? '' : ` (${NEEDS_INTEROP})`}`, () => {
  let token: SoftHsmToken;
  let provider: Pkcs11Provider;
  const tool = (...args: string[]) =>
    execFileSync(
      'pkcs11-tool',
      ['--module', token.module, '--token-label', token.label, '--login', '--pin', token.pin, ...args],
      {
        env: token.env,
        stdio: 'pipe',
      },
    );
  const file = (name: string) => join(token.dir, name);

  beforeAll(() => {
    token = createSoftHsmToken();
    writeFileSync(file('data'), data);
    writeFileSync(file('data.sha256'), createHash('sha256').update(data).digest());
    tool('--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'tool-ec', '--id', 'a1');
    tool('--keypairgen', '--key-type', 'rsa:2048', '--label', 'tool-rsa', '--id', 'b2');
    provider = new Pkcs11Provider({ module: token.module, tokenLabel: token.label, pin: token.pin });
  });
  afterAll(async () => {
    await provider?.close();
    token?.dispose();
  });

  it('lists, opens and signs with keys pkcs11-tool generated; openssl verifies with the public key pkcs11-tool reads', async () => {
    const names = (await provider.listKeys()).map((k) => `${k.name}:${k.algorithm}`);
    expect(names).toEqual(expect.arrayContaining(['tool-ec:ECDSA-P256', 'tool-rsa:RSA-2048']));
    const digest = createHash('sha256').update(data).digest();
    for (const [label, type] of [
      ['tool-ec', 'ec'],
      ['tool-rsa', 'rsa'],
    ] as const) {
      const key = await provider.openKey({ name: label, scope: 'user' });
      const result = await key.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
      const signature = type === 'ec' ? p1363ToDer(result.signature) : result.signature;
      writeFileSync(file(`${label}.sig`), signature);
      tool('--read-object', '--type', 'pubkey', '--label', label, '--output-file', file(`${label}.pub.der`));
      const out = execFileSync(
        'openssl',
        [
          'dgst',
          '-sha256',
          '-verify',
          file(`${label}.pub.der`),
          '-keyform',
          'DER',
          '-signature',
          file(`${label}.sig`),
          file('data'),
        ],
        { encoding: 'utf8' },
      );
      expect(out.trim()).toBe('Verified OK');
      // The provider's public key is the one pkcs11-tool read.
      expect(
        key.publicKey
          .export({ type: 'spki', format: 'der' })
          .equals(
            execFileSync('openssl', [
              'pkey',
              '-pubin',
              '-inform',
              'DER',
              '-in',
              file(`${label}.pub.der`),
              '-outform',
              'DER',
            ]),
          ),
      ).toBe(true);
    }
  });

  it("keys the provider generated sign through pkcs11-tool --sign, verified with the provider's public key", async () => {
    for (const [algorithm, mechanism] of [
      // SoftHSM2 2.6 has no CKM_ECDSA_SHA256: pkcs11-tool signs the SHA-256 digest with CKM_ECDSA.
      ['ECDSA-P384', 'ECDSA'],
      ['RSA-3072', 'SHA256-RSA-PKCS'],
      ['RSA-2048', 'SHA256-RSA-PKCS-PSS'],
    ] as const) {
      const name = `sdk-${algorithm.toLowerCase()}-${mechanism.toLowerCase()}`;
      const key = await provider.createKey({ name, algorithm, scope: 'user', exportable: false });
      const sig = file(`${name}.sig`);
      const extra = mechanism.endsWith('PSS') ? ['--mgf', 'MGF1-SHA256', '--salt-len', '32'] : [];
      const format = algorithm.startsWith('ECDSA') ? ['--signature-format', 'openssl'] : [];
      const input = mechanism === 'ECDSA' ? file('data.sha256') : file('data');
      tool(
        '--sign',
        '--mechanism',
        mechanism,
        ...extra,
        ...format,
        // pkcs11-tool picks the signing key by --id (its --label is not used for --sign): the key's
        // stable CKA_ID.
        '--id',
        key.id.toString('hex'),
        '--input-file',
        input,
        '--output-file',
        sig,
      );
      const signature = readFileSync(sig);
      const options = mechanism.endsWith('PSS')
        ? { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : { key: key.publicKey };
      expect(verify('sha256', data, options, signature), `${algorithm} ${mechanism}`).toBe(true);
    }
  });
  it('two processes at once: the provider signs, four at a time, all the while pkcs11-tool signs 10 times; all verify', async () => {
    const key = await provider.openKey({ name: 'tool-ec', scope: 'user' });
    const toolRuns = (async () => {
      for (let i = 0; i < 10; i++) {
        const sig = file(`both-${i}.sig`);
        await new Promise<void>((resolve, reject) => {
          execFile(
            'pkcs11-tool',
            [
              '--module',
              token.module,
              '--token-label',
              token.label,
              '--login',
              '--pin',
              token.pin,
              '--sign',
              '--mechanism',
              'ECDSA',
              '--signature-format',
              'openssl',
              '--id',
              'a1',
              '--input-file',
              file('data.sha256'),
              '--output-file',
              sig,
            ],
            { env: token.env },
            (err) => (err ? reject(err) : resolve()),
          );
        });
        expect(verify('sha256', data, key.publicKey, readFileSync(sig))).toBe(true);
      }
    })();
    let toolsDone = false;
    const tools = toolRuns.finally(() => {
      toolsDone = true;
    });
    const digest = createHash('sha256').update(data).digest();
    const ours: { signature: Buffer; dsaEncoding?: 'der' | 'ieee-p1363' }[] = [];
    const signer = async () => {
      while (!toolsDone) ours.push(await key.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }));
    };
    await Promise.all([signer(), signer(), signer(), signer()]);
    await tools;
    expect(ours.length).toBeGreaterThan(40);
    for (const r of ours) {
      expect(verify('sha256', data, { key: key.publicKey, dsaEncoding: r.dsaEncoding }, r.signature)).toBe(true);
    }
  });
});
