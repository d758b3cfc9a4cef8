/**
 * A {@link RegistryReader} on the Windows registry API (advapi32 through koffi), for reading the Group
 * Policy machine policy without `reg.exe`: it returns what `@keystore/core`'s `readRegistryKey`
 * returns for the same key, so the policy reads both alike.
 *
 * @module
 */
import { KeyStoreError, type RegistryKeyContents, type RegistryReader, type RegistryValue } from '@keystore/core';
import { ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, HKEY_LOCAL_MACHINE } from './constants.js';
import { loadKoffi, type NativeFn } from './koffi.js';
import { statusError } from './status.js';

/** `KEY_READ`. */
const KEY_READ = 0x20019;
/** `KEY_WOW64_64KEY`: the 64-bit view, also from a 32-bit process (as `reg.exe /reg:64`). */
const KEY_WOW64_64KEY = 0x0100;
/** `ERROR_NO_MORE_ITEMS`: the end of an enumeration. */
const ERROR_NO_MORE_ITEMS = 259;
/** The longest key name segment the registry allows. */
const MAX_KEY_SEGMENT = 255;
/** The longest value name the registry allows, in UTF-16 code units. */
const MAX_VALUE_NAME = 16_383;
/** The largest value read: as much as `readRegistryKey` accepts from `reg.exe` for a whole key. */
const MAX_VALUE_BYTES = 4 * 1024 * 1024;
/** The most values or subkeys enumerated in one key. */
const MAX_ITEMS = 65_536;

/** Registry value types, by number, as `reg.exe` names them. */
const TYPE_NAMES: readonly string[] = [
  'REG_NONE',
  'REG_SZ',
  'REG_EXPAND_SZ',
  'REG_BINARY',
  'REG_DWORD',
  'REG_DWORD_BIG_ENDIAN',
  'REG_LINK',
  'REG_MULTI_SZ',
  'REG_RESOURCE_LIST',
  'REG_FULL_RESOURCE_DESCRIPTOR',
  'REG_RESOURCE_REQUIREMENTS_LIST',
  'REG_QWORD',
];

/**
 * Options of {@link nativeRegistryReader}; none yet, kept for future settings.
 *
 * @since 0.2.0
 */
export type NativeRegistryReaderOptions = Record<string, never>;

interface RegistryFunctions {
  readonly RegOpenKeyExW: NativeFn;
  readonly RegQueryInfoKeyW: NativeFn;
  readonly RegEnumValueW: NativeFn;
  readonly RegEnumKeyExW: NativeFn;
  readonly RegCloseKey: NativeFn;
}

let functions: RegistryFunctions | undefined;

function loadRegistryFunctions(): RegistryFunctions {
  if (functions) return functions;
  if (process.platform !== 'win32') {
    throw new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      `the Windows registry API exists only on Windows; this is ${process.platform}`,
      { providerId: 'cng', hint: 'elsewhere than Windows keystore reads no registry policy: pass no registry reader' },
    );
  }
  const koffi = loadKoffi();
  let advapi32: ReturnType<typeof koffi.load>;
  try {
    advapi32 = koffi.load('advapi32.dll');
  } catch (cause) {
    throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'advapi32.dll could not be loaded', {
      providerId: 'cng',
      hint: 'a core Windows DLL is missing; check the system installation',
      cause,
    });
  }
  const adv = (s: string) => advapi32.func(s) as NativeFn;
  functions = {
    RegOpenKeyExW: adv(
      'int32_t __stdcall RegOpenKeyExW(uintptr_t hKey, const char16_t *lpSubKey, uint32_t ulOptions, uint32_t samDesired, _Out_ uintptr_t *phkResult)',
    ),
    RegQueryInfoKeyW: adv(
      'int32_t __stdcall RegQueryInfoKeyW(uintptr_t hKey, void *lpClass, void *lpcchClass, void *lpReserved, _Out_ uint32_t *lpcSubKeys, _Out_ uint32_t *lpcbMaxSubKeyLen, void *lpcbMaxClassLen, _Out_ uint32_t *lpcValues, _Out_ uint32_t *lpcbMaxValueNameLen, _Out_ uint32_t *lpcbMaxValueLen, void *lpcbSecurityDescriptor, void *lpftLastWriteTime)',
    ),
    RegEnumValueW: adv(
      'int32_t __stdcall RegEnumValueW(uintptr_t hKey, uint32_t dwIndex, _Out_ uint8_t *lpValueName, _Inout_ uint32_t *lpcchValueName, void *lpReserved, _Out_ uint32_t *lpType, _Out_ uint8_t *lpData, _Inout_ uint32_t *lpcbData)',
    ),
    RegEnumKeyExW: adv(
      'int32_t __stdcall RegEnumKeyExW(uintptr_t hKey, uint32_t dwIndex, _Out_ uint8_t *lpName, _Inout_ uint32_t *lpcchName, void *lpReserved, void *lpClass, void *lpcchClass, void *lpftLastWriteTime)',
    ),
    RegCloseKey: adv('int32_t __stdcall RegCloseKey(uintptr_t hKey)'),
  };
  return functions;
}

