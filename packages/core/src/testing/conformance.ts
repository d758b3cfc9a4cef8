/**
 * The provider conformance suite: one set of tests every provider runs against itself.
 *
 * @module
 */
import assert from 'node:assert/strict';
import {
  constants,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  verify,
} from 'node:crypto';
import {
  algorithmInfo,
  digestLength,
  HASH_ALGORITHMS,
  type HashAlgorithm,
  isKeyAlgorithm,
  type KeyAlgorithm,
  type KeyOperation,
  type KeyScope,
  type RsaPadding,
} from '../algorithms.js';
import { KeyStoreError, type KeyStoreErrorCode } from '../errors.js';
import { publicKeyMatchesAlgorithm } from '../formats.js';
import { isIsolationLevel, isolationRank } from '../isolation.js';
import type { KeyStoreProvider, ProbeResult, ProviderKey, ProviderSignature, SignatureScheme } from '../types.js';

/** A Node key pair for `algorithm`, generated off the main thread. */
function nodeKeyPair(algorithm: KeyAlgorithm): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  const info = algorithmInfo(algorithm);
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, publicKey: KeyObject, privateKey: KeyObject) =>
      error ? reject(error) : resolve({ publicKey, privateKey });
    if (info.family === 'rsa') generateKeyPair('rsa', { modulusLength: info.bits }, done);
    else generateKeyPair('ec', { namedCurve: info.namedCurve! }, done);
  });
}

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

async function rejectsWith(action: () => Promise<unknown>, code: KeyStoreErrorCode, what: string): Promise<void> {
  let settled = false;
  try {
    await action();
    settled = true;
  } catch (err) {
    assert.ok(KeyStoreError.is(err), `${what}: expected a KeyStoreError with ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: expected ${code}, got ${err.code} (${err.message})`);
  }
  assert.ok(!settled, `${what}: expected a rejection with ${code}, but it resolved`);
}

