// The loaded-key sign path on swtpm: one Esys_Load per key and context, then only Esys_Sign; the
// LRU and its flushes (nothing left in the TPM's transient slots after close or an error); the
// identity checks (deleted, replaced under the same name); which keys take the FAPI path.
import { execFileSync } from 'node:child_process';
import { createHash, verify } from 'node:crypto';
import { KeyStoreError } from '@keystore/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type TpmKey, TpmProvider } from '../src/index.js';
import { loadEsys } from '../src/native/esys.js';
import { FAPI_LIBRARY } from '../src/native/fapi.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const digestOf = (text: string) => createHash('sha256').update(text).digest();
const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

describe.skipIf(!HAVE_SWTPM)(`loaded-key sign path on swtpm (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`, () => {
  let tpm: SwtpmInstance;
  const providers: TpmProvider[] = [];
  const make = (options: ConstructorParameters<typeof TpmProvider>[0] = {}) => {
    // Straight to the simulator (no resource manager) keys are kept loaded only when asked for.
    const p = new TpmProvider({
      configFile: tpm.configFile,
      timeouts: { operation: 4_000, connect: 2_000 },
      loadedKeys: 1,
      ...options,
    });
    providers.push(p);
    return p;
  };
  /** Transient objects and loaded sessions in the TPM now (tpm2_getcap straight to the simulator). */
  const inTpm = (what: 'handles-transient' | 'handles-loaded-session') =>
    execFileSync('tpm2_getcap', ['-T', tpm.tcti, what], { encoding: 'utf8', env: tpm.env })
      .split('\n')
      .filter((l) => l.trim().startsWith('-')).length;

  beforeAll(async () => {
    tpm = await startSwtpm();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const p of providers.splice(0)) await p.close();
  });
  afterAll(async () => {
    await tpm?.dispose();
  });

  it('20 signs with one key load it once and send one Esys_Sign each; P-256, RSA PKCS#1 and PSS verify', async () => {
    const esys = loadEsys(FAPI_LIBRARY);
    expect(esys).toBeDefined();
    const load = vi.spyOn(esys!, 'load');
    const sign = vi.spyOn(esys!, 'sign');
    const provider = make({ poolSize: 1 });
    const ec = await provider.createKey({ name: 'ld-ec', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    for (let i = 0; i < 20; i++) {
      const sig = await ec.signDigest(digestOf(`e${i}`), P);
      expect(verify('sha256', Buffer.from(`e${i}`), ec.publicKey, sig.signature)).toBe(true);
    }
    expect(load).toHaveBeenCalledTimes(1);
    expect(sign).toHaveBeenCalledTimes(20);
    const rsa = await provider.createKey({ name: 'ld-rsa', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const pkcs1 = await rsa.signDigest(digestOf('r'), P);
    expect(verify('sha256', Buffer.from('r'), rsa.publicKey, pkcs1.signature)).toBe(true);
    const pss = await rsa.signDigest(digestOf('r'), { ...P, padding: 'pss' });
    expect(verify('sha256', Buffer.from('r'), { key: rsa.publicKey, padding: 6, saltLength: 32 }, pss.signature)).toBe(
      true,
    );
    const sha512 = await ec.signDigest(createHash('sha512').update('x').digest(), { ...P, hash: 'sha512' });
    expect(verify('sha512', Buffer.from('x'), ec.publicKey, sha512.signature)).toBe(true);
  }, 60_000);

  it('an LRU of one key per context: 40 alternating signs with two keys verify, each switch flushes; close leaves no object or session in the TPM', async () => {
    const esys = loadEsys(FAPI_LIBRARY)!;
    const flush = vi.spyOn(esys, 'flush');
    const provider = make({ poolSize: 1, loadedKeys: 1 });
    const a = await provider.createKey({ name: 'ld-a', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const b = await provider.createKey({ name: 'ld-b', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    for (let i = 0; i < 40; i++) {
      const key = i % 2 ? b : a;
      const sig = await key.signDigest(digestOf(`x${i}`), P);
      expect(verify('sha256', Buffer.from(`x${i}`), key.publicKey, sig.signature)).toBe(true);
    }
    expect(flush).toHaveBeenCalledTimes(39);
    expect(inTpm('handles-transient')).toBe(1);
    await provider.close();
    expect(inTpm('handles-transient')).toBe(0);
    expect(inTpm('handles-loaded-session')).toBe(0);
  }, 60_000);

  it('a key deleted by another provider is not found; one made again under the same name is never signed with for the old handle', async () => {
    const mine = make();
    const other = make();
    const old = await mine.createKey({ name: 'ld-swap', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    await old.signDigest(digestOf('before'), P); // loaded now
    await other.deleteKey({ name: 'ld-swap', scope: 'user' });
    await expect(old.signDigest(digestOf('gone'), P)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_KEY_NOT_FOUND' });
    const fresh = await other.createKey({ name: 'ld-swap', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    for (let i = 0; i < 3; i++) {
      const err = await old.signDigest(digestOf(`old${i}`), P).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(KeyStoreError.is(err) && err.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      expect((err as Error).message).toMatch(/replaced/);
    }
    const reopened = await mine.openKey({ name: 'ld-swap', scope: 'user' });
    const sig = await reopened.signDigest(digestOf('new'), P);
    expect(verify('sha256', Buffer.from('new'), fresh.publicKey, sig.signature)).toBe(true);
  }, 60_000);

  it('keys with a password take the FAPI path (no Esys_Load); so does every key with loadedKeys: 0, and by default without a resource manager', async () => {
    const esys = loadEsys(FAPI_LIBRARY)!;
    const load = vi.spyOn(esys, 'load');
    const provider = make();
    const locked = await provider.createKey({
      name: 'ld-pw',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
      password: 'pw-1234',
    });
    const sig = await locked.signDigest(digestOf('pw'), P);
    expect(verify('sha256', Buffer.from('pw'), locked.publicKey, sig.signature)).toBe(true);
    expect(load).not.toHaveBeenCalled();
    // Opened without its password, it takes the loaded path, and the TPM refuses the empty auth value.
    const noPassword = await provider.openKey({ name: 'ld-pw', scope: 'user' });
    await expect(noPassword.signDigest(digestOf('np'), P)).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_ACCESS_DENIED',
    });
    load.mockClear();
    // Straight to a simulator without a resource manager, the default keeps no key loaded.
    const byDefault = make({ loadedKeys: undefined });
    const unloaded = await byDefault.openKey({ name: 'ld-pw', scope: 'user', password: 'pw-1234' });
    await byDefault.createKey({ name: 'ld-default', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const plainDefault = await byDefault.openKey({ name: 'ld-default', scope: 'user' });
    expect((await unloaded.signDigest(digestOf('d'), P)).signature.length).toBeGreaterThan(0);
    expect((await plainDefault.signDigest(digestOf('d'), P)).signature.length).toBeGreaterThan(0);
    expect(load).not.toHaveBeenCalled();
    const fapiOnly = make({ loadedKeys: 0 });
    const plain = await fapiOnly.createKey({
      name: 'ld-fapi',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    const sig2 = await plain.signDigest(digestOf('f'), P);
    expect(verify('sha256', Buffer.from('f'), plain.publicKey, sig2.signature)).toBe(true);
    expect(load).not.toHaveBeenCalled();
  }, 60_000);

  it('loadedKeys outside 0..16 is INVALID_ARGUMENT', () => {
    for (const loadedKeys of [-1, 1.5, 17, Number.NaN]) {
      expect(() => new TpmProvider({ configFile: tpm.configFile, loadedKeys })).toThrow(
        expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
      );
    }
  });

  it('after swtpm is killed: typed errors; after a restart the loaded key signs again (loaded anew)', async () => {
    const provider = make({ poolSize: 1 });
    const key: TpmKey = await provider.createKey({
      name: 'ld-dead',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    await key.signDigest(digestOf('up'), P);
    tpm.kill();
    const err = await key.signDigest(digestOf('down'), P).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(KeyStoreError.is(err)).toBe(true);
    expect(['ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'ERR_KEYSTORE_TIMEOUT', 'ERR_KEYSTORE_NATIVE_FAILURE']).toContain(
      (err as KeyStoreError).code,
    );
    await tpm.start();
    const sig = await key.signDigest(digestOf('again'), P);
    expect(verify('sha256', Buffer.from('again'), key.publicKey, sig.signature)).toBe(true);
  }, 60_000);
});
