/**
 * crypt32.dll through koffi: the implementation of {@link Crypt32Bindings} (system certificate
 * stores and the `CERT_KEY_PROV_INFO_PROP_ID` property that binds a certificate to its key). Loaded
 * lazily on the first {@link loadCrypt32} call, through the same koffi loader as ncrypt.dll; nothing
 * untyped leaves this module, and certificate contexts are freed before each method returns.
 *
 * crypt32 reports failures through the thread's last-error value, which an async call (run on a
 * worker thread) cannot hand back. So a call that failed in async mode is made once more on the
 * calling thread, and `GetLastError` is read right after it (as the CryptoAPI bindings do);
 * `CertDeleteCertificateFromStore`, which frees its context even when it fails, is made
 * synchronously.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import {
  CERT_FIND_SHA1_HASH,
  CERT_KEY_PROV_INFO_PROP_ID,
  CERT_STORE_ADD_REPLACE_EXISTING,
  CERT_STORE_OPEN_EXISTING_FLAG,
  CERT_STORE_PROV_SYSTEM_W,
  CERT_STORE_READONLY_FLAG,
  CERT_SYSTEM_STORE_CURRENT_USER,
  CERT_SYSTEM_STORE_LOCAL_MACHINE,
  CRYPT_E_NOT_FOUND,
  PKCS_7_ASN_ENCODING,
  X509_ASN_ENCODING,
} from './constants.js';
import type {
  CertKeyProvInfo,
  CertStoreEntry,
  CertStoreHandle,
  CertStoreLocation,
  CertStoreOpenMode,
  Crypt32Bindings,
} from './crypt32-types.js';
import {
  callAsync,
  defineStruct,
  type KoffiModule,
  type KoffiType,
  layoutOf,
  loadKoffi,
  type NativeFn,
  type StructLayout,
} from './koffi.js';
import { statusError } from './status.js';
import { checkBytes, checkDword, checkHandle, checkWideString } from './validate.js';

/**
 * The names of the structs the crypt32 bindings define.
 *
 * @since 0.3.0
 */
export type Crypt32StructName = 'CERT_CONTEXT' | 'CRYPT_KEY_PROV_INFO' | 'CRYPT_DATA_BLOB';

/** The largest certificate accepted (a certificate with many names stays far below this). */
export const MAX_CERTIFICATE_LENGTH = 64 * 1024;
/** The longest system store name accepted (`My`, `Root`, `WebHosting`, …). */
export const MAX_STORE_NAME_LENGTH = 256;
/** The most certificates {@link Crypt32Bindings.enumCertificates} reads (a guard against a store that never ends). */
const MAX_ENUMERATED = 100_000;
const ENCODING = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;

interface Crypt32Types {
  readonly koffi: KoffiModule;
  readonly structs: Readonly<Record<Crypt32StructName, KoffiType>>;
}

let types: Crypt32Types | undefined;

function defineTypes(): Crypt32Types {
  if (types) return types;
  const koffi = loadKoffi();
  const structs: Record<Crypt32StructName, KoffiType> = {
    CERT_CONTEXT: defineStruct(koffi, 'CERT_CONTEXT', {
      dwCertEncodingType: 'uint32_t',
      pbCertEncoded: 'uint8_t *',
      cbCertEncoded: 'uint32_t',
      pCertInfo: 'void *',
      hCertStore: 'void *',
    }),
    CRYPT_KEY_PROV_INFO: defineStruct(koffi, 'CRYPT_KEY_PROV_INFO', {
      pwszContainerName: 'char16_t *',
      pwszProvName: 'char16_t *',
      dwProvType: 'uint32_t',
      dwFlags: 'uint32_t',
      cProvParam: 'uint32_t',
      rgProvParam: 'void *',
      dwKeySpec: 'uint32_t',
    }),
    CRYPT_DATA_BLOB: defineStruct(koffi, 'CRYPT_DATA_BLOB', { cbData: 'uint32_t', pbData: 'uint8_t *' }),
  };
  types = { koffi, structs };
  return types;
}

