/**
 * The NCrypt and system bindings executed for real inside Windows Node.js under Wine (ncrypt.dll,
 * tbs.dll, ntdll, advapi32 as Wine implements them), with every result checked here on Linux with
 * node:crypto. Needs the built package (`npm run build -w @keystore/provider-cng`).
 *
 * What Wine 8.0 implements is exercised and must not land on a stub (`WINEDEBUG=fixme+ncrypt`); what
 * it does not implement must come back as a typed KeyStoreError carrying the native status, without
 * crashing the process.
 */
import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWineExe, runWineScript, stubCalls, wine } from '../../../../test-support/wine.js';
import { privateKeyFromBlob, publicKeyFromBlob, rsaFullPrivateBlobFromKeyObject } from '../../src/native/blobs.js';

const MESSAGE = Buffer.from('signed by ncrypt.dll under Wine');
const PLAINTEXT = Buffer.from('encrypted by ncrypt.dll under Wine');

/** Reads the JSON parameters the test passes on stdin, runs `body`, prints one JSON line. */
function script(body: string): string {
  return `
const n = require('@keystore/provider-cng/native');
const crypto = require('node:crypto');
const b64 = (b) => Buffer.from(b).toString('base64');
const failure = (e) => ({ isKeyStoreError: !!(e && e.name === 'KeyStoreError' && typeof e.code === 'string'),
  code: e && e.code, nativeStatus: e && e.nativeStatus, nativeName: e && e.nativeName, message: String(e && e.message) });
async function attempt(f) { try { return { ok: true, value: await f() }; } catch (e) { return { ok: false, error: failure(e) }; } }
let input = '';
process.stdin.on('data', (d) => { input += d; }).on('end', async () => {
  const params = input ? JSON.parse(input) : {};
  const out = {};
  try {
${body}
  } catch (e) {
    out.fatal = failure(e);
  }
  console.log(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
});
`;
}

interface Failure {
  isKeyStoreError: boolean;
  code: string;
  nativeStatus?: number;
  nativeName?: string;
  message: string;
}
type Attempt<T> = { ok: true; value: T } | { ok: false; error: Failure };

/** Undoes PKCS#1 v1.5 encryption padding (type 2) of a raw RSA decryption. */
function unpadPkcs1(block: Buffer): Buffer {
  expect(block[0]).toBe(0);
  expect(block[1]).toBe(2);
  const end = block.indexOf(0, 2);
  expect(end).toBeGreaterThanOrEqual(10);
  return block.subarray(end + 1);
}

