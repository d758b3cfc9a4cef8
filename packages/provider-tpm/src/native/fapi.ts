/**
 * The only module that imports koffi: typed bindings to tpm2-tss FAPI (`libtss2-fapi.so.1`) and
 * `Tss2_RC_Decode` (`libtss2-rc.so.0`). Nothing untyped leaves this file; pointers are `bigint`.
 *
 * @module
 */

import { KeyStoreError } from '@keystore/core';
import { cngNative } from '../cng.js';

/**
 * An opaque `FAPI_CONTEXT *`, as a branded `bigint`.
 *
 * @since 0.1.0
 */
export type FapiContextHandle = bigint & {
  /** Type brand only; no such property exists. */
  readonly __brand: 'FAPI_CONTEXT';
};

/**
 * The result of a call that allocates output: the return code, and the output when it is 0.
 *
 * @since 0.1.0
 */
export interface FapiResult<T> {
  /** The TSS2 return code (0 on success). */
  readonly rc: number;
  /** The output, copied out of FAPI's memory (which is then freed). */
  readonly value?: T;
}

/**
 * A signature as `Fapi_Sign` returns it.
 *
 * @since 0.1.0
 */
export interface FapiSignature {
  /** DER for ECDSA; big-endian for RSA. */
  readonly signature: Buffer;
  /** The key's public key as SPKI PEM. */
  readonly publicKeyPem: string;
}

/**
 * Supplies the password of the object being authorized, or `undefined` when none is known (FAPI then
 * gets `TSS2_FAPI_RC_AUTHORIZATION_UNKNOWN`). It is called by FAPI, on the main thread, while one of
 * this context's calls is running; `objectPath` names the object FAPI asks about, with the profile
 * prefix and without a leading `/` (`P_ECCP256SHA256/HS/SRK/N`).
 *
 * @since 0.1.0
 */
export type FapiAuthSource = (objectPath: string, description: string) => string | undefined;

/**
 * An installed auth callback.
 *
 * @since 0.1.0
 */
export interface FapiAuthRegistration {
  /** The return code of `Fapi_SetAuthCB`. */
  readonly rc: number;
  /** Unregisters the callback and wipes the last password handed to FAPI. Idempotent. */
  readonly release: () => void;
}

/**
 * The typed FAPI function table (the `native` option of {@link TpmProvider} takes a double of it in
 * tests). Every method that talks to the TPM returns a promise (koffi's async mode runs it on a
 * worker thread); callers must run one call at a time per context.
 *
 * @since 0.1.0
 */
export interface FapiBindings {
  /** Where the library came from. */
  readonly libraryPath: string;
  /** `Fapi_Initialize(&context, NULL)`: the config comes from `TSS2_FAPICONF`. */
  initialize(): Promise<FapiResult<FapiContextHandle>>;
  /** Synchronous and quick: frees the context and closes its TCTI. Never call it while a call is in flight. */
  finalize(context: FapiContextHandle): void;
  /** `Fapi_Provision(context, NULL, NULL, NULL)`. */
  provision(context: FapiContextHandle): Promise<number>;
  /** `Fapi_CreateKey`. */
  createKey(
    context: FapiContextHandle,
    path: string,
    type: string,
    policyPath: string | null,
    authValue: string | null,
  ): Promise<number>;
  /** `Fapi_Sign`; `padding` is `RSA_SSA`, `RSA_PSS`, or `null` for ECDSA keys. */
  sign(
    context: FapiContextHandle,
    keyPath: string,
    padding: string | null,
    digest: Buffer,
  ): Promise<FapiResult<FapiSignature>>;
  /** `Fapi_Decrypt` (RSA-OAEP with the profile's hash). */
  decrypt(context: FapiContextHandle, keyPath: string, cipherText: Buffer): Promise<FapiResult<Buffer>>;
  /** `Fapi_ExportKey(context, path, NULL)`: JSON with `pem_ext_public` and the public area. */
  exportKey(context: FapiContextHandle, path: string): Promise<FapiResult<string>>;
  /** `Fapi_Delete`. */
  delete(context: FapiContextHandle, path: string): Promise<number>;
  /** `Fapi_List`: paths separated by `:`. */
  list(context: FapiContextHandle, searchPath: string): Promise<FapiResult<string>>;
  /** `Fapi_GetInfo`: JSON. */
  getInfo(context: FapiContextHandle): Promise<FapiResult<string>>;
  /** `Fapi_SetAuthCB` with a registered callback: the return code, and `release` to unregister it. */
  setAuthCallback(context: FapiContextHandle, source: FapiAuthSource): FapiAuthRegistration;
  /** `Tss2_RC_Decode`, or `undefined` when libtss2-rc is missing. */
  decode(rc: number): string | undefined;
}

/** `TSS2_FAPI_RC_AUTHORIZATION_UNKNOWN`: the auth callback's answer for an object it has no password for. */
const FAPI_RC_AUTHORIZATION_UNKNOWN = 0x0006002a;

