/**
 * The certificate-store operations over crypt32 bindings (the real ones or a double).
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import { loadCrypt32 } from '../native/crypt32.js';
import type {
  CertStoreEntry,
  CertStoreHandle,
  CertStoreLocation,
  CertStoreOpenMode,
  Crypt32Bindings,
} from '../native/crypt32-types.js';
import {
  checkQuery,
  describeEntry,
  invalid,
  keyProvInfoFor,
  matches,
  oneLine,
  parseCertificate,
  parseThumbprint,
  resolveStoreOptions,
  spki,
} from './parse.js';
import type {
  CertificateInput,
  CertificateKey,
  CertificateQuery,
  CertificateStoreInit,
  CertificateStoreOptions,
  StoredCertificate,
} from './types.js';

/** A store, checked. */
interface Where {
  readonly store: string;
  readonly location: CertStoreLocation;
}

/**
 * The Windows system certificate stores, through crypt32.dll (or, in tests, a double of it). The
 * functions {@link storeCertificate}, {@link findCertificate}, {@link findCertificates} and
 * {@link removeCertificate} use one instance over the real bindings.
 *
 * @since 0.3.0
 */
export class CertificateStore {
  readonly #bindings: () => Crypt32Bindings;

  constructor(init: CertificateStoreInit = {}) {
    this.#bindings = init.bindings ?? loadCrypt32;
  }

  /**
   * Opens the store, runs `run`, closes it. With `ifMissing`, a store that does not exist
   * (`ERROR_FILE_NOT_FOUND` from `CertOpenStore`) gives that value instead of an error.
   */
  async #withStore<T>(
    options: CertificateStoreOptions | undefined,
    mode: CertStoreOpenMode,
    run: (crypt32: Crypt32Bindings, store: CertStoreHandle, where: Where) => Promise<T>,
    ifMissing?: { value: T },
  ): Promise<T> {
    const where = resolveStoreOptions(options);
    const crypt32 = this.#bindings();
    let handle: CertStoreHandle;
    try {
      handle = await crypt32.openStore(where.location, where.store, mode);
    } catch (err) {
      if (ifMissing && KeyStoreError.is(err) && err.nativeName === 'ERROR_FILE_NOT_FOUND') return ifMissing.value;
      throw err;
    }
    try {
      return await run(crypt32, handle, where);
    } finally {
      crypt32.closeStore(handle);
    }
  }

  /** See {@link storeCertificate}. */
  async storeCertificate(
    key: CertificateKey,
    certificate: CertificateInput,
    options?: CertificateStoreOptions,
  ): Promise<StoredCertificate> {
    const info = keyProvInfoFor(key);
    const cert = parseCertificate(certificate);
    if (!spki(cert.publicKey).equals(spki(key.publicKey))) {
      throw invalid(
        `the certificate (${oneLine(cert.subject)}) is not for the key "${key.name}": its public key differs`,
        'store the certificate made for this key (createSelfSignedCertificate or a CA’s answer to its CSR)',
      );
    }
    resolveStoreOptions(options);
    return this.#withStore(options, 'create', async (crypt32, handle, where) => {
      await crypt32.addCertificate(handle, cert.raw, info);
      const sha1 = Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex');
      const entry = await crypt32.findCertificate(handle, sha1);
      const stored = entry === undefined ? undefined : describeEntry(entry, where.store, where.location);
      if (stored === undefined) {
        throw new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', 'the certificate was added but is not in the store', {
          providerId: 'cng',
          hint: `the ${where.location}\\${where.store} store did not keep it; report it with the Windows version`,
        });
      }
      return stored;
    });
  }

  /** See {@link findCertificates}. */
  async findCertificates(query?: CertificateQuery, options?: CertificateStoreOptions): Promise<StoredCertificate[]> {
    const checked = checkQuery(query);
    resolveStoreOptions(options);
    return this.#withStore(
      options,
      'read',
      async (crypt32, handle, where) => {
        const entries =
          checked.thumbprint === undefined
            ? await crypt32.enumCertificates(handle)
            : [await crypt32.findCertificate(handle, Buffer.from(checked.thumbprint, 'hex'))].filter(
                (e): e is CertStoreEntry => e !== undefined,
              );
        return entries
          .map((e) => describeEntry(e, where.store, where.location))
          .filter((c): c is StoredCertificate => c !== undefined && matches(c, checked));
      },
      { value: [] },
    );
  }

  /** See {@link findCertificate}. */
  async findCertificate(
    query: CertificateQuery,
    options?: CertificateStoreOptions,
  ): Promise<StoredCertificate | undefined> {
    if (query === undefined || query === null || typeof query !== 'object' || Object.keys(query).length === 0) {
      throw invalid(
        'findCertificate needs a thumbprint, subject or key to look for',
        'use findCertificates() to list a store',
      );
    }
    return (await this.findCertificates(query, options))[0];
  }

  /** See {@link removeCertificate}. */
  async removeCertificate(
    certificate: string | StoredCertificate,
    options?: CertificateStoreOptions,
  ): Promise<boolean> {
    const sha1 = parseThumbprint(typeof certificate === 'string' ? certificate : certificate?.thumbprint);
    resolveStoreOptions(options);
    return this.#withStore(options, 'existing', (crypt32, handle) => crypt32.deleteCertificate(handle, sha1), {
      value: false,
    });
  }
}

