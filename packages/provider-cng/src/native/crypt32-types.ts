/**
 * The typed surface of the crypt32.dll bindings (system certificate stores): what `src/native/`
 * offers the certificate-store layer above it. Nothing here imports koffi; a test double implements
 * the same interface.
 *
 * Conventions (as for {@link NCryptBindings}): every argument is checked in TypeScript before a
 * native call (`ERR_KEYSTORE_INVALID_ARGUMENT`); a failure becomes a `KeyStoreError` from the status
 * table with `nativeStatus` and `nativeName`; calls that touch the store run through koffi's async
 * mode. Certificate contexts never leave the bindings: each method opens, uses and frees them.
 *
 * @module
 */

/**
 * An `HCERTSTORE` these bindings opened and have not closed.
 *
 * @since 0.3.0
 */
export type CertStoreHandle = bigint & {
  /** Type brand only; no such property exists at run time. */
  readonly __brand: 'HCERTSTORE';
};

/**
 * Where a system store lives: `CERT_SYSTEM_STORE_CURRENT_USER` or `CERT_SYSTEM_STORE_LOCAL_MACHINE`.
 *
 * @since 0.3.0
 */
export type CertStoreLocation = 'CurrentUser' | 'LocalMachine';

/**
 * How a store is opened: `read` (`CERT_STORE_READONLY_FLAG | CERT_STORE_OPEN_EXISTING_FLAG`),
 * `existing` (writable, `CERT_STORE_OPEN_EXISTING_FLAG`) or `create` (writable, created when missing).
 *
 * @since 0.3.0
 */
export type CertStoreOpenMode = 'read' | 'existing' | 'create';

/**
 * A `CRYPT_KEY_PROV_INFO` (the `CERT_KEY_PROV_INFO_PROP_ID` property): which key a certificate is
 * bound to. For a CNG key, `providerType` and `keySpec` are 0 and `flags` carries
 * `NCRYPT_MACHINE_KEY_FLAG` for a machine key.
 *
 * @since 0.3.0
 */
export interface CertKeyProvInfo {
  /** `pwszContainerName`: the key's name in its storage provider. */
  readonly containerName: string;
  /** `pwszProvName`: the storage provider (`Microsoft Software Key Storage Provider`, …). */
  readonly providerName: string;
  /** `dwProvType`: 0 for CNG; a CryptoAPI provider type otherwise. */
  readonly providerType: number;
  /** `dwFlags`: `NCRYPT_MACHINE_KEY_FLAG` (0x20) for a machine key, `NCRYPT_SILENT_FLAG`. */
  readonly flags: number;
  /** `dwKeySpec`: 0 for CNG; `AT_KEYEXCHANGE` or `AT_SIGNATURE` for CryptoAPI. */
  readonly keySpec: number;
}

/**
 * One certificate of a store, as read from its `CERT_CONTEXT`.
 *
 * @since 0.3.0
 */
export interface CertStoreEntry {
  /** The DER encoding (`pbCertEncoded`). */
  readonly der: Buffer;
  /** Its `CERT_KEY_PROV_INFO_PROP_ID` property; undefined when the certificate is bound to no key. */
  readonly keyProvInfo: CertKeyProvInfo | undefined;
}

/**
 * crypt32.dll's system-store calls, as the certificate-store layer uses them.
 *
 * @since 0.3.0
 */
export interface Crypt32Bindings {
  /** `CertOpenStore(CERT_STORE_PROV_SYSTEM_W, …)` of the named system store. */
  openStore(location: CertStoreLocation, storeName: string, mode: CertStoreOpenMode): Promise<CertStoreHandle>;
  /** `CertCloseStore`; closing a handle that is not open does nothing. */
  closeStore(store: CertStoreHandle): void;
  /** Every certificate of the store (`CertEnumCertificatesInStore`), with its key binding. */
  enumCertificates(store: CertStoreHandle): Promise<CertStoreEntry[]>;
  /** The certificate with this SHA-1 thumbprint (`CertFindCertificateInStore(CERT_FIND_SHA1_HASH)`), if any. */
  findCertificate(store: CertStoreHandle, sha1: Buffer): Promise<CertStoreEntry | undefined>;
  /**
   * `CertAddEncodedCertificateToStore(CERT_STORE_ADD_REPLACE_EXISTING)`, then
   * `CertSetCertificateContextProperty(CERT_KEY_PROV_INFO_PROP_ID)`. When the property cannot be set,
   * the certificate is deleted again (`CertDeleteCertificateFromStore`) before the error is thrown.
   */
  addCertificate(store: CertStoreHandle, der: Buffer, keyProvInfo: CertKeyProvInfo): Promise<void>;
  /** Deletes the certificate with this SHA-1 thumbprint; false when the store has none. */
  deleteCertificate(store: CertStoreHandle, sha1: Buffer): Promise<boolean>;
}
