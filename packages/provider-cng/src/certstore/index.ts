/**
 * `@keystore/provider-cng/certstore`: the Windows certificate store, bound to keystore keys. A
 * certificate stored with {@link storeCertificate} carries the `CERT_KEY_PROV_INFO_PROP_ID` property
 * naming its CNG key (storage provider, key name, machine flag), so Schannel, IIS, `certutil` and
 * other Windows programs that take a certificate from the store use the key where it lives, in
 * LSASS or in the TPM (the Platform Crypto Provider). Certificates are parsed by Node's
 * `X509Certificate`; only crypt32.dll's store calls are native.
 *
 * Keys of the `cng` provider (Microsoft Software Key Storage Provider) and of the `tpm` provider on
 * Windows (Microsoft Platform Crypto Provider) can be bound; others are refused.
 *
 * @example
 * ```ts
 * import { createSelfSignedCertificate } from '@keystore/x509';
 * import { findCertificate, storeCertificate } from '@keystore/provider-cng/certstore';
 *
 * const { pem } = await createSelfSignedCertificate(key, { subject: 'CN=app.example', validity: { days: 365 } });
 * const stored = await storeCertificate(key, pem, { store: 'My', location: 'CurrentUser' });
 * (await findCertificate({ thumbprint: stored.thumbprint }))?.key?.containerName; // key.name
 * ```
 * @module @keystore/provider-cng/certstore
 */
export type {
  CertKeyProvInfo,
  CertStoreEntry,
  CertStoreHandle,
  CertStoreLocation,
  CertStoreOpenMode,
  Crypt32Bindings,
} from '../native/crypt32-types.js';
export { CERTIFICATE_KEY_PROVIDERS } from './parse.js';
export {
  CertificateStore,
  findCertificate,
  findCertificates,
  removeCertificate,
  storeCertificate,
} from './store.js';
export type {
  CertificateInput,
  CertificateKey,
  CertificateKeyBinding,
  CertificateQuery,
  CertificateStoreInit,
  CertificateStoreOptions,
  StoredCertificate,
} from './types.js';