/**
 * Checks a key path for the native reader and returns it relative to `HKEY_LOCAL_MACHINE`: `HKLM\`
 * (or `HKEY_LOCAL_MACHINE\`) then one or more non-empty names of at most 255 characters, no NUL.
 *
 * @internal
 */
export function registrySubKeyOf(key: unknown): string {
  const invalid = (why: string) =>
    new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `not a registry key path under HKLM: ${why}`, {
      hint: 'pass a path such as HKLM\\SOFTWARE\\Policies\\keystore',
    });
  if (typeof key !== 'string') throw invalid(`a ${typeof key}, not a string`);
  const match = /^(?:HKLM|HKEY_LOCAL_MACHINE)\\(.*)$/is.exec(key);
  if (match === null) throw invalid(`${JSON.stringify(key.slice(0, 300))} does not start with HKLM\\`);
  const subKey = match[1] ?? '';
  if (subKey.includes('\0')) throw invalid(`${JSON.stringify(key.slice(0, 300))} holds a NUL character`);
  for (const segment of subKey.split('\\')) {
    if (segment.length === 0) throw invalid(`${JSON.stringify(key.slice(0, 300))} has an empty key name`);
    if (segment.length > MAX_KEY_SEGMENT) {
      throw invalid(`a key name in ${JSON.stringify(key.slice(0, 300))} is longer than ${MAX_KEY_SEGMENT} characters`);
    }
  }
  return subKey;
}

/** UTF-16LE bytes as text, without a final odd byte. */
function utf16(bytes: Buffer): string {
  return bytes.subarray(0, bytes.length - (bytes.length % 2)).toString('utf16le');
}

/**
 * A value's data as `readRegistryKey` gives it: strings (one trailing NUL removed), string lists
 * (final empty strings removed), `REG_DWORD` and `REG_QWORD` as numbers, anything else as upper-case
 * hex, as `reg.exe` prints `REG_BINARY`.
 *
 * @internal
 */
export function decodeRegistryValue(name: string, type: number, bytes: Buffer): RegistryValue {
  const typeName = TYPE_NAMES[type] ?? 'REG_UNKNOWN';
  const value = (data: RegistryValue['data']): RegistryValue => ({ name, type: typeName, data });
  switch (typeName) {
    case 'REG_SZ':
    case 'REG_EXPAND_SZ': {
      const text = utf16(bytes);
      return value(text.endsWith('\0') ? text.slice(0, -1) : text);
    }
    case 'REG_MULTI_SZ': {
      const items = utf16(bytes).split('\0');
      while (items.length > 0 && items[items.length - 1] === '') items.pop();
      return value(items);
    }
    case 'REG_DWORD':
      if (bytes.length === 4) return value(bytes.readUInt32LE(0));
      break;
    case 'REG_QWORD':
      if (bytes.length === 8) return value(Number(bytes.readBigUInt64LE(0)));
      break;
  }
  return value(bytes.toString('hex').toUpperCase());
}

function failure(fn: string, status: number, key: string): KeyStoreError {
  const denied = status === ERROR_ACCESS_DENIED;
  return statusError(fn, status, {
    providerId: 'cng',
    context: `reading ${key}`,
    code: denied ? 'ERR_KEYSTORE_ACCESS_DENIED' : 'ERR_KEYSTORE_NATIVE_FAILURE',
    ...(denied
      ? { hint: 'give the account running the app read access to the key (Users can read the policy key by default)' }
      : {}),
  });
}

