/**
 * The provider-wide parts of the conformance suite: capabilities, probe, missing keys, cancellation,
 * scopes, passwords and export.
 *
 * @module
 */
import assert from 'node:assert/strict';
import {
  createHash,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { algorithmInfo, isKeyAlgorithm } from '../algorithms.js';
import { isIsolationLevel } from '../isolation.js';
import type { ProviderKey } from '../types.js';
import { rejectsWith, type SuiteState } from './conformance-state.js';

/** Capabilities and probe well formed; a missing key is not found. */
export function defineProviderBasics(s: SuiteState): void {
  const { algorithms } = s;
  s.test.it(
    'has an id, a display name and well-formed capabilities',
    () => {
      const { id, displayName, capabilities } = s.p();
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
      for (const each of capabilities.scopes) assert.ok(each === 'user' || each === 'machine', `scope ${each}`);
      for (const padding of capabilities.rsaSignaturePaddings) assert.ok(padding === 'pkcs1' || padding === 'pss');
      for (const hash of capabilities.oaepHashes) assert.ok(['sha1', 'sha256', 'sha384', 'sha512'].includes(hash));
      assert.equal(typeof capabilities.exportableKeys, 'boolean');
      assert.equal(typeof capabilities.passwords, 'boolean');
      assert.equal(typeof capabilities.legacyCryptoApi, 'boolean');
    },
    s.timeout,
  );

  s.test.it(
    'probe() says available, with a valid isolation level and reasons',
    async () => {
      const result = s.probe!;
      assert.equal(
        result.available,
        true,
        `the provider must be available to run the suite: ${result.reasons.join(' ')}`,
      );
      assert.ok(isIsolationLevel(result.isolation), `isolation ${String(result.isolation)}`);
      assert.ok(Array.isArray(result.reasons), 'reasons must be an array');
      for (const reason of result.reasons) assert.equal(typeof reason, 'string');
      const again = await s.p().probe();
      assert.equal(again.available, true);
    },
    s.timeout,
  );

  s.test.it(
    'openKey of a missing name rejects with KEY_NOT_FOUND',
    async () => {
      const scope = s.scope;
      await rejectsWith(
        () => s.p().openKey({ name: s.freshName('missing'), scope }),
        'ERR_KEYSTORE_KEY_NOT_FOUND',
        'openKey',
      );
    },
    s.timeout,
  );
}

/** Deleting a missing key, a cancelled create, and the machine scope kept apart from the user scope. */
export function defineProviderScopes(s: SuiteState): void {
  const { algorithms } = s;
  s.part('deleteKey', 'deleteKey of a missing name rejects with KEY_NOT_FOUND', async () => {
    const scope = s.scope;
    await rejectsWith(
      () => s.p().deleteKey({ name: s.freshName('missing'), scope }),
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      'deleteKey',
    );
  });

  s.part('cancellation', 'createKey with an aborted signal rejects with CANCELLED and leaves no key', async () => {
    const scope = s.scope;
    const algorithm = algorithms[0];
    assert.ok(algorithm, 'no algorithm to test');
    const controller = new AbortController();
    controller.abort();
    const name = s.freshName('aborted');
    s.created.push({ name, scope });
    await rejectsWith(
      () => s.p().createKey({ name, algorithm, scope, exportable: false, signal: controller.signal }),
      'ERR_KEYSTORE_CANCELLED',
      'createKey',
    );
    await rejectsWith(
      () => s.p().openKey({ name, scope }),
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      'openKey after a cancelled create',
    );
  });

  s.part('machineScope', 'keeps user and machine scopes apart', async () => {
    s.claims(s.p().capabilities.scopes.includes('machine'), 'machineScope', 'the machine scope');
    const algorithm = algorithms[0]!;
    const key = await s.create('machine', algorithm, { scope: 'machine' });
    assert.equal(key.scope, 'machine');
    const opened = s.track(await s.p().openKey({ name: key.name, scope: 'machine' }));
    assert.ok(opened.publicKey.equals(key.publicKey), 'open in the machine scope gives the same key');
    if (s.p().capabilities.scopes.includes('user')) {
      await rejectsWith(
        () => s.p().openKey({ name: key.name, scope: 'user' }),
        'ERR_KEYSTORE_KEY_NOT_FOUND',
        'openKey in the other scope',
      );
    }
    if (s.skips.listKeys === undefined) {
      const machine = await s.p().listKeys({ scope: 'machine' });
      assert.ok(
        machine.some((k) => k.name === key.name && k.scope === 'machine'),
        'listKeys({ scope: machine }) has it',
      );
      const user = await s.p().listKeys({ scope: 'user' });
      assert.ok(!user.some((k) => k.name === key.name), 'listKeys({ scope: user }) does not have it');
    }
  });
}

/** Passwords, and exportable keys. */
export function defineProviderSecrets(s: SuiteState): void {
  const { algorithms } = s;
  s.part('passwords', 'a key with a password opens (or works) only with that password', async () => {
    s.claims(s.p().capabilities.passwords, 'passwords', 'passwords');
    const algorithm = s.firstSigningAlgorithm() ?? algorithms[0]!;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const key = await s.create('password', algorithm, { password });
    const use = async (k: ProviderKey) => {
      const info = algorithmInfo(k.algorithm);
      if (info.operations.includes('sign')) {
        const padding = s.skips.pkcs1 === undefined ? 'pkcs1' : 'pss';
        await k.signDigest(createHash('sha256').update('x').digest(), { hash: 'sha256', padding, saltLength: 32 });
      } else {
        const peer = generateKeyPairSync('ec', { namedCurve: info.namedCurve! }).publicKey;
        await k.deriveSecret!(peer);
      }
    };
    await rejectsWith(
      async () => use(s.track(await s.p().openKey({ name: key.name, scope: key.scope, password: `${password}x` }))),
      'ERR_KEYSTORE_ACCESS_DENIED',
      'open and use with a wrong password',
    );
    const opened = s.track(await s.p().openKey({ name: key.name, scope: key.scope, password }));
    await use(opened);
    assert.ok(opened.publicKey.equals(key.publicKey));
  });

  s.part('exportable', 'an exportable key exports its private key, matching the public key', async () => {
    s.claims(s.p().capabilities.exportableKeys, 'exportable', 'exportable keys');
    const algorithm = algorithms[0]!;
    const key = await s.create('exportable', algorithm, { exportable: true });
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
}
