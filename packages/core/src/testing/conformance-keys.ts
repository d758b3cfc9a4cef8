/**
 * The per-algorithm parts of the conformance suite: one key of each tested algorithm, created, opened,
 * listed, used (sign, decrypt, derive, each checked with Node's crypto), closed and deleted.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { constants, createHash, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { algorithmInfo, digestLength, HASH_ALGORITHMS, type KeyAlgorithm, type RsaPadding } from '../algorithms.js';
import { publicKeyMatchesAlgorithm } from '../formats.js';
import { isIsolationLevel, isolationRank } from '../isolation.js';
import type { ProviderKey } from '../types.js';
import type { ConformanceCapability } from './conformance.js';
import { rejectsWith, type SuiteState, verifySignature } from './conformance-state.js';

/** The key of one algorithm's group, created by its first test and used by the others. */
interface KeyUnderTest {
  readonly algorithm: KeyAlgorithm;
  readonly info: ReturnType<typeof algorithmInfo>;
  readonly signs: boolean;
  /** The key, or a failure that points at the first failing test. */
  readonly k: () => ProviderKey;
}

/** One group per tested algorithm, its tests in order. */
export function defineAlgorithmParts(s: SuiteState): void {
  for (const algorithm of s.algorithms) {
    const info = algorithmInfo(algorithm);
    const signs = info.operations.includes('sign');
    s.test.describe(algorithm, () => {
      let key: ProviderKey | undefined;
      const k = (): ProviderKey => {
        assert.ok(key, `the ${algorithm} key was not created (see the first failing test)`);
        return key;
      };
      const t: KeyUnderTest = { algorithm, info, signs, k };
      defineCreate(s, t, (created) => {
        key = created;
      });
      defineOpenAndList(s, t);
      defineSignDigest(s, t);
      defineSignMessage(s, t);
      defineDecryptAndDerive(s, t);
      defineExportAndClose(s, t);
      defineDelete(s, t);
    });
  }
}

/** createKey gives the key with its fields and receipt; a second create of its name fails. */
function defineCreate(s: SuiteState, t: KeyUnderTest, keep: (key: ProviderKey) => void): void {
  const { algorithm, k } = t;
  s.test.it(
    'createKey returns the key with its name, algorithm, scope, receipt and public key',
    async () => {
      const scope = s.scope;
      const key = await s.create(algorithm.toLowerCase(), algorithm);
      keep(key);
      assert.ok(key.name.startsWith(s.prefix), 'name');
      assert.equal(key.algorithm, algorithm);
      assert.equal(key.scope, scope);
      assert.equal(key.exportable, false);
      const receipt = key.isolation;
      assert.equal(receipt.providerId, s.p().id, 'isolation.providerId is the provider id');
      assert.ok(isIsolationLevel(receipt.level), `isolation.level ${String(receipt.level)}`);
      assert.ok(
        isolationRank(receipt.level) <= isolationRank(s.probe!.isolation),
        `the receipt (${receipt.level}) claims more than probe() (${s.probe!.isolation})`,
      );
      assert.ok(!Number.isNaN(Date.parse(receipt.measuredAt)), 'isolation.measuredAt is an ISO date');
      assert.ok(Array.isArray(receipt.evidence), 'isolation.evidence is an array');
      for (const line of receipt.evidence) assert.equal(typeof line, 'string');
      assert.equal(key.publicKey.type, 'public', 'publicKey is a public KeyObject');
      assert.ok(publicKeyMatchesAlgorithm(key.publicKey, algorithm), `publicKey fits ${algorithm}`);
    },
    s.timeout,
  );

  s.part('duplicateName', 'createKey of an existing name rejects with KEY_EXISTS', async () => {
    const scope = s.scope;
    await rejectsWith(
      () => s.p().createKey({ name: k().name, algorithm, scope, exportable: false }),
      'ERR_KEYSTORE_KEY_EXISTS',
      'createKey again',
    );
  });
}

/** openKey gives the same key; listKeys lists it in its scope. */
function defineOpenAndList(s: SuiteState, t: KeyUnderTest): void {
  const { algorithm, k } = t;
  s.test.it(
    'openKey gives the same public key and algorithm',
    async () => {
      const scope = s.scope;
      const opened = s.track(await s.p().openKey({ name: k().name, scope }));
      assert.equal(opened.name, k().name);
      assert.equal(opened.scope, scope);
      assert.ok(opened.publicKey.equals(k().publicKey), 'same public key');
      if (opened.algorithm !== algorithm) {
        // A provider may not tell ECDSA from ECDH keys of one curve apart; the public key must still fit.
        assert.ok(publicKeyMatchesAlgorithm(opened.publicKey, algorithm), `algorithm ${opened.algorithm}`);
      }
      assert.equal(opened.isolation.providerId, s.p().id);
    },
    s.timeout,
  );

  s.part('listKeys', 'listKeys includes the key with its scope', async () => {
    const scope = s.scope;
    const all = await s.p().listKeys();
    assert.ok(
      all.some((e) => e.name === k().name && e.scope === scope),
      'listKeys() has it',
    );
    const inScope = await s.p().listKeys({ scope });
    assert.ok(
      inScope.some((e) => e.name === k().name && e.scope === scope),
      `listKeys({ scope: ${scope} }) has it`,
    );
    for (const entry of inScope) assert.equal(entry.scope, scope, 'listKeys({ scope }) lists only that scope');
  });
}

