/**
 * Pure logic, and the provider and pool over a named double of the FAPI function table
 * (test/helpers/fapi-double.ts). The real thing runs in the *.int.test.ts files against swtpm.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLenientJson, readFapiSetup } from '../src/config.js';
import { parseDeviceInfo } from '../src/device.js';
import {
  deviceTcti,
  fapiPathForKey,
  isValidKeyName,
  parseFapiKeyPath,
  swtpmTcti,
  TpmProvider,
  tss2RcName,
  writeFapiConfig,
} from '../src/index.js';
import { ContextPool, NativeCallFailure } from '../src/pool.js';
import { classifyRc, tss2Error } from '../src/rc.js';
import { createFapiDouble } from './helpers/fapi-double.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keystore-tpm-logic-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key names and FAPI paths', () => {
  it('accepts the documented rule and nothing else', () => {
    for (const ok of ['a', 'A-z_0.9', 'x'.repeat(64), '...', '.hidden']) expect(isValidKeyName(ok)).toBe(true);
    for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(65), 'a b', 'é', 'a\0', 'a:b', 42, undefined]) {
      expect(isValidKeyName(bad)).toBe(false);
    }
  });
  it('maps names to paths and back, with and without the profile prefix', () => {
    expect(fapiPathForKey('k')).toBe('HS/SRK/k');
    expect(fapiPathForKey('k', 'P_RSA2048SHA256')).toBe('/P_RSA2048SHA256/HS/SRK/k');
    expect(() => fapiPathForKey('a/b')).toThrow(expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_NAME' }));
    expect(parseFapiKeyPath('HS/SRK/k')).toEqual({ name: 'k' });
    expect(parseFapiKeyPath('/HS/SRK/k')).toEqual({ name: 'k' });
    expect(parseFapiKeyPath('/P_ECCP256SHA256/HS/SRK/k')).toEqual({ profile: 'P_ECCP256SHA256', name: 'k' });
    for (const other of ['/P_ECCP256SHA256/HS/SRK', '/P_ECCP256SHA256/HE/EK', '/P/HS/SRK/a/b', '/nv/Owner/x', '']) {
      expect(parseFapiKeyPath(other)).toBeUndefined();
    }
  });
});

describe('TSS2 return codes', () => {
  it('names codes of every layer', () => {
    expect(tss2RcName(0x60020)).toBe('TSS2_FAPI_RC_KEY_NOT_FOUND');
    expect(tss2RcName(0x6001f)).toBe('TSS2_FAPI_RC_PATH_ALREADY_EXISTS');
    expect(tss2RcName(0x60035)).toBe('TSS2_FAPI_RC_ALREADY_PROVISIONED');
    expect(tss2RcName(0x9a2)).toBe('TPM2_RC_BAD_AUTH');
    expect(tss2RcName(0x98e)).toBe('TPM2_RC_AUTH_FAIL');
    expect(tss2RcName(0x902)).toBe('TPM2_RC_OBJECT_MEMORY');
    expect(tss2RcName(0x2d2)).toBe('TPM2_RC_SCHEME');
    expect(tss2RcName(0x101)).toBe('TPM2_RC_FAILURE');
    expect(tss2RcName(0xa000a)).toBe('TSS2_TCTI_RC_IO_ERROR');
    expect(tss2RcName(0x70007)).toBe('TSS2_ESYS_RC_BAD_SEQUENCE');
  });
  it('maps them to error codes with hints, keeping status and name', () => {
    expect(classifyRc(0x60020).code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(classifyRc(0x60024).code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(classifyRc(0x6001f).code).toBe('ERR_KEYSTORE_KEY_EXISTS');
    expect(classifyRc(0x9a2).code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(classifyRc(0x6002a).code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(classifyRc(0xa000a).code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(classifyRc(0x19c).code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(classifyRc(0x70007).code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    const err = tss2Error(0xa000a, 'sign', 'tcti:IO failure');
    expect(err).toMatchObject({ nativeStatus: 0xa000a, nativeName: 'TSS2_TCTI_RC_IO_ERROR', providerId: 'tpm' });
    expect(err.hint).toMatch(/swtpm\/the TPM running/);
  });
});

describe('FAPI configuration', () => {
  it('builds TCTI strings and refuses bad ones', () => {
    expect(swtpmTcti('127.0.0.1', 2321)).toBe('swtpm:host=127.0.0.1,port=2321');
    expect(deviceTcti()).toBe('device:/dev/tpmrm0');
    expect(() => swtpmTcti('h,x', 1)).toThrow(expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }));
    expect(() => swtpmTcti('h', 70000)).toThrow(expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }));
    expect(() => deviceTcti('tpm0')).toThrow(expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }));
  });
  it('writeFapiConfig writes a complete config with three profiles on distinct SRK handles', async () => {
    const file = await writeFapiConfig({ dir: join(dir, 'cfg'), tcti: swtpmTcti() });
    const config = JSON.parse(readFileSync(file, 'utf8'));
    expect(config).toMatchObject({
      profile_name: 'P_ECCP256SHA256',
      ek_cert_less: 'yes',
      tcti: swtpmTcti(),
      system_pcrs: [],
    });
    const setup = readFapiSetup(file);
    expect(setup.profiles.map((p) => [p.name, p.srkHandle.toString(16)])).toEqual([
      ['P_ECCP256SHA256', '81000001'],
      ['P_ECCP384SHA384', '81000003'],
      ['P_RSA2048SHA256', '81000002'],
    ]);
    expect([...setup.profileFor.keys()]).toEqual(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048']);
    const rsaFirst = readFapiSetup(
      await writeFapiConfig({ dir: join(dir, 'cfg2'), tcti: deviceTcti(), profile: 'P_RSA2048SHA256' }),
    );
    expect(rsaFirst.defaultProfile.name).toBe('P_RSA2048SHA256');
  });
  it('with the shipped profiles (one SRK handle for both) only the default profile serves', () => {
    const profiles = join(dir, 'shipped');
    mkdirSync(profiles, { recursive: true });
    const body = (type: string, extra: string) =>
      `{ "type": "${type}", "srk_template": "system,restricted,decrypt,0x81000001", ${extra}, }`;
    writeFileSync(join(profiles, 'P_ECCP256SHA256.json'), body('TPM2_ALG_ECC', '"curveID": "TPM2_ECC_NIST_P256"'));
    writeFileSync(join(profiles, 'P_RSA2048SHA256.json'), body('TPM2_ALG_RSA', '"keyBits": 2048'));
    const file = join(dir, 'shipped.json');
    writeFileSync(
      file,
      JSON.stringify({
        profile_name: 'P_RSA2048SHA256',
        profile_dir: profiles,
        user_dir: '~/u',
        system_dir: '/s',
        tcti: '',
      }),
    );
    const setup = readFapiSetup(file);
    expect([...setup.profileFor.keys()]).toEqual(['RSA-2048']);
    expect(setup.userDir.startsWith('~')).toBe(false);
    expect(parseLenientJson('{"a":[1,2,],}')).toEqual({ a: [1, 2] });
  });
  it('an unreadable config is PROVIDER_UNAVAILABLE with a hint', () => {
    expect(() => readFapiSetup(join(dir, 'nope.json'))).toThrow(
      expect.objectContaining({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' }),
    );
  });
});

describe('device info', () => {
  const info = (manufacturer: number, vendor1: number) =>
    JSON.stringify({
      version: 'tpm2-tss 3.2.1',
      capabilities: [
        {
          description: 'properties-fixed',
          info: {
            data: [
              { property: 'MANUFACTURER', value: manufacturer },
              { property: 'VENDOR_STRING_1', value: vendor1 },
              { property: 'VENDOR_STRING_2', value: 0x2054504d },
              { property: 'FIRMWARE_VERSION_1', value: 0x20191023 },
              { property: 'FIRMWARE_VERSION_2', value: 0x163636 },
            ],
          },
        },
      ],
    });
  it('recognises swtpm (IBM, "SW  TPM") as a simulator and reports firmware', () => {
    const d = parseDeviceInfo(info(0x49424d00, 0x53572020), 'device:/dev/tpmrm0');
    expect(d).toMatchObject({ manufacturer: 'IBM', simulator: true, firmware: '8217.4131.22.13878' });
  });
  it('a chip on device: is not a simulator; a swtpm TCTI always is', () => {
    expect(parseDeviceInfo(info(0x49465800, 0x534c4239), 'device:/dev/tpmrm0')).toMatchObject({
      manufacturer: 'IFX',
      simulator: false,
    });
    expect(parseDeviceInfo('not json', 'swtpm:port=1').simulator).toBe(true);
  });
});

describe('context pool over a double of the FAPI table', () => {
  const opts = (size: number) => ({ size, configFile: '/dev/null', connectTimeoutMs: 500 });
  const failing = (rc: number) => async () => ({ rc });

  it('never runs two calls at once on one context, and queues FIFO', async () => {
    const fapi = createFapiDouble();
    const pool = new ContextPool(fapi, opts(2));
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.run(
          async (ctx) => {
            await fapi.sign(ctx.handle, 'HS/SRK/k', null, Buffer.alloc(32));
            order.push(i);
          },
          { timeoutMs: 1000, what: 'sign' },
        ),
      ),
    );
    expect(fapi.overlap).toBe(false);
    expect(order).toHaveLength(20);
    expect(fapi.calls.filter((c) => c.fn === 'initialize')).toHaveLength(2);
    pool.close();
    expect(fapi.finalized).toHaveLength(2);
  });

  it('after any failed call the context is finalized and replaced', async () => {
    const fapi = createFapiDouble();
    fapi.program('sign', failing(0x60020));
    const pool = new ContextPool(fapi, opts(1));
    const sign = () =>
      pool.run(
        async (ctx) => {
          const r = await fapi.sign(ctx.handle, 'HS/SRK/k', null, Buffer.alloc(32));
          if (r.rc !== 0) throw new NativeCallFailure(tss2Error(r.rc, 'sign'));
          return r.value;
        },
        { timeoutMs: 1000, what: 'sign' },
      );
    await expect(sign()).rejects.toMatchObject({ code: 'ERR_KEYSTORE_KEY_NOT_FOUND' });
    expect(fapi.finalized).toHaveLength(1);
    await sign();
    const signs = fapi.calls.filter((c) => c.fn === 'sign');
    expect(signs[0]?.context).not.toBe(signs[1]?.context);
    pool.close();
  });

  it('a call that hangs times out with ERR_KEYSTORE_TIMEOUT; its context is never reused, and is finalized if it returns', async () => {
    const fapi = createFapiDouble();
    let release!: () => void;
    fapi.program('sign', () => new Promise((resolve) => (release = () => resolve({ rc: 0, value: undefined }))));
    const pool = new ContextPool(fapi, opts(1));
    const sign = (timeoutMs: number) =>
      pool.run((ctx) => fapi.sign(ctx.handle, 'HS/SRK/k', null, Buffer.alloc(32)), { timeoutMs, what: 'sign' });
    const t0 = Date.now();
    await expect(sign(100)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(pool.abandonedCalls).toBe(1);
    await sign(1000); // a fresh context serves meanwhile
    const contexts = new Set(fapi.calls.filter((c) => c.fn === 'sign').map((c) => c.context));
    expect(contexts.size).toBe(2);
    expect(fapi.finalized).toHaveLength(0);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(fapi.finalized).toHaveLength(1);
    expect(pool.abandonedCalls).toBe(0);
    pool.close();
  });

  it('refuses work once too many calls hang', async () => {
    const fapi = createFapiDouble();
    const never = () => new Promise<never>(() => {});
    fapi.program('sign', never, never, never);
    const pool = new ContextPool(fapi, { ...opts(3), maxAbandoned: 3 });
    const sign = () =>
      pool.run((ctx) => fapi.sign(ctx.handle, 'HS/SRK/k', null, Buffer.alloc(32)), { timeoutMs: 30, what: 'sign' });
    await Promise.all([1, 2, 3].map(() => expect(sign()).rejects.toMatchObject({ code: 'ERR_KEYSTORE_TIMEOUT' })));
    await expect(sign()).rejects.toMatchObject({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' });
    pool.close();
  });

  it('cancels queued calls, maps a failed Fapi_Initialize, and rejects waiters on close', async () => {
    const fapi = createFapiDouble();
    fapi.program('initialize', async () => ({ rc: 0xa000a }));
    const pool = new ContextPool(fapi, opts(1));
    await expect(pool.run(async () => 1, { timeoutMs: 100, what: 'x' })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      nativeName: 'TSS2_TCTI_RC_IO_ERROR',
    });
    let unblock!: () => void;
    const blocker = pool.run(() => new Promise<void>((r) => (unblock = r)), { timeoutMs: 1000, what: 'block' });
    await new Promise((r) => setTimeout(r, 10));
    const ac = new AbortController();
    const queued = pool.run(async () => 2, { timeoutMs: 1000, what: 'queued', signal: ac.signal });
    ac.abort();
    await expect(queued).rejects.toMatchObject({ code: 'ERR_KEYSTORE_CANCELLED' });
    const waiting = pool.run(async () => 3, { timeoutMs: 1000, what: 'waiting' });
    pool.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' });
    unblock();
    await blocker;
    expect(fapi.finalized.length).toBe(1);
  });
});

describe('provider logic over a double of the FAPI table', () => {
  let configFile: string;
  const ecPem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  });
  const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
  const exported = (type: 'ECC' | 'RSA', attrs: Record<string, number>) =>
    JSON.stringify({
      system: 'NO',
      pem_ext_public: type === 'ECC' ? ecPem : rsaPem,
      public: {
        publicArea: {
          type,
          objectAttributes: { fixedTPM: 1, sensitiveDataOrigin: 1, restricted: 0, sign: 0, decrypt: 0, ...attrs },
          parameters: type === 'ECC' ? { curveID: 'NIST_P256' } : { keyBits: 2048 },
        },
      },
    });
  const plant = (profile: string, name: string) => {
    const d = join(dir, 'dbl', 'user', profile, 'HS', 'SRK', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'object.json'), '{}');
  };

  beforeAll(async () => {
    configFile = await writeFapiConfig({ dir: join(dir, 'dbl'), tcti: swtpmTcti('127.0.0.1', 9) });
    for (const p of ['P_ECCP256SHA256', 'P_ECCP384SHA384', 'P_RSA2048SHA256']) {
      mkdirSync(join(dir, 'dbl', 'system', p, 'HS', 'SRK'), { recursive: true });
      writeFileSync(join(dir, 'dbl', 'system', p, 'HS', 'SRK', 'object.json'), '{}');
    }
    plant('P_ECCP256SHA256', 'ec');
    plant('P_RSA2048SHA256', 'dec');
  });

  it('checks names, digests and key usage in TypeScript before any native call', async () => {
    const fapi = createFapiDouble();
    fapi.program('exportKey', async () => ({ rc: 0, value: exported('ECC', { sign: 1 }) }));
    fapi.program('exportKey', async () => ({ rc: 0, value: exported('RSA', { decrypt: 1 }) }));
    const provider = new TpmProvider({ configFile, native: fapi });
    const ec = await provider.openKey({ name: 'ec', scope: 'user' });
    const dec = await provider.openKey({ name: 'dec', scope: 'user' });
    expect(dec.fapiPath).toBe('/P_RSA2048SHA256/HS/SRK/dec');
    const before = fapi.calls.length;
    const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
    await expect(ec.signDigest(Buffer.alloc(20), P)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' });
    await expect(ec.signDigest(Buffer.alloc(32), { ...P, hash: 'md5' as never })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
    });
    await expect(dec.signDigest(Buffer.alloc(32), P)).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
    });
    await expect(dec.decrypt(Buffer.alloc(255), 'sha256')).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
    });
    await expect(ec.decrypt(Buffer.alloc(256), 'sha256')).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
    });
    await expect(provider.openKey({ name: '../x', scope: 'user' })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_INVALID_NAME',
    });
    await expect(provider.openKey({ name: 'absent', scope: 'user' })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
    });
    await expect(
      provider.createKey({ name: 'new', algorithm: 'ECDH-P256', scope: 'user', exportable: false }),
    ).rejects.toMatchObject({ code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM' });
    await expect(
      provider.createKey({
        name: 'new',
        algorithm: 'ECDSA-P256',
        scope: 'user',
        exportable: false,
        password: 'x'.repeat(33),
      }),
    ).rejects.toMatchObject({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' });
    expect(fapi.calls.length).toBe(before);
    await provider.close();
  });

  it('passes the key path, padding and digest to Fapi_Sign; ECDSA without padding', async () => {
    const fapi = createFapiDouble();
    fapi.program('exportKey', async () => ({ rc: 0, value: exported('ECC', { sign: 1 }) }));
    const provider = new TpmProvider({ configFile, native: fapi });
    const ec = await provider.openKey({ name: 'ec', scope: 'user' });
    const sig = await ec.signDigest(Buffer.alloc(48, 1), { hash: 'sha384', padding: 'pss', saltLength: 48 });
    expect(sig).toEqual({ signature: Buffer.from([1, 2, 3]), dsaEncoding: 'der' });
    const call = fapi.calls.find((c) => c.fn === 'sign');
    expect(call?.args).toEqual(['HS/SRK/ec', null, Buffer.alloc(48, 1)]);
    await provider.close();
    await expect(provider.listKeys()).rejects.toSatisfy((e) =>
      KeyStoreError.is(e, 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'),
    );
  });

  it('retries the TPM warning OBJECT_MEMORY on a fresh context; other failures are not retried', async () => {
    const fapi = createFapiDouble();
    fapi.program('exportKey', async () => ({ rc: 0, value: exported('ECC', { sign: 1 }) }));
    fapi.program(
      'sign',
      async () => ({ rc: 0x902 }),
      async () => ({ rc: 0x902 }),
    );
    const provider = new TpmProvider({ configFile, native: fapi });
    const ec = await provider.openKey({ name: 'ec', scope: 'user' });
    const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
    expect((await ec.signDigest(Buffer.alloc(32), P)).signature).toEqual(Buffer.from([1, 2, 3]));
    expect(fapi.calls.filter((c) => c.fn === 'sign')).toHaveLength(3);
    fapi.program('sign', async () => ({ rc: 0x60020 }));
    await expect(ec.signDigest(Buffer.alloc(32), P)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_KEY_NOT_FOUND' });
    expect(fapi.calls.filter((c) => c.fn === 'sign')).toHaveLength(4);
    expect(fapi.overlap).toBe(false);
    await provider.close();
  });

  it('serves without an extra profile the TPM cannot provision (P-384 on a chip without that curve)', async () => {
    const fresh = await writeFapiConfig({ dir: join(dir, 'no384'), tcti: swtpmTcti('127.0.0.1', 9) });
    const fapi = createFapiDouble();
    // profiles are provisioned default first, then the others by name: P-256, P-384, RSA-2048
    fapi.program(
      'provision',
      async () => 0,
      async () => 0x2a6, // TPM2_RC_CURVE for the P-384 SRK
      async () => 0x60035, // already provisioned counts as success
    );
    const provider = new TpmProvider({ configFile: fresh, native: fapi });
    expect(provider.capabilities.algorithms).toEqual(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048']);
    await expect(
      provider.createKey({ name: 'k', algorithm: 'ECDSA-P384', scope: 'user', exportable: false }),
    ).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      hint: expect.stringMatching(/P_ECCP384SHA384/),
    });
    expect(provider.capabilities.algorithms).toEqual(['ECDSA-P256', 'RSA-2048']);
    expect(fapi.calls.filter((c) => c.fn === 'provision')).toHaveLength(3);
    await provider.close();
  });

  it('on win32 the probe says the Windows backend is not built yet', async () => {
    const saved = Object.getOwnPropertyDescriptor(process, 'platform');
    Object.defineProperty(process, 'platform', { value: 'win32' });
    try {
      const probe = await new TpmProvider({ configFile }).probe();
      expect(probe.available).toBe(false);
      expect(probe.reasons.join(' ')).toMatch(/Windows backend .* not built yet/);
    } finally {
      if (saved) Object.defineProperty(process, 'platform', saved);
    }
  });
});
