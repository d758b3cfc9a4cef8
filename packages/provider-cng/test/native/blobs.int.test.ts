/**
 * The blob codecs against blobs a Windows API really produces and consumes, under Wine:
 * - RSA: ncrypt.dll (through the built `@keystore/provider-cng/native`) exports RSAPUBLICBLOB,
 *   RSAPRIVATEBLOB and RSAFULLPRIVATEBLOB and signs; the codecs read them here, on Linux.
 * - ECC: Wine's ncrypt has no ECC, its bcrypt.dll has ECDSA/ECDH on P-256 and P-384: a small C
 *   program (fixtures/bcrypt-blobs.c, built with mingw-w64) exports and imports ECC blobs and signs.
 *
 * Runs against the built package: `npm run build -w @keystore/provider-cng` first.
 */
import { execFileSync } from 'node:child_process';
import { constants, createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mingw, repoRoot, runWineExe, runWineScript, wine } from '../../../../test-support/wine.js';
import {
  describeBlob,
  eccPrivateBlobFromKeyObject,
  eccPublicBlobFromKeyObject,
  privateKeyFromBlob,
  publicKeyFromBlob,
  rsaFullPrivateBlobFromKeyObject,
  rsaPublicBlobFromKeyObject,
} from '../../src/native/blobs.js';

const data = Buffer.from('blobs made by Windows');
const sha256 = createHash('sha256').update(data).digest();
const NEEDS = !wine.available ? `needs Wine: ${wine.reason}` : `needs mingw-w64: ${mingw.reason}`;

interface RsaExport {
  bits: number;
  rsa1: string;
  rsa2: string;
  rsa3: string;
  pkcs1: string;
}

describe.skipIf(!wine.available)(`RSA blobs exported by ncrypt.dll (needs Wine: ${wine.reason})`, () => {
  let exports: RsaExport[];

  beforeAll(async () => {
    const run = await runWineScript(`
      const native = require('@keystore/provider-cng/native');
      (async () => {
        const ncrypt = native.loadNCrypt();
        const prov = ncrypt.openStorageProvider(native.MS_KEY_STORAGE_PROVIDER);
        const out = [];
        try {
          for (const bits of [2048, 3072, 4096]) {
            const key = await ncrypt.createPersistedKey(prov, 'RSA', null, 0, 0);
            try {
              ncrypt.setProperty(key, 'Length', bits);
              ncrypt.setProperty(key, 'Export Policy', native.NCRYPT_ALLOW_EXPORT_FLAG | native.NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG);
              await ncrypt.finalizeKey(key, 0);
              const digest = Buffer.from('${sha256.toString('hex')}', 'hex');
              out.push({
                bits,
                rsa1: ncrypt.exportKey(key, 'RSAPUBLICBLOB').toString('base64'),
                rsa2: ncrypt.exportKey(key, 'RSAPRIVATEBLOB').toString('base64'),
                rsa3: ncrypt.exportKey(key, 'RSAFULLPRIVATEBLOB').toString('base64'),
                pkcs1: (await ncrypt.signHash(key, digest, { kind: 'pkcs1', hash: 'SHA256' })).toString('base64'),
              });
            } finally {
              ncrypt.freeObject(key);
            }
          }
        } finally {
          ncrypt.freeObject(prov);
        }
        console.log(JSON.stringify(out));
      })().catch((err) => { console.error(err); process.exit(1); });
    `);
    expect(run.code, run.stderr).toBe(0);
    exports = run.json as RsaExport[];
  }, 120_000);

  it('reads the same public key from RSA1, RSA2 and RSA3, of the requested size', () => {
    expect(exports.map((e) => e.bits)).toEqual([2048, 3072, 4096]);
    for (const e of exports) {
      const blobs = [e.rsa1, e.rsa2, e.rsa3].map((b) => Buffer.from(b, 'base64'));
      expect(blobs.map((b) => describeBlob(b))).toEqual([
        { family: 'rsa', kind: 'RSA1', private: false, bits: e.bits },
        { family: 'rsa', kind: 'RSA2', private: true, bits: e.bits },
        { family: 'rsa', kind: 'RSA3', private: true, bits: e.bits },
      ]);
      const jwks = blobs.map((b) => publicKeyFromBlob(b).export({ format: 'jwk' }));
      expect(jwks[1]).toEqual(jwks[0]);
      expect(jwks[2]).toEqual(jwks[0]);
      expect(publicKeyFromBlob(blobs[0]!).asymmetricKeyDetails?.modulusLength).toBe(e.bits);
      // The public blob the codec writes is the one Windows wrote.
      expect(rsaPublicBlobFromKeyObject(publicKeyFromBlob(blobs[0]!)).equals(blobs[0]!)).toBe(true);
    }
  });

  it("verifies ncrypt's PKCS#1 signature with the public key read from RSA1", () => {
    for (const e of exports) {
      const publicKey = publicKeyFromBlob(Buffer.from(e.rsa1, 'base64'));
      expect(verify('sha256', data, publicKey, Buffer.from(e.pkcs1, 'base64'))).toBe(true);
    }
  });

  it("reads private keys from RSA2 and RSA3 that reproduce ncrypt's PKCS#1 signature byte for byte", () => {
    for (const e of exports) {
      const expected = Buffer.from(e.pkcs1, 'base64');
      for (const blob of [e.rsa2, e.rsa3]) {
        const privateKey = privateKeyFromBlob(Buffer.from(blob, 'base64'));
        // PKCS#1 v1.5 is deterministic: the same key signs the same bytes.
        expect(sign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING }).equals(expected)).toBe(
          true,
        );
      }
    }
  });

  it('writes an RSAFULLPRIVATEBLOB identical to the one ncrypt exported for the same key', () => {
    for (const e of exports) {
      const rsa3 = Buffer.from(e.rsa3, 'base64');
      expect(rsaFullPrivateBlobFromKeyObject(privateKeyFromBlob(rsa3)).equals(rsa3)).toBe(true);
    }
  });
});

