/**
 * Reliability on SoftHSM2: 1,000 alternating signs with a deleted and an existing key; the token's
 * directory moved away and back while signs are in flight (SoftHSM2's stand-in for a token pulled
 * out and put back); every failure is a typed error and the provider recovers.
 */
import { createHash, verify } from 'node:crypto';
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Key } from '../src/key.js';
import { Pkcs11Provider } from '../src/provider.js';
import { createSoftHsmToken, HAVE_SOFTHSM, NEEDS_SOFTHSM, type SoftHsmToken } from './helpers/softhsm.js';

const digestOf = (text: string) => createHash('sha256').update(text).digest();
const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

describe.skipIf(!HAVE_SOFTHSM)(`reliability on SoftHSM2${HAVE_SOFTHSM ? '' : ` (${NEEDS_SOFTHSM})`}`, () => {
  let token: SoftHsmToken;
  let provider: Pkcs11Provider;
  let ec: Pkcs11Key;

  beforeAll(async () => {
    token = createSoftHsmToken();
    provider = new Pkcs11Provider({ module: token.module, tokenLabel: token.label, pin: token.pin });
    ec = await provider.createKey({ name: 'rel-ec', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
  });
  afterAll(async () => {
    await provider?.close();
    token?.dispose();
  });

  // SoftHSM2 2.6.1 races between finding objects and creating them on other sessions (SoftHSMv2
  // issue 573): unguarded, about 1 in 100 generations made while other sessions searched failed with
  // CKR_GENERAL_ERROR or CKR_TEMPLATE_INCONSISTENT, so 400 all succeeding shows the serialization holds.
  it('400 key creations, 6 at a time across 3 providers while others open, list and delete keys: every one succeeds', async () => {
    const providers = Array.from(
      { length: 3 },
      () => new Pkcs11Provider({ module: token.module, tokenLabel: token.label, pin: token.pin }),
    );
    const failures: string[] = [];
    let next = 0;
    const lane = async () => {
      for (let n = next++; n < 400; n = next++) {
        const p = providers[n % 3]!;
        const name = `many-${n}`;
        try {
          await p.createKey({ name, algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
          await providers[(n + 1) % 3]!.openKey({ name, scope: 'user' });
          if (n % 20 === 0) await p.listKeys({ scope: 'user' });
          await p.deleteKey({ name, scope: 'user' });
        } catch (err) {
          failures.push(KeyStoreError.is(err) ? `${err.code} ${err.nativeName ?? ''} ${err.message}` : String(err));
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: 6 }, lane));
    } finally {
      for (const p of providers) await p.close();
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('1,000 alternating signs with a deleted and an existing key: every deleted one KEY_NOT_FOUND, every other verifies', async () => {
    const gone = await provider.createKey({
      name: 'rel-gone',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    await provider.deleteKey({ name: 'rel-gone', scope: 'user' });
    const counts = { ok: 0, missing: 0 };
    for (let i = 0; i < 1000; i++) {
      if (i % 2 === 0) {
        await expect(gone.signDigest(digestOf(`m${i}`), P)).rejects.toMatchObject({
          code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
        });
        counts.missing++;
      } else {
        const sig = await ec.signDigest(digestOf(`e${i}`), P);
        expect(
          verify('sha256', Buffer.from(`e${i}`), { key: ec.publicKey, dsaEncoding: sig.dsaEncoding }, sig.signature),
        ).toBe(true);
        counts.ok++;
      }
    }
    expect(counts).toEqual({ ok: 500, missing: 500 });
  }, 120_000);

  it('the token directory moved away and back mid-flight: only typed errors; nothing is lost', async () => {
    const [uuid] = readdirSync(token.tokenDir);
    const from = join(token.tokenDir, uuid!);
    const away = join(token.dir, 'away');
    const outcomes = { ok: 0, typed: 0, other: [] as unknown[] };
    const codes = new Set<string>();
    const sign = async (i: number) => {
      try {
        const sig = await ec.signDigest(digestOf(`f${i}`), P);
        expect(
          verify('sha256', Buffer.from(`f${i}`), { key: ec.publicKey, dsaEncoding: sig.dsaEncoding }, sig.signature),
        ).toBe(true);
        outcomes.ok++;
      } catch (err) {
        if (KeyStoreError.is(err)) {
          outcomes.typed++;
          codes.add(err.code);
        } else outcomes.other.push(err);
      }
    };
    const running: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      running.push(sign(i));
      if (i === 50) renameSync(from, away);
      if (i === 120) renameSync(away, from);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(running);
    expect(outcomes.other).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.typed).toBeGreaterThan(0);
    // While SoftHSM2 notices the missing directory, a sign can find its key's objects gone before the
    // token is (KEY_NOT_FOUND); once the token is gone, every answer says so (PROVIDER_UNAVAILABLE).
    expect(codes).toContain('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    for (const code of codes)
      expect(['ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'ERR_KEYSTORE_KEY_NOT_FOUND']).toContain(code);
    await expect(ec.signDigest(digestOf('x'), P)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' });

    // SoftHSM2 reads its token directory at C_Initialize only: once the last provider on the module
    // in this process closes (C_Finalize), the next one initializes it again and finds the token and
    // its key.
    await provider.close();
    provider = new Pkcs11Provider({ module: token.module, tokenLabel: token.label, pin: token.pin });
    const again = await provider.openKey({ name: 'rel-ec', scope: 'user' });
    expect(again.publicKey.export({ format: 'jwk' })).toEqual(ec.publicKey.export({ format: 'jwk' }));
    const sig = await again.signDigest(digestOf('back'), P);
    expect(
      verify('sha256', Buffer.from('back'), { key: ec.publicKey, dsaEncoding: sig.dsaEncoding }, sig.signature),
    ).toBe(true);
  }, 120_000);
});
