/**
 * Loading koffi and defining C structs with it, shared by the NCrypt and system bindings. koffi's
 * untyped values stay inside `src/native/`.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { KeyStoreError } from '@keystore/core';

/** The koffi module. */
export type KoffiModule = typeof import('koffi');
/** A koffi type object. */
export type KoffiType = ReturnType<KoffiModule['struct']>;
// biome-ignore lint/suspicious/noExplicitAny: koffi functions are untyped; they stay in src/native/.
export type NativeFn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

/**
 * The size, alignment and member offsets of a struct as a binding defines it (`koffi.sizeof`,
 * `koffi.alignof`, `koffi.offsetof`), for comparison with the Windows SDK headers.
 *
 * @since 0.2.0
 */
export interface StructLayout {
  /** `sizeof`. */
  readonly size: number;
  /** `alignof`. */
  readonly alignment: number;
  /** `offsetof` of every member, by its SDK name. */
  readonly offsets: Readonly<Record<string, number>>;
}

let koffiModule: KoffiModule | undefined;

/**
 * Loads koffi once. Throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` when its native module is missing.
 */
export function loadKoffi(providerId = 'cng'): KoffiModule {
  if (koffiModule) return koffiModule;
  let koffi: KoffiModule;
  try {
    koffi = createRequire(import.meta.url)('koffi') as KoffiModule;
  } catch (cause) {
    throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the koffi native module could not be loaded', {
      providerId,
      hint: 'reinstall @keystore/provider-cng with its koffi dependency (its prebuilt win32 package must be present)',
      cause,
    });
  }
  // koffi runs the native function itself on a stack block it allocates (it switches RSP to it and
  // sets the thread's TEB stack bounds to it): for `.async` calls that block is `async_stack_size`,
  // 128 KiB by default. So that size is the whole stack ncrypt.dll and everything under it gets:
  // the LRPC client to LSASS, the Platform Crypto Provider's TPM stack, smart-card minidrivers.
  // Windows code expects a thread's usual 1 MiB; running out of stack there is an access violation
  // that ends the process, not an error. So it is raised to 1 MiB (the size of a Windows thread's
  // default stack reservation), when koffi still allows it. Cost: 1 MiB committed per async call
  // in flight (koffi keeps `resident_async_pools`, 8, of them; others are freed after their call).
  try {
    const config = koffi.config();
    if ((config.async_stack_size ?? 0) < 1 << 20) koffi.config({ ...config, async_stack_size: 1 << 20 });
  } catch {
    // Another library already loaded one: koffi keeps its settings.
  }
  koffiModule = koffi;
  return koffi;
}

/** The layout of a koffi struct type. */
export function layoutOf(koffi: KoffiModule, type: KoffiType): StructLayout {
  const members = koffi.type(type).members ?? {};
  const offsets: Record<string, number> = {};
  for (const name of Object.keys(members)) offsets[name] = koffi.offsetof(type, name);
  return { size: koffi.sizeof(type), alignment: koffi.alignof(type), offsets };
}

/**
 * Defines a named struct, or reuses the type of that name when another module of the process defined
 * it already (koffi's type names are global): the existing type is reused only when its layout is the
 * same, member for member; otherwise this fails loudly rather than marshal with a wrong layout.
 */
export function defineStruct(koffi: KoffiModule, name: string, members: Record<string, string | KoffiType>): KoffiType {
  let existing: KoffiType | undefined;
  try {
    existing = koffi.type(name);
  } catch {
    existing = undefined;
  }
  if (existing === undefined) return koffi.struct(name, members);
  const wanted = layoutOf(koffi, koffi.struct(members));
  const have = layoutOf(koffi, existing);
  const same =
    wanted.size === have.size &&
    Object.keys(wanted.offsets).length === Object.keys(have.offsets).length &&
    Object.entries(wanted.offsets).every(([member, offset]) => have.offsets[member] === offset);
  if (!same) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      `another module defined the koffi type ${name} with a different layout`,
      { providerId: 'cng', hint: 'two native bindings in this process disagree on a Windows struct; report it' },
    );
  }
  return existing;
}

/** koffi's refusal of an async call when `max_async_calls` calls are running or queued. */
const QUEUE_FULL = /too many asynchronous calls/i;

/**
 * Calls a koffi function through its async mode (a worker thread) and resolves with its result.
 * koffi refuses a call synchronously, with a plain `Error`, when `max_async_calls` (256 by default)
 * calls are already running or queued: that becomes `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` with a hint;
 * any other synchronous refusal (a marshalling failure) becomes `ERR_KEYSTORE_NATIVE_FAILURE`.
 */
export function callAsync<T>(fn: NativeFn, args: readonly unknown[], providerId = 'cng'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      fn.async(...args, (err: unknown, result: T) => {
        if (err) reject(err);
        else resolve(result);
      });
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      reject(
        QUEUE_FULL.test(message)
          ? new KeyStoreError(
              'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
              `too many native calls are running or queued at once (${message})`,
              {
                providerId,
                hint: 'koffi runs or queues at most max_async_calls (256 by default) asynchronous calls per process: let some finish (run fewer operations in parallel) and try again',
                cause,
              },
            )
          : new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `koffi refused the native call: ${message}`, {
              providerId,
              hint: 'an argument could not be marshalled; report it',
              cause,
            }),
      );
    }
  });
}

/** A NUL-terminated UTF-16LE copy of `text`, in memory Node owns (keep a reference while C uses it). */
export function wideString(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf16le');
}