interface BcryptResult {
  status: string;
  step?: string;
  public?: string;
  private?: string;
  signature?: string;
  signStatus?: string;
}

describe.skipIf(!wine.available || !mingw.available)(`ECC blobs of bcrypt.dll (${NEEDS})`, () => {
  const exe = join(repoRoot, '.tmp/blobs/bcrypt-blobs.exe');
  const bcrypt = async (args: string[]): Promise<BcryptResult> => {
    const run = await runWineExe(exe, args);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as BcryptResult;
  };

  beforeAll(() => {
    mkdirSync(join(repoRoot, '.tmp/blobs'), { recursive: true });
    execFileSync(
      mingw.gcc,
      [
        '-std=c11',
        '-Wall',
        '-Werror',
        join(repoRoot, 'packages/provider-cng/test/native/fixtures/bcrypt-blobs.c'),
        '-o',
        exe,
        '-lbcrypt',
      ],
      { stdio: 'pipe' },
    );
  }, 60_000);

  // Wine 8's bcrypt generates and exports P-256 and P-384 keys but imports only P-256 private blobs:
  // it refuses P-384 ones, even those it exported itself, with STATUS_NOT_SUPPORTED (0xC00000BB).
  const cases = [
    { curve: 'P-256', size: 32, imports: true },
    { curve: 'P-384', size: 48, imports: false },
  ] as const;

  for (const { curve, size, imports } of cases) {
    const bits = curve.slice(2);

    it(`${curve}: reads the ECDSA and ECDH blobs bcrypt exports, and verifies its raw r‖s signature`, async () => {
      const [ecdsa, ecdh] = await Promise.all([
        bcrypt(['generate', `ECDSA_P${bits}`, sha256.toString('hex')]),
        bcrypt(['generate', `ECDH_P${bits}`, sha256.toString('hex')]),
      ]);
      for (const [usage, result] of [
        ['ECDSA', ecdsa],
        ['ECDH', ecdh],
      ] as const) {
        expect(result.status, result.step).toBe('00000000');
        const pub = Buffer.from(result.public ?? '', 'hex');
        const priv = Buffer.from(result.private ?? '', 'hex');
        expect(describeBlob(pub)).toEqual({ family: 'ec', usage, private: false, curve, fieldSize: size });
        expect(describeBlob(priv)).toEqual({ family: 'ec', usage, private: true, curve, fieldSize: size });
        const publicKey = publicKeyFromBlob(pub);
        expect(publicKeyFromBlob(priv).export({ format: 'jwk' })).toEqual(publicKey.export({ format: 'jwk' }));
        const privateKey = privateKeyFromBlob(priv);
        // The codec writes back the very blobs bcrypt exported.
        expect(eccPublicBlobFromKeyObject(publicKey, usage).equals(pub)).toBe(true);
        expect(eccPrivateBlobFromKeyObject(privateKey, usage).equals(priv)).toBe(true);
      }
      const signature = Buffer.from(ecdsa.signature ?? '', 'hex');
      expect(signature.length).toBe(2 * size);
      const publicKey = publicKeyFromBlob(Buffer.from(ecdsa.public ?? '', 'hex'));
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    });

    it.skipIf(!imports)(
      `${curve}: bcrypt imports the private blob the codec writes, signs with it, and exports the same public blob${
        imports ? '' : ' (needs a bcrypt that imports P-384 private blobs: Wine 8 refuses them)'
      }`,
      async () => {
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
        const result = await bcrypt([
          'sign',
          `ECDSA_P${bits}`,
          eccPrivateBlobFromKeyObject(privateKey, 'ECDSA').toString('hex'),
          sha256.toString('hex'),
        ]);
        expect(result.status, result.step).toBe('00000000');
        expect(result.signStatus).toBeUndefined();
        const signature = Buffer.from(result.signature ?? '', 'hex');
        expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
        expect(Buffer.from(result.public ?? '', 'hex').equals(eccPublicBlobFromKeyObject(publicKey, 'ECDSA'))).toBe(
          true,
        );
      },
    );
  }
});
