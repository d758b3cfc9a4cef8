/**
 * A TPM key as the provider hands it to the core.
 *
 * @module
 */
import { createPublicKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import {
  digestLength,
  HASH_ALGORITHMS,
  type IsolationReceipt,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  type OaepHash,
  type OperationOptions,
  type ProviderKey,
  type ProviderSignature,
  type ProviderSignParams,
  throwIfAborted,
} from '@keystore/core';
import { checkDigestLength } from '@keystore/core/provider';
import { deviceIsolation, type TpmDeviceInfo } from './device.js';

/** What `Fapi_ExportKey` tells about a key. */
interface ExportedKey {
  readonly publicKeyPem: string;
  readonly system: boolean;
  readonly algorithm: KeyAlgorithm | undefined;
  readonly sign: boolean;
  readonly decrypt: boolean;
  readonly restricted: boolean;
  readonly fixedTPM: boolean;
  readonly sensitiveDataOrigin: boolean;
  /** RSA modulus length in bytes (0 for EC). */
  readonly modulusBytes: number;
}

const CURVES: Readonly<Record<string, KeyAlgorithm>> = {
  NIST_P256: 'ECDSA-P256',
  NIST_P384: 'ECDSA-P384',
  NIST_P521: 'ECDSA-P521',
};

/** Parses `Fapi_ExportKey(path, NULL)`'s JSON. */
export function parseExportedKey(json: string): ExportedKey {
  const doc = JSON.parse(json) as {
    system?: unknown;
    pem_ext_public?: unknown;
    public?: { publicArea?: Record<string, unknown> };
  };
  const area = doc.public?.publicArea ?? {};
  const attrs = (area.objectAttributes ?? {}) as Record<string, unknown>;
  const params = (area.parameters ?? {}) as Record<string, unknown>;
  let algorithm: KeyAlgorithm | undefined;
  let modulusBytes = 0;
  if (area.type === 'ECC') algorithm = CURVES[String(params.curveID)];
  if (area.type === 'RSA') {
    const bits = Number(params.keyBits);
    modulusBytes = bits / 8;
    if (bits === 2048 || bits === 3072 || bits === 4096) algorithm = `RSA-${bits}` as KeyAlgorithm;
  }
  return {
    publicKeyPem: typeof doc.pem_ext_public === 'string' ? doc.pem_ext_public : '',
    system: String(doc.system).toUpperCase() === 'YES',
    algorithm,
    sign: attrs.sign === 1,
    decrypt: attrs.decrypt === 1,
    restricted: attrs.restricted === 1,
    fixedTPM: attrs.fixedTPM === 1,
    sensitiveDataOrigin: attrs.sensitiveDataOrigin === 1,
    modulusBytes,
  };
}

/** The receipt for a key in this TPM. */
export function keyReceipt(device: TpmDeviceInfo, exported: ExportedKey, path: string): IsolationReceipt {
  const base = deviceIsolation(device);
  let level = base.level;
  const evidence = [...base.reasons];
  if (exported.fixedTPM && exported.sensitiveDataOrigin) {
    evidence.push(
      `the key at FAPI path ${path} was generated inside the TPM (sensitiveDataOrigin) and cannot be duplicated out of it (fixedTPM, fixedParent)`,
    );
  } else {
    if (level === 'hardware' || level === 'virtualization') level = 'in-process';
    evidence.push(
      `the key at FAPI path ${path} was not generated inside this TPM or can be duplicated (fixedTPM=${Number(exported.fixedTPM)}, sensitiveDataOrigin=${Number(exported.sensitiveDataOrigin)}): its private part may exist outside the TPM, so it is not reported as hardware-isolated`,
    );
  }
  return { level, providerId: 'tpm', measuredAt: new Date().toISOString(), evidence };
}

/** Whether `pem` (the public key FAPI returned) is `publicKey`, compared as DER SPKI. */
export function samePublicKey(pem: string, publicKey: KeyObject): boolean {
  let other: KeyObject;
  try {
    other = createPublicKey(pem);
  } catch {
    return false;
  }
  const a = other.export({ type: 'spki', format: 'der' });
  const b = publicKey.export({ type: 'spki', format: 'der' });
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The error of a handle whose key was deleted and made again under the same name. */
export function replacedKeyError(key: TpmKey): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_KEY_NOT_FOUND',
    `the TPM key "${key.name}" this handle was opened with is gone: the key now at ${key.fapiPath} was replaced by another key (its public key differs)`,
    {
      providerId: 'tpm',
      hint: 'the key was deleted and created again under the same name; open it again by name to use the new key',
    },
  );
}

/** What a key needs from its provider to run operations. */
export interface KeyBackend {
  sign(key: TpmKey, padding: string | null, digest: Buffer, options: OperationOptions | undefined): Promise<Buffer>;
  decrypt(key: TpmKey, ciphertext: Buffer, options: OperationOptions | undefined): Promise<Buffer>;
}

/** Key passwords, kept off the key objects so that logging a key never prints one. */
const passwords = new WeakMap<TpmKey, string>();

/** The password a key was opened with, for the auth callback. */
export function keyPassword(key: TpmKey): string | undefined {
  return passwords.get(key);
}

function unsupported(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', message, { providerId: 'tpm', hint });
}

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, { providerId: 'tpm' });
}

