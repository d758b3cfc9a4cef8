/**
 * The pure part of the certificate-store API: checks of every input (store names, thumbprints,
 * certificates, keys, queries), the `CRYPT_KEY_PROV_INFO` that names a key, and how a stored
 * certificate is described and matched. No native calls.
 *
 * @module
 */
import { KeyObject, X509Certificate } from 'node:crypto';
import { KeyStoreError } from '@keystore/core';
import { MS_KEY_STORAGE_PROVIDER, MS_PLATFORM_CRYPTO_PROVIDER, NCRYPT_MACHINE_KEY_FLAG } from '../native/constants.js';
import { checkStoreName, MAX_CERTIFICATE_LENGTH } from '../native/crypt32.js';
import type { CertKeyProvInfo, CertStoreEntry, CertStoreLocation } from '../native/crypt32-types.js';
import type {
  CertificateInput,
  CertificateKey,
  CertificateQuery,
  CertificateStoreOptions,
  StoredCertificate,
} from './types.js';

/**
 * The storage provider of each keystore provider whose keys can be bound to a certificate.
 *
 * @since 0.3.0
 */
export const CERTIFICATE_KEY_PROVIDERS: Readonly<Record<string, string>> = Object.freeze({
  cng: MS_KEY_STORAGE_PROVIDER,
  tpm: MS_PLATFORM_CRYPTO_PROVIDER,
});

export function invalid(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

/** The store and location of `options`, checked. */
export function resolveStoreOptions(options: CertificateStoreOptions | undefined): {
  store: string;
  location: CertStoreLocation;
} {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalid('the store options must be an object');
  }
  const store = options?.store ?? 'My';
  const location = options?.location ?? 'CurrentUser';
  if (location !== 'CurrentUser' && location !== 'LocalMachine') {
    throw invalid(`invalid store location ${JSON.stringify(location)}`, 'use CurrentUser or LocalMachine');
  }
  return { store: checkStoreName(store), location };
}

/** A thumbprint as 20 bytes; hex with optional spaces or colons. */
export function parseThumbprint(thumbprint: unknown): Buffer {
  const hex = typeof thumbprint === 'string' ? thumbprint.replace(/[\s:]/g, '') : '';
  if (!/^[0-9a-fA-F]{40}$/.test(hex)) {
    throw invalid(
      `invalid thumbprint ${JSON.stringify(typeof thumbprint === 'string' ? thumbprint.slice(0, 80) : typeof thumbprint)}`,
      'a SHA-1 thumbprint is 40 hex digits (as certutil and the certificate manager show it)',
    );
  }
  return Buffer.from(hex, 'hex');
}

/** Parses a certificate input; `ERR_KEYSTORE_INVALID_ARGUMENT` when it is not one X.509 certificate. */
export function parseCertificate(input: CertificateInput): X509Certificate {
  if (input instanceof X509Certificate) return input;
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw invalid('the certificate must be PEM text, DER bytes or an X509Certificate');
  }
  const size = typeof input === 'string' ? input.length : input.byteLength;
  if (size === 0 || size > 4 * MAX_CERTIFICATE_LENGTH) {
    throw invalid(`the certificate is ${size} ${typeof input === 'string' ? 'characters' : 'bytes'} long`);
  }
  try {
    return new X509Certificate(typeof input === 'string' ? input : Buffer.from(input));
  } catch (cause) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'the certificate could not be parsed as X.509', {
      hint: 'pass one certificate as PEM (-----BEGIN CERTIFICATE-----) or DER',
      cause,
    });
  }
}

export function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** Checks a key reference and returns the `CRYPT_KEY_PROV_INFO` that names it. */
export function keyProvInfoFor(key: CertificateKey): CertKeyProvInfo {
  if (key === null || typeof key !== 'object') throw invalid('the key must be a keystore key');
  if (typeof key.name !== 'string' || key.name.length === 0) throw invalid('the key has no name');
  if (key.scope !== 'user' && key.scope !== 'machine') throw invalid(`the key's scope ${String(key.scope)} is unknown`);
  if (!(key.publicKey instanceof KeyObject) || key.publicKey.type !== 'public') {
    throw invalid('the key has no public KeyObject');
  }
  const providerName = Object.hasOwn(CERTIFICATE_KEY_PROVIDERS, key.providerId)
    ? CERTIFICATE_KEY_PROVIDERS[key.providerId]
    : undefined;
  if (providerName === undefined) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      `keys of the ${JSON.stringify(key.providerId)} provider cannot be bound to a certificate in the Windows store`,
      {
        providerId: String(key.providerId),
        hint: 'Windows finds a certificate’s key through CNG: use a key of the cng provider, or of the tpm provider on Windows',
      },
    );
  }
  return {
    containerName: key.name,
    providerName,
    providerType: 0,
    flags: key.scope === 'machine' ? NCRYPT_MACHINE_KEY_FLAG : 0,
    keySpec: 0,
  };
}

/** One line of an `X509Certificate` distinguished name (Node gives one attribute per line). */
export function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/** A stored certificate as the API shows it, or undefined when its bytes are not X.509. */
export function describeEntry(
  entry: CertStoreEntry,
  store: string,
  location: CertStoreLocation,
): StoredCertificate | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(entry.der);
  } catch {
    return undefined;
  }
  const info = entry.keyProvInfo;
  return {
    thumbprint: certificate.fingerprint.replace(/:/g, '').toUpperCase(),
    subject: oneLine(certificate.subject),
    issuer: oneLine(certificate.issuer),
    serialNumber: certificate.serialNumber.toUpperCase(),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    certificate,
    key:
      info === undefined
        ? undefined
        : {
            providerName: info.providerName,
            containerName: info.containerName,
            scope: (info.flags & NCRYPT_MACHINE_KEY_FLAG) !== 0 ? 'machine' : 'user',
            raw: info,
          },
    store,
    location,
  };
}

/** Whether a stored certificate matches every field of a query (checked with {@link checkQuery}). */
export function matches(cert: StoredCertificate, query: CheckedQuery): boolean {
  if (query.thumbprint !== undefined && cert.thumbprint !== query.thumbprint) return false;
  if (query.subject !== undefined && !cert.subject.toLowerCase().includes(query.subject)) return false;
  if (query.spki !== undefined && !spki(cert.certificate.publicKey).equals(query.spki)) return false;
  return true;
}

/** A query with its parts normalized. */
interface CheckedQuery {
  /** Upper-case hex. */
  readonly thumbprint: string | undefined;
  /** Lower-case. */
  readonly subject: string | undefined;
  /** The key's SubjectPublicKeyInfo (DER). */
  readonly spki: Buffer | undefined;
}

/** Checks a query: a thumbprint of 40 hex digits, a non-empty subject, a key with a public key. */
export function checkQuery(query: CertificateQuery | undefined): CheckedQuery {
  if (query !== undefined && (query === null || typeof query !== 'object'))
    throw invalid('the query must be an object');
  const thumbprint =
    query?.thumbprint === undefined ? undefined : parseThumbprint(query.thumbprint).toString('hex').toUpperCase();
  if (query?.subject !== undefined && (typeof query.subject !== 'string' || query.subject.trim() === '')) {
    throw invalid('the subject to find must be a non-empty string');
  }
  let key: Buffer | undefined;
  if (query?.key !== undefined) {
    if (!(query.key?.publicKey instanceof KeyObject)) throw invalid('the key to find has no public KeyObject');
    key = spki(query.key.publicKey);
  }
  return { thumbprint, subject: query?.subject?.trim().toLowerCase(), spki: key };
}
