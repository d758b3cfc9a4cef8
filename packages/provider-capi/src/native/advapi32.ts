/**
 * The only module that imports koffi: typed bindings to CryptoAPI in `advapi32.dll`, with
 * `GetLastError` from `kernel32.dll` read right after each failing call. Nothing untyped leaves
 * this file; handles are branded `bigint`s.
 *
 * @module
 */

import { KeyStoreError } from '@keystore/core';
import type { NativeFn } from '@keystore/core/provider';
import { loadKoffi } from '@keystore/provider-cng/native';

/**
 * An `HCRYPTPROV` (a key container context), as a branded `bigint`.
 *
 * @since 0.2.0
 */
export type CryptProvHandle = bigint & {
  /** Type brand only; no such property exists. */
  readonly __brand: 'HCRYPTPROV';
};

/**
 * An `HCRYPTKEY`, as a branded `bigint`.
 *
 * @since 0.2.0
 */
export type CryptKeyHandle = bigint & {
  /** Type brand only; no such property exists. */
  readonly __brand: 'HCRYPTKEY';
};

/**
 * An `HCRYPTHASH`, as a branded `bigint`.
 *
 * @since 0.2.0
 */
export type CryptHashHandle = bigint & {
  /** Type brand only; no such property exists. */
  readonly __brand: 'HCRYPTHASH';
};

/**
 * The outcome of one call: `status` 0 and a `value` on success; otherwise the `GetLastError` value
 * read right after the call (an unsigned number such as `0x80090016`).
 *
 * @since 0.2.0
 */
export interface NativeResult<T> {
  /** 0 on success, else the last-error value (unsigned). */
  readonly status: number;
  /** The output, on success. */
  readonly value?: T;
}

/**
 * The CryptoAPI function table the provider calls (the `native` option of the provider takes a
 * double of it in tests). Each method is one Win32 call, named after it, except
 * {@link AdvapiBindings.enumContainers} (the `CryptGetProvParam(PP_ENUMCONTAINERS)` loop). Methods
 * ending in `Async` run on a worker thread (koffi's async mode) and return a promise; because the
 * last-error value of a worker thread cannot be read afterwards, a failed async call is repeated once
 * on the calling thread to learn its status.
 *
 * @since 0.2.0
 */
