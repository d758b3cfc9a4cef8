/**
 * A delete whose signal fires, over the FAPI double (test/helpers/fapi-double.ts): before
 * `Fapi_Delete` starts it is cancelled and nothing is deleted; once it has started it runs to its
 * end, and its outcome is the answer, so a key that is gone is never reported as cancelled.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTcti, TpmProvider, writeFapiConfig } from '../src/index.js';
import { createFapiDouble } from './helpers/fapi-double.js';

const PROFILES = ['P_ECCP256SHA256', 'P_ECCP384SHA384', 'P_RSA2048SHA256'];
const codeOf = (err: unknown) => (KeyStoreError.is(err) ? err.code : `not a KeyStoreError: ${String(err)}`);
const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: unknown) => codeOf(err),
  );

let dir: string;
let configFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keystore-tpm-delete-'));
  configFile = await writeFapiConfig({ dir, tcti: deviceTcti('/dev/null') });
  // every profile counts as provisioned (its SRK's object.json exists)
  for (const p of PROFILES) {
    mkdirSync(join(dir, 'system', p, 'HS', 'SRK'), { recursive: true });
    writeFileSync(join(dir, 'system', p, 'HS', 'SRK', 'object.json'), '{}');
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A key of that name on disk, as Fapi_CreateKey leaves one. */
function plantKey(name: string): void {
  const keyDir = join(dir, 'user', 'P_ECCP256SHA256', 'HS', 'SRK', name);
  mkdirSync(keyDir, { recursive: true });
  writeFileSync(join(keyDir, 'object.json'), '{}');
}

describe('a delete whose signal fires (FAPI double, no TPM needed)', () => {
  it('while Fapi_Delete runs: the call runs to its end and the delete resolves, since the key is gone', async () => {
    plantKey('running');
    const fapi = createFapiDouble();
    const controller = new AbortController();
    let finish: (rc: number) => void = () => undefined;
    fapi.program('delete', () => {
      // the signal fires once the call is under way
      setTimeout(() => controller.abort(), 5);
      return new Promise((resolve) => {
        finish = resolve;
      });
    });
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    try {
      const outcome = settle(provider.deleteKey({ name: 'running', scope: 'user', signal: controller.signal }));
      // the abort has fired; the delete is still running
      await new Promise((r) => setTimeout(r, 20));
      finish(0);
      expect(await outcome).toBe('resolved');
      expect(fapi.calls.filter((c) => c.fn === 'delete').map((c) => c.args[0])).toEqual(['HS/SRK/running']);
    } finally {
      await provider.close();
    }
  });

  it('while Fapi_Delete runs and then fails: the failure is the answer, not CANCELLED', async () => {
    plantKey('failing');
    const fapi = createFapiDouble();
    const controller = new AbortController();
    fapi.program('delete', async () => {
      await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      await new Promise((r) => setTimeout(r, 10));
      return 0x60022; // TSS2_FAPI_RC_PATH_NOT_FOUND
    });
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    try {
      const outcome = await settle(provider.deleteKey({ name: 'failing', scope: 'user', signal: controller.signal }));
      expect(outcome).not.toBe('ERR_KEYSTORE_CANCELLED');
      expect(outcome).toMatch(/^ERR_KEYSTORE_/);
    } finally {
      await provider.close();
    }
  });

  it('before Fapi_Delete starts: CANCELLED, and no delete reaches FAPI', async () => {
    plantKey('early');
    const fapi = createFapiDouble();
    const provider = new TpmProvider({ configFile, native: fapi, poolSize: 1 });
    try {
      const controller = new AbortController();
      controller.abort();
      expect(await settle(provider.deleteKey({ name: 'early', scope: 'user', signal: controller.signal }))).toBe(
        'ERR_KEYSTORE_CANCELLED',
      );
      expect(fapi.calls.filter((c) => c.fn === 'delete')).toHaveLength(0);
    } finally {
      await provider.close();
    }
  });
});
