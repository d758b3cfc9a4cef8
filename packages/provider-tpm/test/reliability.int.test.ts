import { createHash, verify } from 'node:crypto';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TpmKey, TpmProvider } from '../src/index.js';
import { loadFapi } from '../src/native/fapi.js';
import { ContextPool, NativeCallFailure } from '../src/pool.js';
import { tss2Error } from '../src/rc.js';
import { SIGN_PATHS } from './helpers/sign-paths.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const digestOf = (text: string) => createHash('sha256').update(text).digest();
const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

const TITLE = `reliability on swtpm, sign path $name (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`;

describe.skipIf(!HAVE_SWTPM).each(SIGN_PATHS)(TITLE, ({ name, loadedKeys }) => {
  // The pool and Fapi_Sign alone, whatever the provider's sign path: run with the Fapi_Sign path only.
  const once = name === 'Fapi_Sign' ? it : it.skip;
  let tpm: SwtpmInstance;
  let provider: TpmProvider;
  let ec: TpmKey;
  let rsa: TpmKey;

  beforeAll(async () => {
    tpm = await startSwtpm();
    provider = new TpmProvider({
      configFile: tpm.configFile,
      timeouts: { operation: 4_000, connect: 2_000 },
      loadedKeys,
    });
    ec = await provider.createKey({ name: 'rel-ec', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    rsa = await provider.createKey({ name: 'rel-rsa', algorithm: 'RSA-2048', scope: 'user', exportable: false });
  });
  afterAll(async () => {
    await provider?.close();
    await tpm?.dispose();
  });

  it('1,000 alternating signs with a missing and an existing key: no crash, every missing one KEY_NOT_FOUND from the existence check before the native sign', async () => {
    const gone = await provider.createKey({
      name: 'rel-gone',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    await provider.deleteKey({ name: 'rel-gone', scope: 'user' });
    let ok = 0;
    let missing = 0;
    for (let i = 0; i < 1000; i++) {
      if (i % 2 === 0) {
        await expect(gone.signDigest(digestOf(`m${i}`), P)).rejects.toMatchObject({
          code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
        });
        missing++;
      } else {
        const sig = await ec.signDigest(digestOf(`e${i}`), P);
        if (i % 50 === 1) expect(verify('sha256', Buffer.from(`e${i}`), ec.publicKey, sig.signature)).toBe(true);
        ok++;
      }
    }
    expect([ok, missing]).toEqual([500, 500]);
  }, 120_000);

  once(
    'native "key not found" from Fapi_Sign retires the context: 1,000 alternating raw calls through the pool, no segfault',
    async () => {
      // The provider checks the keystore before signing; this drives the native failure itself
      // (tpm2-tss 3.2.1 segfaults on the next sign on a context that saw it).
      const native = loadFapi();
      const pool = new ContextPool(native, { size: 1, configFile: tpm.configFile, connectTimeoutMs: 2_000 });
      try {
        for (let i = 0; i < 1000; i++) {
          const path = i % 2 === 0 ? 'HS/SRK/no-such-key' : 'HS/SRK/rel-ec';
          const run = pool.run(
            async (ctx) => {
              const r = await native.sign(ctx.handle, path, null, digestOf(String(i)));
              if (r.rc !== 0) throw new NativeCallFailure(tss2Error(r.rc, 'sign'));
              return r.value;
            },
            { timeoutMs: 4_000, what: 'sign' },
          );
          if (i % 2 === 0) {
            await expect(run).rejects.toMatchObject({
              code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
              nativeName: 'TSS2_FAPI_RC_KEY_NOT_FOUND',
              nativeStatus: 0x60020,
            });
          } else {
            expect((await run)?.signature.length).toBeGreaterThan(0);
          }
        }
      } finally {
        pool.close();
      }
    },
    60_000,
  );

  it('200 concurrent signs on one key all succeed and verify', async () => {
    const sigs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ec.signDigest(digestOf(`c${i}`), P).then((s) => ({ i, s }))),
    );
    for (const { i, s } of sigs) expect(verify('sha256', Buffer.from(`c${i}`), ec.publicKey, s.signature)).toBe(true);
  }, 60_000);

  it('swtpm killed with 50 signs in flight: all settle with typed errors within 5 s; after a restart the same provider works, keys intact', async () => {
    const started = Date.now();
    const inflight = Array.from({ length: 50 }, (_, i) =>
      (i % 2 ? rsa : ec).signDigest(digestOf(`k${i}`), P).then(
        () => ({ ok: true as const, at: Date.now() }),
        (err: unknown) => ({ ok: false as const, err, at: Date.now() }),
      ),
    );
    await new Promise((r) => setTimeout(r, 5)); // the first calls are inside Fapi_Sign now
    const killedAt = Date.now();
    tpm.kill();
    const results = await Promise.all(inflight);
    const failures = results.filter((r) => !r.ok);
    // a sign takes ~10 ms here: at most the ones already finished in those 5 ms succeed
    expect(failures.length).toBeGreaterThanOrEqual(48);
    for (const r of results) expect(r.at - Math.max(killedAt, started)).toBeLessThan(5_000);
    for (const f of failures) {
      const err = (f as { err: unknown }).err;
      expect(KeyStoreError.is(err)).toBe(true);
      expect(['ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'ERR_KEYSTORE_TIMEOUT', 'ERR_KEYSTORE_NATIVE_FAILURE']).toContain(
        (err as KeyStoreError).code,
      );
    }
    // while it is down: typed errors, quickly
    await expect(ec.signDigest(digestOf('down'), P)).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    });
    const down = await provider.probe();
    expect(down.available).toBe(false);
    expect(down.reasons.join(' ')).toMatch(/TPM running/);

    await tpm.start();
    const after = await Promise.all([
      ec.signDigest(digestOf('after'), P),
      rsa.signDigest(digestOf('after'), { ...P, padding: 'pss' }),
    ]);
    expect(verify('sha256', Buffer.from('after'), ec.publicKey, after[0].signature)).toBe(true);
    expect((await provider.probe()).available).toBe(true);
    const names = (await provider.listKeys()).map((k) => k.name);
    expect(names).toEqual(expect.arrayContaining(['rel-ec', 'rel-rsa']));
    const reopened = await provider.openKey({ name: 'rel-rsa', scope: 'user' });
    expect(reopened.publicKey.export({ format: 'der', type: 'spki' })).toEqual(
      rsa.publicKey.export({ format: 'der', type: 'spki' }),
    );
  }, 60_000);
});
