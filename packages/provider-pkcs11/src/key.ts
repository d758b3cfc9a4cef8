/**
 * A key on the token as the provider hands it to the core: signs, decrypts and derives through the
 * token's mechanisms, on a session of the pool.
 *
 * @module
 */
import { type KeyObject, timingSafeEqual } from 'node:crypto';
import {
  algorithmInfo,
  type HashAlgorithm,
  type IsolationReceipt,
  type KeyAlgorithm,
  KeyStoreError,
  type OaepHash,
  type OperationOptions,
  type ProviderKey,
  type ProviderSignature,
  type ProviderSignParams,
  throwIfAborted,
} from '@keystore/core';
import { exportAttributes, privateKeyFrom } from './material.js';
import {
  CKA,
  CKD_NULL,
  CKG,
  CKK_GENERIC_SECRET,
  CKM,
  CKO_SECRET_KEY,
  CKR,
  CKZ_DATA_SPECIFIED,
} from './native/constants.js';
import type { Mechanism, Memory } from './native/layout.js';
import type { ObjectHandle } from './native/pkcs11.js';
import { sameKeyMaterial, searchTemplate } from './objects.js';
import { PROVIDER_ID, rvError } from './rv.js';
import { check, type Lease, type Token } from './token.js';

const CKR_ARGUMENTS_BAD = 0x7;
const CKR_MECHANISM_PARAM_INVALID = 0x71;

/** DER of `DigestInfo` up to the digest (RFC 8017 section 9.2, note 1), for `CKM_RSA_PKCS` over a digest. */
const DIGEST_INFO_PREFIX: Readonly<Record<HashAlgorithm, Buffer>> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

const HASH_MECHANISM: Readonly<Record<OaepHash, { hash: number; mgf: number }>> = {
  sha1: { hash: CKM.SHA_1, mgf: CKG.MGF1_SHA1 },
  sha256: { hash: CKM.SHA256, mgf: CKG.MGF1_SHA256 },
  sha384: { hash: CKM.SHA384, mgf: CKG.MGF1_SHA384 },
  sha512: { hash: CKM.SHA512, mgf: CKG.MGF1_SHA512 },
};

/** `CK_RSA_PKCS_PSS_PARAMS` for `hash` with MGF1 of the same hash. */
function pssMechanism(memory: Memory, hash: HashAlgorithm, saltLength: number): Mechanism {
  const l = memory.layout.pss;
  const parameter = Buffer.alloc(l.size);
  memory.writeUlong(parameter, l.hashAlg, HASH_MECHANISM[hash].hash);
  memory.writeUlong(parameter, l.mgf, HASH_MECHANISM[hash].mgf);
  memory.writeUlong(parameter, l.sLen, saltLength);
  return { mechanism: CKM.RSA_PKCS_PSS, parameter };
}

/** `CK_RSA_PKCS_OAEP_PARAMS` for `hash`, MGF1 of the same hash, and an empty label. */
function oaepMechanism(memory: Memory, hash: OaepHash): Mechanism {
  const l = memory.layout.oaep;
  const parameter = Buffer.alloc(l.size);
  memory.writeUlong(parameter, l.hashAlg, HASH_MECHANISM[hash].hash);
  memory.writeUlong(parameter, l.mgf, HASH_MECHANISM[hash].mgf);
  memory.writeUlong(parameter, l.source, CKZ_DATA_SPECIFIED);
  return { mechanism: CKM.RSA_PKCS_OAEP, parameter };
}

/** `CK_ECDH1_DERIVE_PARAMS` without a KDF, for the peer's uncompressed point. */
function ecdhMechanism(memory: Memory, peerPoint: Buffer): Mechanism {
  const l = memory.layout.ecdh1;
  const parameter = Buffer.alloc(l.size);
  memory.writeUlong(parameter, l.kdf, CKD_NULL);
  memory.writeUlong(parameter, l.ulPublicDataLen, peerPoint.length);
  memory.writePointer(parameter, l.pPublicData, peerPoint);
  return { mechanism: CKM.ECDH1_DERIVE, parameter, keep: [peerPoint] };
}

/**
 * A key on the token. Its private object handle is found again when the pool's sessions were
 * re-opened (the module may hand out new handles after a token came back).
 *
 * @since 0.1.0
 */
export class Pkcs11Key implements ProviderKey {
  /** The scope: always `user` (see the provider's notes on scopes). */
  readonly scope = 'user' as const;
  private handle: ObjectHandle | undefined;
  private handleGeneration = -1;
  private closed = false;

