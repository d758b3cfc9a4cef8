/**
 * CryptoAPI status codes: symbolic names, and their mapping to {@link KeyStoreError} codes with hints.
 * `FormatMessageW` gives no text for the `NTE_*` codes under Wine, so the names are kept here.
 *
 * @module
 */
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';

const NTE_NAMES: readonly string[] = [
  'NTE_BAD_UID',
  'NTE_BAD_HASH',
  'NTE_BAD_KEY',
  'NTE_BAD_LEN',
  'NTE_BAD_DATA',
  'NTE_BAD_SIGNATURE',
  'NTE_BAD_VER',
  'NTE_BAD_ALGID',
  'NTE_BAD_FLAGS',
  'NTE_BAD_TYPE',
  'NTE_BAD_KEY_STATE',
  'NTE_BAD_HASH_STATE',
  'NTE_NO_KEY',
  'NTE_NO_MEMORY',
  'NTE_EXISTS',
  'NTE_PERM',
  'NTE_NOT_FOUND',
  'NTE_DOUBLE_ENCRYPT',
  'NTE_BAD_PROVIDER',
  'NTE_BAD_PROV_TYPE',
  'NTE_BAD_PUBLIC_KEY',
  'NTE_BAD_KEYSET',
  'NTE_PROV_TYPE_NOT_DEF',
  'NTE_PROV_TYPE_ENTRY_BAD',
  'NTE_KEYSET_NOT_DEF',
  'NTE_KEYSET_ENTRY_BAD',
  'NTE_PROV_TYPE_NO_MATCH',
  'NTE_SIGNATURE_FILE_BAD',
  'NTE_PROVIDER_DLL_FAIL',
  'NTE_PROV_DLL_NOT_FOUND',
  'NTE_BAD_KEYSET_PARAM',
  'NTE_FAIL',
  'NTE_SYS_ERR',
  'NTE_SILENT_CONTEXT',
  'NTE_TOKEN_KEYSET_STORAGE_FULL',
  'NTE_TEMPORARY_PROFILE',
  'NTE_FIXEDPARAMETER',
  'NTE_INVALID_HANDLE',
  'NTE_INVALID_PARAMETER',
  'NTE_BUFFER_TOO_SMALL',
  'NTE_NOT_SUPPORTED',
  'NTE_NO_MORE_ITEMS',
  'NTE_BUFFERS_OVERLAP',
  'NTE_DECRYPTION_FAILURE',
  'NTE_INTERNAL_ERROR',
  'NTE_UI_REQUIRED',
  'NTE_HMAC_NOT_SUPPORTED',
  'NTE_DEVICE_NOT_READY',
  'NTE_AUTHENTICATION_IGNORED',
  'NTE_VALIDATION_FAILED',
  'NTE_INCORRECT_PASSWORD',
  'NTE_ENCRYPTION_FAILURE',
  'NTE_DEVICE_NOT_FOUND',
  'NTE_USER_CANCELLED',
];

const WIN32_NAMES: Readonly<Record<number, string>> = {
  2: 'ERROR_FILE_NOT_FOUND',
  5: 'ERROR_ACCESS_DENIED',
  6: 'ERROR_INVALID_HANDLE',
  8: 'ERROR_NOT_ENOUGH_MEMORY',
  14: 'ERROR_OUTOFMEMORY',
  87: 'ERROR_INVALID_PARAMETER',
  120: 'ERROR_CALL_NOT_IMPLEMENTED',
  234: 'ERROR_MORE_DATA',
  259: 'ERROR_NO_MORE_ITEMS',
  1223: 'ERROR_CANCELLED',
};

/**
 * The symbolic name of a CryptoAPI status: `NTE_*` codes (0x80090001–0x80090036), common Win32
 * error codes, and Win32 codes wrapped as HRESULTs (`HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED)` is
 * `E_ACCESSDENIED`); otherwise the number in hex.
 *
 * @example
 * ```ts
 * capiStatusName(0x80090016); // 'NTE_BAD_KEYSET'
 * capiStatusName(5); // 'ERROR_ACCESS_DENIED'
 * ```
 * @since 0.2.0
 */
export function capiStatusName(status: number): string {
  const s = status >>> 0;
  if (s >= 0x80090001 && s <= 0x80090036) return NTE_NAMES[s - 0x80090001] ?? hex(s);
  if (s === 0x80070005) return 'E_ACCESSDENIED';
  if (s === 0x8007000e) return 'E_OUTOFMEMORY';
  if (s === 0x80070057) return 'E_INVALIDARG';
  if (s >>> 16 === 0x8007 && WIN32_NAMES[s & 0xffff]) return `HRESULT_FROM_WIN32(${WIN32_NAMES[s & 0xffff]})`;
  return WIN32_NAMES[s] ?? hex(s);
}

function hex(s: number): string {
  return `0x${s.toString(16).padStart(8, '0')}`;
}

interface Mapping {
  readonly code: KeyStoreErrorCode;
  readonly hint: string;
}

