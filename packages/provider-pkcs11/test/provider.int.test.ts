/**
 * The provider against a real SoftHSM2 token: finding the token, the PIN and its errors, the pool
 * under concurrent load, and recovery after the module dropped every session.
 */
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPkcs11, type Pkcs11Native, type SessionHandle, type SlotId } from '../src/native/pkcs11.js';
import { Pkcs11Provider } from '../src/provider.js';
import { createSoftHsmToken, HAVE_SOFTHSM, NEEDS_SOFTHSM, type SoftHsmToken } from './helpers/softhsm.js';

const describeSoftHsm = describe.skipIf(!HAVE_SOFTHSM);
const title = (what: string) => `${what} on SoftHSM2${HAVE_SOFTHSM ? '' : ` (${NEEDS_SOFTHSM})`}`;
const digest = createHash('sha256').update('payload').digest();
const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

/** Rejects with a KeyStoreError, which is returned. */
async function failure(action: () => Promise<unknown>): Promise<KeyStoreError> {
  try {
    await action();
  } catch (err) {
    expect(KeyStoreError.is(err), String(err)).toBe(true);
    return err as KeyStoreError;
  }
  throw new Error('expected a rejection');
}

/**
 * The real module, watched: every call on a session is checked to be the only one running on that
 * session, and the sessions open at once are counted.
 */
function watched(native: Pkcs11Native) {
  const busy = new Set<SessionHandle>();
  const stats = { overlaps: 0, open: 0, maxOpen: 0, calls: 0 };
  const onSession =
    <A extends unknown[], R>(call: (session: SessionHandle, ...rest: A) => Promise<R>) =>
    async (session: SessionHandle, ...rest: A): Promise<R> => {
      if (busy.has(session)) stats.overlaps++;
      busy.add(session);
      stats.calls++;
      try {
        return await call(session, ...rest);
      } finally {
        busy.delete(session);
      }
    };
  const wrapped: Pkcs11Native = {
    ...native,
    initialize: () => native.initialize(),
    finalize: () => native.finalize(),
    getInfo: () => native.getInfo(),
    getSlotList: (p) => native.getSlotList(p),
    getTokenInfo: (s) => native.getTokenInfo(s),
    getMechanismList: (s) => native.getMechanismList(s),
    closeAllSessions: (s) => native.closeAllSessions(s),
    openSession: async (slot, flags) => {
      const r = await native.openSession(slot, flags);
      if (r.rv === 0) stats.maxOpen = Math.max(stats.maxOpen, ++stats.open);
      return r;
    },
    closeSession: async (session) => {
      const r = await native.closeSession(session);
      if (r.rv === 0) stats.open--;
      return r;
    },
    login: onSession((s, u: number, pin: Buffer) => native.login(s, u, pin)),
    findObjects: onSession((s, t: Parameters<Pkcs11Native['findObjects']>[1], m?: number) =>
      native.findObjects(s, t, m),
    ),
    getAttributes: onSession((s, o: Parameters<Pkcs11Native['getAttributes']>[1], t: readonly number[]) =>
      native.getAttributes(s, o, t),
    ),
    generateKeyPair: onSession(
      (
        s,
        m: Parameters<Pkcs11Native['generateKeyPair']>[1],
        a: Parameters<Pkcs11Native['generateKeyPair']>[2],
        b: Parameters<Pkcs11Native['generateKeyPair']>[3],
      ) => native.generateKeyPair(s, m, a, b),
    ),
    createObject: onSession((s, t: Parameters<Pkcs11Native['createObject']>[1]) => native.createObject(s, t)),
    destroyObject: onSession((s, o: Parameters<Pkcs11Native['destroyObject']>[1]) => native.destroyObject(s, o)),
    sign: onSession(
      (s, m: Parameters<Pkcs11Native['sign']>[1], k: Parameters<Pkcs11Native['sign']>[2], d: Buffer, n: number) =>
        native.sign(s, m, k, d, n),
    ),
    decrypt: onSession(
      (s, m: Parameters<Pkcs11Native['decrypt']>[1], k: Parameters<Pkcs11Native['decrypt']>[2], d: Buffer, n: number) =>
        native.decrypt(s, m, k, d, n),
    ),
    deriveKey: onSession(
      (
        s,
        m: Parameters<Pkcs11Native['deriveKey']>[1],
        b: Parameters<Pkcs11Native['deriveKey']>[2],
        t: Parameters<Pkcs11Native['deriveKey']>[3],
      ) => native.deriveKey(s, m, b, t),
    ),
  };
  return { native: wrapped, stats };
}