/**
 * Defines (once) the structs the crypt32 bindings marshal and returns their layouts as koffi computes
 * them, for comparison with the Windows SDK headers. Needs koffi, not Windows.
 *
 * @example
 * ```ts
 * defineCrypt32Types().CRYPT_KEY_PROV_INFO.size; // 48 on x64
 * ```
 * @since 0.3.0
 */
export function defineCrypt32Types(): Readonly<Record<Crypt32StructName, StructLayout>> {
  const { koffi, structs } = defineTypes();
  const out = {} as Record<Crypt32StructName, StructLayout>;
  for (const [name, type] of Object.entries(structs) as [Crypt32StructName, KoffiType][]) {
    out[name] = layoutOf(koffi, type);
  }
  return out;
}

/**
 * Checks a system store name: 1 to {@link MAX_STORE_NAME_LENGTH} characters, none of them NUL,
 * `\` or `/` (a store name is one registry key name, never a path).
 *
 * @since 0.3.0
 */
export function checkStoreName(name: string): string {
  checkWideString(name, 'certificate store name', { maxLength: MAX_STORE_NAME_LENGTH });
  if (/[\\/]/.test(name) || name.trim() !== name) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `invalid certificate store name ${JSON.stringify(name)}`, {
      hint: 'name one system store, such as My, Root, CA or WebHosting: no path separators, no surrounding spaces',
    });
  }
  return name;
}

/**
 * Checks a `CRYPT_KEY_PROV_INFO` before it is written: names are non-empty strings without NUL,
 * numbers are DWORDs.
 *
 * @since 0.3.0
 */
export function checkKeyProvInfo(info: CertKeyProvInfo): CertKeyProvInfo {
  if (info === null || typeof info !== 'object') {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'the key provider info must be an object');
  }
  return {
    containerName: checkWideString(info.containerName, 'key container name', { maxLength: 512 }),
    providerName: checkWideString(info.providerName, 'key storage provider name', { maxLength: 512 }),
    providerType: checkDword(info.providerType),
    flags: checkDword(info.flags),
    keySpec: checkDword(info.keySpec),
  };
}

function checkSha1(sha1: Buffer): Buffer {
  return checkBytes(sha1, 'SHA-1 thumbprint', 20, 20);
}

function unavailable(message: string, hint: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', message, { providerId: 'cng', hint, cause });
}

const OPEN_FLAGS: Readonly<Record<CertStoreOpenMode, number>> = {
  read: CERT_STORE_READONLY_FLAG | CERT_STORE_OPEN_EXISTING_FLAG,
  existing: CERT_STORE_OPEN_EXISTING_FLAG,
  create: 0,
};
const LOCATION_FLAGS: Readonly<Record<CertStoreLocation, number>> = {
  CurrentUser: CERT_SYSTEM_STORE_CURRENT_USER,
  LocalMachine: CERT_SYSTEM_STORE_LOCAL_MACHINE,
};

let cached: Crypt32Bindings | undefined;

/**
 * Loads crypt32.dll (once, on the first call) and returns the typed bindings.
 *
 * @throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` on a platform other than Windows, or when koffi or
 *   crypt32.dll cannot be loaded.
 * @example
 * ```ts
 * const crypt32 = loadCrypt32();
 * const store = await crypt32.openStore('CurrentUser', 'My', 'read');
 * try {
 *   for (const entry of await crypt32.enumCertificates(store)) console.log(entry.keyProvInfo?.containerName);
 * } finally {
 *   crypt32.closeStore(store);
 * }
 * ```
 * @since 0.3.0
 */