const implemented = `
  const nc = n.loadNCrypt();
  const prov = nc.openStorageProvider(n.MS_KEY_STORAGE_PROVIDER);
  const handles = [];
  try {
    out.rsaSupported = nc.isAlgSupported(prov, n.NCRYPT_RSA_ALGORITHM);
    out.keys = [];
    for (const { bits, name } of params.keys) {
      const key = await nc.createPersistedKey(prov, n.NCRYPT_RSA_ALGORITHM, name, 0, 0);
      handles.push(key);
      nc.setProperty(key, n.NCRYPT_LENGTH_PROPERTY, bits);
      nc.setProperty(key, n.NCRYPT_EXPORT_POLICY_PROPERTY, n.NCRYPT_ALLOW_EXPORT_FLAG | n.NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG);
      await nc.finalizeKey(key, 0);
      const message = Buffer.from(params.message, 'base64');
      const r = { bits, name,
        length: nc.getDwordProperty(key, n.NCRYPT_LENGTH_PROPERTY),
        group: nc.getStringProperty(key, n.NCRYPT_ALGORITHM_GROUP_PROPERTY),
        exportPolicy: nc.getDwordProperty(key, n.NCRYPT_EXPORT_POLICY_PROPERTY),
        publicBlob: b64(nc.exportKey(key, n.BCRYPT_RSAPUBLIC_BLOB)),
        fullPrivateBlob: b64(nc.exportKey(key, n.BCRYPT_RSAFULLPRIVATE_BLOB)),
        spkiFromWindowsSide: n.publicKeyFromBlob(nc.exportKey(key, n.BCRYPT_RSAPUBLIC_BLOB)).export({ format: 'pem', type: 'spki' }),
        signatures: {} };
      for (const [hash, node] of [['SHA256', 'sha256'], ['SHA384', 'sha384'], ['SHA512', 'sha512']]) {
        const digest = crypto.createHash(node).update(message).digest();
        r.signatures['pkcs1-' + node] = b64(await nc.signHash(key, digest, { kind: 'pkcs1', hash }));
      }
      const digest = crypto.createHash('sha256').update(message).digest();
      const pss = await nc.signHash(key, digest, { kind: 'pss', hash: 'SHA256', saltLength: 32 });
      r.signatures['pss-sha256'] = b64(pss);
      r.ciphertext = b64(await nc.encrypt(key, Buffer.from(params.plaintext, 'base64'), { kind: 'pkcs1' }));
      const pkcs1 = Buffer.from(r.signatures['pkcs1-sha256'], 'base64');
      const tampered = Buffer.from(pkcs1); tampered[tampered.length - 1] ^= 1;
      const other = crypto.createHash('sha256').update('other').digest();
      r.verifyPkcs1 = [await nc.verifySignature(key, digest, pkcs1, { kind: 'pkcs1', hash: 'SHA256' }),
        await nc.verifySignature(key, digest, tampered, { kind: 'pkcs1', hash: 'SHA256' }),
        await nc.verifySignature(key, other, pkcs1, { kind: 'pkcs1', hash: 'SHA256' })];
      // Last: after a PSS verification, Wine 8.0 leaves the key unable to sign PKCS#1 or encrypt
      // (GnuTLS "The request is invalid", NTE_INTERNAL_ERROR).
      r.verifyPss = [await nc.verifySignature(key, digest, pss, { kind: 'pss', hash: 'SHA256', saltLength: 32 }),
        await nc.verifySignature(key, other, pss, { kind: 'pss', hash: 'SHA256', saltLength: 32 })];
      out.keys.push(r);
    }
    const imported = await nc.importKey(prov, n.BCRYPT_RSAFULLPRIVATE_BLOB, Buffer.from(params.importBlob, 'base64'), null, 0);
    handles.push(imported);
    const digest = crypto.createHash('sha256').update(Buffer.from(params.message, 'base64')).digest();
    out.imported = {
      signature: b64(await nc.signHash(imported, digest, { kind: 'pkcs1', hash: 'SHA256' })),
      publicBlob: b64(nc.exportKey(imported, n.BCRYPT_RSAPUBLIC_BLOB)),
      length: nc.getDwordProperty(imported, n.NCRYPT_LENGTH_PROPERTY),
    };
    const pending = await nc.createPersistedKey(prov, n.NCRYPT_RSA_ALGORITHM, null, 0, 0);
    handles.push(pending);
    nc.setUiPolicy(pending, { flags: n.NCRYPT_UI_PROTECT_KEY_FLAG, friendlyName: 'keystore test key', description: 'set before finalize' });
    out.uiPolicySet = true;
    // Wine hands the open provider handle back as the "Provider Handle" property: freeing that
    // value must not free the provider's own handle.
    const alias = nc.getProperty(handles[0], n.NCRYPT_PROVIDER_HANDLE_PROPERTY);
    out.providerHandleBytes = alias.length;
    nc.freeObject(alias.readBigUInt64LE(0));
    out.providerStillOpen = nc.isAlgSupported(prov, n.NCRYPT_RSA_ALGORITHM);
    // Freed while a signature is being made: the free waits for the call, later calls are refused.
    const doomed = await nc.createPersistedKey(prov, n.NCRYPT_RSA_ALGORITHM, null, 0, 0);
    nc.setProperty(doomed, n.NCRYPT_LENGTH_PROPERTY, 2048);
    await nc.finalizeKey(doomed, 0);
    const doomedPublic = b64(nc.exportKey(doomed, n.BCRYPT_RSAPUBLIC_BLOB));
    const inFlight = nc.signHash(doomed, digest, { kind: 'pkcs1', hash: 'SHA256' });
    nc.freeObject(doomed);
    out.freedWhileSigning = { publicBlob: doomedPublic, signature: b64(await inFlight),
      after: await attempt(() => nc.exportKey(doomed, n.BCRYPT_RSAPUBLIC_BLOB)) };
  } finally {
    for (const h of handles) nc.freeObject(h);
    nc.freeObject(prov);
  }
  // A second free of the same handle does nothing (no native call, no crash); using the handle
  // afterwards is refused in TypeScript.
  nc.freeObject(prov);
  out.refusedAfterFree = await attempt(() => nc.isAlgSupported(prov, 'RSA'));
  out.survived = true;
`;

