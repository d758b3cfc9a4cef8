/**
 * The provider conformance suite: one set of tests every provider runs against itself.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { isKeyAlgorithm, type KeyAlgorithm } from '../algorithms.js';
import { KeyStoreError } from '../errors.js';
import type { KeyStoreProvider } from '../types.js';
import { defineImportPart } from './conformance-import.js';
import { defineAlgorithmParts } from './conformance-keys.js';
import { defineProviderBasics, defineProviderScopes, defineProviderSecrets } from './conformance-provider.js';
import { SuiteState } from './conformance-state.js';

/**
 * The test functions of the runner, passed in so this module loads no test runner itself. Vitest's
 * `describe`, `it`, `beforeAll` and `afterAll` fit as they are (so do Jest's and Mocha's equivalents).
 *
 * @since 0.1.0
 */
export interface ConformanceTestApi {
  /** Groups tests. */
  describe: (name: string, fn: () => void) => void;
  /**
   * Registers a test. When it has a `skip` method (vitest's and jest's `it` do), declared capability
   * skips are registered through it, so the runner counts them as skipped, not passed.
   */
  it: ((name: string, fn: () => Promise<void> | void, timeout?: number) => void) & {
    skip?: (name: string, fn: () => Promise<void> | void) => void;
  };
  /** Runs once before the tests of the enclosing group. */
  beforeAll: (fn: () => Promise<void> | void, timeout?: number) => void;
  /** Runs once after the tests of the enclosing group. */
  afterAll: (fn: () => Promise<void> | void, timeout?: number) => void;
}

/**
 * A part of the suite a provider can declare it does not support, in {@link ConformanceOptions.skip}.
 *
 * - `decrypt`: RSA-OAEP decryption.
 * - `derive`: ECDH.
 * - `pss`, `pkcs1`: RSA signatures with that padding.
 * - `signDigest`: signing a precomputed digest. Keys must then have `signMessage`, through which the
 *   suite checks that they sign (imported keys included).
 * - `exportable`: creating exportable keys and exporting them.
 * - `passwords`: keys protected by a password.
 * - `machineScope`: keys in the `machine` scope.
 * - `listKeys`: listing keys.
 * - `deleteKey`: deleting keys.
 * - `cancellation`: rejecting a create whose `AbortSignal` has fired.
 * - `duplicateName`: rejecting a create of a name that exists.
 * - `importKey` (since 0.2.0): importing Node-generated private keys of every tested algorithm
 *   ({@link KeyStoreProvider.importKey}): the imported key has the public key given, signs (verified
 *   with the original public key) or derives, and is not exportable unless asked. A provider whose
 *   capabilities do not claim `importKeys` passes this part when it has no `importKey` method, so
 *   providers written before the capability existed need not declare the skip.
 *
 * @since 0.1.0
 */
export type ConformanceCapability =
  | 'decrypt'
  | 'derive'
  | 'pss'
  | 'pkcs1'
  | 'signDigest'
  | 'exportable'
  | 'passwords'
  | 'machineScope'
  | 'listKeys'
  | 'deleteKey'
  | 'cancellation'
  | 'duplicateName'
  | 'importKey';

/**
 * Options of {@link defineProviderConformanceSuite}.
 *
 * @since 0.1.0
 */
