/**
 * ncrypt.dll through koffi: the implementation of {@link NCryptBindings}. Loaded lazily on the first
 * {@link loadNCrypt} call; nothing untyped leaves this module. Every argument is checked in TypeScript
 * before the native call (see `validate.ts`), handles are tracked so that a freed or foreign handle is
 * refused rather than passed to NCrypt (`freeObject` of a handle that is not open does nothing: it is
 * idempotent, never an error), and slow calls run through koffi's async mode.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import {
  BCRYPT_ECCPRIVATE_BLOB,
  BCRYPT_KDF_RAW_SECRET,
  BCRYPT_RSAFULLPRIVATE_BLOB,
  BCRYPT_RSAPRIVATE_BLOB,
  NCRYPT_PERSIST_FLAG,
  NCRYPT_PROVIDER_HANDLE_PROPERTY,
  NCRYPT_UI_POLICY_PROPERTY,
  NCRYPTBUFFER_PKCS_KEY_NAME,
  NCRYPTBUFFER_VERSION,
  NTE_BAD_KEY_STATE,
  NTE_BAD_SIGNATURE,
  NTE_NO_MORE_ITEMS,
  NTE_NOT_SUPPORTED,
  NTE_PERM,
} from './constants.js';
import { type HandleKind, HandleTable } from './handle-table.js';
import { type KoffiModule, type NativeFn, wideString } from './koffi.js';
import {
  callStatus,
  callStatusSync,
  paddingInfo,
  paddingText,
  pinBuffer,
  twoCall,
  twoCallSync,
} from './ncrypt-calls.js';
import { defineTypes, isWine, operationUnsupported, unavailable, wineStub } from './ncrypt-structs.js';
import { statusError } from './status.js';
import type {
  NCryptBindings,
  NCryptHandle,
  NCryptKeyHandle,
  NCryptKeyNameInfo,
  NCryptPadding,
  NCryptProvHandle,
  NCryptSecretHandle,
} from './types.js';
import {
  checkAlgorithmId,
  checkBytes,
  checkDigest,
  checkDword,
  checkHandle,
  checkKeyName,
  checkLegacyKeySpec,
  checkPadding,
  checkPropertyName,
  checkPropertyValue,
  checkUiPolicy,
  checkWideString,
  MAX_BLOB_LENGTH,
  MAX_RSA_BLOCK_LENGTH,
} from './validate.js';

/** The most keys `enumKeys` collects before it gives up (a guard against a provider that never ends). */
const MAX_ENUMERATED_KEYS = 100_000;

/** Blob types whose export is refused when the key's export policy forbids it. */
const PRIVATE_BLOB_TYPES: ReadonlySet<string> = new Set([
  BCRYPT_RSAPRIVATE_BLOB,
  BCRYPT_RSAFULLPRIVATE_BLOB,
  BCRYPT_ECCPRIVATE_BLOB,
  'PKCS8_PRIVATEKEY',
  'CAPIPRIVATEBLOB',
]);

export type { NCryptStructName } from './ncrypt-structs.js';
export { defineNCryptTypes, NCRYPT_FUNCTIONS } from './ncrypt-structs.js';

let cached: NCryptBindings | undefined;

/**
 * Loads ncrypt.dll (once, on the first call) and returns the typed bindings. koffi itself is loaded
 * only then.
 *
 * @throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` on a platform other than Windows, or when koffi or
 *   ncrypt.dll cannot be loaded.
 * @example
 * ```ts
 * const ncrypt = loadNCrypt();
 * const prov = ncrypt.openStorageProvider(MS_KEY_STORAGE_PROVIDER);
 * try {
 *   const key = await ncrypt.createPersistedKey(prov, 'RSA', null, 0, 0);
 *   await ncrypt.finalizeKey(key, 0);
 *   const signature = await ncrypt.signHash(key, digest, { kind: 'pkcs1', hash: 'SHA256' });
 *   ncrypt.freeObject(key);
 * } finally {
 *   ncrypt.freeObject(prov);
 * }
 * ```
 * @since 0.2.0
 */
