// What a receipt, a key handle, close() and cancellation promise, on a real TPM stack (swtpm and
// tpm2-tss FAPI): a receipt never claims more than the transport allows, a handle never signs with
// a key that replaced its own, close() during a create leaves no key, and cancelled calls never
// make another store's calls fail.
import { createHash, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyStoreError } from '@keystore/core';
import { createTestKeyStore } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FapiBindings, type TpmKey, TpmProvider } from '../src/index.js';
import { loadFapi } from '../src/native/fapi.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const digestOf = (text: string) => createHash('sha256').update(text).digest();
const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
const codeOf = (err: unknown) => (KeyStoreError.is(err) ? err.code : `not a KeyStoreError: ${String(err)}`);
const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: unknown) => codeOf(err),
  );

/** Fapi_GetInfo's answer with the manufacturer Infineon (IFX) and vendor "SLB9670": a simulator that lies. */
function claimInfineon(json: string): string {
  const doc = JSON.parse(json) as { capabilities?: Array<{ description?: string; info?: { data?: unknown[] } }> };
  for (const cap of doc.capabilities ?? []) {
    if (cap.description !== 'properties-fixed') continue;
    for (const entry of (cap.info?.data ?? []) as Array<{ property?: string; value?: number }>) {
      if (entry.property === 'MANUFACTURER') entry.value = 0x49465800;
      if (entry.property === 'VENDOR_STRING_1') entry.value = 0x534c4239;
      if (entry.property === 'VENDOR_STRING_2') entry.value = 0x36373000;
    }
  }
  return JSON.stringify(doc);
}

