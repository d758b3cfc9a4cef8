import { constants, createHash, publicEncrypt, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FapiBindings, TpmProvider } from '../src/index.js';
import { loadFapi } from '../src/native/fapi.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

async function codeOf(p: Promise<unknown>): Promise<KeyStoreErrorCode | 'resolved' | 'not a KeyStoreError'> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return KeyStoreError.is(err) ? err.code : 'not a KeyStoreError';
  }
}

const sha = (alg: string, data: Buffer) => createHash(alg).update(data).digest();

describe.skipIf(!HAVE_SWTPM)(`TPM provider on swtpm (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`, () => {
  let tpm: SwtpmInstance;
  let provider: TpmProvider;

  beforeAll(async () => {
    tpm = await startSwtpm();
    provider = new TpmProvider({ configFile: tpm.configFile });
  });
  afterAll(async () => {
    await provider?.close();
    await tpm?.dispose();
  });

  it('probes: available, simulated, in-process isolation with the reason', async () => {
    const probe = await provider.probe();
    expect(probe.available).toBe(true);
    expect(probe.isolation).toBe('in-process');
    expect(probe.details?.manufacturer).toBe('IBM');
    expect(probe.details?.simulator).toBe(true);
    expect(probe.details?.tcti).toBe(tpm.tcti);
    expect(probe.details?.virtual).toBe(false);
    // as tpm2_getcap properties-fixed shows TPM2_PT_FIRMWARE_VERSION_1 and _2
    expect(String(probe.details?.firmware)).toMatch(/^0x[0-9A-F]+\.0x[0-9A-F]+$/);
    expect(probe.reasons.join(' ')).toMatch(/simulated TPM/);
    expect(provider.capabilities.algorithms).toEqual(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048']);
  });

  it('creates an ECDSA-P256 key at HS/SRK/<name> and signs SHA-256/384/512 digests that node:crypto verifies', async () => {
    const key = await provider.createKey({ name: 'ec-1', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    expect(key.fapiPath).toBe('HS/SRK/ec-1');
    expect(key.isolation.level).toBe('in-process');
    expect(key.isolation.evidence.join(' ')).toMatch(/simulated TPM/);
    expect(key.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const data = Buffer.from('hello tpm');
    for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
      const sig = await key.signDigest(sha(hash, data), { hash, padding: 'pkcs1', saltLength: 0 });
      expect(sig.dsaEncoding).toBe('der');
      expect(verify(hash, data, key.publicKey, sig.signature)).toBe(true);
    }
    expect(existsSync(join(tpm.dir, 'fapi', 'user', 'P_ECCP256SHA256', 'HS', 'SRK', 'ec-1', 'object.json'))).toBe(true);
  });

  it('creates an RSA-2048 key (sign and decrypt) beside the ECC profile; PKCS#1, PSS and OAEP work', async () => {
    const key = await provider.createKey({ name: 'rsa-1', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    expect(key.fapiPath).toBe('/P_RSA2048SHA256/HS/SRK/rsa-1');
    expect(key.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const data = Buffer.from('hello rsa');
    for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
      const len = sha(hash, data).length;
      const pkcs1 = await key.signDigest(sha(hash, data), { hash, padding: 'pkcs1', saltLength: len });
      expect(verify(hash, data, key.publicKey, pkcs1.signature)).toBe(true);
      const pss = await key.signDigest(sha(hash, data), { hash, padding: 'pss', saltLength: len });
      expect(
        verify(
          hash,
          data,
          { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: len },
          pss.signature,
        ),
      ).toBe(true);
    }
    const ct = publicEncrypt(
      { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      data,
    );
    expect((await key.decrypt(ct, 'sha256')).equals(data)).toBe(true);
    expect(await codeOf(key.decrypt(ct, 'sha1'))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(await codeOf(key.signDigest(sha('sha256', data), { hash: 'sha256', padding: 'pss', saltLength: 20 }))).toBe(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
    );
  });

  it('opens, lists and deletes keys across processes (a second provider instance)', async () => {
    await provider.createKey({ name: 'list-a', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const other = new TpmProvider({ configFile: tpm.configFile });
    try {
      const opened = await other.openKey({ name: 'list-a', scope: 'user' });
      expect(opened.algorithm).toBe('ECDSA-P256');
      const listed = await other.listKeys();
      expect(listed).toContainEqual({ name: 'list-a', scope: 'user', algorithm: 'ECDSA-P256' });
      expect(listed).toContainEqual({ name: 'rsa-1', scope: 'user', algorithm: 'RSA-2048' });
      await other.deleteKey({ name: 'list-a', scope: 'user' });
      expect(await codeOf(provider.openKey({ name: 'list-a', scope: 'user' }))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      expect(await codeOf(other.deleteKey({ name: 'list-a', scope: 'user' }))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      expect(
        await codeOf(opened.signDigest(Buffer.alloc(32), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 })),
      ).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    } finally {
      await other.close();
    }
  });

  it('machine scope lives in the FAPI system keystore', async () => {
    const key = await provider.createKey({
      name: 'machine-1',
      algorithm: 'ECDSA-P256',
      scope: 'machine',
      exportable: false,
    });
    expect(key.scope).toBe('machine');
    expect(existsSync(join(tpm.dir, 'fapi', 'system', 'P_ECCP256SHA256', 'HS', 'SRK', 'machine-1'))).toBe(true);
    expect(await codeOf(provider.openKey({ name: 'machine-1', scope: 'user' }))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect((await provider.openKey({ name: 'machine-1', scope: 'machine' })).scope).toBe('machine');
    expect(await provider.listKeys({ scope: 'machine' })).toEqual([
      { name: 'machine-1', scope: 'machine', algorithm: 'ECDSA-P256' },
    ]);
    await provider.deleteKey({ name: 'machine-1', scope: 'machine' });
  });

  it('password-protected keys: right password signs, wrong or missing one is ACCESS_DENIED', async () => {
    await provider.createKey({
      name: 'pw-1',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
      password: 'correct horse',
    });
    const digest = sha('sha256', Buffer.from('x'));
    const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
    const good = await provider.openKey({ name: 'pw-1', scope: 'user', password: 'correct horse' });
    expect(verify('sha256', Buffer.from('x'), good.publicKey, (await good.signDigest(digest, params)).signature)).toBe(
      true,
    );
    const bad = await provider.openKey({ name: 'pw-1', scope: 'user', password: 'wrong' });
    expect(await codeOf(bad.signDigest(digest, params))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    const none = await provider.openKey({ name: 'pw-1', scope: 'user' });
    expect(await codeOf(none.signDigest(digest, params))).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(JSON.stringify(bad)).not.toContain('wrong');
    // the context that failed was replaced: the good key still signs
    expect((await good.signDigest(digest, params)).signature.length).toBeGreaterThan(0);
  });

  it('typed errors: exists, unsupported algorithm, invalid names, exportable, bad digests, ECDH', async () => {
    expect(
      await codeOf(provider.createKey({ name: 'ec-1', algorithm: 'ECDSA-P256', scope: 'user', exportable: false })),
    ).toBe('ERR_KEYSTORE_KEY_EXISTS');
    expect(
      await codeOf(provider.createKey({ name: 'ec-1', algorithm: 'RSA-2048', scope: 'machine', exportable: false })),
    ).toBe('ERR_KEYSTORE_KEY_EXISTS');
    const unsupported = provider.createKey({ name: 'p521', algorithm: 'ECDSA-P521', scope: 'user', exportable: false });
    await expect(unsupported).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      message: expect.stringContaining('ECDSA-P256, ECDSA-P384, RSA-2048'),
    });
    for (const name of ['', 'a/b', '..', '.', 'x'.repeat(65), 'sp ace', 'é']) {
      expect(
        await codeOf(provider.createKey({ name, algorithm: 'ECDSA-P256', scope: 'user', exportable: false })),
      ).toBe('ERR_KEYSTORE_INVALID_NAME');
      expect(await codeOf(provider.openKey({ name, scope: 'user' }))).toBe('ERR_KEYSTORE_INVALID_NAME');
    }
    expect(
      await codeOf(provider.createKey({ name: 'exp', algorithm: 'ECDSA-P256', scope: 'user', exportable: true })),
    ).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    const key = await provider.openKey({ name: 'ec-1', scope: 'user' });
    expect(await codeOf(key.signDigest(Buffer.alloc(31), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }))).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
    expect(await codeOf(key.decrypt(Buffer.alloc(256), 'sha256'))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(await codeOf(key.deriveSecret(key.publicKey))).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    await key.close();
    expect(await codeOf(key.signDigest(Buffer.alloc(32), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }))).toBe(
      'ERR_KEYSTORE_KEY_CLOSED',
    );
    const ac = new AbortController();
    ac.abort();
    expect(await codeOf(provider.listKeys({ signal: ac.signal }))).toBe('ERR_KEYSTORE_CANCELLED');
  });

  it('probe() does not wait behind queued operations; an abort mid-call is CANCELLED and the provider goes on', async () => {
    const key = await provider.openKey({ name: 'ec-1', scope: 'user' });
    const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
    const queued = Array.from({ length: 60 }, () => key.signDigest(Buffer.alloc(32, 3), params));
    const t0 = Date.now();
    const probe = await provider.probe();
    expect(probe.available).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_500);
    await Promise.all(queued);

    const ac = new AbortController();
    const aborted = key.signDigest(Buffer.alloc(32, 4), params, { signal: ac.signal });
    setTimeout(() => ac.abort(), 2);
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_KEYSTORE_CANCELLED' });
    const sig = await key.signDigest(sha('sha256', Buffer.from('after abort')), params);
    expect(verify('sha256', Buffer.from('after abort'), key.publicKey, sig.signature)).toBe(true);
  });

  it('a create aborted 30 ms into RSA key generation is CANCELLED and leaves no key: the name is free', async () => {
    // the real FAPI table, with a record of the calls that make and remove keys
    const real = loadFapi();
    const seen: string[] = [];
    const native: FapiBindings = {
      ...real,
      createKey: (...args) => {
        seen.push(`create ${args[1]}`);
        return real.createKey(...args).finally(() => seen.push('create returned'));
      },
      delete: (...args) => {
        seen.push(`delete ${args[1]}`);
        return real.delete(...args);
      },
    };
    const spied = new TpmProvider({ configFile: tpm.configFile, native });
    const ac = new AbortController();
    const created = spied.createKey({
      name: 'rsa-cancelled',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 30);
    expect(await codeOf(created)).toBe('ERR_KEYSTORE_CANCELLED');
    await spied.close();
    // Fapi_CreateKey had started: it ran to its end, then the new key was deleted
    expect(seen).toEqual([
      'create /P_RSA2048SHA256/HS/SRK/rsa-cancelled',
      'create returned',
      'delete /P_RSA2048SHA256/HS/SRK/rsa-cancelled',
    ]);
    expect((await provider.listKeys()).map((k) => k.name)).not.toContain('rsa-cancelled');
    expect(
      existsSync(join(tpm.dir, 'fapi', 'user', 'P_RSA2048SHA256', 'HS', 'SRK', 'rsa-cancelled', 'object.json')),
    ).toBe(false);
    const again = await provider.createKey({
      name: 'rsa-cancelled',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
    });
    expect(again.algorithm).toBe('RSA-2048');
    await provider.deleteKey({ name: 'rsa-cancelled', scope: 'user' });
  });

  it('a provider without a config probes unavailable with an actionable reason', async () => {
    const saved = process.env.TSS2_FAPICONF;
    delete process.env.TSS2_FAPICONF;
    try {
      const bare = new TpmProvider();
      const probe = await bare.probe();
      expect(probe.available).toBe(false);
      expect(probe.reasons.join(' ')).toMatch(/TSS2_FAPICONF/);
      expect(await codeOf(bare.listKeys())).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    } finally {
      if (saved !== undefined) process.env.TSS2_FAPICONF = saved;
    }
  });

  it('a config whose TPM does not answer probes unavailable quickly', async () => {
    const { writeFapiConfig, swtpmTcti } = await import('../src/config.js');
    const configFile = await writeFapiConfig({ dir: join(tpm.dir, 'dead'), tcti: swtpmTcti('127.0.0.1', 1) });
    const dead = new TpmProvider({ configFile });
    const t0 = Date.now();
    const probe = await dead.probe();
    expect(Date.now() - t0).toBeLessThan(3500);
    expect(probe.available).toBe(false);
    expect(probe.reasons.join(' ')).toMatch(/swtpm|TPM running/);
    await dead.close();
  });
});