let shared: CertificateStore | undefined;
const store = () => {
  shared ??= new CertificateStore();
  return shared;
};

/**
 * Adds `certificate` to a Windows system store, bound to `key`: `CertAddEncodedCertificateToStore`
 * (replacing the same certificate if present), then `CertSetCertificateContextProperty` with a
 * `CRYPT_KEY_PROV_INFO` naming the key's storage provider and name (`dwProvType` 0, `dwKeySpec` 0,
 * `NCRYPT_MACHINE_KEY_FLAG` for a machine key). The certificate must hold the key's public key.
 * Resolves with the certificate as the store now holds it.
 *
 * @throws `ERR_KEYSTORE_INVALID_ARGUMENT` (not a certificate, not for this key, bad store name),
 *   `ERR_KEYSTORE_UNSUPPORTED_OPERATION` (a key of another provider), `ERR_KEYSTORE_ACCESS_DENIED`
 *   (a `LocalMachine` store without administrator rights), `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` (not Windows).
 * @example
 * ```ts
 * const stored = await storeCertificate(key, pem, { store: 'My', location: 'CurrentUser' });
 * stored.thumbprint; // 'A1B2…'
 * ```
 * @since 0.3.0
 */
export function storeCertificate(
  key: CertificateKey,
  certificate: CertificateInput,
  options?: CertificateStoreOptions,
): Promise<StoredCertificate> {
  return store().storeCertificate(key, certificate, options);
}

/**
 * The certificates of a system store that match every field of `query` (all of them without one).
 * A store that does not exist holds none.
 *
 * @example
 * ```ts
 * for (const c of await findCertificates({ key })) console.log(c.thumbprint, c.subject);
 * ```
 * @since 0.3.0
 */
export function findCertificates(
  query?: CertificateQuery,
  options?: CertificateStoreOptions,
): Promise<StoredCertificate[]> {
  return store().findCertificates(query, options);
}

/**
 * The first certificate of a system store matching `query` (by thumbprint, subject or key), or
 * undefined.
 *
 * @example
 * ```ts
 * const cert = await findCertificate({ thumbprint: 'A1B2…' }, { location: 'LocalMachine' });
 * cert?.key?.containerName;
 * ```
 * @since 0.3.0
 */
export function findCertificate(
  query: CertificateQuery,
  options?: CertificateStoreOptions,
): Promise<StoredCertificate | undefined> {
  return store().findCertificate(query, options);
}

/**
 * Deletes a certificate (by thumbprint) from a system store; false when the store does not hold it.
 * The key stays: delete it with the key store.
 *
 * @example
 * ```ts
 * await removeCertificate(stored.thumbprint);
 * ```
 * @since 0.3.0
 */
export function removeCertificate(
  certificate: string | StoredCertificate,
  options?: CertificateStoreOptions,
): Promise<boolean> {
  return store().removeCertificate(certificate, options);
}
