/**
 * Creates that race and creates that stop, over the FAPI double (test/helpers/fapi-double.ts): the
 * claim on a key name (in this process and through lock files of other processes, stale ones taken
 * over), the rollback of a cancelled create when the pool refuses its delete, and a profile that
 * another context provisioned first. The same on swtpm is in create-race.int.test.ts.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTcti, TpmProvider, writeFapiConfig } from '../src/index.js';
import { createFapiDouble } from './helpers/fapi-double.js';

const PROFILES = ['P_ECCP256SHA256', 'P_ECCP384SHA384', 'P_RSA2048SHA256'];
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
const codeOf = (err: unknown) => (KeyStoreError.is(err) ? err.code : `not a KeyStoreError: ${String(err)}`);
const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: unknown) => codeOf(err),
  );
const request = (name: string, algorithm = 'ECDSA-P256' as 'ECDSA-P256' | 'ECDSA-P384', signal?: AbortSignal) => ({
  name,
  algorithm,
  scope: 'user' as const,
  exportable: false,
  ...(signal ? { signal } : {}),
});

let dir: string;
let configFile: string;
let sleeper: ChildProcess;

/** A keystore whose profiles count as provisioned (their SRK's object.json exists). */
async function provisionedConfig(name: string): Promise<string> {
  const root = join(dir, name);
  const file = await writeFapiConfig({ dir: root, tcti: deviceTcti('/dev/null') });
  for (const p of PROFILES) {
    mkdirSync(join(root, 'system', p, 'HS', 'SRK'), { recursive: true });
    writeFileSync(join(root, 'system', p, 'HS', 'SRK', 'object.json'), '{}');
  }
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keystore-tpm-claim-'));
  configFile = await provisionedConfig('main');
  sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
});
afterAll(async () => {
  sleeper.kill();
  await rm(dir, { recursive: true, force: true });
});

const lockDir = () => join(dir, 'main', 'user', '.keystore-create');

