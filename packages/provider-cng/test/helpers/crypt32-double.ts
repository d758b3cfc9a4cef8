/**
 * A double of the crypt32 bindings: system stores kept in memory, with the native layer's argument
 * checks (the real `checkStoreName`, `checkKeyProvInfo`) and its failure statuses, so the
 * certificate-store layer can be tested on any platform. Every call is recorded.
 */
import { createHash } from 'node:crypto';
import { checkKeyProvInfo, checkStoreName } from '../../src/native/crypt32.js';
import type {
  CertKeyProvInfo,
  CertStoreEntry,
  CertStoreHandle,
  CertStoreLocation,
  CertStoreOpenMode,
  Crypt32Bindings,
} from '../../src/native/crypt32-types.js';
import { statusError } from '../../src/native/status.js';

export interface Crypt32Double extends Crypt32Bindings {
  /** Stores by `Location\Name`, certificates by SHA-1 hex. */
  readonly stores: Map<string, Map<string, CertStoreEntry>>;
  /** `name(args…)` of every call. */
  readonly calls: string[];
  /** Handles open now. */
  readonly open: Set<bigint>;
  /** Makes opening a `LocalMachine` store for writing fail with E_ACCESSDENIED (not an administrator). */
  deniedMachineWrites: boolean;
}

export function createCrypt32Double(): Crypt32Double {
  const stores = new Map<string, Map<string, CertStoreEntry>>([['CurrentUser\\My', new Map()]]);
  const handles = new Map<bigint, { key: string; readOnly: boolean }>();
  let next = 0x1000n;
  const open = new Set<bigint>();
  const of = (handle: CertStoreHandle) => {
    const h = handles.get(handle);
    if (!h || !open.has(handle)) throw new Error(`double: store handle ${handle} is not open`);
    const store = stores.get(h.key);
    if (!store) throw new Error('double: store vanished');
    return { ...h, store };
  };
  const sha1 = (der: Buffer) => createHash('sha1').update(der).digest('hex');
  const double: Crypt32Double = {
    stores,
    calls: [],
    open,
    deniedMachineWrites: false,

    async openStore(location: CertStoreLocation, storeName: string, mode: CertStoreOpenMode) {
      double.calls.push(`openStore(${location},${storeName},${mode})`);
      checkStoreName(storeName);
      const key = `${location}\\${storeName}`;
      if (location === 'LocalMachine' && mode !== 'read' && double.deniedMachineWrites) {
        throw statusError('CertOpenStore', 0x80070005, { providerId: 'cng', context: key });
      }
      if (!stores.has(key)) {
        if (mode !== 'create') throw statusError('CertOpenStore', 2, { providerId: 'cng', context: key });
        stores.set(key, new Map());
      }
      const handle = next++ as CertStoreHandle;
      handles.set(handle, { key, readOnly: mode === 'read' });
      open.add(handle);
      return handle;
    },

    closeStore(handle) {
      double.calls.push('closeStore');
      open.delete(handle);
    },

    async enumCertificates(handle) {
      double.calls.push('enumCertificates');
      return [...of(handle).store.values()];
    },

    async findCertificate(handle, hash) {
      double.calls.push(`findCertificate(${hash.toString('hex')})`);
      return of(handle).store.get(hash.toString('hex'));
    },

    async addCertificate(handle, der, info: CertKeyProvInfo) {
      double.calls.push('addCertificate');
      const { store, readOnly } = of(handle);
      if (readOnly) throw statusError('CertAddEncodedCertificateToStore', 5, { providerId: 'cng' });
      const checked = checkKeyProvInfo(info);
      const id = sha1(der);
      store.set(id, { der: Buffer.from(der), keyProvInfo: checked });
    },

    async deleteCertificate(handle, hash) {
      double.calls.push(`deleteCertificate(${hash.toString('hex')})`);
      const { store, readOnly } = of(handle);
      if (readOnly) throw statusError('CertDeleteCertificateFromStore', 5, { providerId: 'cng' });
      return store.delete(hash.toString('hex'));
    },
  };
  return double;
}
