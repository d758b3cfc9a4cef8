/**
 * Trust properties of the provider's logic, over the FAPI double (test/helpers/fapi-double.ts):
 * names that collide with FAPI's own files, passwords out of reach of object dumps while a call
 * runs, and a native call budget that cancelled calls never exhaust. The same properties on swtpm
 * are in trust.int.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { KeyStoreError } from '@keystore/core';
import { createTestKeyStore } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardNativeCall, NativeCallBudget } from '../src/budget.js';
import { deviceTcti, isValidKeyName, TpmProvider, writeFapiConfig } from '../src/index.js';
import { openContext } from '../src/pool.js';
import { Secret } from '../src/secret.js';
import { createFapiDouble } from './helpers/fapi-double.js';

let dir: string;
let configFile: string;
const PASSWORD = 'pw-7f3a9c-never-shown';
const ecPem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' });
const exportedEc = JSON.stringify({
  system: 'NO',
  pem_ext_public: ecPem,
  public: {
    publicArea: {
      type: 'ECC',
      objectAttributes: { fixedTPM: 1, sensitiveDataOrigin: 1, restricted: 0, sign: 1, decrypt: 0 },
      parameters: { curveID: 'NIST_P256' },
    },
  },
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keystore-tpm-trust-'));
  configFile = await writeFapiConfig({ dir, tcti: deviceTcti('/dev/null') });
  for (const p of ['P_ECCP256SHA256', 'P_ECCP384SHA384', 'P_RSA2048SHA256']) {
    mkdirSync(join(dir, 'system', p, 'HS', 'SRK'), { recursive: true });
    writeFileSync(join(dir, 'system', p, 'HS', 'SRK', 'object.json'), '{}');
  }
  mkdirSync(join(dir, 'user', 'P_ECCP256SHA256', 'HS', 'SRK', 'ec'), { recursive: true });
  writeFileSync(join(dir, 'user', 'P_ECCP256SHA256', 'HS', 'SRK', 'ec', 'object.json'), '{}');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('names that are FAPI files', () => {
  const FAPI_FILES = ['object.json', 'x.json', 'OBJECT.JSON', 'key.Json', '.json'];

  it('are not valid key names; near misses are', () => {
    for (const name of FAPI_FILES) expect(isValidKeyName(name)).toBe(false);
    for (const name of ['json', 'x.jsonl', 'x.json.bak', 'object', 'x_json']) expect(isValidKeyName(name)).toBe(true);
  });

  it('are ERR_KEYSTORE_INVALID_NAME before any native call, for create, open and delete', async () => {
    const fapi = createFapiDouble();
    const provider = new TpmProvider({ configFile, native: fapi });
    for (const name of FAPI_FILES) {
      for (const attempt of [
        () => provider.createKey({ name, algorithm: 'ECDSA-P256', scope: 'user', exportable: false }),
        () => provider.openKey({ name, scope: 'user' }),
        () => provider.deleteKey({ name, scope: 'user' }),
      ]) {
        let failure: unknown;
        try {
          await attempt();
        } catch (err) {
          failure = err;
        }
        expect(KeyStoreError.is(failure, 'ERR_KEYSTORE_INVALID_NAME')).toBe(true);
        expect((failure as KeyStoreError).message).toMatch(/\.json/);
      }
    }
    expect(fapi.calls).toEqual([]);
    await provider.close();
  });
});

describe('passwords while a call runs', () => {
  it('util.inspect of the store (any depth), JSON.stringify and the error of the call never show the password', async () => {
    const fapi = createFapiDouble();
    fapi.program('exportKey', async () => ({ rc: 0, value: exportedEc }));
    let finish: (value: unknown) => void = () => undefined;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    // the sign stays open until the test lets it fail
    fapi.program('sign', () => {
      started();
      return new Promise((resolve) => {
        finish = resolve;
      });
    });
    const provider = new TpmProvider({ configFile, native: fapi });
    const store = await createTestKeyStore({
      providers: [provider],
      policy: { minimumIsolation: 'in-process' },
      machinePolicy: null,
      registryPolicy: null,
    });
    const key = await store.openKey('ec', { password: PASSWORD });
    const signing = key.sign(Buffer.from('data')).then(
      () => undefined,
      (err: unknown) => err,
    );
    await running;
    // the auth callback does hand the password to FAPI for this key during the call
    const [context] = [...fapi.authSources.keys()].slice(-1);
    expect(fapi.authSources.get(context as bigint)?.('P_ECCP256SHA256/HS/SRK/ec', '')).toBe(PASSWORD);

    for (const target of [store, provider, key]) {
      expect(inspect(target, { depth: Infinity, showHidden: true, getters: true })).not.toContain(PASSWORD);
    }
    const secret = new Secret(PASSWORD);
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
    expect(`${secret}`).toBe('[redacted]');
    expect(inspect({ secret }, { depth: Infinity, showHidden: true })).not.toContain(PASSWORD);
    expect(secret.reveal()).toBe(PASSWORD);

    finish({ rc: 0x60020 });
    const failure = await signing;
    expect(KeyStoreError.is(failure)).toBe(true);
    expect(inspect(failure, { depth: Infinity, showHidden: true })).not.toContain(PASSWORD);
    expect(JSON.stringify(failure)).not.toContain(PASSWORD);
    await store.close();
  });
});

describe('the native call budget and cancelled calls', () => {
  const pending = () => {
    let resolve: (v: string) => void = () => undefined;
    const promise = new Promise<string>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  };

  it('cancelled calls that are still running keep their places as running calls, not hung ones: others wait, none is refused', async () => {
    const budget = new NativeCallBudget(2);
    const calls = [pending(), pending()];
    const controllers = [new AbortController(), new AbortController()];
    const outcomes = calls.map((c, i) =>
      guardNativeCall(budget, () => c.promise, { timeoutMs: 5_000, signal: controllers[i]?.signal, what: 'sign' }),
    );
    await new Promise((r) => setImmediate(r));
    for (const c of controllers) c.abort();
    expect((await Promise.all(outcomes)).map((o) => o.kind)).toEqual(['abandoned', 'abandoned']);
    expect(budget.stuck).toBe(0);
    expect(budget.exhausted).toBe(false);
    expect(budget.outstanding).toBe(2);
    // a call from another store waits for a place, and runs when a cancelled call returns
    const other = guardNativeCall(budget, async () => 'signed', { timeoutMs: 5_000, what: 'sign' });
    calls[0]?.resolve('late');
    expect(await other).toEqual({ kind: 'done', value: 'signed' });
    calls[1]?.resolve('late');
    await new Promise((r) => setImmediate(r));
    expect(budget.outstanding).toBe(0);
  });

  it('a cancelled call still running when its time limit passes counts as hung; a timed-out call at once', async () => {
    const budget = new NativeCallBudget(2);
    const slow = pending();
    const ac = new AbortController();
    const cancelled = guardNativeCall(budget, () => slow.promise, { timeoutMs: 80, signal: ac.signal, what: 'sign' });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    expect((await cancelled).kind).toBe('abandoned');
    expect(budget.stuck).toBe(0);
    await new Promise((r) => setTimeout(r, 120));
    expect(budget.stuck).toBe(1);
    const stuck = pending();
    const timedOut = await guardNativeCall(budget, () => stuck.promise, { timeoutMs: 20, what: 'sign' });
    expect(timedOut.kind).toBe('abandoned');
    expect(budget.stuck).toBe(2);
    expect(budget.exhausted).toBe(true);
    slow.resolve('late');
    stuck.resolve('late');
    await new Promise((r) => setImmediate(r));
    expect(budget.stuck).toBe(0);
    expect(budget.outstanding).toBe(0);
  });
});

describe('the TCTI actually used', () => {
  it('a context whose config file no longer names the TCTI the receipts were judged by is finalized and refused', async () => {
    const file = await writeFapiConfig({ dir: join(dir, 'moving'), tcti: deviceTcti('/dev/null') });
    const fapi = createFapiDouble();
    const budget = new NativeCallBudget(2);
    const ok = await openContext(fapi, file, 500, { expectTcti: 'device:/dev/null', budget });
    ok.release();
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...raw, tcti: 'libtss2-tcti-swtpm.so.0:port=2321' }));
    let failure: unknown;
    try {
      await openContext(fapi, file, 500, { expectTcti: 'device:/dev/null', budget });
    } catch (err) {
      failure = err;
    }
    expect(KeyStoreError.is(failure, 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE')).toBe(true);
    expect((failure as KeyStoreError).message).toMatch(/changed/);
    // both contexts FAPI opened were finalized: the refused one at once
    expect(fapi.finalized).toHaveLength(2);

    // through the provider: probe() says unavailable once the file names another TCTI
    writeFileSync(file, JSON.stringify(raw));
    const provider = new TpmProvider({ configFile: file, native: createFapiDouble() });
    expect((await provider.probe()).available).toBe(true);
    writeFileSync(file, JSON.stringify({ ...raw, tcti: 'swtpm:port=2321' }));
    const probe = await provider.probe();
    expect(probe.available).toBe(false);
    expect(probe.reasons.join(' ')).toMatch(/changed/);
    await provider.close();
  });
});

describe('close() during calls', () => {
  it('a create whose Fapi_CreateKey runs finishes, its key is deleted on a context of its own, queued calls reject typed, and close() waits for all that', async () => {
    const fapi = createFapiDouble();
    fapi.program('exportKey', async () => ({ rc: 0, value: exportedEc }));
    let created: () => void = () => undefined;
    let startedCreate: () => void = () => undefined;
    const creating = new Promise<void>((resolve) => {
      startedCreate = resolve;
    });
    fapi.program('createKey', () => {
      startedCreate();
      return new Promise((resolve) => {
        created = () => resolve(0);
      });
    });
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    const ec = await provider.openKey({ name: 'ec', scope: 'user' });
    const create = provider
      .createKey({ name: 'interrupted', algorithm: 'ECDSA-P256', scope: 'user', exportable: false })
      .then(
        () => 'resolved',
        (err: unknown) => (KeyStoreError.is(err) ? err.code : String(err)),
      );
    await creating;
    // one context, busy with the create: this sign waits for it
    const queued = ec.signDigest(Buffer.alloc(32), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }).then(
      () => 'resolved',
      (err: unknown) => (KeyStoreError.is(err) ? err.code : String(err)),
    );
    let closed = false;
    const closing = provider.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false);
    created();
    await closing;
    expect(await create).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(await queued).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    const order = fapi.calls.map((c) => c.fn).filter((fn) => fn !== 'setAuthCallback' && fn !== 'getInfo');
    const at = order.indexOf('createKey');
    // after the create: its context is finalized, a fresh one deletes the key, and is finalized too
    expect(order.slice(at)).toEqual(['createKey', 'finalize', 'initialize', 'delete', 'finalize']);
    expect(fapi.calls.find((c) => c.fn === 'delete')?.args).toEqual(['HS/SRK/interrupted']);
    expect(fapi.calls.filter((c) => c.fn === 'sign')).toHaveLength(0);
    expect(fapi.overlap).toBe(false);
  });
});