export function loadCrypt32(): Crypt32Bindings {
  if (cached) return cached;
  if (process.platform !== 'win32') {
    throw unavailable(
      `the Windows certificate store (crypt32.dll) exists only on Windows; this is ${process.platform}`,
      'on other systems, keep the certificate in a file beside the key reference',
    );
  }
  const { koffi, structs } = defineTypes();
  let lib: ReturnType<KoffiModule['load']>;
  let kernel32: ReturnType<KoffiModule['load']>;
  try {
    lib = koffi.load('crypt32.dll');
    kernel32 = koffi.load('kernel32.dll');
  } catch (cause) {
    throw unavailable('crypt32.dll could not be loaded', 'check the system DLLs', cause);
  }
  const fn = (signature: string) => lib.func(signature) as NativeFn;
  // Signatures as in wincrypt.h. HCERTSTORE and PCCERT_CONTEXT are opaque pointers here (koffi
  // externals that stay in this module); the store handle handed out is the pointer's address.
  const GetLastError = kernel32.func('uint32_t __stdcall GetLastError(void)') as NativeFn;
  const CertOpenStore = fn(
    'void * __stdcall CertOpenStore(uintptr_t lpszStoreProvider, uint32_t dwEncodingType, uintptr_t hCryptProv, uint32_t dwFlags, const char16_t *pvPara)',
  );
  const CertCloseStore = fn('int __stdcall CertCloseStore(void *hCertStore, uint32_t dwFlags)');
  const CertEnumCertificatesInStore = fn(
    'const CERT_CONTEXT * __stdcall CertEnumCertificatesInStore(void *hCertStore, const CERT_CONTEXT *pPrevCertContext)',
  );
  const CertFindCertificateInStore = fn(
    'const CERT_CONTEXT * __stdcall CertFindCertificateInStore(void *hCertStore, uint32_t dwCertEncodingType, uint32_t dwFindFlags, uint32_t dwFindType, const void *pvFindPara, const CERT_CONTEXT *pPrevCertContext)',
  );
  const CertAddEncodedCertificateToStore = fn(
    'int __stdcall CertAddEncodedCertificateToStore(void *hCertStore, uint32_t dwCertEncodingType, const uint8_t *pbCertEncoded, uint32_t cbCertEncoded, uint32_t dwAddDisposition, _Out_ const CERT_CONTEXT **ppCertContext)',
  );
  const CertSetCertificateContextProperty = fn(
    'int __stdcall CertSetCertificateContextProperty(const CERT_CONTEXT *pCertContext, uint32_t dwPropId, uint32_t dwFlags, const CRYPT_KEY_PROV_INFO *pvData)',
  );
  const CertGetCertificateContextProperty = fn(
    'int __stdcall CertGetCertificateContextProperty(const CERT_CONTEXT *pCertContext, uint32_t dwPropId, _Out_ uint8_t *pvData, _Inout_ uint32_t *pcbData)',
  );
  const CertDeleteCertificateFromStore = fn(
    'int __stdcall CertDeleteCertificateFromStore(const CERT_CONTEXT *pCertContext)',
  );
  const CertFreeCertificateContext = fn('int __stdcall CertFreeCertificateContext(const CERT_CONTEXT *pCertContext)');

  // Stores opened and not closed, by the address handed out; calls with any other value are refused.
  const stores = new Map<bigint, unknown>();

  /** The thread's last-error value right after a failed synchronous call (never 0 for a failure). */
  const lastError = (): number => {
    const status = (GetLastError() as number) >>> 0;
    return status === 0 ? 0x80004005 /* E_FAIL */ : status;
  };
  const fail = (name: string, status: number, context: string) =>
    statusError(name, status, { providerId: 'cng', context });

  /**
   * Runs `f` asynchronously; when it fails (`isFailure` of its result), runs it once more on this
   * thread to read the last-error value. Returns the result and 0, or the second result and the
   * status (0 when the second call succeeded).
   */
  const callChecked = async <T>(
    f: NativeFn,
    args: readonly unknown[],
    isFailure: (result: T) => boolean,
  ): Promise<{ result: T; status: number }> => {
    const result = await callAsync<T>(f, args);
    if (!isFailure(result)) return { result, status: 0 };
    const again = f(...args) as T;
    return { result: again, status: isFailure(again) ? lastError() : 0 };
  };

  const store = (handle: CertStoreHandle): unknown => {
    checkHandle(handle, 'certificate store handle');
    const ptr = stores.get(handle);
    if (ptr === undefined) {
      throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'the certificate store handle is not open', {
        providerId: 'cng',
        hint: 'open the store again; a handle cannot be used after closeStore',
      });
    }
    return ptr;
  };

  /** The DER bytes of a context, copied into memory Node owns. */
  const derOf = (ctx: unknown): Buffer => {
    const c = koffi.decode(ctx, structs.CERT_CONTEXT) as { pbCertEncoded: unknown; cbCertEncoded: number };
    const size = c.cbCertEncoded >>> 0;
    if (size === 0 || size > MAX_CERTIFICATE_LENGTH || c.pbCertEncoded === null) return Buffer.alloc(0);
    return Buffer.from(koffi.view(c.pbCertEncoded, size).slice(0));
  };

  /** The context's key binding, or undefined when it has none. */
  const keyProvInfoOf = (ctx: unknown): CertKeyProvInfo | undefined => {
    const size = [0];
    if (!CertGetCertificateContextProperty(ctx, CERT_KEY_PROV_INFO_PROP_ID, null, size)) {
      const status = lastError();
      if (status === CRYPT_E_NOT_FOUND) return undefined;
      throw fail('CertGetCertificateContextProperty', status, 'reading CERT_KEY_PROV_INFO_PROP_ID');
    }
    const needed = size[0] ?? 0;
    if (needed < koffi.sizeof(structs.CRYPT_KEY_PROV_INFO) || needed > 64 * 1024) {
      throw new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `the key provider info property is ${needed} bytes`, {
        providerId: 'cng',
        hint: 'the store returned an implausible property; report it',
      });
    }
    const buf = Buffer.alloc(needed);
    if (!CertGetCertificateContextProperty(ctx, CERT_KEY_PROV_INFO_PROP_ID, buf, size)) {
      throw fail('CertGetCertificateContextProperty', lastError(), 'reading CERT_KEY_PROV_INFO_PROP_ID');
    }
    // The strings of the struct point into `buf`; koffi decodes them while `buf` is alive.
    const info = koffi.decode(buf, structs.CRYPT_KEY_PROV_INFO) as {
      pwszContainerName: string | null;
      pwszProvName: string | null;
      dwProvType: number;
      dwFlags: number;
      dwKeySpec: number;
    };
    return {
      containerName: info.pwszContainerName ?? '',
      providerName: info.pwszProvName ?? '',
      providerType: info.dwProvType >>> 0,
      flags: info.dwFlags >>> 0,
      keySpec: info.dwKeySpec >>> 0,
    };
  };

  const entryOf = (ctx: unknown): CertStoreEntry => ({ der: derOf(ctx), keyProvInfo: keyProvInfoOf(ctx) });

  /** `CertFindCertificateInStore(CERT_FIND_SHA1_HASH)`: a context to free, or null. */
  const findContext = async (ptr: unknown, sha1: Buffer): Promise<unknown> => {
    const blob = Buffer.alloc(koffi.sizeof(structs.CRYPT_DATA_BLOB));
    koffi.encode(blob, 0, structs.CRYPT_DATA_BLOB, { cbData: sha1.length, pbData: koffi.address(sha1) });
    const { result, status } = await callChecked<unknown>(
      CertFindCertificateInStore,
      [ptr, ENCODING, 0, CERT_FIND_SHA1_HASH, blob, null],
      (r) => r === null,
    );
    if (status === 0) return result;
    if (status === CRYPT_E_NOT_FOUND) return null;
    throw fail('CertFindCertificateInStore', status, `thumbprint ${sha1.toString('hex')}`);
  };

  const bindings: Crypt32Bindings = {
    async openStore(location, storeName, mode) {
      if (!Object.hasOwn(LOCATION_FLAGS, location)) {
        throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `invalid store location ${JSON.stringify(location)}`, {
          hint: 'CurrentUser or LocalMachine',
        });
      }
      if (!Object.hasOwn(OPEN_FLAGS, mode)) {
        throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `invalid open mode ${JSON.stringify(mode)}`);
      }
      checkStoreName(storeName);
      const flags = LOCATION_FLAGS[location] | OPEN_FLAGS[mode];
      const { result, status } = await callChecked<unknown>(
        CertOpenStore,
        [CERT_STORE_PROV_SYSTEM_W, 0, 0n, flags, storeName],
        (r) => r === null,
      );
      if (status !== 0) throw fail('CertOpenStore', status, `system store ${location}\\${storeName}`);
      const address = koffi.address(result) as bigint;
      if (address === 0n) throw fail('CertOpenStore', 0x80004005, `system store ${location}\\${storeName}`);
      stores.set(address, result);
      return address as CertStoreHandle;
    },

    closeStore(handle) {
      const ptr = stores.get(handle);
      if (ptr === undefined) return;
      stores.delete(handle);
      CertCloseStore(ptr, 0);
    },

    async enumCertificates(handle) {
      const ptr = store(handle);
      const out: CertStoreEntry[] = [];
      let ctx: unknown = null;
      try {
        for (;;) {
          // Each call frees the previous context; NULL ends the enumeration (CRYPT_E_NOT_FOUND).
          ctx = await callAsync<unknown>(CertEnumCertificatesInStore, [ptr, ctx]);
          if (ctx === null) break;
          out.push(entryOf(ctx));
          if (out.length > MAX_ENUMERATED) {
            throw new KeyStoreError(
              'ERR_KEYSTORE_NATIVE_FAILURE',
              `the store listed over ${MAX_ENUMERATED} certificates`,
              {
                providerId: 'cng',
                hint: 'the certificate store did not end its enumeration; report it',
              },
            );
          }
        }
      } finally {
        if (ctx !== null) CertFreeCertificateContext(ctx);
      }
      return out;
    },

    async findCertificate(handle, sha1) {
      const ptr = store(handle);
      checkSha1(sha1);
      const ctx = await findContext(ptr, sha1);
      if (ctx === null) return undefined;
      try {
        return entryOf(ctx);
      } finally {
        CertFreeCertificateContext(ctx);
      }
    },

    async addCertificate(handle, der, keyProvInfo) {
      const ptr = store(handle);
      checkBytes(der, 'certificate', 1, MAX_CERTIFICATE_LENGTH);
      const info = checkKeyProvInfo(keyProvInfo);
      const out: unknown[] = [null];
      const added = await callChecked<number>(
        CertAddEncodedCertificateToStore,
        [ptr, ENCODING, der, der.length, CERT_STORE_ADD_REPLACE_EXISTING, out],
        (r) => !r,
      );
      if (added.status !== 0) throw fail('CertAddEncodedCertificateToStore', added.status, 'adding the certificate');
      let ctx: unknown = out[0];
      try {
        const property = {
          pwszContainerName: info.containerName,
          pwszProvName: info.providerName,
          dwProvType: info.providerType,
          dwFlags: info.flags,
          cProvParam: 0,
          rgProvParam: null,
          dwKeySpec: info.keySpec,
        };
        const set = await callChecked<number>(
          CertSetCertificateContextProperty,
          [ctx, CERT_KEY_PROV_INFO_PROP_ID, 0, property],
          (r) => !r,
        );
        if (set.status !== 0) {
          const error = fail('CertSetCertificateContextProperty', set.status, 'binding the certificate to its key');
          // A certificate the store holds without its key is worse than none: take it out again.
          // CertDeleteCertificateFromStore frees the context, even when it fails.
          const context = ctx;
          ctx = null;
          CertDeleteCertificateFromStore(context);
          throw error;
        }
      } finally {
        if (ctx !== null) CertFreeCertificateContext(ctx);
      }
    },

    async deleteCertificate(handle, sha1) {
      const ptr = store(handle);
      checkSha1(sha1);
      const ctx = await findContext(ptr, sha1);
      if (ctx === null) return false;
      // Frees `ctx` whether it succeeds or not; synchronous, so that GetLastError reads its status.
      if (!CertDeleteCertificateFromStore(ctx)) {
        throw fail('CertDeleteCertificateFromStore', lastError(), `thumbprint ${sha1.toString('hex')}`);
      }
      return true;
    },
  };
  cached = bindings;
  return bindings;
}