describeSoftHsm(title('the PKCS#11 provider'), () => {
  let token: SoftHsmToken;
  let real: Pkcs11Native;
  const providers: Pkcs11Provider[] = [];
  const make = (options: Partial<ConstructorParameters<typeof Pkcs11Provider>[0]> = {}) => {
    const p = new Pkcs11Provider({ module: token.module, tokenLabel: token.label, pin: token.pin, ...options });
    providers.push(p);
    return p;
  };

  let second: string;

  beforeAll(() => {
    token = createSoftHsmToken();
    // A token no test logs in to before the PIN tests: login state belongs to the process.
    second = token.addToken(`${token.label}-2`);
    real = loadPkcs11(token.module);
  });
  afterAll(async () => {
    for (const p of providers) await p.close();
    token.dispose();
  });

  it('probe names the module and token, and says the undeclared module runs in-process', async () => {
    const probe = await make().probe();
    expect(probe.available).toBe(true);
    expect(probe.isolation).toBe('in-process');
    expect(probe.details?.tokenLabel).toBe(token.label);
    expect(probe.details?.module).toBe(token.module);
    expect(probe.reasons.join(' ')).toContain('not declared in the machine policy');
  });

  it('finds the token by serial as by label; an unknown label is unavailable and lists the tokens present', async () => {
    const serial = String((await make().probe()).details?.tokenSerial);
    const bySerial = make({ tokenLabel: undefined, tokenSerial: serial });
    const key = await bySerial.createKey({
      name: 'by-serial',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    expect(key.isolation.level).toBe('in-process');
    const missing = make({ tokenLabel: 'no-such-token' });
    const err = await failure(() => missing.openKey({ name: 'by-serial', scope: 'user' }));
    expect(err.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(err.hint).toContain(token.label);
    expect((await missing.probe()).available).toBe(false);
  });

  it('no PIN, then a wrong PIN, are typed errors (CKR_USER_NOT_LOGGED_IN, CKR_PIN_INCORRECT) that never show the PIN', async () => {
    const noPin = await failure(() =>
      make({ tokenLabel: second, pin: undefined }).createKey({
        name: 'no-pin',
        algorithm: 'ECDSA-P256',
        scope: 'user',
        exportable: false,
      }),
    );
    expect(noPin.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(noPin.nativeName).toBe('CKR_USER_NOT_LOGGED_IN');

    const wrongPin = 'wrong-pin-1234';
    const p = make({ tokenLabel: second, pin: wrongPin });
    const err = await failure(() => p.openKey({ name: 'anything', scope: 'user' }));
    expect(err.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(err.nativeName).toBe('CKR_PIN_INCORRECT');
    expect(err.hint).toBeTruthy();
    for (const text of [
      inspect(p, { depth: 10, showHidden: true }),
      JSON.stringify(err),
      inspect(err, { depth: 10 }),
      err.message,
    ]) {
      expect(text).not.toContain(wrongPin);
    }
    expect(inspect(make(), { depth: 10, showHidden: true })).not.toContain(token.pin);
  });

  it('once the process is logged in to a token, a provider with another PIN is still refused', async () => {
    await make({ tokenLabel: second }).createKey({
      name: 'logged-in',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    const err = await failure(() =>
      make({ tokenLabel: second, pin: 'another-pin' }).openKey({ name: 'logged-in', scope: 'user' }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect((await make({ tokenLabel: second }).openKey({ name: 'logged-in', scope: 'user' })).name).toBe('logged-in');
  });

  it('machine scope and key passwords are refused with their reasons', async () => {
    const p = make();
    expect(
      (await failure(() => p.createKey({ name: 'm', algorithm: 'ECDSA-P256', scope: 'machine', exportable: false })))
        .code,
    ).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(
      (
        await failure(() =>
          p.createKey({ name: 'pw', algorithm: 'ECDSA-P256', scope: 'user', exportable: false, password: 'x' }),
        )
      ).code,
    ).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
  });

  it('keys are generated private, sensitive and not extractable on the token', async () => {
    const p = make();
    await p.createKey({ name: 'attrs', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const { value: slots } = await real.getSlotList(true);
    const slot = await slotOf(real, slots!, token.label);
    const session = (await real.openSession(slot, 4)).value!;
    try {
      await real.login(session, 1, Buffer.from(token.pin));
      const memory = real.memory;
      const label = { type: 3, value: Buffer.from('attrs') };
      const [handle] = (await real.findObjects(session, [{ type: 0, value: memory.ulong(3) }, label])).value!;
      const attrs = (await real.getAttributes(session, handle!, [0x1, 0x2, 0x103, 0x162, 0x165, 0x164, 0x163])).value!;
      const flag = (t: number) => attrs.get(t)?.[0];
      // CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL
      expect([flag(0x1), flag(0x2), flag(0x103), flag(0x162), flag(0x165), flag(0x164), flag(0x163)]).toEqual([
        1, 1, 1, 0, 1, 1, 1,
      ]);
    } finally {
      await real.closeSession(session);
    }
  });

  /** CKA_SENSITIVE, CKA_EXTRACTABLE and CKA_PRIVATE of the private object labelled `name`. */
  async function privateFlags(name: string): Promise<number[]> {
    const { value: slots } = await real.getSlotList(true);
    const session = (await real.openSession(await slotOf(real, slots!, token.label), 4)).value!;
    try {
      await real.login(session, 1, Buffer.from(token.pin));
      const label = { type: 3, value: Buffer.from(name) };
      const found = (await real.findObjects(session, [{ type: 0, value: real.memory.ulong(3) }, label])).value!;
      expect(found).toHaveLength(1);
      const attrs = (await real.getAttributes(session, found[0]!, [0x103, 0x162, 0x2])).value!;
      return [0x103, 0x162, 0x2].map((t) => attrs.get(t)?.[0] ?? -1);
    } finally {
      await real.closeSession(session);
    }
  }

  it('exportable keys are created and imported CKA_SENSITIVE false and CKA_EXTRACTABLE true; others the reverse', async () => {
    const p = make();
    const made = await p.createKey({ name: 'exp-made', algorithm: 'ECDSA-P256', scope: 'user', exportable: true });
    // CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_PRIVATE
    expect(await privateFlags('exp-made')).toEqual([0, 1, 1]);
    const exported = await made.exportPrivateKey();
    expect(createPublicKey(exported).export({ format: 'jwk' })).toEqual(made.publicKey.export({ format: 'jwk' }));

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const kept = await p.importKey({
      name: 'imp-kept',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
      privateKey: rsa,
    });
    expect(await privateFlags('imp-kept')).toEqual([1, 0, 1]);
    expect((await failure(() => kept.exportPrivateKey())).code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const open = await p.importKey({
      name: 'imp-open',
      algorithm: 'ECDSA-P384',
      scope: 'user',
      exportable: true,
      privateKey: ec,
    });
    expect(await privateFlags('imp-open')).toEqual([0, 1, 1]);
    expect((await open.exportPrivateKey()).export({ format: 'jwk' })).toEqual(ec.export({ format: 'jwk' }));
  });

  it('a token that refuses to create private key objects: a typed error, the key material wiped, nothing left behind', async () => {
    const seen: Buffer[] = [];
    const refusing: Pkcs11Native = {
      ...real,
      createObject: async (session, template) => {
        for (const a of template) seen.push(a.value);
        const isPrivate = template.some((a) => a.type === 0 && real.memory.readUlong(a.value) === 3n);
        return isPrivate ? { rv: 0xd1, fn: 'C_CreateObject' } : real.createObject(session, template);
      },
    };
    const p = make({ native: refusing });
    const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const err = await failure(() =>
      p.importKey({ name: 'refused', algorithm: 'ECDSA-P256', scope: 'user', exportable: false, privateKey }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(err.nativeName).toBe('CKR_TEMPLATE_INCONSISTENT');
    // The private scalar was handed to the module, and zeroed once the call was over.
    const scalar = seen.find((b) => b.length === d.length && b.every((x) => x === 0));
    expect(scalar, 'a zeroed buffer the size of the scalar').toBeDefined();
    expect(seen.some((b) => b.equals(d))).toBe(false);
    expect((await make().listKeys()).map((k) => k.name)).not.toContain('refused');
  });

  it('200 concurrent signs on a pool of 4 all verify, never two calls on one session, never more than 4 sessions', async () => {
    const { native, stats } = watched(real);
    const p = make({ native, poolSize: 4 });
    const key = await p.createKey({ name: 'busy', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const results = await Promise.all(Array.from({ length: 200 }, () => key.signDigest(digest, params)));
    for (const r of results) {
      expect(
        verify('sha256', Buffer.from('payload'), { key: key.publicKey, dsaEncoding: r.dsaEncoding }, r.signature),
      ).toBe(true);
    }
    expect(stats.overlaps).toBe(0);
    expect(stats.maxOpen).toBeLessThanOrEqual(4);
    expect(stats.maxOpen).toBeGreaterThan(1);
  });

  it('after the module dropped every session (and the login), the next calls open sessions, log in again and succeed', async () => {
    const { native, stats } = watched(real);
    const p = make({ native });
    const key = await p.createKey({ name: 'recover', algorithm: 'ECDSA-P384', scope: 'user', exportable: false });
    const { value: slots } = await real.getSlotList(true);
    const slot = await slotOf(real, slots!, token.label);
    for (let round = 0; round < 3; round++) {
      expect((await real.closeAllSessions(slot)).rv).toBe(0);
      const results = await Promise.all(
        Array.from({ length: 8 }, () =>
          key.signDigest(createHash('sha384').update('x').digest(), { ...params, hash: 'sha384' }),
        ),
      );
      for (const r of results) {
        expect(
          verify('sha384', Buffer.from('x'), { key: key.publicKey, dsaEncoding: r.dsaEncoding }, r.signature),
        ).toBe(true);
      }
      expect((await p.listKeys()).map((k) => k.name)).toContain('recover');
    }
    expect(stats.overlaps).toBe(0);
  });
});

async function slotOf(native: Pkcs11Native, slots: SlotId[], label: string): Promise<SlotId> {
  for (const slot of slots) if ((await native.getTokenInfo(slot)).value?.label === label) return slot;
  throw new Error(`no slot with token ${label}`);
}