  /** @internal */
  constructor(
    private readonly token: Token,
    /** The key's name (its `CKA_LABEL`). */
    readonly name: string,
    /** The algorithm. */
    readonly algorithm: KeyAlgorithm,
    /** Whether the private key is extractable (`CKA_EXTRACTABLE`). */
    readonly exportable: boolean,
    /** The isolation receipt. */
    readonly isolation: IsolationReceipt,
    /** The public key. */
    readonly publicKey: KeyObject,
    /** The key's `CKA_ID`. */
    readonly id: Buffer,
    handle: ObjectHandle,
    generation: number,
  ) {
    this.handle = handle;
    this.handleGeneration = generation;
  }

  /** The private object's handle in this generation of sessions, found again by label and id when stale. */
  private async privateHandle(lease: Lease): Promise<ObjectHandle> {
    if (this.handle !== undefined && this.handleGeneration === lease.generation) return this.handle;
    const found = check(
      await lease.native.findObjects(
        lease.session,
        searchTemplate(lease.native.memory, 'private', { label: this.name, id: this.id }),
        2,
      ),
    );
    if (found.length === 0) await this.token.checkLoggedIn(lease);
    if (found.length !== 1) {
      throw new KeyStoreError('ERR_KEYSTORE_KEY_NOT_FOUND', `the key "${this.name}" is no longer on the token`, {
        providerId: PROVIDER_ID,
        hint: 'it was deleted (by this or another process); open or create it again',
      });
    }
    // Another tool may have deleted the key and made another under the same label and id: refuse to
    // use an object that is not this key (a mechanism of the wrong key type crashes some modules).
    const a = check(
      await lease.native.getAttributes(lease.session, found[0]!, [CKA.KEY_TYPE, CKA.MODULUS, CKA.EC_PARAMS]),
    );
    const type = a.get(CKA.KEY_TYPE);
    const keyType = type ? Number(lease.native.memory.readUlong(type)) : undefined;
    if (!sameKeyMaterial(this.algorithm, this.publicKey, keyType, a.get(CKA.MODULUS), a.get(CKA.EC_PARAMS))) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_KEY_NOT_FOUND',
        `the key "${this.name}" was replaced on the token by another key`,
        {
          providerId: PROVIDER_ID,
          hint: 'it was deleted and made again under the same label and id; open it again by name to use the new key',
        },
      );
    }
    this.handle = found[0]!;
    this.handleGeneration = lease.generation;
    return this.handle;
  }

  private checkOpen(options: OperationOptions | undefined): void {
    if (this.closed) {
      throw new KeyStoreError('ERR_KEYSTORE_KEY_CLOSED', `the key "${this.name}" was closed`, {
        providerId: PROVIDER_ID,
      });
    }
    throwIfAborted(options?.signal);
  }

  /** Runs one private-key operation; a stale handle is found again once. */
  private operate(
    options: OperationOptions | undefined,
    body: (lease: Lease, key: ObjectHandle) => Promise<Buffer>,
  ): Promise<Buffer> {
    this.checkOpen(options);
    return this.token.run(
      async (lease) => {
        const key = await this.privateHandle(lease);
        try {
          return await body(lease, key);
        } catch (err) {
          const rv = KeyStoreError.is(err) ? err.nativeStatus : undefined;
          if (rv !== 0x60 && rv !== CKR.OBJECT_HANDLE_INVALID) throw err; // CKR_KEY_HANDLE_INVALID too
          this.handleGeneration = -1;
          return body(lease, await this.privateHandle(lease));
        }
      },
      { signal: options?.signal },
    );
  }

  /** Signs a digest: `CKM_ECDSA` (IEEE P1363 out), `CKM_RSA_PKCS` over DigestInfo, or `CKM_RSA_PKCS_PSS`. */
  async signDigest(digest: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature> {
    const info = algorithmInfo(this.algorithm);
    if (!info.operations.includes('sign')) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `the ${this.algorithm} key "${this.name}" cannot sign`,
        {
          providerId: PROVIDER_ID,
        },
      );
    }
    const signature = await this.operate(options, (lease, key) => {
      const memory = lease.native.memory;
      let mechanism: Mechanism;
      let data = digest;
      if (info.family === 'ec') mechanism = { mechanism: CKM.ECDSA };
      else if (params.padding === 'pss') mechanism = pssMechanism(memory, params.hash, params.saltLength);
      else {
        mechanism = { mechanism: CKM.RSA_PKCS };
        data = Buffer.concat([DIGEST_INFO_PREFIX[params.hash], digest]);
      }
      return lease.native
        .sign(lease.session, mechanism, key, data, 1024)
        .then((r) => check(r, `signing with "${this.name}"`));
    });
    return info.family === 'ec' ? { signature, dsaEncoding: 'ieee-p1363' } : { signature };
  }

  /** RSA-OAEP decryption with `CKM_RSA_PKCS_OAEP` (MGF1 of the same hash, empty label). */
  async decrypt(ciphertext: Buffer, hash: OaepHash, options?: OperationOptions): Promise<Buffer> {
    if (algorithmInfo(this.algorithm).family !== 'rsa') {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `the ${this.algorithm} key "${this.name}" cannot decrypt`,
        {
          providerId: PROVIDER_ID,
        },
      );
    }
    return this.operate(options, async (lease, key) => {
      const r = await lease.native.decrypt(
        lease.session,
        oaepMechanism(lease.native.memory, hash),
        key,
        ciphertext,
        1024,
      );
      // A token that does not take these OAEP parameters says so at C_DecryptInit, in one of two ways.
      if (r.fn === 'C_DecryptInit' && (r.rv === CKR_ARGUMENTS_BAD || r.rv === CKR_MECHANISM_PARAM_INVALID)) {
        throw new KeyStoreError(
          'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
          `the token does not decrypt RSA-OAEP with ${hash}`,
          {
            providerId: PROVIDER_ID,
            nativeStatus: r.rv,
            nativeName: r.rv === CKR_ARGUMENTS_BAD ? 'CKR_ARGUMENTS_BAD' : 'CKR_MECHANISM_PARAM_INVALID',
            hint: "set the provider's oaepHashes option to the hashes this token supports (SoftHSM2 2.6: sha1 only)",
          },
        );
      }
      return check(r, `decrypting with "${this.name}"`);
    });
  }

  /**
   * ECDH with `CKM_ECDH1_DERIVE` (no KDF): the token derives a session (not token) secret object,
   * its `CKA_VALUE` is read and the object destroyed.
   */
  async deriveSecret(peer: KeyObject, options?: OperationOptions): Promise<Buffer> {
    const info = algorithmInfo(this.algorithm);
    if (!info.operations.includes('derive')) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `the ${this.algorithm} key "${this.name}" cannot derive`,
        {
          providerId: PROVIDER_ID,
        },
      );
    }
    const jwk = peer.export({ format: 'jwk' });
    if (peer.type !== 'public' || jwk.kty !== 'EC' || jwk.crv !== info.curve) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        `the peer key must be an EC public key on ${info.curve}`,
        {
          providerId: PROVIDER_ID,
        },
      );
    }
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    return this.operate(options, async (lease, key) => {
      const memory = lease.native.memory;
      const yes = memory.bool(true);
      const no = memory.bool(false);
      const template = [
        { type: CKA.CLASS, value: memory.ulong(CKO_SECRET_KEY) },
        { type: CKA.KEY_TYPE, value: memory.ulong(CKK_GENERIC_SECRET) },
        { type: CKA.TOKEN, value: no },
        { type: CKA.SENSITIVE, value: no },
        { type: CKA.EXTRACTABLE, value: yes },
        { type: CKA.VALUE_LEN, value: memory.ulong(info.fieldBytes!) },
      ];
      const secret = check(await lease.native.deriveKey(lease.session, ecdhMechanism(memory, point), key, template));
      try {
        const values = check(await lease.native.getAttributes(lease.session, secret, [CKA.VALUE]));
        const value = values.get(CKA.VALUE);
        if (!value) throw rvError(CKR.ATTRIBUTE_SENSITIVE, 'C_GetAttributeValue', 'reading the derived secret');
        return Buffer.from(value);
      } finally {
        await lease.native.destroyObject(lease.session, secret);
      }
    });
  }

  /**
   * The private key, read from the token: only for a key made exportable (`CKA_EXTRACTABLE` true and
   * `CKA_SENSITIVE` false); the core has checked the policy first. `ERR_KEYSTORE_NOT_EXPORTABLE`
   * when the key is not, or when the token withholds its value. The buffers read are zeroed.
   */
  async exportPrivateKey(options?: OperationOptions): Promise<KeyObject> {
    this.checkOpen(options);
    const refused = (why: string) =>
      new KeyStoreError('ERR_KEYSTORE_NOT_EXPORTABLE', `the key "${this.name}" ${why}`, {
        providerId: PROVIDER_ID,
        hint: 'only keys created or imported with exportable: true (where the policy allows it) can be exported',
      });
    if (!this.exportable) throw refused('is not exportable');
    const privateKey = await this.token.run(
      async (lease) => {
        const values = check(
          await lease.native.getAttributes(
            lease.session,
            await this.privateHandle(lease),
            exportAttributes(this.algorithm),
          ),
        );
        return privateKeyFrom(this.algorithm, values, this.publicKey);
      },
      { signal: options?.signal },
    );
    if (!privateKey) throw refused('is sensitive on the token: the token does not reveal its value');
    return privateKey;
  }

  /** Whether `other` is this key's public key (compared as DER SPKI). */
  hasPublicKey(other: KeyObject): boolean {
    const a = this.publicKey.export({ type: 'spki', format: 'der' });
    const b = other.export({ type: 'spki', format: 'der' });
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Marks the key closed; the token's object stays. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
