/**
 * CSRs and certificates signed by keystore keys, built by `@peculiar/x509` with the WebCrypto facade
 * as its crypto provider: the signature is made where the key lives.
 *
 * @module
 */
import { createPublicKey, type KeyObject, webcrypto } from 'node:crypto';
import { KeyStoreError, type KeyStoreKey } from '@keystore/core';
import { keyStoreCrypto, toCryptoKeyPair } from '@keystore/webcrypto';
import * as x509 from '@peculiar/x509';
import { type NameOptions, requestedExtensions, subjectName } from './extensions.js';

/**
 * How the key signs: the hash, and for RSA keys the padding.
 *
 * @since 0.1.0
 */
export interface SigningOptions {
  /** The hash (default SHA-256; SHA-384 for P-384 keys and SHA-512 for P-521 keys). */
  hash?: 'SHA-256' | 'SHA-384' | 'SHA-512';
  /** RSA keys only: PKCS#1 v1.5 (default) or PSS, with a salt as long as the hash. */
  rsaPadding?: 'pkcs1' | 'pss';
}

/**
 * Options of {@link createCsr}.
 *
 * @since 0.1.0
 */
export interface CsrOptions extends NameOptions, SigningOptions {}

/**
 * Options of {@link createSelfSignedCertificate} and {@link createCertificate}.
 *
 * @since 0.1.0
 */
export interface CertificateOptions extends NameOptions, SigningOptions {
  /** When the certificate is valid: from `notBefore` (default now) for `days` (default 365) or until `notAfter`. */
  validity?: { notBefore?: Date; notAfter?: Date; days?: number };
  /** The serial number in hexadecimal (default 16 random bytes, positive). */
  serialNumber?: string;
  /**
   * Makes a CA certificate (basic constraints `CA:TRUE`, critical, with `pathLength` when given), with
   * key usages `keyCertSign` and `cRLSign` unless `keyUsages` says otherwise.
   */
  ca?: boolean | { pathLength?: number };
}

/**
 * A CSR or a certificate in both encodings.
 *
 * @since 0.1.0
 */
export interface EncodedObject {
  /** PEM text (`-----BEGIN CERTIFICATE-----` or `-----BEGIN CERTIFICATE REQUEST-----`). */
  readonly pem: string;
  /** DER bytes. */
  readonly der: Buffer;
}

const DAY_MS = 86_400_000;

/** The crypto provider type `@peculiar/x509` takes (the DOM `Crypto`). */
type X509Crypto = Parameters<typeof x509.X509CertificateGenerator.create>[1];

function invalid(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

function checkKey(key: unknown, what: string): asserts key is KeyStoreKey {
  const k = key as KeyStoreKey | null;
  if (typeof k !== 'object' || k === null || typeof k.sign !== 'function' || typeof k.algorithm !== 'string') {
    throw invalid(`${what} must be a KeyStoreKey`);
  }
  if (!k.algorithm.startsWith('ECDSA-') && !k.algorithm.startsWith('RSA-')) {
    throw invalid(`${what} is an ${k.algorithm} key, which cannot sign`, 'use an ECDSA or RSA key');
  }
}

function checkOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object with a subject');
}

const SALT: Readonly<Record<string, number>> = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };

/** The pair and the signing algorithm `@peculiar/x509` needs for `key`. */
async function signer(key: KeyStoreKey, options: SigningOptions) {
  const defaultHash =
    key.algorithm === 'ECDSA-P384' ? 'SHA-384' : key.algorithm === 'ECDSA-P521' ? 'SHA-512' : 'SHA-256';
  const hash = options.hash ?? defaultHash;
  if (SALT[hash] === undefined) throw invalid(`hash must be SHA-256, SHA-384 or SHA-512, not ${String(hash)}`);
  const padding = options.rsaPadding ?? 'pkcs1';
  if (padding !== 'pkcs1' && padding !== 'pss')
    throw invalid(`rsaPadding must be pkcs1 or pss, not ${String(padding)}`);
  if (key.algorithm.startsWith('ECDSA-')) {
    const keys = await toCryptoKeyPair(key);
    return { keys, signingAlgorithm: { name: 'ECDSA', hash } };
  }
  const name = padding === 'pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5';
  const keys = await toCryptoKeyPair(key, { algorithm: name, hash });
  return { keys, signingAlgorithm: padding === 'pss' ? { name, hash, saltLength: SALT[hash] } : { name, hash } };
}