const unimplemented = `
  const nc = n.loadNCrypt();
  const prov = nc.openStorageProvider(n.MS_KEY_STORAGE_PROVIDER);
  const key = await nc.createPersistedKey(prov, n.NCRYPT_RSA_ALGORITHM, null, 0, 0);
  nc.setProperty(key, n.NCRYPT_LENGTH_PROPERTY, 2048);
  await nc.finalizeKey(key, 0);
  const ciphertext = await nc.encrypt(key, Buffer.from('x'), { kind: 'pkcs1' });
  out.calls = {
    NCryptOpenKey: await attempt(() => nc.openKey(prov, 'keystore-missing-' + process.pid, 0, 0)),
    NCryptEnumKeys: await attempt(() => nc.enumKeys(prov, 0)),
    NCryptDecrypt: await attempt(() => nc.decrypt(key, ciphertext, { kind: 'pkcs1' })),
    'NCryptEncrypt OAEP': await attempt(() => nc.encrypt(key, Buffer.from('x'), { kind: 'oaep', hash: 'SHA256' })),
    'NCryptCreatePersistedKey ECDSA_P256': await attempt(() => nc.createPersistedKey(prov, n.NCRYPT_ECDSA_P256_ALGORITHM, null, 0, 0)),
    'NCryptCreatePersistedKey ECDH_P256': await attempt(() => nc.createPersistedKey(prov, n.NCRYPT_ECDH_P256_ALGORITHM, null, 0, 0)),
    'NCryptImportKey named': await attempt(() => nc.importKey(prov, n.BCRYPT_RSAPUBLIC_BLOB, nc.exportKey(key, n.BCRYPT_RSAPUBLIC_BLOB), 'keystore-named-' + process.pid, 0)),
    'NCryptImportKey ECCPUBLICBLOB': await attempt(() => nc.importKey(prov, n.BCRYPT_ECCPUBLIC_BLOB, Buffer.from(params.eccPublicBlob, 'base64'), null, 0)),
    'NCryptExportKey PKCS8_PRIVATEKEY': await attempt(() => nc.exportKey(key, 'PKCS8_PRIVATEKEY')),
    'NCryptGetProperty Algorithm Name': await attempt(() => nc.getStringProperty(key, n.NCRYPT_ALGORITHM_PROPERTY)),
    NCryptSecretAgreement: await attempt(() => nc.secretAgreement(key, key, 0)),
    NCryptDeleteKey: await attempt(() => nc.deleteKey(key, 0)),
  };
  out.zeroHandle = {
    exportKey: await attempt(() => nc.exportKey(0n, n.BCRYPT_RSAPUBLIC_BLOB)),
    signHash: await attempt(() => nc.signHash(0n, Buffer.alloc(32), { kind: 'pkcs1', hash: 'SHA256' })),
    getProperty: await attempt(() => nc.getProperty(0n, n.NCRYPT_LENGTH_PROPERTY)),
    freeObject: await attempt(() => nc.freeObject(0n)),
    providerAsKey: await attempt(() => nc.exportKey(prov, n.BCRYPT_RSAPUBLIC_BLOB)),
  };
  nc.freeObject(key);
  nc.freeObject(prov);
  out.survived = true;
`;

const posture = `
  const s = n.loadWindowsSystem();
  out.wineVersion = s.wineVersion();
  out.windowsVersion = s.windowsVersion();
  out.tpm = s.tpmDeviceInfo();
  out.missing = s.registryValue(params.key, 'NoSuchValue');
  out.missingKey = s.registryValue(params.key + '\\\\NoSuchKey', 'Dword');
  out.dword = s.registryValue(params.key, 'Dword');
  out.string = s.registryValue('HKLM\\\\' + params.key, 'String');
  out.multi = s.registryValue(params.key, 'Multi');
  out.lsass = s.lsassProtection();
  out.ium = s.isolatedUserMode();
  out.badPath = await attempt(() => s.registryValue('SOFTWARE\\\\a\\u0000b', 'x'));
`;