export interface AdvapiBindings {
  /** Where the functions came from (`advapi32.dll`, or `double` in tests). */
  readonly library: string;
  /** Wine's version when running under Wine (`ntdll.dll` exports `wine_get_version`), else `undefined`. */
  readonly wineVersion: string | undefined;
  /** `CryptAcquireContextW(&prov, container, provider, provType, flags)`. */
  CryptAcquireContextW(
    container: string | null,
    provider: string,
    provType: number,
    flags: number,
  ): NativeResult<CryptProvHandle>;
  /** `CryptReleaseContext(prov, 0)`: the status. */
  CryptReleaseContext(prov: CryptProvHandle): number;
  /** `CryptGenKey(prov, algId, flags, &key)` on a worker thread. */
  CryptGenKeyAsync(prov: CryptProvHandle, algId: number, flags: number): Promise<NativeResult<CryptKeyHandle>>;
  /** `CryptGetUserKey(prov, keySpec, &key)`. */
  CryptGetUserKey(prov: CryptProvHandle, keySpec: number): NativeResult<CryptKeyHandle>;
  /** `CryptDestroyKey(key)`: the status. */
  CryptDestroyKey(key: CryptKeyHandle): number;
  /** `CryptExportKey(key, 0, blobType, 0, …)`: asks for the size, then exports into a buffer of that size. */
  CryptExportKey(key: CryptKeyHandle, blobType: number): NativeResult<Buffer>;
  /** `CryptImportKey(prov, blob, blob.length, 0, flags, &key)`. */
  CryptImportKey(prov: CryptProvHandle, blob: Buffer, flags: number): NativeResult<CryptKeyHandle>;
  /** `CryptGetKeyParam(key, param, buffer, &length, 0)` with a buffer of `size` bytes: the bytes written. */
  CryptGetKeyParam(key: CryptKeyHandle, param: number, size: number): NativeResult<Buffer>;
  /**
   * The container names of a context: `CryptGetProvParam(prov, PP_ENUMCONTAINERS, …, CRYPT_FIRST)`,
   * then `CRYPT_NEXT` until `ERROR_NO_MORE_ITEMS`. `extraFlags` is or-ed into every call's flags.
   */
  enumContainers(prov: CryptProvHandle, extraFlags: number): NativeResult<string[]>;
  /** `CryptCreateHash(prov, algId, 0, 0, &hash)`. */
  CryptCreateHash(prov: CryptProvHandle, algId: number): NativeResult<CryptHashHandle>;
  /** `CryptSetHashParam(hash, param, data, 0)`: the status. */
  CryptSetHashParam(hash: CryptHashHandle, param: number, data: Buffer): number;
  /** `CryptHashData(hash, data, data.length, 0)`: the status. */
  CryptHashData(hash: CryptHashHandle, data: Buffer): number;
  /** `CryptSignHashW(hash, keySpec, NULL, 0, signature, &length)` with a buffer of `size` bytes (little-endian out). */
  CryptSignHashW(hash: CryptHashHandle, keySpec: number, size: number): NativeResult<Buffer>;
  /** {@link AdvapiBindings.CryptSignHashW} on a worker thread. */
  CryptSignHashWAsync(hash: CryptHashHandle, keySpec: number, size: number): Promise<NativeResult<Buffer>>;
  /** `CryptDestroyHash(hash)`: the status. */
  CryptDestroyHash(hash: CryptHashHandle): number;
  /**
   * `CryptDecrypt(key, 0, TRUE, flags, buffer, &length)` over a copy of `data` (little-endian in);
   * the plaintext on success. The working copy is wiped before the call returns.
   */
  CryptDecrypt(key: CryptKeyHandle, data: Buffer, flags: number): NativeResult<Buffer>;
  /** {@link AdvapiBindings.CryptDecrypt} on a worker thread. */
  CryptDecryptAsync(key: CryptKeyHandle, data: Buffer, flags: number): Promise<NativeResult<Buffer>>;
}

type KoffiModule = typeof import('koffi');

/** `ERROR_MORE_DATA`. */
const ERROR_MORE_DATA = 234;
/** `ERROR_NO_MORE_ITEMS`. */
const ERROR_NO_MORE_ITEMS = 259;
/** `PP_ENUMCONTAINERS`, `CRYPT_FIRST`, `CRYPT_NEXT`. */
const PP_ENUMCONTAINERS = 2;
const CRYPT_FIRST = 1;
const CRYPT_NEXT = 2;
/** Enumeration stops after this many names, whatever the CSP says. */
const MAX_CONTAINERS = 100_000;

let cached: AdvapiBindings | undefined;

function unavailable(message: string, hint: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', message, { providerId: 'capi', hint, cause });
}

function callAsync<T>(fn: NativeFn, args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn.async(...args, (err: unknown, result: T) => {
      if (err) reject(err);
      else resolve(result);
    });
  });
}

/**
 * Loads the CryptoAPI bindings once (lazily). Throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` off Windows
 * or when `advapi32.dll` cannot be loaded.
 *
 * @since 0.2.0
 */
