/**
 * The key object apps get: a {@link ProviderKey} wrapped with input validation, signature format
 * conversion, policy checks and audit events.
 *
 * @module
 */
import { constants, createHash, verify as cryptoVerify, KeyObject } from 'node:crypto';
import {
  type AlgorithmInfo,
  algorithmInfo,
  type DsaEncoding,
  digestLength,
  type HashAlgorithm,
  type KeyAlgorithm,
  type KeyOperation,
  type KeyScope,
  type OaepHash,
  type RsaPadding,
} from './algorithms.js';
import { type AuditKeyEvent, type AuditOperation, auditChannel } from './audit.js';
import { KeyStoreError } from './errors.js';
import { derToP1363, exportPublicKey as exportPublic, p1363ToDer } from './formats.js';
import { formatKeyRef } from './ref.js';
import type {
  DecryptOptions,
  IsolationReceipt,
  KeyStoreKey,
  KeyStoreProvider,
  OperationOptions,
  ProviderKey,
  ProviderSignature,
  ProviderSignParams,
  PublicJwk,
  PublicKeyFormat,
  ResolvedPolicy,
  SignOptions,
  VerifyOptions,
} from './types.js';

const OAEP_HASH_SET: ReadonlySet<string> = new Set(['sha1', 'sha256', 'sha384', 'sha512']);
/** Shared parameters for the common case (PKCS#1 padding or ECDSA, default salt), so `sign` allocates none. */
const SHA256_PARAMS: ProviderSignParams = Object.freeze({ hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
const SHA384_PARAMS: ProviderSignParams = Object.freeze({ hash: 'sha384', padding: 'pkcs1', saltLength: 48 });
const SHA512_PARAMS: ProviderSignParams = Object.freeze({ hash: 'sha512', padding: 'pkcs1', saltLength: 64 });

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message);
}

function cancelled(signal: AbortSignal): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', { cause: signal.reason });
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const OPERATION_VERB: Readonly<Record<string, string>> = {
  sign: 'signing',
  decrypt: 'decrypting',
  derive: 'deriving a secret',
  'export-private': 'exporting the private key',
  close: 'closing the key',
  open: 'opening the key',
  create: 'creating the key',
  import: 'importing the key',
  delete: 'deleting the key',
  list: 'listing keys',
};

/**
 * Passes a `KeyStoreError` through; turns an abort into `ERR_KEYSTORE_CANCELLED`; wraps anything else
 * as `ERR_KEYSTORE_NATIVE_FAILURE` with the original as `cause` (its message is not repeated, in case
 * it says more than it should).
 */
export function providerError(
  error: unknown,
  providerId: string,
  operation: string,
  signal?: AbortSignal,
): KeyStoreError {
  if (KeyStoreError.is(error)) return error;
  if (signal?.aborted) return cancelled(signal);
  const verb = OPERATION_VERB[operation] ?? operation;
  return new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `the ${providerId} provider failed while ${verb}`, {
    cause: error,
    providerId,
  });
}