describe.skipIf(!wine.available)(`ncrypt.dll bindings under Wine (needs Wine: ${wine.reason})`, () => {
  const keys = [
    { bits: 2048, name: null },
    { bits: 2048, name: `keystore-int-${process.pid}-2048` },
    { bits: 3072, name: null },
  ];
  const imported = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let run: { code: number; stderr: string; json?: unknown };

  beforeAll(async () => {
    run = await runWineScript(script(implemented), {
      wineDebug: 'fixme+ncrypt',
      timeoutMs: 110_000,
      input: JSON.stringify({
        keys,
        message: MESSAGE.toString('base64'),
        plaintext: PLAINTEXT.toString('base64'),
        importBlob: rsaFullPrivateBlobFromKeyObject(imported.privateKey).toString('base64'),
      }),
    });
  }, 120_000);

  const result = () => {
    expect(run.code, run.stderr).toBe(0);
    const out = run.json as Record<string, unknown> & { fatal?: Failure };
    expect(out.fatal).toBeUndefined();
    return out as {
      rsaSupported: boolean;
      keys: {
        bits: number;
        name: string | null;
        length: number;
        group: string;
        exportPolicy: number;
        publicBlob: string;
        fullPrivateBlob: string;
        spkiFromWindowsSide: string;
        signatures: Record<string, string>;
        verifyPkcs1: boolean[];
        verifyPss: boolean[];
        ciphertext: string;
      }[];
      imported: { signature: string; publicBlob: string; length: number };
      uiPolicySet: boolean;
      providerHandleBytes: number;
      providerStillOpen: boolean;
      refusedAfterFree: Attempt<unknown>;
      freedWhileSigning: { publicBlob: string; signature: string; after: Attempt<unknown> };
      survived: boolean;
    };
  };

  it('lands on no Wine stub in the calls Wine implements', () => {
    result();
    // Wine 8.0's NCryptOpenStorageProvider logs "stub" yet returns a working handle for any name, its
    // NCryptCreatePersistedKey logs that it does not persist a named key, and its NCryptSetProperty
    // logs that it ignores NCRYPT_PERSIST_FLAG (setUiPolicy passes it; the property is set all the
    // same): all are expected here (and are why the provider never takes either of the first two as
    // proof of anything). Nothing else may appear.
    const unexpected = stubCalls(run.stderr).filter(
      (line) =>
        !/fixme:ncrypt:NCryptOpenStorageProvider .*Microsoft Software Key Storage Provider.*: stub/.test(line) &&
        !/fixme:ncrypt:NCryptCreatePersistedKey Persistent keys are not supported/.test(line) &&
        !/fixme:ncrypt:NCryptSetProperty flags 0x80000000 not supported/.test(line),
    );
    expect(unexpected).toEqual([]);
  });

  it('creates RSA keys of the requested length and reads Length, Algorithm Group and Export Policy', () => {
    const out = result();
    expect(out.rsaSupported).toBe(true);
    expect(out.keys.map((k) => [k.bits, k.length])).toEqual(keys.map((k) => [k.bits, k.bits]));
    for (const k of out.keys) {
      expect(k.group).toBe('RSA');
      expect(k.exportPolicy).toBe(3);
    }
  });

  it('exports RSAPUBLICBLOB and RSAFULLPRIVATEBLOB that describe the same key', () => {
    for (const k of result().keys) {
      const pub = publicKeyFromBlob(Buffer.from(k.publicBlob, 'base64'));
      const priv = privateKeyFromBlob(Buffer.from(k.fullPrivateBlob, 'base64'));
      expect(pub.asymmetricKeyDetails?.modulusLength).toBe(k.bits);
      expect(createPublicKey(priv).export({ format: 'jwk' })).toEqual(pub.export({ format: 'jwk' }));
      // The codec gives the same key on both sides.
      expect(createPublicKey(k.spkiFromWindowsSide).export({ format: 'jwk' })).toEqual(pub.export({ format: 'jwk' }));
      // The exported private key works: it signs what its public key verifies.
      expect(verify('sha256', MESSAGE, pub, sign('sha256', MESSAGE, priv))).toBe(true);
    }
  });

  it('signs PKCS#1 v1.5 (SHA-256/384/512) and PSS big-endian, verified here by node:crypto', () => {
    for (const k of result().keys) {
      const pub = publicKeyFromBlob(Buffer.from(k.publicBlob, 'base64'));
      for (const hash of ['sha256', 'sha384', 'sha512']) {
        const signature = Buffer.from(k.signatures[`pkcs1-${hash}`] ?? '', 'base64');
        expect(signature.length).toBe(k.bits / 8);
        expect(verify(hash, MESSAGE, pub, signature)).toBe(true);
        expect(verify(hash, Buffer.from('something else'), pub, signature)).toBe(false);
      }
      const pss = Buffer.from(k.signatures['pss-sha256'] ?? '', 'base64');
      const pssKey = { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
      expect(verify('sha256', MESSAGE, pssKey, pss)).toBe(true);
      expect(verify('sha256', MESSAGE, { key: pub, padding: constants.RSA_PKCS1_PADDING }, pss)).toBe(false);
    }
  });

  it('NCryptVerifySignature: true for a good signature, false for a tampered one or another digest', () => {
    for (const k of result().keys) {
      expect(k.verifyPkcs1).toEqual([true, false, false]);
      expect(k.verifyPss).toEqual([true, false]);
    }
  });

  it('encrypts PKCS#1 v1.5; the exported private key decrypts it here', () => {
    for (const k of result().keys) {
      const priv = privateKeyFromBlob(Buffer.from(k.fullPrivateBlob, 'base64'));
      const block = privateDecrypt(
        { key: priv, padding: constants.RSA_NO_PADDING },
        Buffer.from(k.ciphertext, 'base64'),
      );
      expect(unpadPkcs1(block)).toEqual(PLAINTEXT);
    }
  });

  it('imports an RSAFULLPRIVATEBLOB made here, signs with it, and the original public key verifies', () => {
    const out = result();
    expect(out.imported.length).toBe(2048);
    const original = imported.publicKey.export({ format: 'jwk' });
    expect(publicKeyFromBlob(Buffer.from(out.imported.publicBlob, 'base64')).export({ format: 'jwk' })).toEqual(
      original,
    );
    expect(verify('sha256', MESSAGE, imported.publicKey, Buffer.from(out.imported.signature, 'base64'))).toBe(true);
  });

  it('sets a UI policy, frees handles once (after calls in flight), and refuses freed handles without calling ncrypt.dll', () => {
    const out = result();
    expect(out.uiPolicySet).toBe(true);
    expect(out.providerHandleBytes).toBe(8);
    expect(out.providerStillOpen).toBe(true);
    expect(out.refusedAfterFree).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' } });
    const { publicBlob, signature, after } = out.freedWhileSigning;
    const pub = publicKeyFromBlob(Buffer.from(publicBlob, 'base64'));
    expect(verify('sha256', MESSAGE, pub, Buffer.from(signature, 'base64'))).toBe(true);
    expect(after).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' } });
    expect(out.survived).toBe(true);
  });
});

describe.skipIf(!wine.available)(`calls Wine does not implement (needs Wine: ${wine.reason})`, () => {
  let run: { code: number; stderr: string; json?: unknown };
  const peer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let eccBlob: string;

  beforeAll(async () => {
    const { eccPublicBlobFromKeyObject } = await import('../../src/native/blobs.js');
    eccBlob = eccPublicBlobFromKeyObject(peer.publicKey, 'ECDH').toString('base64');
    run = await runWineScript(script(unimplemented), {
      wineDebug: 'fixme+ncrypt',
      timeoutMs: 110_000,
      input: JSON.stringify({ eccPublicBlob: eccBlob }),
    });
  }, 120_000);

  const result = () => {
    expect(run.code, run.stderr).toBe(0);
    const out = run.json as {
      fatal?: Failure;
      calls: Record<string, Attempt<unknown>>;
      zeroHandle: Record<string, Attempt<unknown>>;
      survived: boolean;
    };
    expect(out.fatal).toBeUndefined();
    return out;
  };

  it('each comes back as a typed KeyStoreError with the native status, and the process survives', () => {
    const out = result();
    expect(out.survived).toBe(true);
    const native = Object.entries(out.calls).filter(([name]) => name !== 'NCryptSecretAgreement');
    expect(native.length).toBe(11);
    for (const [name, attempt] of native) {
      expect(attempt.ok, name).toBe(false);
      if (attempt.ok) continue;
      expect(attempt.error.isKeyStoreError, name).toBe(true);
      expect(typeof attempt.error.nativeStatus, name).toBe('number');
      expect(attempt.error.nativeName, `${name}: ${attempt.error.message}`).toMatch(/^[A-Z0-9_]+$/);
    }
  });

  it('open, enumerate, delete and decrypt read as operations this provider lacks', () => {
    const { calls } = result();
    for (const name of ['NCryptOpenKey', 'NCryptEnumKeys', 'NCryptDeleteKey', 'NCryptDecrypt']) {
      expect(calls[name], name).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION' } });
    }
  });

  it('the ones that reached ncrypt.dll printed Wine stub or "not supported" lines', () => {
    result();
    const lines = stubCalls(run.stderr).join('\n');
    for (const fn of ['NCryptOpenKey', 'NCryptEnumKeys', 'NCryptDecrypt', 'NCryptDeleteKey']) {
      expect(lines).toMatch(new RegExp(`fixme:ncrypt:${fn} .*stub`));
    }
    expect(lines).toMatch(/NCryptCreatePersistedKey Algorithm not handled L"ECDSA_P256"/);
  });

  it('refuses NCryptSecretAgreement in TypeScript (Wine exports it as an aborting stub)', () => {
    const attempt = result().calls.NCryptSecretAgreement;
    expect(attempt).toMatchObject({
      ok: false,
      error: { isKeyStoreError: true, code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION' },
    });
    expect(run.stderr).not.toMatch(/Unimplemented function ncrypt\.dll/);
  });

  it('refuses zero and wrong-kind handles in TypeScript; the process survives', () => {
    const out = result();
    for (const [name, attempt] of Object.entries(out.zeroHandle)) {
      expect(attempt, name).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' } });
      if (!attempt.ok) expect(attempt.error.nativeStatus, name).toBeUndefined();
    }
  });
});

describe.skipIf(!wine.available)(`posture queries under Wine (needs Wine: ${wine.reason})`, () => {
  const key = `SOFTWARE\\KeystoreTest\\ncrypt-int-${process.pid}-${randomBytes(3).toString('hex')}`;
  let run: { code: number; stderr: string; json?: unknown };

  const reg = async (args: string[]) => {
    const r = await runWineExe('reg', args, { timeoutMs: 60_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
  };

  beforeAll(async () => {
    await reg(['add', `HKLM\\${key}`, '/v', 'Dword', '/t', 'REG_DWORD', '/d', '305419896', '/f']);
    await reg(['add', `HKLM\\${key}`, '/v', 'String', '/t', 'REG_SZ', '/d', 'Credential Guard', '/f']);
    await reg(['add', `HKLM\\${key}`, '/v', 'Multi', '/t', 'REG_MULTI_SZ', '/d', 'one\\0two\\0three', '/f']);
    run = await runWineScript(script(posture), { input: JSON.stringify({ key }), timeoutMs: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await runWineExe('reg', ['delete', `HKLM\\${key}`, '/f'], { timeoutMs: 60_000 });
  }, 60_000);

  const result = () => {
    expect(run.code, run.stderr).toBe(0);
    return run.json as Record<string, unknown> & {
      wineVersion: string | null;
      windowsVersion: { major: number; minor: number; build: number };
      lsass: { ok: boolean; status?: number; reason?: string; value?: { pid: number; protection: number } };
      ium: { ok: boolean; status?: number; reason?: string; value?: Record<string, boolean> };
      badPath: Attempt<unknown>;
    };
  };

  it('reports the Wine and Windows versions', () => {
    const out = result();
    expect(out.wineVersion).toMatch(/^\d+\.\d+/);
    expect(out.windowsVersion.major).toBeGreaterThanOrEqual(6);
    expect(Number.isInteger(out.windowsVersion.build)).toBe(true);
  });

  it('Tbsi_GetDeviceInfo: no TPM (TBS_E_TPM_NOT_FOUND) as a reading, not an exception', () => {
    expect(result().tpm).toMatchObject({ ok: false, status: 0x8028400f });
  });

  it('reads DWORD, string and multi-string values from HKLM; a missing value or key is status 2', () => {
    const out = result();
    expect(out.dword).toEqual({ ok: true, value: 305419896 });
    expect(out.string).toEqual({ ok: true, value: 'Credential Guard' });
    expect(out.multi).toEqual({ ok: true, value: ['one', 'two', 'three'] });
    expect(out.missing).toMatchObject({ ok: false, status: 2 });
    expect(out.missingKey).toMatchObject({ ok: false, status: 2 });
    expect(out.badPath).toMatchObject({ ok: false, error: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT' } });
  });

  it('LSASS protection and isolated user mode come back well-formed', () => {
    const out = result();
    for (const reading of [out.lsass, out.ium]) {
      if (reading.ok) {
        expect(reading.value).toBeTypeOf('object');
      } else {
        expect(Number.isInteger(reading.status)).toBe(true);
        expect(reading.status).toBeGreaterThan(0);
        expect(reading.reason).toMatch(/\S/);
      }
    }
    if (out.lsass.ok) {
      expect(Number.isInteger(out.lsass.value?.pid)).toBe(true);
      expect(out.lsass.value?.protection).toBeGreaterThanOrEqual(0);
    }
    if (out.ium.ok) {
      for (const field of ['secureKernelRunning', 'hvciEnabled', 'trustletRunning']) {
        expect(typeof out.ium.value?.[field]).toBe('boolean');
      }
    }
  });
});