export function loadNCrypt(): NCryptBindings {
  if (cached) return cached;
  if (process.platform !== 'win32') {
    throw unavailable(
      `CNG (ncrypt.dll) exists only on Windows; this is ${process.platform}`,
      'on Linux use the TPM provider (@keystore/provider-tpm); on Windows this provider needs no setup',
    );
  }
  const { koffi, structs } = defineTypes();
  let lib: ReturnType<KoffiModule['load']>;
  try {
    lib = koffi.load('ncrypt.dll');
  } catch (cause) {
    throw unavailable(
      'ncrypt.dll could not be loaded',
      'CNG needs Windows Vista or later; check the system DLLs',
      cause,
    );
  }
  const fn = (signature: string) => lib.func(signature) as NativeFn;
  // Signatures as in ncrypt.h (SECURITY_STATUS is a signed LONG; handles are ULONG_PTR). Parameters
  // that take memory these bindings marshal themselves (padding structs, NCryptBufferDesc) are
  // declared `const void *` and receive a Buffer laid out with the struct types above.
  const NCryptOpenStorageProvider = fn(
    'int32_t __stdcall NCryptOpenStorageProvider(_Out_ uintptr_t *phProvider, const char16_t *pszProviderName, uint32_t dwFlags)',
  );
  const NCryptIsAlgSupported = fn(
    'int32_t __stdcall NCryptIsAlgSupported(uintptr_t hProvider, const char16_t *pszAlgId, uint32_t dwFlags)',
  );
  const NCryptCreatePersistedKey = fn(
    'int32_t __stdcall NCryptCreatePersistedKey(uintptr_t hProvider, _Out_ uintptr_t *phKey, const char16_t *pszAlgId, const char16_t *pszKeyName, uint32_t dwLegacyKeySpec, uint32_t dwFlags)',
  );
  const NCryptFinalizeKey = fn('int32_t __stdcall NCryptFinalizeKey(uintptr_t hKey, uint32_t dwFlags)');
  const NCryptOpenKey = fn(
    'int32_t __stdcall NCryptOpenKey(uintptr_t hProvider, _Out_ uintptr_t *phKey, const char16_t *pszKeyName, uint32_t dwLegacyKeySpec, uint32_t dwFlags)',
  );
  const NCryptDeleteKey = fn('int32_t __stdcall NCryptDeleteKey(uintptr_t hKey, uint32_t dwFlags)');
  const NCryptEnumKeys = fn(
    'int32_t __stdcall NCryptEnumKeys(uintptr_t hProvider, const char16_t *pszScope, _Out_ void **ppKeyName, _Inout_ void **ppEnumState, uint32_t dwFlags)',
  );
  const NCryptFreeBuffer = fn('int32_t __stdcall NCryptFreeBuffer(void *pvInput)');
  const NCryptGetProperty = fn(
    'int32_t __stdcall NCryptGetProperty(uintptr_t hObject, const char16_t *pszProperty, _Out_ uint8_t *pbOutput, uint32_t cbOutput, _Out_ uint32_t *pcbResult, uint32_t dwFlags)',
  );
  const NCryptSetProperty = fn(
    'int32_t __stdcall NCryptSetProperty(uintptr_t hObject, const char16_t *pszProperty, const uint8_t *pbInput, uint32_t cbInput, uint32_t dwFlags)',
  );
  const NCryptExportKey = fn(
    'int32_t __stdcall NCryptExportKey(uintptr_t hKey, uintptr_t hExportKey, const char16_t *pszBlobType, const void *pParameterList, _Out_ uint8_t *pbOutput, uint32_t cbOutput, _Out_ uint32_t *pcbResult, uint32_t dwFlags)',
  );
  const NCryptImportKey = fn(
    'int32_t __stdcall NCryptImportKey(uintptr_t hProvider, uintptr_t hImportKey, const char16_t *pszBlobType, const void *pParameterList, _Out_ uintptr_t *phKey, const uint8_t *pbData, uint32_t cbData, uint32_t dwFlags)',
  );
  const NCryptSignHash = fn(
    'int32_t __stdcall NCryptSignHash(uintptr_t hKey, const void *pPaddingInfo, const uint8_t *pbHashValue, uint32_t cbHashValue, _Out_ uint8_t *pbSignature, uint32_t cbSignature, _Out_ uint32_t *pcbResult, uint32_t dwFlags)',
  );
  const NCryptVerifySignature = fn(
    'int32_t __stdcall NCryptVerifySignature(uintptr_t hKey, const void *pPaddingInfo, const uint8_t *pbHashValue, uint32_t cbHashValue, const uint8_t *pbSignature, uint32_t cbSignature, uint32_t dwFlags)',
  );
  const NCryptEncrypt = fn(
    'int32_t __stdcall NCryptEncrypt(uintptr_t hKey, const uint8_t *pbInput, uint32_t cbInput, const void *pPaddingInfo, _Out_ uint8_t *pbOutput, uint32_t cbOutput, _Out_ uint32_t *pcbResult, uint32_t dwFlags)',
  );
  const NCryptDecrypt = fn(
    'int32_t __stdcall NCryptDecrypt(uintptr_t hKey, const uint8_t *pbInput, uint32_t cbInput, const void *pPaddingInfo, _Out_ uint8_t *pbOutput, uint32_t cbOutput, _Out_ uint32_t *pcbResult, uint32_t dwFlags)',
  );
  const NCryptSecretAgreement = fn(
    'int32_t __stdcall NCryptSecretAgreement(uintptr_t hPrivKey, uintptr_t hPubKey, _Out_ uintptr_t *phAgreedSecret, uint32_t dwFlags)',
  );
  const NCryptDeriveKey = fn(
    'int32_t __stdcall NCryptDeriveKey(uintptr_t hSharedSecret, const char16_t *pwszKDF, const void *pParameterList, _Out_ uint8_t *pbDerivedKey, uint32_t cbDerivedKey, _Out_ uint32_t *pcbResult, uint32_t dwFlags)',
  );
  const NCryptFreeObject = fn('int32_t __stdcall NCryptFreeObject(uintptr_t hObject)');

  // Handles these bindings handed out and have not freed, with their in-flight calls; calls on any
  // other value are refused before they reach NCrypt (a freed or foreign handle can crash an
  // implementation).
  const table = new HandleTable((handle) => nativeFree(handle));
  // Wine exports these as `@ stub` entry points, which abort the process when called.
  const wine = isWine(koffi);

  const adopt = <T extends NCryptHandle>(raw: unknown, kind: HandleKind, fnName: string): T => {
    const handle = typeof raw === 'bigint' ? raw : BigInt((raw as number | null) ?? 0);
    if (handle === 0n) {
      throw new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `${fnName} succeeded but returned a NULL handle`, {
        providerId: 'cng',
        hint: 'the key storage provider misbehaved; report it with the provider name and Windows version',
      });
    }
    table.adopt(handle, kind);
    return handle as T;
  };

  const use = (handle: bigint, kinds: readonly HandleKind[], what: string): bigint => {
    checkHandle(handle, what);
    const kind = table.kindOf(handle);
    if (kind === undefined) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        `the ${what} is not open (freed already, or not from these bindings)`,
        {
          providerId: 'cng',
          hint: 'open the key or provider again; a handle cannot be used after freeObject or deleteKey',
        },
      );
    }
    if (!kinds.includes(kind)) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        `the ${what} is a ${kind} handle, not a ${kinds.join(' or ')} handle`,
        {
          providerId: 'cng',
        },
      );
    }
    return handle;
  };

  const nativeFree = (handle: bigint): void => {
    const status = (NCryptFreeObject(handle) as number) >>> 0;
    if (status !== 0) throw statusError('NCryptFreeObject', status, { providerId: 'cng' });
  };

  const withHandles = <T>(handles: readonly bigint[], run: () => Promise<T>): Promise<T> =>
    table.withHandles(handles, run);

  const call = callStatus;
  const callSync = callStatusSync;
  const pin = (keep: Buffer[], data: Buffer): bigint => pinBuffer(koffi, keep, data);
  const marshalPadding = (padding: NCryptPadding, keep: Buffer[], forCipher: boolean) =>
    paddingInfo(koffi, structs, padding, keep, forCipher);

  const bindings: NCryptBindings = {
    openStorageProvider(providerName, flags) {
      checkWideString(providerName, 'provider name', { maxLength: 512 });
      const f = checkDword(flags);
      const out = [0];
      const status = callSync(NCryptOpenStorageProvider, [out, providerName, f]);
      if (status !== 0) {
        throw statusError('NCryptOpenStorageProvider', status, { providerId: 'cng', context: `"${providerName}"` });
      }
      return adopt<NCryptProvHandle>(out[0], 'provider', 'NCryptOpenStorageProvider');
    },

    isAlgSupported(prov, algorithm, flags) {
      const h = use(prov, ['provider'], 'provider handle');
      checkAlgorithmId(algorithm);
      const f = checkDword(flags);
      const status = callSync(NCryptIsAlgSupported, [h, algorithm, f]);
      if (status === 0) return true;
      if (status === NTE_NOT_SUPPORTED) return false;
      throw statusError('NCryptIsAlgSupported', status, { providerId: 'cng', context: `algorithm ${algorithm}` });
    },

    async createPersistedKey(prov, algorithm, keyName, legacyKeySpec, flags) {
      const h = use(prov, ['provider'], 'provider handle');
      checkAlgorithmId(algorithm);
      if (keyName !== null) checkKeyName(keyName);
      checkLegacyKeySpec(legacyKeySpec);
      const f = checkDword(flags);
      // Cheap (no key material is made until NCryptFinalizeKey): a synchronous call.
      const out = [0];
      const status = callSync(NCryptCreatePersistedKey, [h, out, algorithm, keyName, legacyKeySpec, f]);
      if (status !== 0) {
        throw statusError('NCryptCreatePersistedKey', status, {
          providerId: 'cng',
          context: `${algorithm} key ${keyName === null ? '(ephemeral)' : `"${keyName}"`}`,
        });
      }
      return adopt<NCryptKeyHandle>(out[0], 'key', 'NCryptCreatePersistedKey');
    },

    async finalizeKey(key, flags) {
      const h = use(key, ['key'], 'key handle');
      const f = checkDword(flags);
      const status = await withHandles([h], () => call(NCryptFinalizeKey, [h, f]));
      if (status !== 0) throw statusError('NCryptFinalizeKey', status, { providerId: 'cng' });
    },

    async openKey(prov, keyName, legacyKeySpec, flags) {
      const h = use(prov, ['provider'], 'provider handle');
      checkKeyName(keyName);
      checkLegacyKeySpec(legacyKeySpec);
      const f = checkDword(flags);
      const out = [0];
      const status = await withHandles([h], () => call(NCryptOpenKey, [h, out, keyName, legacyKeySpec, f]));
      if (status !== 0) {
        throw statusError('NCryptOpenKey', status, {
          providerId: 'cng',
          context: `key "${keyName}"`,
          ...operationUnsupported(status),
        });
      }
      return adopt<NCryptKeyHandle>(out[0], 'key', 'NCryptOpenKey');
    },

    async deleteKey(key, flags) {
      const h = use(key, ['key'], 'key handle');
      const f = checkDword(flags);
      // Refused while another call runs on the handle; on success the handle leaves the table and
      // the deferred-free queue: pass a handle to NCryptFreeObject or NCryptDeleteKey, never both.
      let status = 0;
      await table.deleteWith(h, async () => {
        status = await call(NCryptDeleteKey, [h, f]);
        return status === 0;
      });
      if (status !== 0)
        throw statusError('NCryptDeleteKey', status, { providerId: 'cng', ...operationUnsupported(status) });
    },

    async enumKeys(prov, flags) {
      const h = use(prov, ['provider'], 'provider handle');
      const f = checkDword(flags);
      return withHandles([h], async () => {
        const state: unknown[] = [null];
        const keys: NCryptKeyNameInfo[] = [];
        try {
          for (;;) {
            const out: unknown[] = [null];
            const status = await call(NCryptEnumKeys, [h, null, out, state, f]);
            if (status === NTE_NO_MORE_ITEMS) break;
            if (status !== 0) {
              throw statusError('NCryptEnumKeys', status, { providerId: 'cng', ...operationUnsupported(status) });
            }
            const item = out[0];
            if (item === null || item === undefined) break;
            try {
              const decoded = koffi.decode(item, structs.NCryptKeyName) as {
                pszName: string | null;
                pszAlgid: string | null;
                dwLegacyKeySpec: number;
                dwFlags: number;
              };
              keys.push({
                name: decoded.pszName ?? '',
                algorithm: decoded.pszAlgid ?? '',
                legacyKeySpec: decoded.dwLegacyKeySpec >>> 0,
                flags: decoded.dwFlags >>> 0,
              });
            } finally {
              NCryptFreeBuffer(item);
            }
            if (keys.length > MAX_ENUMERATED_KEYS) {
              throw new KeyStoreError(
                'ERR_KEYSTORE_NATIVE_FAILURE',
                `NCryptEnumKeys returned over ${MAX_ENUMERATED_KEYS} keys`,
                {
                  providerId: 'cng',
                  hint: 'the key storage provider does not end its enumeration; report it',
                },
              );
            }
          }
        } finally {
          const enumState = state[0];
          if (enumState !== null && enumState !== undefined && enumState !== 0n) NCryptFreeBuffer(enumState);
        }
        return keys;
      });
    },

    getProperty(handle, property, flags) {
      const h = use(handle, ['provider', 'key'], 'handle');
      checkPropertyName(property);
      const f = checkDword(flags);
      const value = twoCallSync(
        'NCryptGetProperty',
        (out, size, pcb) => callSync(NCryptGetProperty, [h, property, out, size, pcb, f]),
        () => `property "${property}"`,
      );
      if (property === NCRYPT_PROVIDER_HANDLE_PROPERTY && value.length === 8) {
        // A new provider handle the caller must free: track it like any other.
        const prov = value.readBigUInt64LE(0);
        if (prov !== 0n) adopt(prov, 'provider', 'NCryptGetProperty');
      }
      return value;
    },

    getDwordProperty(handle, property, flags) {
      const value = bindings.getProperty(handle, property, flags);
      if (value.length !== 4) {
        throw new KeyStoreError(
          'ERR_KEYSTORE_NATIVE_FAILURE',
          `property "${property}" is ${value.length} bytes, not a DWORD`,
          {
            providerId: 'cng',
            hint: 'read it with getProperty and decode it yourself',
          },
        );
      }
      return value.readUInt32LE(0);
    },

    getStringProperty(handle, property, flags) {
      const value = bindings.getProperty(handle, property, flags);
      if (value.length % 2 !== 0) {
        throw new KeyStoreError(
          'ERR_KEYSTORE_NATIVE_FAILURE',
          `property "${property}" is not a UTF-16 string (${value.length} bytes)`,
          {
            providerId: 'cng',
            hint: 'read it with getProperty and decode it yourself',
          },
        );
      }
      let end = value.length;
      while (end >= 2 && value[end - 1] === 0 && value[end - 2] === 0) end -= 2;
      return value.subarray(0, end).toString('utf16le');
    },

    setProperty(handle, property, value, flags) {
      const h = use(handle, ['provider', 'key'], 'handle');
      checkPropertyName(property);
      checkPropertyValue(value);
      const f = checkDword(flags);
      let data: Buffer;
      if (typeof value === 'number') {
        data = Buffer.alloc(4);
        data.writeUInt32LE(value, 0);
      } else if (typeof value === 'string') data = wideString(value);
      else data = value;
      const status = callSync(NCryptSetProperty, [h, property, data.length === 0 ? null : data, data.length, f]);
      if (status !== 0) {
        throw statusError('NCryptSetProperty', status, { providerId: 'cng', context: `property "${property}"` });
      }
    },

    setUiPolicy(key, policy) {
      const h = use(key, ['key'], 'key handle');
      checkUiPolicy(policy);
      const keep: Buffer[] = [];
      const text = (s: string | undefined) => (s === undefined ? 0n : pin(keep, wideString(s)));
      const data = Buffer.alloc(koffi.sizeof(structs.NCRYPT_UI_POLICY));
      koffi.encode(data, 0, structs.NCRYPT_UI_POLICY, {
        dwVersion: 1,
        dwFlags: policy.flags,
        pszCreationTitle: text(policy.creationTitle),
        pszFriendlyName: text(policy.friendlyName),
        pszDescription: text(policy.description),
      });
      // Stored with the key (NCRYPT_PERSIST_FLAG), as .NET's CngKey stores it: the prompt must come
      // back on every open, not only through this handle.
      const status = callSync(NCryptSetProperty, [
        h,
        NCRYPT_UI_POLICY_PROPERTY,
        data,
        data.length,
        NCRYPT_PERSIST_FLAG,
      ]);
      keep.length = 0;
      if (status !== 0) {
        throw statusError('NCryptSetProperty', status, {
          providerId: 'cng',
          context: `property "${NCRYPT_UI_POLICY_PROPERTY}"`,
        });
      }
    },

    exportKey(key, blobType, flags) {
      const h = use(key, ['key'], 'key handle');
      checkAlgorithmId(blobType, 'blob type');
      const f = checkDword(flags);
      const isPrivate = PRIVATE_BLOB_TYPES.has(blobType);
      return twoCallSync(
        'NCryptExportKey',
        (out, size, pcb) => callSync(NCryptExportKey, [h, 0, blobType, null, out, size, pcb, f]),
        () => `blob type ${blobType}`,
        (status) =>
          isPrivate && (status === NTE_PERM || status === NTE_NOT_SUPPORTED || status === NTE_BAD_KEY_STATE)
            ? {
                code: 'ERR_KEYSTORE_NOT_EXPORTABLE',
                hint: "the key's export policy does not allow plaintext export (it was created without NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG), or the provider cannot export this blob type",
              }
            : undefined,
      );
    },

    async importKey(prov, blobType, blob, keyName, flags) {
      const h = use(prov, ['provider'], 'provider handle');
      checkAlgorithmId(blobType, 'blob type');
      checkBytes(blob, 'key blob', 1, MAX_BLOB_LENGTH);
      if (keyName !== null) checkKeyName(keyName);
      const f = checkDword(flags);
      const keep: Buffer[] = [];
      let parameters: Buffer | null = null;
      if (keyName !== null) {
        const name = wideString(keyName);
        const buffer = Buffer.alloc(koffi.sizeof(structs.NCryptBuffer));
        koffi.encode(buffer, 0, structs.NCryptBuffer, {
          cbBuffer: name.length,
          BufferType: NCRYPTBUFFER_PKCS_KEY_NAME,
          pvBuffer: pin(keep, name),
        });
        parameters = Buffer.alloc(koffi.sizeof(structs.NCryptBufferDesc));
        koffi.encode(parameters, 0, structs.NCryptBufferDesc, {
          ulVersion: NCRYPTBUFFER_VERSION,
          cBuffers: 1,
          pBuffers: pin(keep, buffer),
        });
        keep.push(parameters);
      }
      const data = Buffer.from(blob);
      const out = [0];
      try {
        const status = await withHandles([h], () =>
          call(NCryptImportKey, [h, 0, blobType, parameters, out, data, data.length, f]),
        );
        if (status !== 0) {
          throw statusError('NCryptImportKey', status, {
            providerId: 'cng',
            context: `${blobType}${keyName === null ? '' : ` as "${keyName}"`}`,
          });
        }
      } finally {
        // The copy may hold private key material.
        data.fill(0);
        keep.length = 0;
      }
      return adopt<NCryptKeyHandle>(out[0], 'key', 'NCryptImportKey');
    },

    async signHash(key, digest, padding, flags) {
      const h = use(key, ['key'], 'key handle');
      checkPadding(padding, 'sign');
      checkDigest(digest, padding);
      const f = checkDword(flags);
      const keep: Buffer[] = [];
      const [info, padFlag] = marshalPadding(padding, keep, false);
      const hash = Buffer.from(digest);
      return withHandles([h], () =>
        twoCall(
          'NCryptSignHash',
          (out, size, pcb) => call(NCryptSignHash, [h, info, hash, hash.length, out, size, pcb, (f | padFlag) >>> 0]),
          () => `${paddingText(padding)}, ${hash.length}-byte digest`,
        ),
      ).finally(() => {
        keep.length = 0;
      });
    },

    async verifySignature(key, digest, signature, padding, flags) {
      const h = use(key, ['key'], 'key handle');
      checkPadding(padding, 'verify');
      checkDigest(digest, padding);
      checkBytes(signature, 'signature', 1, MAX_RSA_BLOCK_LENGTH);
      const f = checkDword(flags);
      const keep: Buffer[] = [];
      const [info, padFlag] = marshalPadding(padding, keep, false);
      const hash = Buffer.from(digest);
      const sig = Buffer.from(signature);
      const status = await withHandles([h], () =>
        call(NCryptVerifySignature, [h, info, hash, hash.length, sig, sig.length, (f | padFlag) >>> 0]),
      );
      keep.length = 0;
      if (status === 0) return true;
      if (status === NTE_BAD_SIGNATURE) return false;
      throw statusError('NCryptVerifySignature', status, { providerId: 'cng', context: paddingText(padding) });
    },

    async encrypt(key, data, padding, flags) {
      const h = use(key, ['key'], 'key handle');
      checkPadding(padding, 'encrypt');
      checkBytes(data, 'plaintext', 0, MAX_RSA_BLOCK_LENGTH);
      const f = checkDword(flags);
      const keep: Buffer[] = [];
      const [info, padFlag] = marshalPadding(padding, keep, true);
      const input = data.length === 0 ? null : Buffer.from(data);
      try {
        return await withHandles([h], () =>
          twoCall(
            'NCryptEncrypt',
            (out, size, pcb) =>
              call(NCryptEncrypt, [h, input, input?.length ?? 0, info, out, size, pcb, (f | padFlag) >>> 0]),
            () => `${paddingText(padding)}, ${data.length} bytes`,
          ),
        );
      } finally {
        input?.fill(0);
        keep.length = 0;
      }
    },

    async decrypt(key, data, padding, flags) {
      const h = use(key, ['key'], 'key handle');
      checkPadding(padding, 'decrypt');
      checkBytes(data, 'ciphertext', 1, MAX_RSA_BLOCK_LENGTH);
      const f = checkDword(flags);
      const keep: Buffer[] = [];
      const [info, padFlag] = marshalPadding(padding, keep, true);
      const input = Buffer.from(data);
      try {
        return await withHandles([h], () =>
          twoCall(
            'NCryptDecrypt',
            (out, size, pcb) =>
              call(NCryptDecrypt, [h, input, input.length, info, out, size, pcb, (f | padFlag) >>> 0]),
            () => `${paddingText(padding)}, ${data.length}-byte ciphertext`,
            // Without OAEP there is no algorithm choice to blame: the provider cannot decrypt at all.
            (status) => (padding.kind === 'oaep' ? undefined : operationUnsupported(status)),
          ),
        );
      } finally {
        keep.length = 0;
      }
    },

    async secretAgreement(priv, peer, flags) {
      const hPriv = use(priv, ['key'], 'private key handle');
      const hPeer = use(peer, ['key'], 'peer key handle');
      const f = checkDword(flags);
      if (wine) throw wineStub('NCryptSecretAgreement');
      const out = [0];
      const status = await withHandles([hPriv, hPeer], () => call(NCryptSecretAgreement, [hPriv, hPeer, out, f]));
      if (status !== 0) throw statusError('NCryptSecretAgreement', status, { providerId: 'cng' });
      return adopt<NCryptSecretHandle>(out[0], 'secret', 'NCryptSecretAgreement');
    },

    async deriveRawSecret(secret, flags) {
      const h = use(secret, ['secret'], 'secret handle');
      const f = checkDword(flags);
      if (wine) throw wineStub('NCryptDeriveKey');
      return withHandles([h], () =>
        twoCall(
          'NCryptDeriveKey',
          (out, size, pcb) => call(NCryptDeriveKey, [h, BCRYPT_KDF_RAW_SECRET, null, out, size, pcb, f]),
          () => `KDF ${BCRYPT_KDF_RAW_SECRET}`,
        ),
      );
    },

    freeObject(handle) {
      checkHandle(handle, 'handle');
      // Idempotent: a handle that is not open (freed already, or freed by deleteKey) is left alone;
      // one a call is still running on is freed when that call ends.
      table.free(handle);
    },
  };
  cached = bindings;
  return bindings;
}