/** `Symbol.asyncDispose`, or Node's own symbol for it where the global one is missing. */
export const ASYNC_DISPOSE: typeof Symbol.asyncDispose =
  (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ??
  (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/**
 * A {@link KeyStoreKey} over a provider's key. Created by the key store; apps see the interface.
 */
export class ManagedKey implements KeyStoreKey {
  readonly ref: string;
  readonly name: string;
  readonly providerId: string;
  readonly algorithm: KeyAlgorithm;
  readonly scope: KeyScope;
  readonly exportable: boolean;
  readonly isolation: IsolationReceipt;
  readonly publicKey: KeyObject;

  #inner: ProviderKey | null;
  #closing: Promise<void> | undefined;
  readonly #provider: KeyStoreProvider;
  readonly #policy: ResolvedPolicy;
  readonly #info: AlgorithmInfo;
  readonly #family: 'rsa' | 'ec';
  readonly #canSign: boolean;
  readonly #modulusBytes: number;
  /** Whether the shared PKCS#1 / ECDSA parameters need no further check for this key. */
  readonly #sharedParams: boolean;
  readonly #dsaDefault: DsaEncoding = 'der';

  constructor(inner: ProviderKey, provider: KeyStoreProvider, policy: ResolvedPolicy) {
    this.#inner = inner;
    this.#provider = provider;
    this.#policy = policy;
    this.name = inner.name;
    this.providerId = provider.id;
    this.algorithm = inner.algorithm;
    this.scope = inner.scope;
    this.exportable = inner.exportable === true;
    this.isolation = inner.isolation;
    this.publicKey = inner.publicKey;
    this.ref = formatKeyRef({ providerId: provider.id, scope: inner.scope, name: inner.name });
    this.#info = algorithmInfo(inner.algorithm);
    this.#family = this.#info.family;
    this.#canSign = this.#supports('sign');
    const modulusLength = inner.publicKey.asymmetricKeyDetails?.modulusLength;
    this.#modulusBytes = this.#family === 'rsa' ? Math.ceil((modulusLength ?? this.#info.bits) / 8) : 0;
    this.#sharedParams = this.#family !== 'rsa' || provider.capabilities.rsaSignaturePaddings.includes('pkcs1');
  }

  #supports(operation: KeyOperation): boolean {
    return this.#info.operations.includes(operation) && this.#provider.capabilities.operations.includes(operation);
  }

  #open(): ProviderKey {
    const inner = this.#inner;
    if (inner === null) {
      throw new KeyStoreError('ERR_KEYSTORE_KEY_CLOSED', `the key ${this.ref} was closed`, {
        providerId: this.providerId,
      });
    }
    return inner;
  }

  #unsupported(operation: string): KeyStoreError {
    return new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      `a ${this.algorithm} key of the ${this.providerId} provider cannot ${operation}`,
      { providerId: this.providerId },
    );
  }

  #used(operation: AuditOperation): void {
    const event: AuditKeyEvent = {
      type: 'key.used',
      time: new Date().toISOString(),
      providerId: this.providerId,
      ref: this.ref,
      algorithm: this.algorithm,
      operation,
      isolation: this.isolation.level,
    };
    auditChannel.publish(event);
  }

  /** Validates sign options into provider params (the shared default object when none are given). */
  #signParams(options: SignOptions | undefined, forVerify = false): ProviderSignParams {
    if (options === undefined) {
      if (this.#sharedParams || forVerify) return SHA256_PARAMS;
    } else if (typeof options !== 'object' || options === null) {
      throw invalid('options must be an object');
    }
    const { hash, padding, saltLength, dsaEncoding } = options ?? {};
    if (dsaEncoding !== undefined && dsaEncoding !== 'der' && dsaEncoding !== 'ieee-p1363') {
      throw invalid(`dsaEncoding must be der or ieee-p1363, not ${String(dsaEncoding)}`);
    }
    if (padding === undefined && saltLength === undefined && (this.#sharedParams || forVerify)) {
      if (hash === undefined || hash === 'sha256') return SHA256_PARAMS;
      if (hash === 'sha384') return SHA384_PARAMS;
      if (hash === 'sha512') return SHA512_PARAMS;
    }
    const h: HashAlgorithm = hash ?? 'sha256';
    if (h !== 'sha256' && h !== 'sha384' && h !== 'sha512') {
      throw invalid(`hash must be sha256, sha384 or sha512, not ${String(h)}`);
    }
    const p: RsaPadding = padding ?? 'pkcs1';
    if (p !== 'pkcs1' && p !== 'pss') throw invalid(`padding must be pkcs1 or pss, not ${String(p)}`);
    const hashLength = digestLength(h);
    if (saltLength !== undefined && (typeof saltLength !== 'number' || !Number.isSafeInteger(saltLength))) {
      throw invalid('saltLength must be an integer');
    }
    if (this.#family === 'rsa') {
      if (!forVerify && !this.#provider.capabilities.rsaSignaturePaddings.includes(p)) {
        throw new KeyStoreError(
          'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
          `the ${this.providerId} provider cannot sign with ${p} padding`,
          { providerId: this.providerId },
        );
      }
      if (p === 'pss' && saltLength !== undefined) {
        const max = this.#modulusBytes - hashLength - 2;
        if (saltLength < 0 || saltLength > max) {
          throw invalid(`saltLength must be between 0 and ${max} for this key and ${h}`);
        }
      }
    }
    return { hash: h, padding: p, saltLength: saltLength ?? hashLength };
  }

  /** Converts an ECDSA signature to the encoding asked for, only when it differs. */
  #encode(result: ProviderSignature, wanted: DsaEncoding): Buffer {
    const signature = result.signature;
    if (this.#family !== 'ec') return signature;
    const got = result.dsaEncoding ?? 'der';
    if (got === wanted) return signature;
    return wanted === 'der' ? p1363ToDer(signature) : derToP1363(signature, this.#info.fieldBytes ?? 0);
  }

  exportPublicKey(format: 'der'): Buffer;
  exportPublicKey(format: 'pem'): string;
  exportPublicKey(format: 'jwk'): PublicJwk;
  exportPublicKey(format: PublicKeyFormat): Buffer | string | PublicJwk;
  exportPublicKey(format: PublicKeyFormat): Buffer | string | PublicJwk {
    if (format !== 'der' && format !== 'pem' && format !== 'jwk') {
      throw invalid(`format must be der, pem or jwk, not ${String(format)}`);
    }
    return exportPublic(this.publicKey, format);
  }

  async sign(data: Uint8Array, options?: SignOptions): Promise<Buffer> {
    const inner = this.#open();
    if (!isBytes(data)) throw invalid('data must be a Uint8Array');
    if (!this.#canSign) throw this.#unsupported('sign');
    const params = this.#signParams(options);
    const signal = options?.signal;
    if (signal?.aborted) throw cancelled(signal);
    const message = toBuffer(data);
    let result: ProviderSignature;
    try {
      result =
        inner.signMessage !== undefined
          ? await inner.signMessage(message, params, options)
          : await inner.signDigest(createHash(params.hash).update(message).digest(), params, options);
    } catch (error) {
      throw providerError(error, this.providerId, 'sign', signal);
    }
    if (auditChannel.hasSubscribers) this.#used('sign');
    return this.#encode(result, options?.dsaEncoding ?? this.#dsaDefault);
  }

  async signDigest(digest: Uint8Array, options?: SignOptions): Promise<Buffer> {
    const inner = this.#open();
    if (!isBytes(digest)) throw invalid('digest must be a Uint8Array');
    if (!this.#canSign) throw this.#unsupported('sign');
    const params = this.#signParams(options);
    const expected = digestLength(params.hash);
    if (digest.byteLength !== expected) {
      throw invalid(`a ${params.hash} digest is ${expected} bytes long, not ${digest.byteLength}`);
    }
    const signal = options?.signal;
    if (signal?.aborted) throw cancelled(signal);
    let result: ProviderSignature;
    try {
      result = await inner.signDigest(toBuffer(digest), params, options);
    } catch (error) {
      throw providerError(error, this.providerId, 'sign', signal);
    }
    if (auditChannel.hasSubscribers) this.#used('sign');
    return this.#encode(result, options?.dsaEncoding ?? this.#dsaDefault);
  }

  async verify(data: Uint8Array, signature: Uint8Array, options?: VerifyOptions): Promise<boolean> {
    this.#open();
    if (!isBytes(data)) throw invalid('data must be a Uint8Array');
    if (!isBytes(signature)) throw invalid('signature must be a Uint8Array');
    if (!this.#info.operations.includes('sign')) throw this.#unsupported('verify');
    const params = this.#signParams(options, true);
    const signal = options?.signal;
    if (signal?.aborted) throw cancelled(signal);
    try {
      if (this.#family === 'rsa') {
        return cryptoVerify(
          params.hash,
          data,
          params.padding === 'pss'
            ? { key: this.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }
            : { key: this.publicKey, padding: constants.RSA_PKCS1_PADDING },
          signature,
        );
      }
      return cryptoVerify(
        params.hash,
        data,
        { key: this.publicKey, dsaEncoding: options?.dsaEncoding ?? 'der' },
        signature,
      );
    } catch {
      // Malformed signatures make some OpenSSL versions throw instead of returning false.
      return false;
    }
  }

  async decrypt(ciphertext: Uint8Array, options?: DecryptOptions): Promise<Buffer> {
    const inner = this.#open();
    if (!isBytes(ciphertext)) throw invalid('ciphertext must be a Uint8Array');
    if (!this.#supports('decrypt') || inner.decrypt === undefined) throw this.#unsupported('decrypt');
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw invalid('options must be an object');
    }
    const hash: OaepHash = options?.hash ?? 'sha256';
    if (!OAEP_HASH_SET.has(hash))
      throw invalid(`the OAEP hash must be sha1, sha256, sha384 or sha512, not ${String(hash)}`);
    if (!this.#provider.capabilities.oaepHashes.includes(hash)) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `the ${this.providerId} provider cannot decrypt with OAEP and ${hash}`,
        { providerId: this.providerId },
      );
    }
    if (ciphertext.byteLength !== this.#modulusBytes) {
      throw invalid(`a ciphertext for this key is ${this.#modulusBytes} bytes long, not ${ciphertext.byteLength}`);
    }
    const signal = options?.signal;
    if (signal?.aborted) throw cancelled(signal);
    let plaintext: Buffer;
    try {
      plaintext = await inner.decrypt(toBuffer(ciphertext), hash, options);
    } catch (error) {
      throw providerError(error, this.providerId, 'decrypt', signal);
    }
    if (auditChannel.hasSubscribers) this.#used('decrypt');
    return plaintext;
  }

  async deriveSecret(peer: KeyObject, options?: OperationOptions): Promise<Buffer> {
    const inner = this.#open();
    if (!this.#supports('derive') || inner.deriveSecret === undefined) throw this.#unsupported('derive a secret');
    if (!(peer instanceof KeyObject) || peer.type !== 'public' || peer.asymmetricKeyType !== 'ec') {
      throw invalid('the peer must be an EC public KeyObject');
    }
    const curve = peer.asymmetricKeyDetails?.namedCurve;
    if (curve !== this.#info.namedCurve) {
      throw invalid(`the peer's curve (${String(curve)}) is not this key's (${String(this.#info.namedCurve)})`);
    }
    const signal = options?.signal;
    if (signal?.aborted) throw cancelled(signal);
    let secret: Buffer;
    try {
      secret = await inner.deriveSecret(peer, options);
    } catch (error) {
      throw providerError(error, this.providerId, 'derive', signal);
    }
    if (auditChannel.hasSubscribers) this.#used('derive');
    return secret;
  }

  async exportPrivateKey(options?: OperationOptions): Promise<KeyObject> {
    const inner = this.#open();
    if (!this.#policy.exportable.export) {
      const reason =
        "private keys may not be exported: the policy's exportable.export is false (/exportable/export); keep the key in its store";
      if (auditChannel.hasSubscribers) {
        auditChannel.publish({
          type: 'policy.decision',
          time: new Date().toISOString(),
          action: 'export-private',
          outcome: 'refused',
          selected: null,
          reasons: [reason],
          ref: this.ref,
          algorithm: this.algorithm,
        });
      }
      throw new KeyStoreError('ERR_KEYSTORE_POLICY_VIOLATION', reason, { providerId: this.providerId });
    }
    if (!this.exportable || inner.exportPrivateKey === undefined) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_NOT_EXPORTABLE',
        `the key ${this.ref} was not created exportable; its private key cannot leave the ${this.providerId} provider`,
        { providerId: this.providerId },
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) throw cancelled(signal);
    let key: KeyObject;
    try {
      key = await inner.exportPrivateKey(options);
    } catch (error) {
      throw providerError(error, this.providerId, 'export-private', signal);
    }
    if (auditChannel.hasSubscribers) this.#used('export-private');
    return key;
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      const inner = this.#inner;
      this.#inner = null;
      this.#closing =
        inner === null
          ? Promise.resolve()
          : (async () => {
              try {
                await inner.close();
              } catch (error) {
                throw providerError(error, this.providerId, 'close');
              }
            })();
    }
    return this.#closing;
  }

  [ASYNC_DISPOSE](): Promise<void> {
    return this.close();
  }

  /** A short description without key material, for logs. */
  toJSON(): Record<string, unknown> {
    return {
      ref: this.ref,
      name: this.name,
      providerId: this.providerId,
      algorithm: this.algorithm,
      scope: this.scope,
      exportable: this.exportable,
      isolation: this.isolation,
    };
  }
}