function verifySignature(
  key: ProviderKey,
  publicKey: KeyObject,
  data: Buffer,
  hash: HashAlgorithm,
  padding: RsaPadding,
  result: ProviderSignature,
  what: string,
): void {
  assert.ok(Buffer.isBuffer(result.signature), `${what}: the signature must be a Buffer`);
  const info = algorithmInfo(key.algorithm);
  if (info.family === 'ec') {
    assert.ok(
      result.dsaEncoding === 'der' || result.dsaEncoding === 'ieee-p1363',
      `${what}: an ECDSA signature must say its dsaEncoding, got ${String(result.dsaEncoding)}`,
    );
    const ok = verify(hash, data, { key: publicKey, dsaEncoding: result.dsaEncoding }, result.signature);
    assert.ok(ok, `${what}: the ${result.dsaEncoding} signature does not verify with crypto.verify`);
    return;
  }
  assert.equal(result.signature.length, info.bits / 8, `${what}: an RSA signature is as long as the modulus`);
  const options =
    padding === 'pss'
      ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digestLength(hash) }
      : { key: publicKey, padding: constants.RSA_PKCS1_PADDING };
  assert.ok(verify(hash, data, options, result.signature), `${what}: the signature does not verify with crypto.verify`);
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

  let early: KeyStoreProvider | undefined;
  let algorithms: readonly KeyAlgorithm[];
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

  let provider: KeyStoreProvider | undefined;
  let probe: ProbeResult | undefined;
  let scope: KeyScope = 'user';
  let counter = 0;
  const created: Array<{ name: string; scope: KeyScope }> = [];
  const handles: ProviderKey[] = [];

  const p = (): KeyStoreProvider => {
    assert.ok(provider, 'the provider was not created (see the error of the first hook)');
    return provider;
  };
  const freshName = (label: string): string => `${prefix}${label}-${++counter}`;
  const track = (key: ProviderKey): ProviderKey => {
    handles.push(key);
    return key;
  };
  const create = async (
    label: string,
    algorithm: KeyAlgorithm,
    extra: { exportable?: boolean; scope?: KeyScope; password?: string } = {},
  ) => {
    const name = freshName(label);
    const keyScope = extra.scope ?? scope;
    created.push({ name, scope: keyScope });
    const key = await p().createKey({
      name,
      algorithm,
      scope: keyScope,
      exportable: extra.exportable ?? false,
      ...(extra.password === undefined ? {} : { password: extra.password }),
    });
    return track(key);
  };

  /** Registers a test, or a visible skip when the part is declared skipped. */
  const part = (capability: ConformanceCapability | undefined, name: string, fn: () => Promise<void>): void => {
    const reason = capability === undefined ? undefined : skips[capability];
    if (capability !== undefined && reason !== undefined) {
      const title = `${capability} — skipped: ${reason}`;
      if (typeof test.it.skip === 'function') test.it.skip(title, () => {});
      else test.it(title, () => {}, timeout);
    } else {
      test.it(name, fn, timeout);
    }
  };
  /** Fails when the provider does not claim a part that was not declared skipped. */
  const claims = (claimed: boolean, capability: ConformanceCapability, what: string): void => {
    assert.ok(
      claimed,
      `${what} is not in the provider's capabilities: declare skip.${capability} with a reason, or claim it`,
    );
  };
  const hasOperation = (operation: KeyOperation): boolean => p().capabilities.operations.includes(operation);
  /** Whether the provider signs with `hash` in `scheme` (capabilities.signatureHashes; every hash when unlisted). */
  const signsWith = (scheme: SignatureScheme, hash: HashAlgorithm): boolean =>
    p().capabilities.signatureHashes?.[scheme]?.includes(hash) ?? true;
  const firstSigningAlgorithm = (): KeyAlgorithm | undefined =>
    algorithms.find((a) => algorithmInfo(a).operations.includes('sign'));

  test.describe(`provider conformance: ${options.name}`, () => {
    test.beforeAll(async () => {
      provider = early ?? (await options.createProvider());
      probe = await provider.probe();
      scope = provider.capabilities.scopes.includes('user') ? 'user' : (provider.capabilities.scopes[0] ?? 'user');
    }, timeout);

    test.afterAll(async () => {
      for (const handle of handles.splice(0)) {
        await handle.close().catch(() => {});
      }
      if (provider) {
        for (const { name, scope: keyScope } of created.splice(0)) {
          try {
            await provider.deleteKey({ name, scope: keyScope });
          } catch (err) {
            if (!KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')) throw err;
          }
        }
        await provider.close?.();
      }
    }, timeout);

    test.it(
      'has an id, a display name and well-formed capabilities',
      () => {
        const { id, displayName, capabilities } = p();
        assert.equal(typeof id, 'string');
        assert.ok(id.length > 0, 'id must not be empty');
        assert.equal(typeof displayName, 'string');
        assert.ok(displayName.length > 0, 'displayName must not be empty');
        for (const algorithm of capabilities.algorithms)
          assert.ok(isKeyAlgorithm(algorithm), `unknown algorithm ${algorithm}`);
        for (const algorithm of algorithms) {
          assert.ok(
            capabilities.algorithms.includes(algorithm),
            `${algorithm} is tested but not in capabilities.algorithms`,
          );
        }
        for (const op of capabilities.operations)
          assert.ok(['sign', 'decrypt', 'derive'].includes(op), `operation ${op}`);
        assert.ok(capabilities.scopes.length > 0, 'at least one scope');
        for (const s of capabilities.scopes) assert.ok(s === 'user' || s === 'machine', `scope ${s}`);
        for (const padding of capabilities.rsaSignaturePaddings) assert.ok(padding === 'pkcs1' || padding === 'pss');
        for (const hash of capabilities.oaepHashes) assert.ok(['sha1', 'sha256', 'sha384', 'sha512'].includes(hash));
        assert.equal(typeof capabilities.exportableKeys, 'boolean');
        assert.equal(typeof capabilities.passwords, 'boolean');
        assert.equal(typeof capabilities.legacyCryptoApi, 'boolean');
      },
      timeout,
    );

    test.it(
      'probe() says available, with a valid isolation level and reasons',
      async () => {
        const result = probe!;
        assert.equal(
          result.available,
          true,
          `the provider must be available to run the suite: ${result.reasons.join(' ')}`,
        );
        assert.ok(isIsolationLevel(result.isolation), `isolation ${String(result.isolation)}`);
        assert.ok(Array.isArray(result.reasons), 'reasons must be an array');
        for (const reason of result.reasons) assert.equal(typeof reason, 'string');
        const again = await p().probe();
        assert.equal(again.available, true);
      },
      timeout,
    );

    test.it(
      'openKey of a missing name rejects with KEY_NOT_FOUND',
      async () => {
        await rejectsWith(
          () => p().openKey({ name: freshName('missing'), scope }),
          'ERR_KEYSTORE_KEY_NOT_FOUND',
          'openKey',
        );
      },
      timeout,
    );

    part('deleteKey', 'deleteKey of a missing name rejects with KEY_NOT_FOUND', async () => {
      await rejectsWith(
        () => p().deleteKey({ name: freshName('missing'), scope }),
        'ERR_KEYSTORE_KEY_NOT_FOUND',
        'deleteKey',
      );
    });

    part('cancellation', 'createKey with an aborted signal rejects with CANCELLED and leaves no key', async () => {
      const algorithm = algorithms[0];
      assert.ok(algorithm, 'no algorithm to test');
      const controller = new AbortController();
      controller.abort();
      const name = freshName('aborted');
      created.push({ name, scope });
      await rejectsWith(
        () => p().createKey({ name, algorithm, scope, exportable: false, signal: controller.signal }),
        'ERR_KEYSTORE_CANCELLED',
        'createKey',
      );
      await rejectsWith(
        () => p().openKey({ name, scope }),
        'ERR_KEYSTORE_KEY_NOT_FOUND',
        'openKey after a cancelled create',
      );
    });

    part('machineScope', 'keeps user and machine scopes apart', async () => {
      claims(p().capabilities.scopes.includes('machine'), 'machineScope', 'the machine scope');
      const algorithm = algorithms[0]!;
      const key = await create('machine', algorithm, { scope: 'machine' });
      assert.equal(key.scope, 'machine');
      const opened = track(await p().openKey({ name: key.name, scope: 'machine' }));
      assert.ok(opened.publicKey.equals(key.publicKey), 'open in the machine scope gives the same key');
      if (p().capabilities.scopes.includes('user')) {
        await rejectsWith(
          () => p().openKey({ name: key.name, scope: 'user' }),
          'ERR_KEYSTORE_KEY_NOT_FOUND',
          'openKey in the other scope',
        );
      }
      if (skips.listKeys === undefined) {
        const machine = await p().listKeys({ scope: 'machine' });
        assert.ok(
          machine.some((k) => k.name === key.name && k.scope === 'machine'),
          'listKeys({ scope: machine }) has it',
        );
        const user = await p().listKeys({ scope: 'user' });
        assert.ok(!user.some((k) => k.name === key.name), 'listKeys({ scope: user }) does not have it');
      }
    });

    part('passwords', 'a key with a password opens (or works) only with that password', async () => {
      claims(p().capabilities.passwords, 'passwords', 'passwords');
      const algorithm = firstSigningAlgorithm() ?? algorithms[0]!;
      const password = `pw-${randomBytes(6).toString('hex')}`;
      const key = await create('password', algorithm, { password });
      const use = async (k: ProviderKey) => {
        const info = algorithmInfo(k.algorithm);
        if (info.operations.includes('sign')) {
          const padding = skips.pkcs1 === undefined ? 'pkcs1' : 'pss';
          await k.signDigest(createHash('sha256').update('x').digest(), { hash: 'sha256', padding, saltLength: 32 });
        } else {
          const peer = generateKeyPairSync('ec', { namedCurve: info.namedCurve! }).publicKey;
          await k.deriveSecret!(peer);
        }
      };
      await rejectsWith(
        async () => use(track(await p().openKey({ name: key.name, scope: key.scope, password: `${password}x` }))),
        'ERR_KEYSTORE_ACCESS_DENIED',
        'open and use with a wrong password',
      );
      const opened = track(await p().openKey({ name: key.name, scope: key.scope, password }));
      await use(opened);
      assert.ok(opened.publicKey.equals(key.publicKey));
    });

    part('exportable', 'an exportable key exports its private key, matching the public key', async () => {
      claims(p().capabilities.exportableKeys, 'exportable', 'exportable keys');
      const algorithm = algorithms[0]!;
      const key = await create('exportable', algorithm, { exportable: true });
      assert.equal(key.exportable, true);
      assert.equal(typeof key.exportPrivateKey, 'function', 'an exportable key needs exportPrivateKey');
      const privateKey = await key.exportPrivateKey!();
      assert.equal(privateKey.type, 'private');
      const data = Buffer.from('exportable');
      const info = algorithmInfo(algorithm);
      if (info.family === 'ec') {
        const derived = generateKeyPairSync('ec', { namedCurve: info.namedCurve! });
        const a = diffieHellman({ privateKey, publicKey: derived.publicKey });
        const b = diffieHellman({ privateKey: derived.privateKey, publicKey: key.publicKey });
        assert.ok(a.equals(b), 'the exported private key belongs to the public key');
      } else {
        const ciphertext = publicEncrypt(key.publicKey, data);
        assert.ok(
          privateDecrypt(privateKey, ciphertext).equals(data),
          'the exported private key belongs to the public key',
        );
      }
    });

    part(
      'importKey',
      'importKey of Node-generated keys: the same public key, usable, not exportable unless asked',
      async () => {
        const { capabilities } = p();
        if (capabilities.importKeys !== true) {
          assert.ok(
            typeof p().importKey !== 'function',
            'the provider has importKey() but capabilities.importKeys is not true: claim it, or declare skip.importKey',
          );
          return;
        }
        assert.equal(typeof p().importKey, 'function', 'capabilities.importKeys is true but there is no importKey()');
        const importOne = async (algorithm: KeyAlgorithm, privateKey: KeyObject, exportable = false) => {
          const name = freshName(`import-${algorithm.toLowerCase()}`);
          created.push({ name, scope });
          return track(await p().importKey!({ name, algorithm, scope, exportable, privateKey }));
        };
        for (const algorithm of algorithms) {
          const info = algorithmInfo(algorithm);
          const pair = await nodeKeyPair(algorithm);
          const key = await importOne(algorithm, pair.privateKey);
          const what = `imported ${algorithm}`;
          assert.equal(key.algorithm, algorithm, `${what}: algorithm`);
          assert.equal(key.scope, scope, `${what}: scope`);
          assert.equal(key.exportable, false, `${what}: not exportable unless asked`);
          assert.equal(key.isolation.providerId, p().id, `${what}: isolation.providerId`);
          assert.ok(
            isIsolationLevel(key.isolation.level) &&
              isolationRank(key.isolation.level) <= isolationRank(probe!.isolation),
            `${what}: the receipt (${String(key.isolation.level)}) claims more than probe() (${probe!.isolation})`,
          );
          assert.ok(key.publicKey.equals(pair.publicKey), `${what}: the public key of the key given`);
          if (info.operations.includes('sign')) {
            const padding: RsaPadding =
              info.family === 'rsa' &&
              (skips.pkcs1 !== undefined || !capabilities.rsaSignaturePaddings.includes('pkcs1'))
                ? 'pss'
                : 'pkcs1';
            const data = randomBytes(64);
            const params = { hash: 'sha256' as const, padding, saltLength: 32 };
            let result: ProviderSignature;
            if (skips.signDigest === undefined) {
              result = await key.signDigest(createHash('sha256').update(data).digest(), params);
            } else {
              // signDigest is declared skipped, so signMessage is the only way to show the key signs.
              assert.equal(
                typeof key.signMessage,
                'function',
                `${what}: signDigest is skipped, so the key needs signMessage() to show that it signs`,
              );
              result = await key.signMessage!(data, params);
            }
            verifySignature(key, pair.publicKey, data, 'sha256', padding, result, `${what}: signature`);
          } else if (skips.derive === undefined) {
            assert.equal(typeof key.deriveSecret, 'function', `${what}: an ECDH key needs deriveSecret()`);
            const peer = await nodeKeyPair(algorithm);
            const secret = await key.deriveSecret!(peer.publicKey);
            const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: pair.publicKey });
            assert.ok(secret.equals(expected), `${what}: the secret equals diffieHellman with the original key`);
          }
          if (key.exportPrivateKey !== undefined) {
            await rejectsWith(
              () => key.exportPrivateKey!(),
              'ERR_KEYSTORE_NOT_EXPORTABLE',
              `${what}: exportPrivateKey`,
            );
          }
          const opened = track(await p().openKey({ name: key.name, scope }));
          assert.ok(opened.publicKey.equals(pair.publicKey), `${what}: openKey gives the imported public key`);
          if (skips.duplicateName === undefined) {
            await rejectsWith(
              () =>
                p().importKey!({ name: key.name, algorithm, scope, exportable: false, privateKey: pair.privateKey }),
              'ERR_KEYSTORE_KEY_EXISTS',
              `${what}: importKey of an existing name`,
            );
          }
        }
        const first = algorithms[0];
        if (first !== undefined && skips.exportable === undefined && capabilities.exportableKeys) {
          const pair = await nodeKeyPair(first);
          const key = await importOne(first, pair.privateKey, true);
          assert.equal(key.exportable, true, 'an import asked exportable is exportable');
          assert.equal(typeof key.exportPrivateKey, 'function', 'an exportable key needs exportPrivateKey');
          const exported = await key.exportPrivateKey!();
          assert.equal(exported.type, 'private');
          const again = createPublicKey(exported);
          assert.ok(again.equals(pair.publicKey), 'the exported private key is the one imported');
        }
      },
    );

    for (const algorithm of algorithms) {
      const info = algorithmInfo(algorithm);
      const signs = info.operations.includes('sign');
      test.describe(algorithm, () => {
        let key: ProviderKey | undefined;
        const k = (): ProviderKey => {
          assert.ok(key, `the ${algorithm} key was not created (see the first failing test)`);
          return key;
        };

        test.it(
          'createKey returns the key with its name, algorithm, scope, receipt and public key',
          async () => {
            key = await create(algorithm.toLowerCase(), algorithm);
            assert.ok(key.name.startsWith(prefix), 'name');
            assert.equal(key.algorithm, algorithm);
            assert.equal(key.scope, scope);
            assert.equal(key.exportable, false);
            const receipt = key.isolation;
            assert.equal(receipt.providerId, p().id, 'isolation.providerId is the provider id');
            assert.ok(isIsolationLevel(receipt.level), `isolation.level ${String(receipt.level)}`);
            assert.ok(
              isolationRank(receipt.level) <= isolationRank(probe!.isolation),
              `the receipt (${receipt.level}) claims more than probe() (${probe!.isolation})`,
            );
            assert.ok(!Number.isNaN(Date.parse(receipt.measuredAt)), 'isolation.measuredAt is an ISO date');
            assert.ok(Array.isArray(receipt.evidence), 'isolation.evidence is an array');
            for (const line of receipt.evidence) assert.equal(typeof line, 'string');
            assert.equal(key.publicKey.type, 'public', 'publicKey is a public KeyObject');
            assert.ok(publicKeyMatchesAlgorithm(key.publicKey, algorithm), `publicKey fits ${algorithm}`);
          },
          timeout,
        );

        part('duplicateName', 'createKey of an existing name rejects with KEY_EXISTS', async () => {
          await rejectsWith(
            () => p().createKey({ name: k().name, algorithm, scope, exportable: false }),
            'ERR_KEYSTORE_KEY_EXISTS',
            'createKey again',
          );
        });

        test.it(
          'openKey gives the same public key and algorithm',
          async () => {
            const opened = track(await p().openKey({ name: k().name, scope }));
            assert.equal(opened.name, k().name);
            assert.equal(opened.scope, scope);
            assert.ok(opened.publicKey.equals(k().publicKey), 'same public key');
            if (opened.algorithm !== algorithm) {
              // A provider may not tell ECDSA from ECDH keys of one curve apart; the public key must still fit.
              assert.ok(publicKeyMatchesAlgorithm(opened.publicKey, algorithm), `algorithm ${opened.algorithm}`);
            }
            assert.equal(opened.isolation.providerId, p().id);
          },
          timeout,
        );

        part('listKeys', 'listKeys includes the key with its scope', async () => {
          const all = await p().listKeys();
          assert.ok(
            all.some((e) => e.name === k().name && e.scope === scope),
            'listKeys() has it',
          );
          const inScope = await p().listKeys({ scope });
          assert.ok(
            inScope.some((e) => e.name === k().name && e.scope === scope),
            `listKeys({ scope: ${scope} }) has it`,
          );
          for (const entry of inScope) assert.equal(entry.scope, scope, 'listKeys({ scope }) lists only that scope');
        });

        if (signs && info.family === 'ec') {
          part('signDigest', 'signDigest with every hash verifies with crypto.verify', async () => {
            for (const hash of HASH_ALGORITHMS) {
              const data = randomBytes(100);
              const digest = createHash(hash).update(data).digest();
              if (!signsWith('ecdsa', hash)) {
                await rejectsWith(
                  () => k().signDigest(digest, { hash, padding: 'pkcs1', saltLength: digest.length }),
                  'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
                  `signDigest ECDSA ${hash} (not in capabilities.signatureHashes.ecdsa)`,
                );
                continue;
              }
              const result = await k().signDigest(digest, { hash, padding: 'pkcs1', saltLength: digest.length });
              verifySignature(k(), k().publicKey, data, hash, 'pkcs1', result, `signDigest ${hash}`);
            }
          });
        }
        if (signs && info.family === 'rsa') {
          // One visible skip when signDigest is skipped as a whole, else one test per padding.
          const paddings = skips.signDigest === undefined ? (['pkcs1', 'pss'] as const) : (['pkcs1'] as const);
          for (const padding of paddings) {
            const label = padding === 'pss' ? 'PSS' : 'PKCS#1 v1.5';
            const capability: ConformanceCapability = skips.signDigest === undefined ? padding : 'signDigest';
            part(capability, `signDigest ${label} with every hash verifies with crypto.verify`, async () => {
              claims(p().capabilities.rsaSignaturePaddings.includes(padding), padding, `RSA padding ${padding}`);
              for (const hash of HASH_ALGORITHMS) {
                const data = randomBytes(100);
                const digest = createHash(hash).update(data).digest();
                if (!signsWith(padding, hash)) {
                  await rejectsWith(
                    () => k().signDigest(digest, { hash, padding, saltLength: digest.length }),
                    'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
                    `signDigest ${padding} ${hash} (not in capabilities.signatureHashes.${padding})`,
                  );
                  continue;
                }
                const result = await k().signDigest(digest, { hash, padding, saltLength: digest.length });
                verifySignature(k(), k().publicKey, data, hash, padding, result, `signDigest ${padding} ${hash}`);
              }
            });
          }
        }
        if (signs) {
          const paddings: readonly RsaPadding[] = info.family === 'rsa' ? ['pkcs1', 'pss'] : ['pkcs1'];
          test.it(
            'signMessage, when the key has it, verifies with crypto.verify',
            async () => {
              if (typeof k().signMessage !== 'function') {
                // An optional fast path, unless signDigest is skipped: then it is the only signing path.
                assert.ok(
                  skips.signDigest === undefined,
                  'signDigest is skipped, so the key needs signMessage() to show that it signs',
                );
                return;
              }
              for (const padding of paddings) {
                if (
                  info.family === 'rsa' &&
                  (skips[padding] !== undefined || !p().capabilities.rsaSignaturePaddings.includes(padding))
                ) {
                  continue;
                }
                for (const hash of HASH_ALGORITHMS) {
                  if (!signsWith(info.family === 'rsa' ? padding : 'ecdsa', hash)) continue;
                  const data = randomBytes(1000);
                  const result = await k().signMessage!(data, { hash, padding, saltLength: digestLength(hash) });
                  verifySignature(k(), k().publicKey, data, hash, padding, result, `signMessage ${padding} ${hash}`);
                }
              }
            },
            timeout,
          );
        }

        if (info.family === 'rsa') {
          part('decrypt', 'decrypt of Node OAEP ciphertext, for every OAEP hash in capabilities', async () => {
            claims(hasOperation('decrypt'), 'decrypt', 'the decrypt operation');
            const hashes = p().capabilities.oaepHashes;
            assert.ok(hashes.length > 0, 'capabilities.oaepHashes is empty');
            assert.equal(typeof k().decrypt, 'function', 'an RSA key needs decrypt()');
            for (const hash of hashes) {
              const plaintext = randomBytes(32);
              const ciphertext = publicEncrypt(
                { key: k().publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
                plaintext,
              );
              const decrypted = await k().decrypt!(ciphertext, hash);
              assert.ok(Buffer.isBuffer(decrypted), `decrypt ${hash} returns a Buffer`);
              assert.ok(decrypted.equals(plaintext), `decrypt ${hash} gives the plaintext back`);
            }
          });
        }

        if (info.operations.includes('derive')) {
          part('derive', 'deriveSecret equals Node diffieHellman with the peer', async () => {
            claims(hasOperation('derive'), 'derive', 'the derive operation');
            assert.equal(typeof k().deriveSecret, 'function', 'an ECDH key needs deriveSecret()');
            const peer = generateKeyPairSync('ec', { namedCurve: info.namedCurve! });
            const secret = await k().deriveSecret!(peer.publicKey);
            const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: k().publicKey });
            assert.equal(secret.length, info.fieldBytes, 'the secret is one field element long');
            assert.ok(secret.equals(expected), 'the secret equals diffieHellman on the peer side');
          });
        }

        test.it(
          'exportPrivateKey of a non-exportable key rejects with NOT_EXPORTABLE (or is absent)',
          async () => {
            const exportPrivateKey = k().exportPrivateKey;
            if (exportPrivateKey === undefined) return;
            await rejectsWith(() => exportPrivateKey.call(k()), 'ERR_KEYSTORE_NOT_EXPORTABLE', 'exportPrivateKey');
          },
          timeout,
        );

        test.it(
          'close() is idempotent and later operations reject with KEY_CLOSED',
          async () => {
            const handle = track(await p().openKey({ name: k().name, scope }));
            await handle.close();
            await handle.close();
            if (signs) {
              const digest = createHash('sha256').update('closed').digest();
              await rejectsWith(
                () => handle.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }),
                'ERR_KEYSTORE_KEY_CLOSED',
                'signDigest after close',
              );
              if (handle.signMessage) {
                await rejectsWith(
                  () => handle.signMessage!(Buffer.from('x'), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }),
                  'ERR_KEYSTORE_KEY_CLOSED',
                  'signMessage after close',
                );
              }
            }
            if (info.family === 'rsa' && handle.decrypt) {
              const ciphertext = publicEncrypt({ key: k().publicKey, oaepHash: 'sha256' }, Buffer.from('x'));
              await rejectsWith(
                () => handle.decrypt!(ciphertext, 'sha256'),
                'ERR_KEYSTORE_KEY_CLOSED',
                'decrypt after close',
              );
            }
            if (info.operations.includes('derive') && handle.deriveSecret) {
              const peer = generateKeyPairSync('ec', { namedCurve: info.namedCurve! }).publicKey;
              await rejectsWith(
                () => handle.deriveSecret!(peer),
                'ERR_KEYSTORE_KEY_CLOSED',
                'deriveSecret after close',
              );
            }
            if (!signs && !handle.decrypt && !handle.deriveSecret) {
              assert.fail(`a ${algorithm} key has no operation to check after close`);
            }
          },
          timeout,
        );

        part('deleteKey', 'deleteKey, then openKey and deleteKey reject with KEY_NOT_FOUND', async () => {
          await p().deleteKey({ name: k().name, scope });
          await rejectsWith(
            () => p().openKey({ name: k().name, scope }),
            'ERR_KEYSTORE_KEY_NOT_FOUND',
            'openKey after delete',
          );
          await rejectsWith(
            () => p().deleteKey({ name: k().name, scope }),
            'ERR_KEYSTORE_KEY_NOT_FOUND',
            'deleteKey again',
          );
          if (skips.listKeys === undefined) {
            const all = await p().listKeys({ scope });
            assert.ok(!all.some((e) => e.name === k().name), 'listKeys no longer has it');
          }
        });
      });
    }
  });
}
