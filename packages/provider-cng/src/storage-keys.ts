/**
 * What an NCrypt-based provider reads from a key handle: its algorithm, public key, export policy and
 * VBS mark, and the usage a new key gets.
 *
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  algorithmInfo,
  type IsolationLevel,
  type IsolationReceipt,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  publicKeyMatchesAlgorithm,
} from '@keystore/core';
import { keyAlgorithmOf } from './names.js';
import { type BlobCurve, blobCurve, publicKeyFromBlob } from './native/blobs.js';
import {
  BCRYPT_ECCPUBLIC_BLOB,
  BCRYPT_RSAPUBLIC_BLOB,
  NCRYPT_ALGORITHM_GROUP_PROPERTY,
  NCRYPT_ALGORITHM_PROPERTY,
  NCRYPT_ALLOW_DECRYPT_FLAG,
  NCRYPT_ALLOW_KEY_AGREEMENT_FLAG,
  NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG,
  NCRYPT_ALLOW_SIGNING_FLAG,
  NCRYPT_ECC_CURVE_NAME_PROPERTY,
  NCRYPT_EXPORT_POLICY_PROPERTY,
  NCRYPT_VIRTUAL_ISO_PROPERTY,
} from './native/constants.js';
import type { NCryptBindings, NCryptKeyHandle } from './native/types.js';
import { type CheckedCreate, type StorageIdentity, storageError, VBS_HINT } from './storage-errors.js';

/**
 * The `Key Usage` property a new key gets: `NCRYPT_ALLOW_SIGNING_FLAG` for ECDSA,
 * `NCRYPT_ALLOW_SIGNING_FLAG | NCRYPT_ALLOW_DECRYPT_FLAG` for RSA, `NCRYPT_ALLOW_KEY_AGREEMENT_FLAG`
 * for ECDH.
 *
 * @since 0.2.0
 */
export function keyUsage(algorithm: KeyAlgorithm): number {
  const info = algorithmInfo(algorithm);
  if (info.family === 'rsa') return NCRYPT_ALLOW_SIGNING_FLAG | NCRYPT_ALLOW_DECRYPT_FLAG;
  return info.operations.includes('derive') ? NCRYPT_ALLOW_KEY_AGREEMENT_FLAG : NCRYPT_ALLOW_SIGNING_FLAG;
}

function toPublic(key: KeyObject): KeyObject {
  return key.type === 'public' ? key : createPublicKey(key);
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  return key.asymmetricKeyType === 'rsa' ? `${d?.modulusLength} bits` : `curve ${String(d?.namedCurve)}`;
}

function tryRead<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** The public key of `key`, from `RSAPUBLICBLOB` or `ECCPUBLICBLOB`, checked against the algorithm. */
export function readPublicKey(
  who: StorageIdentity,
  ncrypt: NCryptBindings,
  key: NCryptKeyHandle,
  algorithm: KeyAlgorithm,
): KeyObject {
  const info = algorithmInfo(algorithm);
  const blob = ncrypt.exportKey(key, info.family === 'rsa' ? BCRYPT_RSAPUBLIC_BLOB : BCRYPT_ECCPUBLIC_BLOB);
  const publicKey = toPublic(publicKeyFromBlob(blob, info.curve));
  if (!publicKeyMatchesAlgorithm(publicKey, algorithm)) {
    throw storageError(
      who,
      'ERR_KEYSTORE_NATIVE_FAILURE',
      `${who.storageProvider} returned a public key that does not fit ${algorithm}`,
    );
  }
  return publicKey;
}

/** The SDK algorithm of a key whose NCrypt algorithm is `ncryptId` and whose public key is `publicKey`. */
function algorithmOf(ncryptId: string, rsa: boolean, publicKey: KeyObject): KeyAlgorithm | undefined {
  if (rsa) return keyAlgorithmOf('RSA', { bits: publicKey.asymmetricKeyDetails?.modulusLength ?? 0 });
  const kind = (/^(ECDSA|ECDH)/i.exec(ncryptId)?.[1] ?? 'ECDSA').toUpperCase();
  const size = { prime256v1: '256', secp384r1: '384', secp521r1: '521' }[
    publicKey.asymmetricKeyDetails?.namedCurve ?? ''
  ];
  return size === undefined ? undefined : keyAlgorithmOf(`${kind}_P${size}`);
}

/** What {@link describeOpenedKey} reads. */
export interface OpenedKeyFacts {
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: KeyObject;
  readonly exportable: boolean;
  readonly virtualIsolation: boolean;
}