/** Turns a failure of the facade or the library into a typed error. */
function failed(error: unknown, what: string): KeyStoreError {
  if (KeyStoreError.is(error)) return error;
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (KeyStoreError.is(cause)) return cause;
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `${what} failed: ${(error as Error)?.message}`, {
    cause: error,
  });
}

function encoded(object: x509.X509Certificate | x509.Pkcs10CertificateRequest): EncodedObject {
  return { pem: `${object.toString('pem')}\n`, der: Buffer.from(object.rawData) };
}

function validity(options: CertificateOptions): { notBefore: Date; notAfter: Date } {
  const v = options.validity ?? {};
  if (typeof v !== 'object' || v === null) throw invalid('validity must be an object');
  const notBefore = v.notBefore ?? new Date();
  if (!(notBefore instanceof Date) || Number.isNaN(notBefore.getTime()))
    throw invalid('validity.notBefore must be a Date');
  if (v.notAfter !== undefined && v.days !== undefined)
    throw invalid('give validity.notAfter or validity.days, not both');
  if (v.days !== undefined && (!Number.isSafeInteger(v.days) || v.days < 1)) {
    throw invalid(`validity.days must be a positive integer, not ${String(v.days)}`);
  }
  const notAfter = v.notAfter ?? new Date(notBefore.getTime() + (v.days ?? 365) * DAY_MS);
  if (!(notAfter instanceof Date) || !(notAfter.getTime() > notBefore.getTime())) {
    throw invalid('validity.notAfter must be a Date after notBefore');
  }
  return { notBefore, notAfter };
}

function serialNumber(value: unknown): string {
  if (value === undefined) {
    const bytes = webcrypto.getRandomValues(new Uint8Array(16));
    bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
    return Buffer.from(bytes).toString('hex');
  }
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{1,40}$/.test(value) || /^0+$/.test(value)) {
    throw invalid('serialNumber must be 1 to 40 hexadecimal digits, not zero');
  }
  return value;
}

/** The extensions of a certificate: basic constraints, then the requested ones, CA key usages by default. */
function certificateExtensions(options: CertificateOptions): x509.Extension[] {
  const ca = options.ca;
  if (ca === undefined || ca === false) return requestedExtensions(options);
  const pathLength = ca === true ? undefined : ca.pathLength;
  if (pathLength !== undefined && (!Number.isSafeInteger(pathLength) || pathLength < 0)) {
    throw invalid('ca.pathLength must be a non-negative integer');
  }
  const keyUsages = options.keyUsages ?? ['keyCertSign', 'cRLSign', 'digitalSignature'];
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    ...requestedExtensions({ ...options, keyUsages }),
  ];
}

/**
 * A PKCS#10 certificate signing request for `key`, signed by it, with the subject, alternative
 * names and key usages asked for (as an extension request that CAs copy into the certificate).
 *
 * @example
 * ```ts
 * import { createCsr } from '@keystore/x509';
 *
 * const { pem } = await createCsr(key, { subject: 'CN=host.example', subjectAltNames: ['dns:host.example'] });
 * ```
 * @throws `KeyStoreError` `ERR_KEYSTORE_INVALID_ARGUMENT` for a bad subject, name or usage, and the
 * key's own errors (policy, closed key, provider failure) when it signs.
 * @since 0.1.0
 */
export async function createCsr(key: KeyStoreKey, options: CsrOptions): Promise<EncodedObject> {
  checkKey(key, 'key');
  checkOptions(options);
  const name = subjectName(options.subject);
  const extensions = requestedExtensions(options);
  const { keys, signingAlgorithm } = await signer(key, options);
  try {
    const csr = await x509.Pkcs10CertificateRequestGenerator.create(
      { name, keys, signingAlgorithm, extensions },
      keyStoreCrypto() as unknown as X509Crypto,
    );
    return encoded(csr);
  } catch (error) {
    throw failed(error, 'creating the CSR');
  }
}

/**
 * A self-signed certificate for `key` (for development, or as the root of a small local CA with
 * `ca: true`), with a subject key identifier.
 *
 * @example
 * ```ts
 * import { createSelfSignedCertificate } from '@keystore/x509';
 *
 * const { pem } = await createSelfSignedCertificate(key, {
 *   subject: 'CN=localhost',
 *   subjectAltNames: ['dns:localhost', 'ip:127.0.0.1'],
 *   extendedKeyUsages: ['serverAuth'],
 *   validity: { days: 30 },
 * });
 * ```
 * @throws `KeyStoreError` as {@link createCsr} does.
 * @since 0.1.0
 */
