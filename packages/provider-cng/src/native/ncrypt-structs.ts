/**
 * What the NCrypt bindings declare besides the functions' bodies: the structs they marshal (defined
 * once, with their layouts for comparison with the Windows SDK headers), the list of functions, and
 * the errors of a missing ncrypt.dll, of Wine's stubs and of an unsupported operation.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import { NTE_NOT_SUPPORTED } from './constants.js';
import { defineStruct, type KoffiModule, type KoffiType, layoutOf, loadKoffi, type StructLayout } from './koffi.js';

/**
 * The names of the structs the NCrypt bindings define.
 *
 * @since 0.2.0
 */
export type NCryptStructName =
  | 'NCryptKeyName'
  | 'NCryptBuffer'
  | 'NCryptBufferDesc'
  | 'BCRYPT_PKCS1_PADDING_INFO'
  | 'BCRYPT_PSS_PADDING_INFO'
  | 'BCRYPT_OAEP_PADDING_INFO'
  | 'NCRYPT_UI_POLICY'
  | 'BCRYPT_RSAKEY_BLOB'
  | 'BCRYPT_ECCKEY_BLOB';

/**
 * The names of the NCrypt functions the bindings declare, in the order they are declared.
 *
 * @since 0.2.0
 */
export const NCRYPT_FUNCTIONS = [
  'NCryptOpenStorageProvider',
  'NCryptIsAlgSupported',
  'NCryptCreatePersistedKey',
  'NCryptFinalizeKey',
  'NCryptOpenKey',
  'NCryptDeleteKey',
  'NCryptEnumKeys',
  'NCryptFreeBuffer',
  'NCryptGetProperty',
  'NCryptSetProperty',
  'NCryptExportKey',
  'NCryptImportKey',
  'NCryptSignHash',
  'NCryptVerifySignature',
  'NCryptEncrypt',
  'NCryptDecrypt',
  'NCryptSecretAgreement',
  'NCryptDeriveKey',
  'NCryptFreeObject',
] as const;

interface NCryptTypes {
  readonly koffi: KoffiModule;
  readonly structs: Readonly<Record<NCryptStructName, KoffiType>>;
}

let types: NCryptTypes | undefined;

export function defineTypes(): NCryptTypes {
  if (types) return types;
  const koffi = loadKoffi();
  // Pointer members are declared with their C pointee type; the bindings write addresses of memory
  // they own into them (koffi.encode accepts a bigint address for any pointer member).
  const structs: Record<NCryptStructName, KoffiType> = {
    NCryptKeyName: defineStruct(koffi, 'NCryptKeyName', {
      pszName: 'char16_t *',
      pszAlgid: 'char16_t *',
      dwLegacyKeySpec: 'uint32_t',
      dwFlags: 'uint32_t',
    }),
    NCryptBuffer: defineStruct(koffi, 'NCryptBuffer', {
      cbBuffer: 'uint32_t',
      BufferType: 'uint32_t',
      pvBuffer: 'void *',
    }),
    NCryptBufferDesc: defineStruct(koffi, 'NCryptBufferDesc', {
      ulVersion: 'uint32_t',
      cBuffers: 'uint32_t',
      pBuffers: 'NCryptBuffer *',
    }),
    BCRYPT_PKCS1_PADDING_INFO: defineStruct(koffi, 'BCRYPT_PKCS1_PADDING_INFO', { pszAlgId: 'const char16_t *' }),
    BCRYPT_PSS_PADDING_INFO: defineStruct(koffi, 'BCRYPT_PSS_PADDING_INFO', {
      pszAlgId: 'const char16_t *',
      cbSalt: 'uint32_t',
    }),
    BCRYPT_OAEP_PADDING_INFO: defineStruct(koffi, 'BCRYPT_OAEP_PADDING_INFO', {
      pszAlgId: 'const char16_t *',
      pbLabel: 'uint8_t *',
      cbLabel: 'uint32_t',
    }),
    NCRYPT_UI_POLICY: defineStruct(koffi, 'NCRYPT_UI_POLICY', {
      dwVersion: 'uint32_t',
      dwFlags: 'uint32_t',
      pszCreationTitle: 'const char16_t *',
      pszFriendlyName: 'const char16_t *',
      pszDescription: 'const char16_t *',
    }),
    // The blob headers are read in TypeScript (blobs.ts); they are defined here so that the layout
    // test checks the offsets that code relies on.
    BCRYPT_RSAKEY_BLOB: defineStruct(koffi, 'BCRYPT_RSAKEY_BLOB', {
      Magic: 'uint32_t',
      BitLength: 'uint32_t',
      cbPublicExp: 'uint32_t',
      cbModulus: 'uint32_t',
      cbPrime1: 'uint32_t',
      cbPrime2: 'uint32_t',
    }),
    BCRYPT_ECCKEY_BLOB: defineStruct(koffi, 'BCRYPT_ECCKEY_BLOB', { dwMagic: 'uint32_t', cbKey: 'uint32_t' }),
  };
  types = { koffi, structs };
  return types;
}

/**
 * Defines (once) the structs the NCrypt bindings marshal and returns their layouts as koffi computes
 * them (`sizeof`, `alignof`, `offsetof` of each member), for comparison with the Windows SDK headers.
 * Needs koffi but not ncrypt.dll, so it works on any platform.
 *
 * @example
 * ```ts
 * defineNCryptTypes().NCryptKeyName.size; // 24 on x64
 * ```
 * @since 0.2.0
 */
export function defineNCryptTypes(): Readonly<Record<NCryptStructName, StructLayout>> {
  const { koffi, structs } = defineTypes();
  const out = {} as Record<NCryptStructName, StructLayout>;
  for (const [name, type] of Object.entries(structs) as [NCryptStructName, KoffiType][]) {
    out[name] = layoutOf(koffi, type);
  }
  return out;
}

export function unavailable(message: string, hint: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', message, { providerId: 'cng', hint, cause });
}

/** True under Wine, whose ntdll exports `wine_get_version`. */
export function isWine(koffi: KoffiModule): boolean {
  try {
    koffi.load('ntdll.dll').func('const char * wine_get_version(void)');
    return true;
  } catch {
    return false;
  }
}

/**
 * `NTE_NOT_SUPPORTED` from a call that names no algorithm (open, delete, enumerate, decrypt without
 * OAEP) means the provider lacks the operation, not an algorithm.
 */
export function operationUnsupported(
  status: number,
): { code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'; hint: string } | undefined {
  if (status !== NTE_NOT_SUPPORTED) return undefined;
  return {
    code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
    hint: 'this key storage provider does not implement the operation (Wine implements only part of CNG)',
  };
}

/** The refusal of a function Wine exports only as an aborting stub. */
export function wineStub(fn: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `${fn} is not implemented by Wine's ncrypt.dll`, {
    providerId: 'cng',
    hint: `Wine exports ${fn} as a stub that aborts the process, so it is not called; ECDH needs real Windows`,
  });
}