/** Maps a status to an error code and a hint for a person. */
export function classifyStatus(status: number): Mapping {
  const s = status >>> 0;
  switch (s) {
    case 0x80090016: // NTE_BAD_KEYSET
      return {
        code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
        hint: 'no key container by that name in this scope; was it created for the machine (or the user)? list keys to see which exist',
      };
    case 0x8009000d: // NTE_NO_KEY
      return {
        code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
        hint: 'the container exists but holds no key of that kind (a key whose creation never finished leaves an empty container: delete it)',
      };
    case 0x8009000f: // NTE_EXISTS
      return {
        code: 'ERR_KEYSTORE_KEY_EXISTS',
        hint: 'a key container by that name exists; open it, or delete it first',
      };
    case 0x8009000b: // NTE_BAD_KEY_STATE
      return {
        code: 'ERR_KEYSTORE_NOT_EXPORTABLE',
        hint: 'the key was created non-exportable, so CryptoAPI refuses to export it; a non-exportable legacy key cannot be moved: issue a new key where it should live and retire this one',
      };
    case 0x80090010: // NTE_PERM
    case 5: // ERROR_ACCESS_DENIED
    case 0x80070005: // E_ACCESSDENIED
      return {
        code: 'ERR_KEYSTORE_ACCESS_DENIED',
        hint: 'the OS refused access to the key container (machine containers may need an administrator, or the container belongs to another account)',
      };
    case 0x80090022: // NTE_SILENT_CONTEXT
    case 0x8009002e: // NTE_UI_REQUIRED
      return {
        code: 'ERR_KEYSTORE_ACCESS_DENIED',
        hint: 'the key is protected by a user prompt (CRYPT_USER_PROTECTED), which this provider never shows; use it from a program that may prompt, or move it to CNG',
      };
    case 0x80090036: // NTE_USER_CANCELLED
    case 1223: // ERROR_CANCELLED
      return { code: 'ERR_KEYSTORE_ACCESS_DENIED', hint: 'the user cancelled the prompt for the key' };
    case 0x80090008: // NTE_BAD_ALGID
    case 0x80090029: // NTE_NOT_SUPPORTED
      return {
        code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        hint: 'the CSP does not support that algorithm or hash (the "Microsoft Enhanced RSA and AES Cryptographic Provider" is needed for SHA-2)',
      };
    case 0x80090003: // NTE_BAD_KEY
      return {
        code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        hint: 'the key cannot do that operation (an AT_SIGNATURE key does not decrypt)',
      };
    case 0x80090005: // NTE_BAD_DATA
    case 0x8009002c: // NTE_DECRYPTION_FAILURE
      return {
        code: 'ERR_KEYSTORE_NATIVE_FAILURE',
        hint: 'the data is not valid for this key: a ciphertext made for another key or with another padding (CryptoAPI decrypts RSA-OAEP with SHA-1 only)',
      };
    case 0x80090013: // NTE_BAD_PROVIDER
    case 0x80090014: // NTE_BAD_PROV_TYPE
    case 0x80090017: // NTE_PROV_TYPE_NOT_DEF
    case 0x80090018: // NTE_PROV_TYPE_ENTRY_BAD
    case 0x8009001b: // NTE_PROV_TYPE_NO_MATCH
    case 0x8009001c: // NTE_SIGNATURE_FILE_BAD
    case 0x8009001d: // NTE_PROVIDER_DLL_FAIL
    case 0x8009001e: // NTE_PROV_DLL_NOT_FOUND
      return {
        code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        hint: 'the "Microsoft Enhanced RSA and AES Cryptographic Provider" (rsaenh.dll) is missing or not registered on this system',
      };
    case 0x80090024: // NTE_TEMPORARY_PROFILE
      return {
        code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        hint: 'the account is logged on with a temporary profile, where CryptoAPI cannot keep user keys; log on with a regular profile or use the machine scope',
      };
    case 0x8009001a: // NTE_KEYSET_ENTRY_BAD
      return {
        code: 'ERR_KEYSTORE_NATIVE_FAILURE',
        hint: 'the key container is corrupt; delete it and issue a new key',
      };
    default:
      return { code: 'ERR_KEYSTORE_NATIVE_FAILURE', hint: 'a CryptoAPI call failed; see nativeName and nativeStatus' };
  }
}

/**
 * Builds the {@link KeyStoreError} for a failed CryptoAPI call, keeping the status and its name.
 *
 * @param status The `GetLastError` value.
 * @param what What was being done, e.g. `open key container "a"`.
 * @param code Overrides the error code the status maps to (the hint stays).
 */
export function capiError(status: number, what: string, code?: KeyStoreErrorCode): KeyStoreError {
  const mapped = classifyStatus(status);
  const name = capiStatusName(status);
  return new KeyStoreError(code ?? mapped.code, `CryptoAPI: ${what} failed with ${name} (${hex(status >>> 0)})`, {
    providerId: 'capi',
    nativeStatus: status >>> 0,
    nativeName: name,
    hint: mapped.hint,
  });
}