export function loadAdvapi32(): AdvapiBindings {
  if (cached) return cached;
  if (process.platform !== 'win32') {
    throw unavailable(
      `CryptoAPI (advapi32.dll) exists only on Windows; this is ${process.platform}`,
      'run on Windows (or Windows Node.js under Wine for tests)',
    );
  }
  // The SDK's one koffi loader: it configures koffi (a 1 MiB async stack) before the process's first
  // koffi.load, whichever provider loads first.
  const koffi = loadKoffi('capi', import.meta.url);
  let advapi: ReturnType<KoffiModule['load']>;
  let kernel: ReturnType<KoffiModule['load']>;
  try {
    advapi = koffi.load('advapi32.dll');
    kernel = koffi.load('kernel32.dll');
  } catch (cause) {
    throw unavailable('advapi32.dll or kernel32.dll could not be loaded', 'is this a Windows system?', cause);
  }
  let wineVersion: string | undefined;
  try {
    const getVersion = koffi.load('ntdll.dll').func('const char *wine_get_version()') as NativeFn;
    wineVersion = String(getVersion());
  } catch {
    wineVersion = undefined;
  }

  const fn = (sig: string) => advapi.func(sig) as NativeFn;
  const GetLastError = kernel.func('uint32_t __stdcall GetLastError()') as NativeFn;
  const CryptAcquireContextW = fn(
    'int __stdcall CryptAcquireContextW(_Out_ uintptr_t *phProv, const char16_t *szContainer, const char16_t *szProvider, uint32_t dwProvType, uint32_t dwFlags)',
  );
  const CryptReleaseContext = fn('int __stdcall CryptReleaseContext(uintptr_t hProv, uint32_t dwFlags)');
  const CryptGenKey = fn(
    'int __stdcall CryptGenKey(uintptr_t hProv, uint32_t Algid, uint32_t dwFlags, _Out_ uintptr_t *phKey)',
  );
  const CryptGetUserKey = fn(
    'int __stdcall CryptGetUserKey(uintptr_t hProv, uint32_t dwKeySpec, _Out_ uintptr_t *phUserKey)',
  );
  const CryptDestroyKey = fn('int __stdcall CryptDestroyKey(uintptr_t hKey)');
  const CryptExportKey = fn(
    'int __stdcall CryptExportKey(uintptr_t hKey, uintptr_t hExpKey, uint32_t dwBlobType, uint32_t dwFlags, _Out_ uint8_t *pbData, _Inout_ uint32_t *pdwDataLen)',
  );
  const CryptImportKey = fn(
    'int __stdcall CryptImportKey(uintptr_t hProv, const uint8_t *pbData, uint32_t dwDataLen, uintptr_t hPubKey, uint32_t dwFlags, _Out_ uintptr_t *phKey)',
  );
  const CryptGetKeyParam = fn(
    'int __stdcall CryptGetKeyParam(uintptr_t hKey, uint32_t dwParam, _Out_ uint8_t *pbData, _Inout_ uint32_t *pdwDataLen, uint32_t dwFlags)',
  );
  const CryptGetProvParam = fn(
    'int __stdcall CryptGetProvParam(uintptr_t hProv, uint32_t dwParam, _Out_ uint8_t *pbData, _Inout_ uint32_t *pdwDataLen, uint32_t dwFlags)',
  );
  const CryptCreateHash = fn(
    'int __stdcall CryptCreateHash(uintptr_t hProv, uint32_t Algid, uintptr_t hKey, uint32_t dwFlags, _Out_ uintptr_t *phHash)',
  );
  const CryptSetHashParam = fn(
    'int __stdcall CryptSetHashParam(uintptr_t hHash, uint32_t dwParam, const uint8_t *pbData, uint32_t dwFlags)',
  );
  const CryptHashData = fn(
    'int __stdcall CryptHashData(uintptr_t hHash, const uint8_t *pbData, uint32_t dwDataLen, uint32_t dwFlags)',
  );
  const CryptSignHashW = fn(
    'int __stdcall CryptSignHashW(uintptr_t hHash, uint32_t dwKeySpec, const char16_t *szDescription, uint32_t dwFlags, _Out_ uint8_t *pbSignature, _Inout_ uint32_t *pdwSigLen)',
  );
  const CryptDestroyHash = fn('int __stdcall CryptDestroyHash(uintptr_t hHash)');
  const CryptDecrypt = fn(
    'int __stdcall CryptDecrypt(uintptr_t hKey, uintptr_t hHash, int Final, uint32_t dwFlags, _Inout_ uint8_t *pbData, _Inout_ uint32_t *pdwDataLen)',
  );

  /** The last-error value of this thread, as koffi preserved it right after the previous call. */
  const lastError = (): number => {
    const status = (GetLastError() as number) >>> 0;
    // A failing call that left no error code still failed: report a status that says so.
    return status === 0 ? 0x80090020 /* NTE_FAIL */ : status;
  };
  const handle = <T extends bigint>(out: unknown[]): T => BigInt(out[0] as number | bigint) as T;
  const status = (ok: unknown): number => (ok ? 0 : lastError());

  const signInto = (hash: CryptHashHandle, keySpec: number, size: number): NativeResult<Buffer> => {
    let length = [size];
    let out = Buffer.alloc(size);
    let ok = CryptSignHashW(hash, keySpec, null, 0, out, length);
    if (!ok) {
      const failure = lastError();
      if (failure !== ERROR_MORE_DATA) return { status: failure };
      const needed = Number(length[0]);
      out = Buffer.alloc(needed);
      length = [needed];
      ok = CryptSignHashW(hash, keySpec, null, 0, out, length);
      if (!ok) return { status: lastError() };
    }
    return { status: 0, value: out.subarray(0, Number(length[0])) };
  };

  const decryptCopy = (key: CryptKeyHandle, data: Buffer, flags: number, run: NativeFn): NativeResult<Buffer> => {
    const work = Buffer.from(data);
    try {
      const length = [work.length];
      if (!run(key, 0n, 1, flags, work, length)) return { status: lastError() };
      return { status: 0, value: Buffer.from(work.subarray(0, Number(length[0]))) };
    } finally {
      work.fill(0);
    }
  };

  const bindings: AdvapiBindings = {
    library: 'advapi32.dll',
    wineVersion,
    CryptAcquireContextW(container, provider, provType, flags) {
      const out: unknown[] = [0];
      const ok = CryptAcquireContextW(out, container, provider, provType >>> 0, flags >>> 0);
      if (!ok) return { status: lastError() };
      return { status: 0, value: handle<CryptProvHandle>(out) };
    },
    CryptReleaseContext(prov) {
      return status(CryptReleaseContext(prov, 0));
    },
    async CryptGenKeyAsync(prov, algId, flags) {
      const out: unknown[] = [0];
      const ok = await callAsync<number>(CryptGenKey, [prov, algId >>> 0, flags >>> 0, out]);
      if (ok) return { status: 0, value: handle<CryptKeyHandle>(out) };
      // The worker thread's last error is gone: repeat the call here to learn why it failed.
      const again: unknown[] = [0];
      if (CryptGenKey(prov, algId >>> 0, flags >>> 0, again))
        return { status: 0, value: handle<CryptKeyHandle>(again) };
      return { status: lastError() };
    },
    CryptGetUserKey(prov, keySpec) {
      const out: unknown[] = [0];
      if (!CryptGetUserKey(prov, keySpec >>> 0, out)) return { status: lastError() };
      return { status: 0, value: handle<CryptKeyHandle>(out) };
    },
    CryptDestroyKey(key) {
      return status(CryptDestroyKey(key));
    },
    CryptExportKey(key, blobType) {
      const length = [0];
      if (!CryptExportKey(key, 0n, blobType >>> 0, 0, null, length)) return { status: lastError() };
      const size = Number(length[0]);
      if (!Number.isSafeInteger(size) || size <= 0 || size > 1 << 20) return { status: 0x80090004 /* NTE_BAD_LEN */ };
      const out = Buffer.alloc(size);
      const written = [size];
      if (!CryptExportKey(key, 0n, blobType >>> 0, 0, out, written)) {
        const failure = lastError();
        out.fill(0);
        return { status: failure };
      }
      return { status: 0, value: out.subarray(0, Number(written[0])) };
    },
    CryptImportKey(prov, blob, flags) {
      const out: unknown[] = [0];
      if (!CryptImportKey(prov, blob, blob.length, 0n, flags >>> 0, out)) return { status: lastError() };
      return { status: 0, value: handle<CryptKeyHandle>(out) };
    },
    CryptGetKeyParam(key, param, size) {
      const out = Buffer.alloc(size);
      const length = [size];
      if (!CryptGetKeyParam(key, param >>> 0, out, length, 0)) return { status: lastError() };
      return { status: 0, value: out.subarray(0, Math.min(size, Number(length[0]))) };
    },
    enumContainers(prov, extraFlags) {
      const sizeOut = [0];
      if (!CryptGetProvParam(prov, PP_ENUMCONTAINERS, null, sizeOut, (CRYPT_FIRST | extraFlags) >>> 0)) {
        const failure = lastError();
        return failure === ERROR_NO_MORE_ITEMS ? { status: 0, value: [] } : { status: failure };
      }
      // The first call answers the longest name the CSP allows (with its NUL).
      const size = Math.min(Math.max(Number(sizeOut[0]), 261), 4096);
      const buffer = Buffer.alloc(size);
      const names: string[] = [];
      let flags = CRYPT_FIRST;
      while (names.length < MAX_CONTAINERS) {
        const length = [size];
        buffer.fill(0);
        if (!CryptGetProvParam(prov, PP_ENUMCONTAINERS, buffer, length, (flags | extraFlags) >>> 0)) {
          const failure = lastError();
          if (failure === ERROR_NO_MORE_ITEMS) break;
          return { status: failure };
        }
        // ANSI, NUL-terminated; the length some CSPs report is the buffer's, not the name's.
        const end = buffer.indexOf(0);
        names.push(buffer.toString('latin1', 0, end < 0 ? Math.min(size, Number(length[0])) : end));
        flags = CRYPT_NEXT;
      }
      return { status: 0, value: names };
    },
    CryptCreateHash(prov, algId) {
      const out: unknown[] = [0];
      if (!CryptCreateHash(prov, algId >>> 0, 0n, 0, out)) return { status: lastError() };
      return { status: 0, value: handle<CryptHashHandle>(out) };
    },
    CryptSetHashParam(hash, param, data) {
      return status(CryptSetHashParam(hash, param >>> 0, data, 0));
    },
    CryptHashData(hash, data) {
      return status(CryptHashData(hash, data, data.length, 0));
    },
    CryptSignHashW(hash, keySpec, size) {
      return signInto(hash, keySpec, size);
    },
    async CryptSignHashWAsync(hash, keySpec, size) {
      const out = Buffer.alloc(size);
      const length = [size];
      const ok = await callAsync<number>(CryptSignHashW, [hash, keySpec >>> 0, null, 0, out, length]);
      if (ok) return { status: 0, value: out.subarray(0, Number(length[0])) };
      // The worker thread's last error is gone: sign again here to learn why it failed.
      return signInto(hash, keySpec, size);
    },
    CryptDestroyHash(hash) {
      return status(CryptDestroyHash(hash));
    },
    CryptDecrypt(key, data, flags) {
      return decryptCopy(key, data, flags, CryptDecrypt);
    },
    async CryptDecryptAsync(key, data, flags) {
      const work = Buffer.from(data);
      try {
        const length = [work.length];
        const ok = await callAsync<number>(CryptDecrypt, [key, 0n, 1, flags >>> 0, work, length]);
        if (ok) return { status: 0, value: Buffer.from(work.subarray(0, Number(length[0]))) };
      } finally {
        work.fill(0);
      }
      // The worker thread's last error is gone: decrypt again here to learn why it failed.
      return decryptCopy(key, data, flags, CryptDecrypt);
    },
  };
  cached = bindings;
  return bindings;
}