/**
 * A key in the TPM. Operations are checked in TypeScript before any native call: a wrong digest
 * length, a signature with a decrypt-only key or a decryption with a sign-only key become typed
 * errors without touching the TPM.
 *
 * @since 0.1.0
 */
export class TpmKey implements ProviderKey {
  /** Whether the private key can be exported: never, for a TPM key. */
  readonly exportable = false;
  /** The public key. */
  readonly publicKey: KeyObject;
  private closed = false;

  /** @internal */
  constructor(
    /** The key's name. */
    readonly name: string,
    /** The algorithm. */
    readonly algorithm: KeyAlgorithm,
    /** The scope: `user` (FAPI user keystore) or `machine` (FAPI system keystore). */
    readonly scope: KeyScope,
    /** The FAPI path (`HS/SRK/<name>`, or `/<profile>/HS/SRK/<name>` for a non-default profile). */
    readonly fapiPath: string,
    /** The FAPI profile the key lives in. */
    readonly profile: string,
    /** The isolation achieved. */
    readonly isolation: IsolationReceipt,
    /** @internal */
    readonly exported: ExportedKey,
    password: string | undefined,
    private readonly backend: KeyBackend,
  ) {
    this.publicKey = createPublicKey(exported.publicKeyPem);
    if (password !== undefined) passwords.set(this, password);
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new KeyStoreError('ERR_KEYSTORE_KEY_CLOSED', `the TPM key "${this.name}" was closed`, {
        providerId: 'tpm',
      });
    }
  }

  /** Signs a digest; ECDSA signatures come back DER-encoded. */
  async signDigest(digest: Buffer, params: ProviderSignParams, options?: OperationOptions): Promise<ProviderSignature> {
    this.assertOpen();
    throwIfAborted(options?.signal);
    if (!((digest as unknown) instanceof Uint8Array)) throw invalid('the digest must be a Buffer');
    const hash = params?.hash;
    if (!HASH_ALGORITHMS.includes(hash)) {
      throw invalid(`unsupported hash ${JSON.stringify(hash)}: use one of ${HASH_ALGORITHMS.join(', ')}`);
    }
    checkDigestLength(digest, hash, 'tpm');
    const expected = digestLength(hash);
    if (!this.exported.sign || this.exported.restricted) {
      throw unsupported(
        `the TPM key "${this.name}" cannot sign (its TPM attributes: sign=${Number(this.exported.sign)}, restricted=${Number(this.exported.restricted)})`,
        'create the key with this SDK (RSA keys sign and decrypt) or with tss2_createkey --type "sign,noDa"',
      );
    }
    const data = Buffer.from(digest);
    if (this.algorithm.startsWith('ECDSA-')) {
      const signature = await this.backend.sign(this, null, data, options);
      return { signature, dsaEncoding: 'der' };
    }
    let padding: string;
    if (params.padding === 'pkcs1') padding = 'RSA_SSA';
    else if (params.padding === 'pss') {
      padding = 'RSA_PSS';
      if (params.saltLength !== expected) {
        throw unsupported(
          `the TPM signs RSA-PSS with a salt as long as the digest (${expected} bytes), not ${String(params.saltLength)}`,
          'omit saltLength, or pass the digest length',
        );
      }
    } else throw invalid(`unsupported RSA padding ${JSON.stringify(params.padding)}: use pkcs1 or pss`);
    return { signature: await this.backend.sign(this, padding, data, options) };
  }

  /** RSA-OAEP decryption (SHA-256, the FAPI profile's decrypt scheme). */
  async decrypt(ciphertext: Buffer, hash: OaepHash, options?: OperationOptions): Promise<Buffer> {
    this.assertOpen();
    throwIfAborted(options?.signal);
    if (!this.algorithm.startsWith('RSA-')) {
      throw unsupported(`the TPM key "${this.name}" is ${this.algorithm}: only RSA keys decrypt`);
    }
    if (!this.exported.decrypt || this.exported.restricted) {
      throw unsupported(`the TPM key "${this.name}" cannot decrypt (its TPM attributes do not include decrypt)`);
    }
    if (hash !== 'sha256') {
      throw unsupported(`the TPM decrypts RSA-OAEP with SHA-256 only (the FAPI profile's scheme), not ${String(hash)}`);
    }
    if (!((ciphertext as unknown) instanceof Uint8Array)) throw invalid('the ciphertext must be a Buffer');
    if (ciphertext.length !== this.exported.modulusBytes) {
      throw invalid(
        `an RSA-OAEP ciphertext for this key is ${this.exported.modulusBytes} bytes, not ${ciphertext.length}`,
      );
    }
    return this.backend.decrypt(this, Buffer.from(ciphertext), options);
  }

  /** Not supported: FAPI has no ECDH call. */
  async deriveSecret(_peer: KeyObject, _options?: OperationOptions): Promise<Buffer> {
    this.assertOpen();
    throw unsupported('the TPM provider does not derive secrets (FAPI offers no ECDH operation)');
  }

  /**
   * Marks the key closed. Idempotent. With `loadedKeys` the key may stay loaded in a pool context
   * (shared by every handle of it) until it is evicted or the provider is closed.
   */
  async close(): Promise<void> {
    this.closed = true;
    passwords.delete(this);
  }
}