describe('two creates of one name', () => {
  it('in two providers of one process: the second fails with KEY_EXISTS before any native call, whatever its algorithm; the claim is gone afterwards', async () => {
    const fapi = createFapiDouble();
    fapi.program('exportKey', async () => ({ rc: 0, value: exportedEc }));
    let finish: () => void = () => undefined;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    fapi.program('createKey', () => {
      started();
      return new Promise((resolve) => {
        finish = () => resolve(0);
      });
    });
    const a = new TpmProvider({ configFile, native: fapi });
    const b = new TpmProvider({ configFile, native: fapi });
    try {
      const first = a.createKey(request('twice'));
      await running;
      expect(readdirSync(lockDir())).toEqual(['twice.lock']);
      expect(await settle(b.createKey(request('twice', 'ECDSA-P384')))).toBe('ERR_KEYSTORE_KEY_EXISTS');
      expect(await settle(a.createKey(request('twice')))).toBe('ERR_KEYSTORE_KEY_EXISTS');
      finish();
      await (await first).close();
      expect(fapi.calls.filter((c) => c.fn === 'createKey')).toHaveLength(1);
      expect(existsSync(lockDir())).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a lock file of another live process is KEY_EXISTS; one of a process that is gone, an old one, or a claim released is taken', async () => {
    const fapi = createFapiDouble();
    fapi.program('exportKey', ...Array.from({ length: 3 }, () => async () => ({ rc: 0, value: exportedEc })));
    const provider = new TpmProvider({ configFile, native: fapi });
    const lock = join(lockDir(), 'held.lock');
    const plant = (text: string) => {
      mkdirSync(lockDir(), { recursive: true });
      writeFileSync(lock, text);
    };
    try {
      // another process creating "held" right now
      plant(`${sleeper.pid} ${Date.now()}\n`);
      expect(await settle(provider.createKey(request('held')))).toBe('ERR_KEYSTORE_KEY_EXISTS');
      // a lock file still being written (empty) by another process
      plant('');
      expect(await settle(provider.createKey(request('held')))).toBe('ERR_KEYSTORE_KEY_EXISTS');
      expect(fapi.calls.filter((c) => c.fn === 'createKey')).toHaveLength(0);
      // left by a process that is gone
      const gone = spawnSync('true').pid;
      plant(`${gone} ${Date.now()}\n`);
      expect(await settle(provider.createKey(request('held')))).toBe('resolved');
      expect(existsSync(lockDir())).toBe(false);
      // older than any create runs, though its pid is alive (pids are reused)
      plant(`${sleeper.pid} ${Date.now()}\n`);
      const old = new Date(Date.now() - 11 * 60_000);
      utimesSync(lock, old, old);
      expect(await settle(provider.createKey(request('held')))).toBe('resolved');
      expect(existsSync(lockDir())).toBe(false);
      expect(fapi.calls.filter((c) => c.fn === 'createKey')).toHaveLength(2);
    } finally {
      await provider.close();
    }
  });
});

describe('a cancelled create whose pool refuses the delete', () => {
  it('deletes its key on a context of its own, then rejects with CANCELLED', async () => {
    const fapi = createFapiDouble();
    const controller = new AbortController();
    fapi.program('createKey', async () => {
      controller.abort();
      return 0;
    });
    // the pool's delete fails with a TCTI error; the one on a context of its own succeeds
    fapi.program('delete', async () => 0xa000a);
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    try {
      expect(await settle(provider.createKey(request('refused', 'ECDSA-P256', controller.signal)))).toBe(
        'ERR_KEYSTORE_CANCELLED',
      );
      const deletes = fapi.calls.filter((c) => c.fn === 'delete');
      expect(deletes.map((c) => c.args[0])).toEqual(['HS/SRK/refused', 'HS/SRK/refused']);
      expect(deletes[0]?.context).not.toBe(deletes[1]?.context);
      expect(existsSync(lockDir())).toBe(false);
    } finally {
      await provider.close();
    }
  });

  it('when no delete succeeds and the key was already opened, resolves with the key rather than reject and leave it', async () => {
    const fapi = createFapiDouble();
    const controller = new AbortController();
    // the key "exists" on disk, as Fapi_CreateKey would have left it
    const keyDir = join(dir, 'main', 'user', 'P_ECCP256SHA256', 'HS', 'SRK', 'stuck');
    fapi.program('createKey', async () => {
      mkdirSync(keyDir, { recursive: true });
      writeFileSync(join(keyDir, 'object.json'), '{}');
      return 0;
    });
    fapi.program('exportKey', async () => {
      controller.abort();
      return { rc: 0, value: exportedEc };
    });
    fapi.program(
      'delete',
      async () => 0xa000a,
      async () => 0xa000a,
    );
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    try {
      const key = await provider.createKey(request('stuck', 'ECDSA-P256', controller.signal));
      expect(key.name).toBe('stuck');
      expect(fapi.calls.filter((c) => c.fn === 'delete')).toHaveLength(2);
      await key.close();
    } finally {
      await provider.close();
      await rm(keyDir, { recursive: true, force: true });
    }
  });
});

describe('a profile another context provisioned first', () => {
  it("FAPI's PATH_ALREADY_EXISTS while provisioning counts as provisioned: the create goes on and no profile is dropped", async () => {
    const fresh = await writeFapiConfig({ dir: join(dir, 'fresh'), tcti: deviceTcti('/dev/null') });
    const fapi = createFapiDouble();
    fapi.program('provision', ...PROFILES.map(() => async () => 0x6001f));
    fapi.program('exportKey', async () => ({ rc: 0, value: exportedEc }));
    const provider = new TpmProvider({ configFile: fresh, native: fapi });
    try {
      expect(await settle(provider.createKey(request('after-race')))).toBe('resolved');
      expect(fapi.calls.filter((c) => c.fn === 'provision')).toHaveLength(3);
      expect(provider.capabilities.algorithms).toEqual(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048']);
    } finally {
      await provider.close();
    }
  });
});

describe('a create whose Fapi_CreateKey stored the key and then failed', () => {
  /** Makes the key's object.json, as Fapi_CreateKey does before its last steps. */
  const storeKey = (name: string) => {
    const keyDir = join(dir, 'main', 'user', 'P_ECCP256SHA256', 'HS', 'SRK', name);
    mkdirSync(keyDir, { recursive: true });
    writeFileSync(join(keyDir, 'object.json'), '{}');
    return keyDir;
  };

  it('a TPM warning after the store, then PATH_ALREADY_EXISTS on the retry: the key is verified and handed out', async () => {
    const fapi = createFapiDouble();
    fapi.program(
      'createKey',
      async () => {
        storeKey('warned');
        return 0x903; // TPM2_RC_SESSION_MEMORY: retried
      },
      async () => 0x6001f, // TSS2_FAPI_RC_PATH_ALREADY_EXISTS
    );
    fapi.program('exportKey', async () => ({ rc: 0, value: exportedEc }));
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    try {
      const key = await provider.createKey(request('warned'));
      expect(key.name).toBe('warned');
      expect(fapi.calls.filter((c) => c.fn === 'createKey')).toHaveLength(2);
      expect(fapi.calls.filter((c) => c.fn === 'delete')).toHaveLength(0);
      await key.close();
    } finally {
      await provider.close();
      await rm(join(dir, 'main', 'user', 'P_ECCP256SHA256', 'HS', 'SRK', 'warned'), { recursive: true, force: true });
    }
  });

  it('and the signal fired meanwhile: the key is deleted and the create rejects CANCELLED, saying so', async () => {
    const fapi = createFapiDouble();
    const controller = new AbortController();
    let keyDir = '';
    fapi.program('createKey', async () => {
      keyDir = storeKey('stopped');
      controller.abort();
      return 0x903;
    });
    // the double's delete removes nothing: the test removes the file when FAPI is asked to
    fapi.program('delete', async () => {
      await rm(keyDir, { recursive: true, force: true });
      return 0;
    });
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    try {
      const err = await provider.createKey(request('stopped', 'ECDSA-P256', controller.signal)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(codeOf(err)).toBe('ERR_KEYSTORE_CANCELLED');
      expect((err as Error).message).toContain('the new key was deleted');
      expect(fapi.calls.filter((c) => c.fn === 'delete').map((c) => c.args[0])).toEqual(['HS/SRK/stopped']);
      expect(existsSync(keyDir)).toBe(false);
    } finally {
      await provider.close();
    }
  });
});