export interface ConformanceOptions {
  /** Shown in the test names (e.g. `memory`, `tpm on swtpm`). */
  name: string;
  /** Makes the provider under test. Called once, before the tests (see `algorithms`). */
  createProvider: () => KeyStoreProvider | Promise<KeyStoreProvider>;
  /** The runner's functions (pass vitest's `describe`, `it`, `beforeAll`, `afterAll`). */
  test: ConformanceTestApi;
  /**
   * The algorithms to exercise; each must be in the provider's capabilities. Default: every algorithm
   * in its capabilities, read by calling `createProvider()` while the tests are defined; that call
   * must then return the provider itself, not a promise, and the same provider serves the tests.
   */
  algorithms?: readonly KeyAlgorithm[];
  /**
   * Parts of the suite the provider declares it cannot do, each with the reason, shown as a test
   * named `<part> — skipped: <reason>`. A part that is neither skipped nor in the provider's
   * capabilities fails, so capabilities and skips stay honest.
   */
  skip?: Partial<Record<ConformanceCapability, string>>;
  /** Prefix of every key name the suite creates, so parallel runs do not collide (default: random). */
  keyNamePrefix?: string;
  /** Timeout of each test and hook in milliseconds (default: the runner's). */
  timeout?: number;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The tested algorithms: the options', or the capabilities of the provider made now (returned as `early`). */
function testedAlgorithms(options: ConformanceOptions): { algorithms: KeyAlgorithm[]; early?: KeyStoreProvider } {
  let early: KeyStoreProvider | undefined;
  let algorithms: KeyAlgorithm[];
  if (options.algorithms) {
    algorithms = [...options.algorithms];
  } else {
    const made = options.createProvider();
    if (isPromise(made)) {
      // Avoid an unhandled rejection from the discarded promise.
      made.catch(() => {});
      throw new TypeError('pass `algorithms` when createProvider returns a promise');
    }
    early = made;
    algorithms = [...made.capabilities.algorithms];
  }
  for (const algorithm of algorithms) {
    if (!isKeyAlgorithm(algorithm)) throw new TypeError(`unknown algorithm in conformance options: ${algorithm}`);
  }
  return early === undefined ? { algorithms } : { algorithms, early };
}

/**
 * Defines the provider conformance tests with the runner's functions: probe, create, open, list,
 * sign (verified with Node's `crypto.verify`), decrypt (of Node's OAEP ciphertext), ECDH (against
 * Node's `diffieHellman`), export rules, key import, cancellation, not-found and exists errors, delete and close,
 * for every algorithm. Keys it creates are deleted afterwards. It asserts with `node:assert/strict`
 * and imports no test runner, so it works from ESM and CJS alike.
 *
 * @example
 * ```ts
 * import { afterAll, beforeAll, describe, it } from 'vitest';
 * import { defineProviderConformanceSuite } from '@keystore/core/testing';
 * import { tpmProvider } from '@keystore/provider-tpm';
 *
 * defineProviderConformanceSuite({
 *   name: 'tpm on swtpm',
 *   createProvider: () => tpmProvider(),
 *   test: { describe, it, beforeAll, afterAll },
 *   algorithms: ['ECDSA-P256', 'RSA-2048'],
 *   skip: { exportable: 'the private part of a TPM key never leaves the TPM' },
 * });
 * ```
 * @since 0.1.0
 */
export function defineProviderConformanceSuite(options: ConformanceOptions): void {
  const { test, timeout } = options;
  if (typeof options.name !== 'string' || typeof options.createProvider !== 'function' || !test) {
    throw new TypeError('defineProviderConformanceSuite needs name, createProvider and test');
  }
  const skips: Partial<Record<ConformanceCapability, string>> = { ...options.skip };
  const prefix = options.keyNamePrefix ?? `conformance-${randomBytes(4).toString('hex')}-`;
  const { algorithms, early } = testedAlgorithms(options);
  const s = new SuiteState(test, timeout, skips, prefix, algorithms);

  test.describe(`provider conformance: ${options.name}`, () => {
    test.beforeAll(async () => {
      const provider = early ?? (await options.createProvider());
      s.provider = provider;
      s.probe = await provider.probe();
      s.scope = provider.capabilities.scopes.includes('user') ? 'user' : (provider.capabilities.scopes[0] ?? 'user');
    }, timeout);

    test.afterAll(async () => {
      for (const handle of s.handles.splice(0)) {
        await handle.close().catch(() => {});
      }
      const provider = s.provider;
      if (provider) {
        for (const { name, scope: keyScope } of s.created.splice(0)) {
          try {
            await provider.deleteKey({ name, scope: keyScope });
          } catch (err) {
            if (!KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')) throw err;
          }
        }
        await provider.close?.();
      }
    }, timeout);

    defineProviderBasics(s);
    defineProviderScopes(s);
    defineProviderSecrets(s);
    defineImportPart(s);
    defineAlgorithmParts(s);
  });
}