/** The FAPI shared library names tried, in order. */
export const FAPI_LIBRARY = 'libtss2-fapi.so.1';
const RC_LIBRARY = 'libtss2-rc.so.0';

type KoffiModule = typeof import('koffi');
// biome-ignore lint/suspicious/noExplicitAny: koffi functions are untyped; they stay in this file.
type NativeFn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

let cached: FapiBindings | undefined;

function unavailable(message: string, hint: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', message, { providerId: 'tpm', hint, cause });
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
 * Loads the FAPI bindings once (lazily). Throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` on a platform
 * other than Linux, or when `libtss2-fapi.so.1` is missing.
 *
 * @param libraryPath Overrides the FAPI library (a path or a soname).
 */
export function loadFapi(libraryPath: string = FAPI_LIBRARY): FapiBindings {
  if (cached && cached.libraryPath === libraryPath) return cached;
  if (process.platform !== 'linux') {
    throw unavailable(
      `the TPM provider's FAPI backend runs on Linux only (this is ${process.platform})`,
      process.platform === 'win32'
        ? 'the Windows backend (Platform Crypto Provider) is not built yet; it comes with a later release'
        : 'use Linux with tpm2-tss installed',
    );
  }
  // FAPI logs every failure (expected ones included) to stderr unless told otherwise.
  if (process.env.TSS2_LOG === undefined) process.env.TSS2_LOG = 'all+none';
  // FAPI (json-c, OpenSSL, ESYS) runs on koffi's async worker stacks: the SDK's one koffi loader
  // gives them 1 MiB before the process's first koffi.load, and warns when it cannot.
  const koffi = cngNative().loadKoffi('tpm', import.meta.url);
  let lib: ReturnType<KoffiModule['load']>;
  try {
    lib = koffi.load(libraryPath);
  } catch (cause) {
    throw unavailable(
      `the tpm2-tss FAPI library ${libraryPath} could not be loaded`,
      'install it (Debian/Ubuntu: apt-get install libtss2-fapi1 libtss2-tcti-device0 libtss2-tcti-swtpm0)',
      cause,
    );
  }
  let decodeFn: NativeFn | undefined;
  try {
    decodeFn = koffi.load(RC_LIBRARY).func('const char *Tss2_RC_Decode(uint32_t rc)') as NativeFn;
  } catch {
    decodeFn = undefined;
  }

  const AuthCb = koffi.proto(
    'uint32_t Fapi_CB_Auth(const char *objectPath, const char *description, void *auth, void *userData)',
  );
  const fn = (sig: string) => lib.func(sig) as NativeFn;
  const Fapi_Initialize = fn('uint32_t Fapi_Initialize(_Out_ void **context, const char *uri)');
  const Fapi_Finalize = fn('void Fapi_Finalize(_Inout_ void **context)');
  const Fapi_Provision = fn(
    'uint32_t Fapi_Provision(void *context, const char *authValueEh, const char *authValueSh, const char *authValueLockout)',
  );
  const Fapi_CreateKey = fn(
    'uint32_t Fapi_CreateKey(void *context, const char *path, const char *type, const char *policyPath, const char *authValue)',
  );
  const Fapi_Sign = fn(
    'uint32_t Fapi_Sign(void *context, const char *keyPath, const char *padding, const uint8_t *digest, size_t digestSize, _Out_ void **signature, _Out_ size_t *signatureSize, _Out_ void **publicKey, _Out_ void **certificate)',
  );
  const Fapi_Decrypt = fn(
    'uint32_t Fapi_Decrypt(void *context, const char *keyPath, const uint8_t *cipherText, size_t cipherTextSize, _Out_ void **plainText, _Out_ size_t *plainTextSize)',
  );
  const Fapi_ExportKey = fn(
    'uint32_t Fapi_ExportKey(void *context, const char *pathOfKeyToDuplicate, const char *pathToPublicKeyOfNewParent, _Out_ void **exportedData)',
  );
  const Fapi_Delete = fn('uint32_t Fapi_Delete(void *context, const char *path)');
  const Fapi_List = fn('uint32_t Fapi_List(void *context, const char *searchPath, _Out_ void **pathList)');
  const Fapi_GetInfo = fn('uint32_t Fapi_GetInfo(void *context, _Out_ void **info)');
  const Fapi_SetAuthCB = fn('uint32_t Fapi_SetAuthCB(void *context, Fapi_CB_Auth *callback, void *userData)');
  const Fapi_Free = fn('void Fapi_Free(void *ptr)');

  /** Copies `n` bytes out of C memory (a plain view would alias memory that Fapi_Free releases). */
  const copyBytes = (ptr: unknown, n: number): Buffer => {
    if (ptr === null || ptr === undefined || n === 0) return Buffer.alloc(0);
    return Buffer.from(new Uint8Array(koffi.view(ptr, n)));
  };
  const takeString = (ptr: unknown): string => {
    if (ptr === null || ptr === undefined) return '';
    try {
      return koffi.decode(ptr, 'char', -1) as string;
    } finally {
      Fapi_Free(ptr);
    }
  };
  const free = (ptr: unknown) => {
    if (ptr !== null && ptr !== undefined) Fapi_Free(ptr);
  };
  const stringCall = async (f: NativeFn, args: unknown[]): Promise<FapiResult<string>> => {
    const out: unknown[] = [null];
    const rc = (await callAsync<number>(f, [...args, out])) >>> 0;
    if (rc !== 0) {
      free(out[0]);
      return { rc };
    }
    return { rc, value: takeString(out[0]) };
  };

  const bindings: FapiBindings = {
    libraryPath,
    async initialize() {
      const out: unknown[] = [null];
      const rc = (await callAsync<number>(Fapi_Initialize, [out, null])) >>> 0;
      if (rc !== 0 || out[0] === null || out[0] === undefined) return { rc: rc === 0 ? 0xffffffff : rc };
      return { rc, value: koffi.address(out[0]) as FapiContextHandle };
    },
    finalize(context) {
      Fapi_Finalize([context]);
    },
    async provision(context) {
      return (await callAsync<number>(Fapi_Provision, [context, null, null, null])) >>> 0;
    },
    async createKey(context, path, type, policyPath, authValue) {
      return (await callAsync<number>(Fapi_CreateKey, [context, path, type, policyPath, authValue])) >>> 0;
    },
    async sign(context, keyPath, padding, digest) {
      const sig: unknown[] = [null];
      const sigSize: unknown[] = [0];
      const pub: unknown[] = [null];
      const cert: unknown[] = [null];
      const rc =
        (await callAsync<number>(Fapi_Sign, [
          context,
          keyPath,
          padding,
          digest,
          digest.length,
          sig,
          sigSize,
          pub,
          cert,
        ])) >>> 0;
      try {
        if (rc !== 0) return { rc };
        const signature = copyBytes(sig[0], Number(sigSize[0]));
        const publicKeyPem =
          pub[0] === null || pub[0] === undefined ? '' : (koffi.decode(pub[0], 'char', -1) as string);
        return { rc, value: { signature, publicKeyPem } };
      } finally {
        free(sig[0]);
        free(pub[0]);
        free(cert[0]);
      }
    },
    async decrypt(context, keyPath, cipherText) {
      const plain: unknown[] = [null];
      const plainSize: unknown[] = [0];
      const rc =
        (await callAsync<number>(Fapi_Decrypt, [context, keyPath, cipherText, cipherText.length, plain, plainSize])) >>>
        0;
      try {
        if (rc !== 0) return { rc };
        return { rc, value: copyBytes(plain[0], Number(plainSize[0])) };
      } finally {
        if (plain[0] !== null && plain[0] !== undefined) {
          // Wipe the plaintext FAPI allocated before giving the memory back.
          const n = Number(plainSize[0]);
          if (n > 0) new Uint8Array(koffi.view(plain[0], n)).fill(0);
          Fapi_Free(plain[0]);
        }
      }
    },
    exportKey(context, path) {
      return stringCall(Fapi_ExportKey, [context, path, null]);
    },
    async delete(context, path) {
      return (await callAsync<number>(Fapi_Delete, [context, path])) >>> 0;
    },
    list(context, searchPath) {
      return stringCall(Fapi_List, [context, searchPath]);
    },
    getInfo(context) {
      return stringCall(Fapi_GetInfo, [context]);
    },
    setAuthCallback(context, source) {
      // One C string per authorization, kept alive until the context is released (FAPI copies it
      // right after the callback returns; the next authorization replaces it).
      let held: { mem: unknown; length: number } | null = null;
      const drop = (entry: { mem: unknown; length: number } | null) => {
        if (entry === null) return;
        new Uint8Array(koffi.view(entry.mem, entry.length)).fill(0);
        koffi.free(entry.mem);
      };
      const callback = (objectPath: string | null, description: string | null, auth: unknown) => {
        try {
          const password = source(objectPath ?? '', description ?? '');
          if (password === undefined) return FAPI_RC_AUTHORIZATION_UNKNOWN;
          const bytes = Buffer.from(`${password}\0`, 'utf8');
          const mem = koffi.alloc('uint8_t', bytes.length);
          koffi.encode(mem, koffi.array('uint8_t', bytes.length), bytes);
          bytes.fill(0);
          const previous = held;
          held = { mem, length: bytes.length };
          koffi.encode(auth, 'void *', mem);
          drop(previous);
          return 0;
        } catch {
          return FAPI_RC_AUTHORIZATION_UNKNOWN;
        }
      };
      const registered = koffi.register(callback, koffi.pointer(AuthCb));
      const rc = (Fapi_SetAuthCB(context, registered, null) as number) >>> 0;
      let released = false;
      return {
        rc,
        release: () => {
          if (released) return;
          released = true;
          koffi.unregister(registered);
          drop(held);
          held = null;
        },
      };
    },
    decode(rc) {
      if (!decodeFn) return undefined;
      try {
        return decodeFn(rc >>> 0) as string;
      } catch {
        return undefined;
      }
    },
  };
  cached = bindings;
  return bindings;
}
