/**
 * Certificate signing requests and X.509 certificates for keystore keys, made with
 * `@peculiar/x509` and signed through `@keystore/webcrypto`, so the private key never leaves its
 * provider.
 *
 * @module @keystore/x509
 */
import 'reflect-metadata';

export type { CertificateOptions, CsrOptions, EncodedObject, SigningOptions } from './certificates.js';
export { createCertificate, createCsr, createSelfSignedCertificate } from './certificates.js';
export type { CertificateKeyUsage, ExtendedKeyUsageName, NameOptions } from './extensions.js';