describe.skipIf(!HAVE_SWTPM)(`trust on swtpm (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`, () => {
  let tpm: SwtpmInstance;
  let native: FapiBindings;

  beforeAll(async () => {
    tpm = await startSwtpm();
    native = loadFapi();
    const first = new TpmProvider({ configFile: tpm.configFile });
    // provisions every profile once for the whole file
    await first.listKeys();
    await first.close();
  });
  afterAll(async () => {
    await tpm?.dispose();
  });

  it('a simulator named by its library file (libtss2-tcti-swtpm.so.0) and claiming to be Infineon is in-process, and a hardware floor refuses it', async () => {
    // the same keystore, with the TCTI spelt as a library file name
    const raw = JSON.parse(readFileSync(tpm.configFile, 'utf8')) as Record<string, unknown>;
    const tcti = `libtss2-tcti-swtpm.so.0:host=127.0.0.1,port=${tpm.port}`;
    const configFile = join(tpm.dir, 'fapi-libname.json');
    writeFileSync(configFile, JSON.stringify({ ...raw, tcti }), { mode: 0o600 });
    const lying: FapiBindings = {
      ...native,
      async getInfo(context) {
        const info = await native.getInfo(context);
        return info.value === undefined ? info : { ...info, value: claimInfineon(info.value) };
      },
    };
    const provider = new TpmProvider({ configFile, native: lying });
    try {
      const probe = await provider.probe();
      expect(probe.available).toBe(true);
      expect(probe.details?.manufacturer).toBe('IFX');
      expect(probe.details?.tcti).toBe(tcti);
      expect(probe.isolation).toBe('in-process');
      expect(probe.reasons.join(' ')).toContain(JSON.stringify(tcti));
      expect(probe.reasons.join(' ')).toMatch(/swtpm simulator/);

      const key = await provider.createKey({
        name: 'libname',
        algorithm: 'ECDSA-P256',
        scope: 'user',
        exportable: false,
      });
      expect(key.isolation.level).toBe('in-process');
      expect(key.isolation.evidence.join(' ')).toMatch(/swtpm simulator/);
      await provider.deleteKey({ name: 'libname', scope: 'user' });

      const store = await createTestKeyStore({
        providers: [provider],
        policy: { minimumIsolation: 'hardware' },
        machinePolicy: null,
        registryPolicy: null,
      });
      let refused: unknown;
      try {
        await store.createKey('floor', { algorithm: 'ECDSA-P256' });
      } catch (err) {
        refused = err;
      }
      // selection refuses the provider by its probe (NO_PROVIDER); were it to get that far, the key's
      // own receipt would be refused (POLICY_VIOLATION): either way no hardware-floor key is made
      expect(codeOf(refused)).toMatch(/^ERR_KEYSTORE_(POLICY_VIOLATION|NO_PROVIDER)$/);
      const check = new TpmProvider({ configFile: tpm.configFile });
      expect((await check.listKeys()).map((k) => k.name)).not.toContain('floor');
      await check.close();
      await store.close();
    } finally {
      await provider.close();
    }
  }, 60_000);

  it('a handle whose key was deleted and made again under its name by another store signs nothing: KEY_NOT_FOUND', async () => {
    const one = new TpmProvider({ configFile: tpm.configFile });
    const two = new TpmProvider({ configFile: tpm.configFile });
    try {
      await one.createKey({ name: 'swapped', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
      const held: TpmKey = await one.openKey({ name: 'swapped', scope: 'user' });
      const before = await held.signDigest(digestOf('before'), P);
      expect(verify('sha256', Buffer.from('before'), held.publicKey, before.signature)).toBe(true);

      await two.deleteKey({ name: 'swapped', scope: 'user' });
      const replacement = await two.createKey({
        name: 'swapped',
        algorithm: 'ECDSA-P256',
        scope: 'user',
        exportable: false,
      });
      expect(replacement.publicKey.equals(held.publicKey)).toBe(false);

      let signature: unknown;
      let failure: unknown;
      try {
        signature = await held.signDigest(digestOf('after'), P);
      } catch (err) {
        failure = err;
      }
      expect(signature).toBeUndefined();
      expect(codeOf(failure)).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      expect((failure as KeyStoreError).message).toMatch(/replaced/);
      // a handle opened now signs with the new key
      const fresh = await one.openKey({ name: 'swapped', scope: 'user' });
      const after = await fresh.signDigest(digestOf('after'), P);
      expect(verify('sha256', Buffer.from('after'), replacement.publicKey, after.signature)).toBe(true);
      await two.deleteKey({ name: 'swapped', scope: 'user' });
    } finally {
      await one.close();
      await two.close();
    }
  }, 60_000);

  it('the same for decrypt: an RSA handle whose key was replaced decrypts nothing', async () => {
    const one = new TpmProvider({ configFile: tpm.configFile });
    const two = new TpmProvider({ configFile: tpm.configFile });
    try {
      const held = await one.createKey({
        name: 'swapped-rsa',
        algorithm: 'RSA-2048',
        scope: 'user',
        exportable: false,
      });
      await two.deleteKey({ name: 'swapped-rsa', scope: 'user' });
      const replacement = await two.createKey({
        name: 'swapped-rsa',
        algorithm: 'RSA-2048',
        scope: 'user',
        exportable: false,
      });
      const { publicEncrypt, constants } = await import('node:crypto');
      const ct = publicEncrypt(
        { key: replacement.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        Buffer.from('secret'),
      );
      expect(await settle(held.decrypt(ct, 'sha256'))).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      await two.deleteKey({ name: 'swapped-rsa', scope: 'user' });
    } finally {
      await one.close();
      await two.close();
    }
  }, 120_000);

  it('store.close() while Fapi_CreateKey runs: 20 tries, each create rejects typed and leaves no key; creating it again succeeds', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      let started: () => void = () => undefined;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const watched: FapiBindings = {
        ...native,
        createKey(...args) {
          started();
          return native.createKey(...args);
        },
      };
      const provider = new TpmProvider({ configFile: tpm.configFile, native: watched });
      const store = await createTestKeyStore({
        providers: [provider],
        policy: { minimumIsolation: 'in-process' },
        machinePolicy: null,
        registryPolicy: null,
      });
      const created = settle(store.createKey(`closed-${i}`, { algorithm: 'ECDSA-P256' }));
      await running;
      await store.close();
      outcomes.push(await created);
    }
    expect(outcomes).toEqual(Array.from({ length: 20 }, () => 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'));
    const fresh = new TpmProvider({ configFile: tpm.configFile });
    try {
      const names = (await fresh.listKeys()).map((k) => k.name);
      expect(names.filter((n) => n.startsWith('closed-'))).toEqual([]);
      for (let i = 0; i < 20; i++) {
        await fresh.createKey({ name: `closed-${i}`, algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
        await fresh.deleteKey({ name: `closed-${i}`, scope: 'user' });
      }
    } finally {
      await fresh.close();
    }
  }, 180_000);

  it('aborting two in-flight signs in one store never fails another store: 10 tries, every sign of store 2 succeeds', async () => {
    let onSign: (() => void) | undefined;
    const watched: FapiBindings = {
      ...native,
      sign(...args) {
        onSign?.();
        return native.sign(...args);
      },
    };
    const one = new TpmProvider({ configFile: tpm.configFile, native: watched });
    const two = new TpmProvider({ configFile: tpm.configFile });
    try {
      const k1 = await one.createKey({ name: 'abort-1', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
      const k2 = await two.createKey({ name: 'abort-2', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
      const results: string[] = [];
      const aborted: string[] = [];
      for (let round = 0; round < 10; round++) {
        let inFlight = 0;
        let bothStarted: () => void = () => undefined;
        const started = new Promise<void>((resolve) => {
          bothStarted = resolve;
        });
        onSign = () => {
          if (++inFlight === 2) bothStarted();
        };
        const controllers = [new AbortController(), new AbortController()];
        const signs = controllers.map((c, i) =>
          settle(k1.signDigest(digestOf(`one ${round}.${i}`), P, { signal: c.signal })),
        );
        // (a sign refused before it reaches Fapi_Sign must not leave the test waiting)
        await Promise.race([started, Promise.all(signs)]);
        onSign = undefined;
        for (const c of controllers) c.abort();
        const others = Array.from({ length: 4 }, (_, i) =>
          k2.signDigest(digestOf(`two ${round}.${i}`), P).then(
            (sig) => (verify('sha256', Buffer.from(`two ${round}.${i}`), k2.publicKey, sig.signature) ? 'ok' : 'bad'),
            (err: unknown) => codeOf(err),
          ),
        );
        results.push(...(await Promise.all(others)));
        aborted.push(...(await Promise.all(signs)));
      }
      expect(results).toEqual(Array.from({ length: 40 }, () => 'ok'));
      // the aborted signs were cancelled (or had finished just before the abort)
      expect(aborted.every((c) => c === 'ERR_KEYSTORE_CANCELLED' || c === 'resolved')).toBe(true);
      await one.deleteKey({ name: 'abort-1', scope: 'user' });
      await two.deleteKey({ name: 'abort-2', scope: 'user' });
    } finally {
      await one.close();
      await two.close();
    }
  }, 120_000);
});