/** signDigest with every hash (and, for RSA, each padding) verifies with crypto.verify. */
function defineSignDigest(s: SuiteState, t: KeyUnderTest): void {
  const { info, signs, k } = t;
  if (signs && info.family === 'ec') {
    s.part('signDigest', 'signDigest with every hash verifies with crypto.verify', async () => {
      for (const hash of HASH_ALGORITHMS) {
        const data = randomBytes(100);
        const digest = createHash(hash).update(data).digest();
        if (!s.signsWith('ecdsa', hash)) {
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
    const paddings = s.skips.signDigest === undefined ? (['pkcs1', 'pss'] as const) : (['pkcs1'] as const);
    for (const padding of paddings) {
      const label = padding === 'pss' ? 'PSS' : 'PKCS#1 v1.5';
      const capability: ConformanceCapability = s.skips.signDigest === undefined ? padding : 'signDigest';
      s.part(capability, `signDigest ${label} with every hash verifies with crypto.verify`, async () => {
        s.claims(s.p().capabilities.rsaSignaturePaddings.includes(padding), padding, `RSA padding ${padding}`);
        for (const hash of HASH_ALGORITHMS) {
          const data = randomBytes(100);
          const digest = createHash(hash).update(data).digest();
          if (!s.signsWith(padding, hash)) {
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
}

/** signMessage, when the key has it, verifies with crypto.verify. */
function defineSignMessage(s: SuiteState, t: KeyUnderTest): void {
  const { info, signs, k } = t;
  if (signs) {
    const paddings: readonly RsaPadding[] = info.family === 'rsa' ? ['pkcs1', 'pss'] : ['pkcs1'];
    s.test.it(
      'signMessage, when the key has it, verifies with crypto.verify',
      async () => {
        if (typeof k().signMessage !== 'function') {
          // An optional fast path, unless signDigest is skipped: then it is the only signing path.
          assert.ok(
            s.skips.signDigest === undefined,
            'signDigest is skipped, so the key needs signMessage() to show that it signs',
          );
          return;
        }
        for (const padding of paddings) {
          if (
            info.family === 'rsa' &&
            (s.skips[padding] !== undefined || !s.p().capabilities.rsaSignaturePaddings.includes(padding))
          ) {
            continue;
          }
          for (const hash of HASH_ALGORITHMS) {
            if (!s.signsWith(info.family === 'rsa' ? padding : 'ecdsa', hash)) continue;
            const data = randomBytes(1000);
            const result = await k().signMessage!(data, { hash, padding, saltLength: digestLength(hash) });
            verifySignature(k(), k().publicKey, data, hash, padding, result, `signMessage ${padding} ${hash}`);
          }
        }
      },
      s.timeout,
    );
  }
}

/** RSA keys decrypt Node's OAEP ciphertext; ECDH keys derive Node's secret. */
function defineDecryptAndDerive(s: SuiteState, t: KeyUnderTest): void {
  const { info, k } = t;
  if (info.family === 'rsa') {
    s.part('decrypt', 'decrypt of Node OAEP ciphertext, for every OAEP hash in capabilities', async () => {
      s.claims(s.hasOperation('decrypt'), 'decrypt', 'the decrypt operation');
      const hashes = s.p().capabilities.oaepHashes;
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
    s.part('derive', 'deriveSecret equals Node diffieHellman with the peer', async () => {
      s.claims(s.hasOperation('derive'), 'derive', 'the derive operation');
      assert.equal(typeof k().deriveSecret, 'function', 'an ECDH key needs deriveSecret()');
      const peer = generateKeyPairSync('ec', { namedCurve: info.namedCurve! });
      const secret = await k().deriveSecret!(peer.publicKey);
      const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: k().publicKey });
      assert.equal(secret.length, info.fieldBytes, 'the secret is one field element long');
      assert.ok(secret.equals(expected), 'the secret equals diffieHellman on the peer side');
    });
  }
}

/** A non-exportable key does not export; a closed handle rejects every operation. */
function defineExportAndClose(s: SuiteState, t: KeyUnderTest): void {
  const { algorithm, info, signs, k } = t;
  s.test.it(
    'exportPrivateKey of a non-exportable key rejects with NOT_EXPORTABLE (or is absent)',
    async () => {
      const exportPrivateKey = k().exportPrivateKey;
      if (exportPrivateKey === undefined) return;
      await rejectsWith(() => exportPrivateKey.call(k()), 'ERR_KEYSTORE_NOT_EXPORTABLE', 'exportPrivateKey');
    },
    s.timeout,
  );

  s.test.it(
    'close() is idempotent and later operations reject with KEY_CLOSED',
    async () => {
      const scope = s.scope;
      const handle = s.track(await s.p().openKey({ name: k().name, scope }));
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
        await rejectsWith(() => handle.deriveSecret!(peer), 'ERR_KEYSTORE_KEY_CLOSED', 'deriveSecret after close');
      }
      if (!signs && !handle.decrypt && !handle.deriveSecret) {
        assert.fail(`a ${algorithm} key has no operation to check after close`);
      }
    },
    s.timeout,
  );
}

/** deleteKey removes the key: open, delete and list no longer find it. */
function defineDelete(s: SuiteState, t: KeyUnderTest): void {
  const { k } = t;
  s.part('deleteKey', 'deleteKey, then openKey and deleteKey reject with KEY_NOT_FOUND', async () => {
    const scope = s.scope;
    await s.p().deleteKey({ name: k().name, scope });
    await rejectsWith(
      () => s.p().openKey({ name: k().name, scope }),
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      'openKey after delete',
    );
    await rejectsWith(
      () => s.p().deleteKey({ name: k().name, scope }),
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      'deleteKey again',
    );
    if (s.skips.listKeys === undefined) {
      const all = await s.p().listKeys({ scope });
      assert.ok(!all.some((e) => e.name === k().name), 'listKeys no longer has it');
    }
  });
}