function readOpenKey(fns: RegistryFunctions, hKey: unknown, key: string): RegistryKeyContents {
  const subKeyCount = [0];
  const maxSubKeyLength = [0];
  const valueCount = [0];
  const maxValueNameLength = [0];
  const maxValueLength = [0];
  const info =
    (fns.RegQueryInfoKeyW(
      hKey,
      null,
      null,
      null,
      subKeyCount,
      maxSubKeyLength,
      null,
      valueCount,
      maxValueNameLength,
      maxValueLength,
      null,
      null,
    ) as number) >>> 0;
  if (info !== 0) throw failure('RegQueryInfoKeyW', info, key);

  const values: RegistryValue[] = [];
  // Sizes from the query (names in characters without the NUL); grown when the key changes meanwhile.
  let nameChars = Math.min((maxValueNameLength[0] ?? 0) + 1, MAX_VALUE_NAME + 1);
  let dataBytes = Math.min(Math.max(maxValueLength[0] ?? 0, 16), MAX_VALUE_BYTES);
  for (let index = 0; ; index++) {
    if (index >= MAX_ITEMS) throw failure('RegEnumValueW', ERROR_MORE_DATA, key);
    let status = ERROR_MORE_DATA;
    let read: RegistryValue | undefined;
    for (let attempt = 0; attempt < 8 && status === ERROR_MORE_DATA; attempt++) {
      const name = Buffer.alloc(nameChars * 2);
      const data = Buffer.alloc(dataBytes);
      const nameLength = [nameChars];
      const type = [0];
      const dataLength = [data.length];
      status = (fns.RegEnumValueW(hKey, index, name, nameLength, null, type, data, dataLength) as number) >>> 0;
      if (status === 0) {
        const valueName = utf16(name.subarray(0, Math.min(nameLength[0] ?? 0, nameChars) * 2));
        const bytes = data.subarray(0, Math.min(dataLength[0] ?? 0, dataBytes));
        read = decodeRegistryValue(valueName, type[0] ?? 0, bytes);
      } else if (status === ERROR_MORE_DATA) {
        if (nameChars > MAX_VALUE_NAME && dataBytes >= MAX_VALUE_BYTES) break;
        nameChars = Math.min(nameChars * 2, MAX_VALUE_NAME + 1);
        dataBytes = Math.min(Math.max(dataBytes * 2, dataLength[0] ?? 0), MAX_VALUE_BYTES);
      }
    }
    if (status === ERROR_NO_MORE_ITEMS) break;
    if (status !== 0 || read === undefined) throw failure('RegEnumValueW', status, key);
    // The unnamed default value: reg.exe lists it as `(Default)`, which readRegistryKey leaves out.
    if (read.name !== '') values.push(read);
  }

  const subkeys: string[] = [];
  const subKeyChars = MAX_KEY_SEGMENT + 1;
  for (let index = 0; ; index++) {
    if (index >= MAX_ITEMS) throw failure('RegEnumKeyExW', ERROR_MORE_DATA, key);
    const name = Buffer.alloc(subKeyChars * 2);
    const nameLength = [subKeyChars];
    const status = (fns.RegEnumKeyExW(hKey, index, name, nameLength, null, null, null, null) as number) >>> 0;
    if (status === ERROR_NO_MORE_ITEMS) break;
    if (status !== 0) throw failure('RegEnumKeyExW', status, key);
    subkeys.push(utf16(name.subarray(0, Math.min(nameLength[0] ?? 0, subKeyChars) * 2)));
  }
  return { values, subkeys };
}

/**
 * A {@link RegistryReader} on the Windows registry API (`RegOpenKeyExW`, `RegEnumValueW`,
 * `RegEnumKeyExW` in advapi32.dll through koffi) instead of `reg.exe`: for machines where `reg.exe`
 * is blocked, and so that which program reports the machine policy never depends on the environment.
 * It reads keys under `HKLM` in the 64-bit view, and returns what `readRegistryKey` returns for the
 * same key: the values directly under it (the unnamed default value left out) with their data decoded
 * (strings, string lists, `REG_DWORD`/`REG_QWORD` numbers, other types as hex text), and the names of
 * its direct subkeys; a missing key gives `null`. advapi32 is loaded on first use; creating the reader
 * loads nothing and works everywhere, but reading rejects elsewhere than Windows.
 *
 * Rejects with `KeyStoreError`: `ERR_KEYSTORE_INVALID_ARGUMENT` (not `HKLM\…`, an empty or longer
 * than 255 characters key name, a NUL), `ERR_KEYSTORE_CANCELLED` (the signal was already aborted),
 * `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` (not Windows, or koffi missing), `ERR_KEYSTORE_ACCESS_DENIED`,
 * `ERR_KEYSTORE_NATIVE_FAILURE` (any other failure, with `nativeStatus`).
 *
 * @param _options - Reserved; none yet.
 * @example
 * ```ts
 * import { loadRegistryPolicy } from '@keystore/core';
 * import { nativeRegistryReader } from '@keystore/provider-cng/native';
 *
 * const { policy } = await loadRegistryPolicy({ reader: nativeRegistryReader() });
 * console.log(policy ?? 'no registry policy');
 * ```
 * @since 0.2.0
 */
export function nativeRegistryReader(_options: NativeRegistryReaderOptions = {}): RegistryReader {
  return async (key, options = {}) => {
    const subKey = registrySubKeyOf(key);
    const { signal } = options;
    if (signal?.aborted) {
      throw new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'reading the registry was cancelled', {
        cause: signal.reason,
      });
    }
    const fns = loadRegistryFunctions();
    const handle = [0n];
    const opened =
      (fns.RegOpenKeyExW(HKEY_LOCAL_MACHINE, subKey, 0, KEY_READ | KEY_WOW64_64KEY, handle) as number) >>> 0;
    if (opened === ERROR_FILE_NOT_FOUND) return null;
    if (opened !== 0) throw failure('RegOpenKeyExW', opened, key);
    try {
      return readOpenKey(fns, handle[0], key);
    } finally {
      fns.RegCloseKey(handle[0]);
    }
  };
}
