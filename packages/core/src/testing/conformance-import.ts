/**
 * The `importKey` part of the conformance suite: Node-generated keys of every tested algorithm, imported,
 * keep their public key, work, and are exportable only when asked.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, diffieHellman, type KeyObject, randomBytes } from 'node:crypto';
import { algorithmInfo, type KeyAlgorithm, type RsaPadding } from '../algorithms.js';
import { isIsolationLevel, isolationRank } from '../isolation.js';
import type { ProviderKey, ProviderSignature } from '../types.js';
import { nodeKeyPair, rejectsWith, type SuiteState, verifySignature } from './conformance-state.js';

type ImportOne = (algorithm: KeyAlgorithm, privateKey: KeyObject, exportable?: boolean) => Promise<ProviderKey>;

export function defineImportPart(s: SuiteState): void {
  s.part(
    'importKey',
    'importKey of Node-generated keys: the same public key, usable, not exportable unless asked',
    () => checkImports(s),
  );
}

async function checkImports(s: SuiteState): Promise<void> {
  const { algorithms } = s;
  const scope = s.scope;
  const { capabilities } = s.p();
  if (capabilities.importKeys !== true) {
    assert.ok(
      typeof s.p().importKey !== 'function',
      'the provider has importKey() but capabilities.importKeys is not true: claim it, or declare skip.importKey',
    );
    return;
  }
  assert.equal(typeof s.p().importKey, 'function', 'capabilities.importKeys is true but there is no importKey()');
  const importOne = async (algorithm: KeyAlgorithm, privateKey: KeyObject, exportable = false) => {
    const name = s.freshName(`import-${algorithm.toLowerCase()}`);
    s.created.push({ name, scope });
    return s.track(await s.p().importKey!({ name, algorithm, scope, exportable, privateKey }));
  };
  for (const algorithm of algorithms) await checkImported(s, algorithm, importOne);
  const first = algorithms[0];
  if (first !== undefined && s.skips.exportable === undefined && capabilities.exportableKeys) {
    const pair = await nodeKeyPair(first);
    const key = await importOne(first, pair.privateKey, true);
    assert.equal(key.exportable, true, 'an import asked exportable is exportable');
    assert.equal(typeof key.exportPrivateKey, 'function', 'an exportable key needs exportPrivateKey');
    const exported = await key.exportPrivateKey!();
    assert.equal(exported.type, 'private');
    const again = createPublicKey(exported);
    assert.ok(again.equals(pair.publicKey), 'the exported private key is the one imported');
  }
}

/** One algorithm: the imported key's fields, receipt and public key; it works; it does not export; it opens; no duplicate. */
async function checkImported(s: SuiteState, algorithm: KeyAlgorithm, importOne: ImportOne): Promise<void> {
  const scope = s.scope;
  const pair = await nodeKeyPair(algorithm);
  const key = await importOne(algorithm, pair.privateKey);
  const what = `imported ${algorithm}`;
  assert.equal(key.algorithm, algorithm, `${what}: algorithm`);
  assert.equal(key.scope, scope, `${what}: scope`);
  assert.equal(key.exportable, false, `${what}: not exportable unless asked`);
  assert.equal(key.isolation.providerId, s.p().id, `${what}: isolation.providerId`);
  assert.ok(
    isIsolationLevel(key.isolation.level) && isolationRank(key.isolation.level) <= isolationRank(s.probe!.isolation),
    `${what}: the receipt (${String(key.isolation.level)}) claims more than probe() (${s.probe!.isolation})`,
  );
  assert.ok(key.publicKey.equals(pair.publicKey), `${what}: the public key of the key given`);
  await checkImportedWorks(s, key, pair.publicKey, what);
  if (key.exportPrivateKey !== undefined) {
    await rejectsWith(() => key.exportPrivateKey!(), 'ERR_KEYSTORE_NOT_EXPORTABLE', `${what}: exportPrivateKey`);
  }
  const opened = s.track(await s.p().openKey({ name: key.name, scope }));
  assert.ok(opened.publicKey.equals(pair.publicKey), `${what}: openKey gives the imported public key`);
  if (s.skips.duplicateName === undefined) {
    await rejectsWith(
      () => s.p().importKey!({ name: key.name, algorithm, scope, exportable: false, privateKey: pair.privateKey }),
      'ERR_KEYSTORE_KEY_EXISTS',
      `${what}: importKey of an existing name`,
    );
  }
}

/** Signs (verified with the original public key) or derives the secret the original key gives. */
async function checkImportedWorks(s: SuiteState, key: ProviderKey, publicKey: KeyObject, what: string): Promise<void> {
  const info = algorithmInfo(key.algorithm);
  if (info.operations.includes('sign')) {
    const padding: RsaPadding =
      info.family === 'rsa' &&
      (s.skips.pkcs1 !== undefined || !s.p().capabilities.rsaSignaturePaddings.includes('pkcs1'))
        ? 'pss'
        : 'pkcs1';
    const data = randomBytes(64);
    const params = { hash: 'sha256' as const, padding, saltLength: 32 };
    let result: ProviderSignature;
    if (s.skips.signDigest === undefined) {
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
    verifySignature(key, publicKey, data, 'sha256', padding, result, `${what}: signature`);
  } else if (s.skips.derive === undefined) {
    assert.equal(typeof key.deriveSecret, 'function', `${what}: an ECDH key needs deriveSecret()`);
    const peer = await nodeKeyPair(key.algorithm);
    const secret = await key.deriveSecret!(peer.publicKey);
    const expected = diffieHellman({ privateKey: peer.privateKey, publicKey });
    assert.ok(secret.equals(expected), `${what}: the secret equals diffieHellman with the original key`);
  }
}
