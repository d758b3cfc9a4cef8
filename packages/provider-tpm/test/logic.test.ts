/**
 * Pure logic, and the provider and pool over a named double of the FAPI function table
 * (test/helpers/fapi-double.ts). The real thing runs in the *.int.test.ts files against swtpm.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeCallBudget, nativeCallLimit, threadpoolSize } from '../src/budget.js';
import { parseLenientJson, readFapiSetup } from '../src/config.js';
import { deviceIsolation, parseDeviceInfo, VIRTUAL_TPM_MANUFACTURERS } from '../src/device.js';
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
import { sameFapiObject } from '../src/names.js';
import {
  ambientFapiConf,
  ContextPool,
  checkSimulatorReachable,
  NativeCallFailure,
  openContext,
  tcpEndpointOf,
} from '../src/pool.js';
import { classifyRc, tss2Error } from '../src/rc.js';
import { parseTcti } from '../src/tcti.js';
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
  it("the hint names what a user of the published package can do, never the repository's scripts", () => {
    let hint: string | undefined;
    try {
      readFapiSetup(join(dir, 'nope.json'));
    } catch (error) {
      hint = (error as KeyStoreError).hint;
    }
    expect(hint).toMatch(/writeFapiConfig\(\) writes one/);
    expect(hint).toContain('https://github.com/keystore-sdk/keystore/blob/main/docs/getting-started.md');
    expect(hint).not.toMatch(/scripts\//);
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
    // as tpm2_getcap properties-fixed prints TPM2_PT_FIRMWARE_VERSION_1 and _2 on swtpm
    expect(d).toMatchObject({ manufacturer: 'IBM', simulator: true, virtual: false, firmware: '0x20191023.0x163636' });
    expect(deviceIsolation(d).level).toBe('in-process');
  });
  it('classifies virtual TPMs by manufacturer id as virtualization, naming the maker and why', () => {
    // as on a machine whose /dev/tpmrm0 is the kernel's device node (none here; see tcti.test.ts)
    const device = (manufacturer: string, tcti = 'device:/dev/tpmrm0') => ({
      manufacturer,
      vendor: '',
      firmware: '0x1.0x0',
      simulator: false,
      tcti,
      transport: { tcti: parseTcti(tcti), kernelOrSystem: true, simulator: false, reason: 'the kernel device' },
    });
    const makers: Record<string, RegExp> = { MSFT: /Hyper-V/, GOOG: /Google Cloud/, AMZN: /NitroTPM/, VMW: /VMware/ };
    expect(Object.keys(VIRTUAL_TPM_MANUFACTURERS).sort()).toEqual(Object.keys(makers).sort());
    for (const [id, maker] of Object.entries(makers)) {
      const { level, reasons } = deviceIsolation(device(id));
      expect(level).toBe('virtualization');
      expect(reasons.join(' ')).toMatch(maker);
      expect(reasons.join(' ')).toMatch(new RegExp(`manufacturer id ${id}`));
      expect(reasons.join(' ')).toMatch(/protected by the hypervisor/);
    }
    expect(deviceIsolation(device('IFX')).level).toBe('hardware');
    expect(deviceIsolation(device('STM')).level).toBe('hardware');
    expect(deviceIsolation(device('')).level).toBe('in-process');
    expect(deviceIsolation({ ...device('MSFT', 'swtpm:port=2321'), simulator: true }).level).toBe('in-process');
    // parsed from Fapi_GetInfo: 'MSFT' and 'VMW\0'
    expect(parseDeviceInfo(info(0x4d534654, 0x20202020), 'device:/dev/tpmrm0')).toMatchObject({
      manufacturer: 'MSFT',
      virtual: true,
      simulator: false,
    });
    expect(parseDeviceInfo(info(0x564d5700, 0x20202020), 'device:/dev/tpmrm0')).toMatchObject({
      manufacturer: 'VMW',
      virtual: true,
    });
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
  // Each pool gets a budget of its own here, so that calls left hanging in one test do not affect the next.
  const opts = (size: number, budget = new NativeCallBudget(4)) => ({
    size,
    configFile: '/dev/null',
    connectTimeoutMs: 500,
    budget,
  });
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

  it('hung calls, initialize included, count in one budget; once they fill it work is refused at once, until they return', async () => {
    const fapi = createFapiDouble();
    let releaseSign!: () => void;
    let releaseInit!: () => void;
    fapi.program('sign', () => new Promise((r) => (releaseSign = () => r({ rc: 0, value: undefined }))));
    fapi.program('initialize', async () => ({ rc: 0, value: 0x100n as never })); // the first context opens
    fapi.program('initialize', () => new Promise((r) => (releaseInit = () => r({ rc: 0, value: 0x200n as never }))));
    const budget = new NativeCallBudget(2);
    const pool = new ContextPool(fapi, { ...opts(2, budget), connectTimeoutMs: 40 });
    const sign = (timeoutMs = 40) =>
      pool.run((ctx) => fapi.sign(ctx.handle, 'HS/SRK/k', null, Buffer.alloc(32)), { timeoutMs, what: 'sign' });
    await expect(sign()).rejects.toMatchObject({ code: 'ERR_KEYSTORE_TIMEOUT' });
    expect(budget.stuck).toBe(1);
    // the next call needs a fresh context; its Fapi_Initialize hangs too, and is counted
    await expect(sign()).rejects.toMatchObject({ code: 'ERR_KEYSTORE_TIMEOUT' });
    expect(budget.stuck).toBe(2);
    expect(pool.abandonedCalls).toBe(2);
    const t0 = Date.now();
    const refused = await sign(5_000).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(20);
    expect(refused).toMatchObject({
      code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      hint: expect.stringMatching(/TPM stopped answering.*2 calls are still stuck.*released.*if the TPM comes back/),
    });
    const initsBefore = fapi.calls.filter((c) => c.fn === 'initialize').length;
    await expect(sign(5_000)).rejects.toMatchObject({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' });
    expect(fapi.calls.filter((c) => c.fn === 'initialize').length).toBe(initsBefore); // nothing new was started
    // the TPM answers again: the hung calls return, their contexts are finalized, the budget frees
    releaseSign();
    releaseInit();
    await new Promise((r) => setTimeout(r, 10));
    expect(budget.stuck).toBe(0);
    expect(fapi.finalized).toEqual(expect.arrayContaining([0x100n, 0x200n]));
    await sign(1_000);
    pool.close();
  });

  it('caps the native calls outstanding at once across pools sharing a budget; queued calls wait, not fail', async () => {
    const fapi = createFapiDouble();
    let running = 0;
    let most = 0;
    const slow = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return { rc: 0, value: { signature: Buffer.alloc(1), publicKeyPem: '' } };
    };
    fapi.program('sign', ...Array.from({ length: 24 }, () => slow));
    const budget = new NativeCallBudget(2);
    const pools = [new ContextPool(fapi, opts(3, budget)), new ContextPool(fapi, opts(3, budget))];
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        pools[i % 2]?.run((ctx) => fapi.sign(ctx.handle, 'HS/SRK/k', null, Buffer.alloc(32)), {
          timeoutMs: 1_000,
          what: 'sign',
        }),
      ),
    );
    expect(most).toBe(2);
    expect(budget.outstanding).toBe(0);
    for (const pool of pools) pool.close();
  });

  it('the budget is the threadpool size less two, at least one', () => {
    expect(threadpoolSize({})).toBe(4);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: '16' })).toBe(16);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: 'lots' })).toBe(4);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: '0' })).toBe(4);
    expect(nativeCallLimit(4)).toBe(2);
    expect(nativeCallLimit(16)).toBe(14);
    expect(nativeCallLimit(2)).toBe(1);
    expect(nativeCallLimit(1)).toBe(1);
  });

  it("a simulator's refused TCP port fails fast, before any Fapi_Initialize", async () => {
    expect(tcpEndpointOf('swtpm:host=127.0.0.1,port=2321')).toEqual({ host: '127.0.0.1', port: 2321 });
    expect(tcpEndpointOf('swtpm:port=4000')).toEqual({ host: 'localhost', port: 4000 });
    expect(tcpEndpointOf('mssim')).toEqual({ host: 'localhost', port: 2321 });
    expect(tcpEndpointOf('device:/dev/tpmrm0')).toBeUndefined();
    expect(tcpEndpointOf('libtss2-tcti-swtpm.so.0:host=127.0.0.1,port=2400')).toEqual({
      host: '127.0.0.1',
      port: 2400,
    });
    expect(tcpEndpointOf('tcti-mssim')).toEqual({ host: 'localhost', port: 2321 });
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await checkSimulatorReachable(`swtpm:host=127.0.0.1,port=${port}`, 1_000);
    await new Promise((r) => server.close(r));
    const fapi = createFapiDouble();
    const t0 = Date.now();
    await expect(
      openContext(fapi, '/dev/null', 1_000, {
        tcti: `swtpm:host=127.0.0.1,port=${port}`,
        budget: new NativeCallBudget(2),
      }),
    ).rejects.toMatchObject({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE', hint: expect.stringMatching(/TPM running/) });
    expect(Date.now() - t0).toBeLessThan(500);
    expect(fapi.calls.filter((c) => c.fn === 'initialize')).toHaveLength(0);
  });

  it('initializes one at a time, sets TSS2_FAPICONF only when it must, and leaves it naming the config', async () => {
    const saved = process.env.TSS2_FAPICONF;
    process.env.TSS2_FAPICONF = '/app/chosen.json';
    try {
      const fapi = createFapiDouble();
      let inside = 0;
      let overlap = false;
      const slowInit = async () => {
        inside++;
        if (inside > 1) overlap = true;
        await new Promise((r) => setTimeout(r, 5));
        inside--;
        return { rc: 0, value: BigInt(0x3000 + fapi.calls.length) as never };
      };
      fapi.program('initialize', ...Array.from({ length: 6 }, () => slowInit));
      const budget = new NativeCallBudget(8);
      const opened = await Promise.all(
        ['/cfg/a.json', '/cfg/b.json', '/cfg/a.json', '/cfg/a.json', '/cfg/b.json', '/cfg/b.json'].map((file) =>
          openContext(fapi, file, 1_000, { budget }),
        ),
      );
      expect(overlap).toBe(false);
      const seen = fapi.calls.filter((c) => c.fn === 'initialize').map((c) => c.args[0]);
      expect(seen).toEqual(['/cfg/a.json', '/cfg/b.json', '/cfg/a.json', '/cfg/a.json', '/cfg/b.json', '/cfg/b.json']);
      // not restored: it names the last config used, and the app's own value stays known
      expect(process.env.TSS2_FAPICONF).toBe('/cfg/b.json');
      expect(ambientFapiConf()).toBe('/app/chosen.json');
      for (const context of opened) context.release();
      process.env.TSS2_FAPICONF = '/app/changed.json';
      expect(ambientFapiConf()).toBe('/app/changed.json');
    } finally {
      if (saved === undefined) delete process.env.TSS2_FAPICONF;
      else process.env.TSS2_FAPICONF = saved;
    }
  });

  it("the auth callback hands a key's password for that key's path alone", async () => {
    expect(sameFapiObject('P_ECCP256SHA256/HS/SRK/k', 'HS/SRK/k', 'P_ECCP256SHA256')).toBe(true);
    expect(sameFapiObject('/HS/SRK/k', 'HS/SRK/k')).toBe(true);
    expect(sameFapiObject('P_RSA2048SHA256/HS/SRK/k', '/P_RSA2048SHA256/HS/SRK/k', 'P_ECCP256SHA256')).toBe(true);
    expect(sameFapiObject('P_RSA2048SHA256/HS/SRK/k', 'HS/SRK/k', 'P_ECCP256SHA256')).toBe(false);
    expect(sameFapiObject('HS', 'HS/SRK/k')).toBe(false);
    expect(sameFapiObject('', '')).toBe(false);
    const fapi = createFapiDouble();
    const pool = new ContextPool(fapi, { ...opts(1), defaultProfile: 'P_ECCP256SHA256' });
    const answers = await pool.run(
      async (ctx) => {
        const ask = fapi.authSources.get(ctx.handle);
        return [
          'P_RSA2048SHA256/HS/SRK/k',
          '/P_RSA2048SHA256/HS/SRK/k',
          'P_ECCP256SHA256/HS/SRK/k',
          'HS/SRK/k',
          'P_RSA2048SHA256/HS/SRK',
          'P_RSA2048SHA256/HS',
          '/HS',
          'P_RSA2048SHA256/HS/SRK/other',
        ].map((path) => ask?.(path, ''));
      },
      { timeoutMs: 1_000, what: 'sign', password: 'pw', keyPath: '/P_RSA2048SHA256/HS/SRK/k' },
    );
    expect(answers).toEqual(['pw', 'pw', undefined, undefined, undefined, undefined, undefined, undefined]);
    // outside a call, or for a call without a password: nothing
    const handle = [...fapi.authSources.keys()][0] as bigint;
    expect(fapi.authSources.get(handle)?.('P_RSA2048SHA256/HS/SRK/k', '')).toBeUndefined();
    const none = await pool.run(async (ctx) => fapi.authSources.get(ctx.handle)?.('HS/SRK/k', ''), {
      timeoutMs: 1_000,
      what: 'sign',
      keyPath: 'HS/SRK/k',
    });
    expect(none).toBeUndefined();
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
    // a device TCTI: a simulator's (swtpm) port would be checked before each Fapi_Initialize of the double
    configFile = await writeFapiConfig({ dir: join(dir, 'dbl'), tcti: deviceTcti('/dev/null') });
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
    await expect(ec.signDigest(Buffer.alloc(20), P)).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
      providerId: 'tpm',
      message: 'a sha256 digest is 32 bytes long, not 20',
    });
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
    const fresh = await writeFapiConfig({ dir: join(dir, 'no384'), tcti: deviceTcti('/dev/null') });
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

  it('a create cancelled before Fapi_CreateKey starts never reaches it', async () => {
    const fapi = createFapiDouble();
    const provider = new TpmProvider({ configFile, native: fapi });
    const ac = new AbortController();
    ac.abort();
    await expect(
      provider.createKey({
        name: 'never',
        algorithm: 'ECDSA-P256',
        scope: 'user',
        exportable: false,
        signal: ac.signal,
      }),
    ).rejects.toMatchObject({ code: 'ERR_KEYSTORE_CANCELLED' });
    expect(fapi.calls.filter((c) => c.fn === 'createKey')).toHaveLength(0);
    await provider.close();
  });

  it('a create cancelled while Fapi_CreateKey runs lets it finish, deletes the new key, then rejects CANCELLED', async () => {
    const fapi = createFapiDouble();
    let finished = false;
    fapi.program('createKey', async () => {
      await new Promise((r) => setTimeout(r, 60));
      finished = true;
      return 0;
    });
    const provider = new TpmProvider({ configFile, native: fapi });
    const ac = new AbortController();
    const created = provider.createKey({
      name: 'half',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 20);
    await expect(created).rejects.toMatchObject({ code: 'ERR_KEYSTORE_CANCELLED' });
    expect(finished).toBe(true);
    const fns = fapi.calls.filter((c) => c.fn === 'createKey' || c.fn === 'delete' || c.fn === 'exportKey');
    expect(fns.map((c) => [c.fn, c.args[0]])).toEqual([
      ['createKey', '/P_RSA2048SHA256/HS/SRK/half'],
      ['delete', '/P_RSA2048SHA256/HS/SRK/half'],
    ]);
    expect(fapi.overlap).toBe(false);
    await provider.close();
  });

  it('on win32 the FAPI backend says unavailable and points to the Platform Crypto Provider backend', async () => {
    const saved = Object.getOwnPropertyDescriptor(process, 'platform');
    Object.defineProperty(process, 'platform', { value: 'win32' });
    try {
      const probe = await new TpmProvider({ configFile }).probe();
      expect(probe.available).toBe(false);
      expect(probe.reasons.join(' ')).toMatch(/pcpProvider\(\)/);
    } finally {
      if (saved) Object.defineProperty(process, 'platform', saved);
    }
  });
});
