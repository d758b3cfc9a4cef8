/**
 * The types of the certificate-store API.
 *
 * @module
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { KeyScope } from '@keystore/core';
import type { CertKeyProvInfo, CertStoreLocation, Crypt32Bindings } from '../native/crypt32-types.js';

/**
 * Which system store: `store` (default `My`, "Personal") in `location` (default `CurrentUser`).
 * `LocalMachine` stores can be written only by administrators.
 *
 * @since 0.3.0
 */
export interface CertificateStoreOptions {
  /** The system store's name: `My` (default), `WebHosting`, `Root`, `CA`, … */
  readonly store?: string;
  /** `CurrentUser` (default) or `LocalMachine`. */
  readonly location?: CertStoreLocation;
}

/**
 * What a certificate is bound to: the parts of a keystore key (`store.createKey()`,
 * `store.openKey()`) the binding needs.
 *
 * @since 0.3.0
 */
export interface CertificateKey {
  /** The key's name: the CNG key name (container name). */
  readonly name: string;
  /** The provider: `cng` or `tpm`. */
  readonly providerId: string;
  /** `user` or `machine` (a machine key is bound with `NCRYPT_MACHINE_KEY_FLAG`). */
  readonly scope: KeyScope;
  /** The public key; the certificate must hold the same. */
  readonly publicKey: KeyObject;
}

/**
 * A certificate: PEM text, DER bytes, or Node's `X509Certificate`.
 *
 * @since 0.3.0
 */
export type CertificateInput = string | Uint8Array | X509Certificate;

/**
 * The key a stored certificate names (its `CRYPT_KEY_PROV_INFO`).
 *
 * @since 0.3.0
 */
export interface CertificateKeyBinding {
  /** The storage provider (`Microsoft Software Key Storage Provider`, …). */
  readonly providerName: string;
  /** The key's name in it. */
  readonly containerName: string;
  /** `machine` when the binding carries `NCRYPT_MACHINE_KEY_FLAG`, else `user`. */
  readonly scope: KeyScope;
  /** The raw property, as the store holds it. */
  readonly raw: CertKeyProvInfo;
}

/**
 * A certificate in a system store.
 *
 * @since 0.3.0
 */
export interface StoredCertificate {
  /** The SHA-1 thumbprint in upper-case hex, as Windows shows it. */
  readonly thumbprint: string;
  /** The subject, as one line (`CN=app.example, O=Example`). */
  readonly subject: string;
  /** The issuer, as one line. */
  readonly issuer: string;
  /** The serial number in hex. */
  readonly serialNumber: string;
  /** Start of validity. */
  readonly notBefore: Date;
  /** End of validity. */
  readonly notAfter: Date;
  /** The certificate. */
  readonly certificate: X509Certificate;
  /** The key the store binds it to, when it has a binding. */
  readonly key: CertificateKeyBinding | undefined;
  /** The store it was read from. */
  readonly store: string;
  /** The store's location. */
  readonly location: CertStoreLocation;
}

/**
 * What {@link findCertificates} matches; every given field must match.
 *
 * @since 0.3.0
 */
export interface CertificateQuery {
  /** The SHA-1 thumbprint (hex; spaces and colons are ignored). */
  readonly thumbprint?: string;
  /** Part of the subject, case-insensitive (as `CERT_FIND_SUBJECT_STR`): `app.example`, `CN=app`. */
  readonly subject?: string;
  /** A key: certificates holding its public key. */
  readonly key?: CertificateKey;
}

/**
 * Options of {@link CertificateStore}.
 *
 * @since 0.3.0
 */
export interface CertificateStoreInit {
  /** The crypt32 bindings; the real ones (crypt32.dll) by default. Tests pass a double. */
  readonly bindings?: () => Crypt32Bindings;
}