export async function createSelfSignedCertificate(
  key: KeyStoreKey,
  options: CertificateOptions,
): Promise<EncodedObject> {
  checkKey(key, 'key');
  checkOptions(options);
  const name = subjectName(options.subject);
  const { notBefore, notAfter } = validity(options);
  const serial = serialNumber(options.serialNumber);
  const extensions = certificateExtensions(options);
  const { keys, signingAlgorithm } = await signer(key, options);
  const crypto = keyStoreCrypto() as unknown as X509Crypto;
  try {
    extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto));
    const certificate = await x509.X509CertificateGenerator.createSelfSigned(
      { serialNumber: serial, name, notBefore, notAfter, keys, signingAlgorithm, extensions },
      crypto,
    );
    return encoded(certificate);
  } catch (error) {
    throw failed(error, 'creating the certificate');
  }
}

function parseCertificate(value: unknown): x509.X509Certificate {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw invalid('issuerCertificate must be PEM text or DER bytes');
  }
  try {
    return new x509.X509Certificate(typeof value === 'string' ? value : Buffer.from(value));
  } catch (error) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'issuerCertificate is not an X.509 certificate', {
      cause: error,
    });
  }
}

function spkiOf(value: unknown): Buffer {
  try {
    let key: KeyObject;
    if (typeof value === 'string') key = createPublicKey(value);
    else if (value instanceof Uint8Array)
      key = createPublicKey({ key: Buffer.from(value), format: 'der', type: 'spki' });
    else if (typeof value === 'object' && value !== null && (value as KeyObject).type === 'public')
      key = value as KeyObject;
    else throw new TypeError('not a public key');
    return key.export({ format: 'der', type: 'spki' });
  } catch (error) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      'subjectPublicKey must be a public KeyObject, SPKI PEM or SPKI DER',
      { cause: error },
    );
  }
}

/**
 * A certificate for `subjectPublicKey`, issued by the CA whose certificate is `issuerCertificate`
 * and whose key is `issuerKey`: the issuer's name, an authority key identifier matching the issuer's
 * subject key identifier, and a subject key identifier. The issuer key must be the issuer
 * certificate's key, and that certificate a CA's (basic constraints `CA:TRUE`).
 *
 * @example
 * ```ts
 * import { createCertificate } from '@keystore/x509';
 *
 * const leaf = await createCertificate(caKey, caPem, serverPublicKey, {
 *   subject: 'CN=server.internal',
 *   subjectAltNames: ['dns:server.internal'],
 *   extendedKeyUsages: ['serverAuth'],
 *   validity: { days: 90 },
 * });
 * ```
 * @throws `KeyStoreError` `ERR_KEYSTORE_INVALID_ARGUMENT` when the issuer key or certificate do not
 * fit, and as {@link createCsr} does.
 * @since 0.1.0
 */
export async function createCertificate(
  issuerKey: KeyStoreKey,
  issuerCertificate: string | Uint8Array,
  subjectPublicKey: KeyObject | string | Uint8Array,
  options: CertificateOptions,
): Promise<EncodedObject> {
  checkKey(issuerKey, 'issuerKey');
  checkOptions(options);
  const issuer = parseCertificate(issuerCertificate);
  const spki = spkiOf(subjectPublicKey);
  if (!Buffer.from(issuer.publicKey.rawData).equals(issuerKey.exportPublicKey('der'))) {
    throw invalid("issuerKey is not the issuer certificate's key", 'pass the key the CA certificate was made for');
  }
  const constraints = issuer.getExtension(x509.BasicConstraintsExtension);
  if (constraints?.ca !== true) {
    throw invalid('issuerCertificate is not a CA certificate (no basic constraints CA:TRUE)', 'make it with ca: true');
  }
  const name = subjectName(options.subject);
  const { notBefore, notAfter } = validity(options);
  const serial = serialNumber(options.serialNumber);
  const extensions = certificateExtensions(options);
  const { keys, signingAlgorithm } = await signer(issuerKey, options);
  const crypto = keyStoreCrypto() as unknown as X509Crypto;
  try {
    const issuerKeyId = issuer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    extensions.push(
      issuerKeyId === undefined
        ? await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, crypto)
        : new x509.AuthorityKeyIdentifierExtension(issuerKeyId, false),
      await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
    );
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serial,
        subject: name,
        issuer: issuer.subjectName,
        notBefore,
        notAfter,
        publicKey: spki,
        signingKey: keys.privateKey,
        signingAlgorithm,
        extensions,
      },
      crypto,
    );
    return encoded(certificate);
  } catch (error) {
    throw failed(error, 'creating the certificate');
  }
}