/** Reads an opened key's algorithm, public key, export policy and VBS mark. */
export function describeOpenedKey(
  who: StorageIdentity,
  ncrypt: NCryptBindings,
  key: NCryptKeyHandle,
  name: string,
): OpenedKeyFacts {
  const ncryptId =
    tryRead(() => ncrypt.getStringProperty(key, NCRYPT_ALGORITHM_PROPERTY)) ??
    tryRead(() => ncrypt.getStringProperty(key, NCRYPT_ALGORITHM_GROUP_PROPERTY));
  const unsupported = (what: string) =>
    storageError(
      who,
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      `the key "${name}" is ${what}, which this SDK does not support`,
    );
  if (ncryptId === undefined) throw unsupported('of an algorithm that could not be read');
  const rsa = ncryptId.toUpperCase() === 'RSA';
  if (!rsa && !/^(ECDSA|ECDH)/i.test(ncryptId)) throw unsupported(`an ${ncryptId} key`);
  const blob = ncrypt.exportKey(key, rsa ? BCRYPT_RSAPUBLIC_BLOB : BCRYPT_ECCPUBLIC_BLOB);
  let curveHint: BlobCurve | undefined;
  if (!rsa && blobCurve(blob) === undefined) {
    // A generic magic (the Platform Crypto Provider's P-256 keys): the curve is a property.
    const named = tryRead(() => ncrypt.getStringProperty(key, NCRYPT_ECC_CURVE_NAME_PROPERTY)) ?? '';
    const size = /(256|384|521)/.exec(named)?.[1];
    curveHint = size === undefined ? undefined : (`P-${size}` as BlobCurve);
  }
  const publicKey = toPublic(publicKeyFromBlob(blob, curveHint));
  const algorithm = algorithmOf(ncryptId, rsa, publicKey);
  if (algorithm === undefined || !publicKeyMatchesAlgorithm(publicKey, algorithm)) {
    throw unsupported(`an ${ncryptId} key (${describeKey(publicKey)})`);
  }
  const policy = tryRead(() => ncrypt.getDwordProperty(key, NCRYPT_EXPORT_POLICY_PROPERTY)) ?? 0;
  const iso = tryRead(() => ncrypt.getProperty(key, NCRYPT_VIRTUAL_ISO_PROPERTY));
  return {
    algorithm,
    publicKey,
    exportable: (policy & NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG) !== 0,
    virtualIsolation: iso !== undefined && iso.length > 0 && iso[0] !== 0,
  };
}

/**
 * Checks that a key created with `NCRYPT_USE_VIRTUAL_ISOLATION_FLAG` carries it: its own
 * `Virtual Iso` property is present with a first byte other than 0 (what `openKey` checks too).
 * `Impl Type` is not taken as proof: it is documented as a property of the storage provider, and
 * says nothing about this key. Returns the evidence sentence; throws `ERR_KEYSTORE_POLICY_VIOLATION`
 * otherwise (the caller deletes the key).
 */
export function checkVirtualIsolation(
  who: StorageIdentity,
  ncrypt: NCryptBindings,
  key: NCryptKeyHandle,
  req: CheckedCreate,
): string {
  let seen: string;
  try {
    const value = ncrypt.getProperty(key, NCRYPT_VIRTUAL_ISO_PROPERTY);
    if (value.length > 0 && value[0] !== 0) {
      return `the key was created with NCRYPT_USE_VIRTUAL_ISOLATION_FLAG and its "Virtual Iso" property reads ${value.toString('hex')}: it is used only inside the isolated LSA (LsaIso, VTL1), behind the hypervisor`;
    }
    seen = `"Virtual Iso" reads ${value.length === 0 ? 'empty' : value.toString('hex')}`;
  } catch (err) {
    seen = `"Virtual Iso" is unreadable (${KeyStoreError.is(err) ? (err.nativeName ?? err.message) : String(err)})`;
  }
  throw storageError(
    who,
    'ERR_KEYSTORE_POLICY_VIOLATION',
    `the floor is ${req.minimumIsolation ?? 'virtualization'}, which only a virtualization-based key meets here, and the key "${req.name}" was created with NCRYPT_USE_VIRTUAL_ISOLATION_FLAG but does not carry virtualization-based protection (${seen})`,
    { hint: VBS_HINT },
  );
}

/** A receipt of the provider, measured now. */
export function receiptOf(who: StorageIdentity, level: IsolationLevel, evidence: readonly string[]): IsolationReceipt {
  return { level, providerId: who.id, measuredAt: new Date().toISOString(), evidence: [...evidence] };
}

/** What a key object is made of besides its handles and the provider's own settings. */
export interface KeyFacts {
  readonly name: string;
  readonly algorithm: KeyAlgorithm;
  readonly scope: KeyScope;
  readonly exportable: boolean;
  readonly isolation: IsolationReceipt;
  readonly publicKey: KeyObject;
}
