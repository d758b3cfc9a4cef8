// Random inputs to every public method of the provider and its keys, over the native double: each
// call resolves or rejects with a KeyStoreError, and no handle stays open once keys are closed.
// (fuzz in wine.int.test.ts does the same against real CryptoAPI inside Windows Node.)

import { generateKeyPairSync } from 'node:crypto';
import { KeyStoreError } from '@keystore/core';
import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CapiKey, CapiProvider } from '../src/index.js';
import { createAdvapiDouble } from './helpers/advapi-double.js';

const FLAG = Symbol.for('@keystore/provider-capi/legacy-warning-emitted');
beforeAll(() => {
  (globalThis as Record<symbol, unknown>)[FLAG] = true;
});
afterAll(() => {
  delete (globalThis as Record<symbol, unknown>)[FLAG];
});

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

/** Anything a caller might pass: well-formed values, near misses and junk. */
const anything = fc.oneof(
  fc.constantFrom('user', 'machine', 'RSA-2048', 'RSA-3072', 'ECDSA-P256', 'sha1', 'sha256', 'pkcs1', 'pss', ''),
  fc.string({ maxLength: 80 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.alloc(32)),
  fc.constant(Buffer.alloc(256)),
  fc.constant(rsa.privateKey),
  fc.constant(ec.privateKey),
  fc.constant(AbortSignal.abort()),
);
const name = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/),
  fc.string({ maxLength: 300 }),
  fc.constantFrom('{GUID-like}', 'a\\b', ' x', 'exists'),
  anything,
);
const request = fc.record(
  {
    name,
    scope: anything,
    algorithm: anything,
    exportable: anything,
    password: anything,
    signal: anything,
    privateKey: anything,
    minimumIsolation: anything,
  },
  { requiredKeys: [] },
);
const params = fc.oneof(
  fc.record({ hash: anything, padding: anything, saltLength: anything }, { requiredKeys: [] }),
  anything,
);

type Step =
  | { op: 'createKey' | 'openKey' | 'deleteKey' | 'importKey'; request: unknown }
  | { op: 'listKeys'; options: unknown }
  | { op: 'probe' }
  | { op: 'signDigest'; digest: unknown; params: unknown }
  | { op: 'decrypt'; ciphertext: unknown; hash: unknown }
  | { op: 'exportPrivateKey' }
  | { op: 'close' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constantFrom('createKey', 'openKey', 'deleteKey', 'importKey' as const),
    request: fc.oneof(request, anything),
  }),
  fc.record({
    op: fc.constant('listKeys' as const),
    options: fc.oneof(fc.record({ scope: anything, signal: anything }, { requiredKeys: [] }), anything),
  }),
  fc.record({ op: fc.constant('probe' as const) }),
  fc.record({ op: fc.constant('signDigest' as const), digest: anything, params }),
  fc.record({ op: fc.constant('decrypt' as const), ciphertext: anything, hash: anything }),
  fc.record({ op: fc.constant('exportPrivateKey' as const) }),
  fc.record({ op: fc.constant('close' as const) }),
);

describe('random inputs to every public method (over the native double)', () => {
  it('typed errors only, and every handle released', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const native = createAdvapiDouble();
        native.addKey('user', 'exists', 1, 2048, true);
        const provider = new CapiProvider({
          native,
          [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
        });
        const keys: CapiKey[] = [await provider.openKey({ name: 'exists', scope: 'user' })];
        for (const s of steps) {
          const key = keys[keys.length - 1] as CapiKey;
          try {
            const p = provider as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
            const k = key as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
            let result: unknown;
            switch (s.op) {
              case 'createKey':
              case 'openKey':
              case 'importKey':
                result = await p[s.op]!(s.request);
                keys.push(result as CapiKey);
                break;
              case 'deleteKey':
                await p.deleteKey!(s.request);
                break;
              case 'listKeys':
                result = await p.listKeys!(s.options);
                expect(Array.isArray(result)).toBe(true);
                break;
              case 'probe':
                expect(typeof ((await provider.probe()) as { available: unknown }).available).toBe('boolean');
                break;
              case 'signDigest':
                await k.signDigest!(s.digest, s.params);
                break;
              case 'decrypt':
                await k.decrypt!(s.ciphertext, s.hash);
                break;
              case 'exportPrivateKey':
                await k.exportPrivateKey!();
                break;
              case 'close':
                await key.close();
                break;
            }
          } catch (err) {
            if (!KeyStoreError.is(err)) throw new Error(`${s.op} threw a non-KeyStoreError: ${String(err)}`);
          }
        }
        await Promise.all(keys.map((k) => k.close()));
        expect(native.openHandles()).toBe(0);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
