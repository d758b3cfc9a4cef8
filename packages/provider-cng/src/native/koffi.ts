/**
 * Loading koffi and defining C structs with it, shared by the NCrypt and system bindings. koffi's
 * untyped values stay inside `src/native/`.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { KeyStoreError } from '@keystore/core';
import type { NativeFn } from '@keystore/core/provider';

/** The koffi module. */
export type KoffiModule = typeof import('koffi');
/** A koffi type object. */
export type KoffiType = ReturnType<KoffiModule['struct']>;
/** A koffi function (the core's one type of an FFI-loaded function). */
export type { NativeFn };

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

/** The async stack size the bindings need: a Windows thread's default stack reservation, 1 MiB. */
export const KOFFI_ASYNC_STACK_SIZE = 1 << 20;

/**
 * The `code` of the process warning emitted (once per process) when koffi's async stack could not be
 * raised, because koffi had loaded a library before these bindings could configure it.
 *
 * @since 0.3.0
 */
export const KOFFI_STACK_WARNING_CODE = 'KEYSTORE_KOFFI_STACK';

/**
 * How koffi was configured for this process: its async stack size, and whether the size the
 * bindings need could be applied (with the reason when it could not). `keystore doctor` shows it.
 *
 * @since 0.3.0
 */
export interface KoffiSetup {
  /** koffi's `async_stack_size` now, in bytes (`undefined` when koffi would not say). */
  readonly asyncStackSize: number | undefined;
  /** Whether it is at least {@link KOFFI_ASYNC_STACK_SIZE}. */
  readonly applied: boolean;
  /** Why it could not be applied. */
  readonly reason?: string;
}

/** The part of koffi the configuration uses. */
type KoffiConfigApi = Pick<KoffiModule, 'config'>;

/** Shared by every copy of the bindings in the process, so the warning comes once. */
const WARNED = Symbol.for('@keystore/provider-cng/koffi-stack-warned');

let koffiModule: KoffiModule | undefined;
let koffiSetupResult: KoffiSetup | undefined;

/**
 * Raises koffi's async stack to {@link KOFFI_ASYNC_STACK_SIZE} if it is smaller, and says whether
 * that held. koffi refuses any configuration change once a library has been loaded, so this must
 * run before the process's first `koffi.load`: {@link loadKoffi} runs it, and every binding of the
 * SDK (CNG, the Platform Crypto Provider, CryptoAPI, FAPI) loads koffi through {@link loadKoffi}.
 *
 * Why the size matters: koffi runs a native function on a stack block of its own; for `.async` calls
 * that block is `async_stack_size`, 128 KiB by default, and it is the whole stack ncrypt.dll and
 * everything under it gets (the LRPC client to LSASS, the Platform Crypto Provider's TPM stack,
 * smart-card minidrivers, FAPI's json-c and OpenSSL). Windows code expects a thread's usual 1 MiB;
 * running out of stack there is an access violation that ends the process, not an error. Cost:
 * 1 MiB committed per async call in flight (koffi keeps `resident_async_pools`, 8, of them).
 *
 * @since 0.3.0
 */
export function configureKoffi(koffi: KoffiConfigApi): KoffiSetup {
  let before: number | undefined;
  try {
    const config = koffi.config();
    before = config.async_stack_size;
    if ((before ?? 0) >= KOFFI_ASYNC_STACK_SIZE) return { asyncStackSize: before, applied: true };
    koffi.config({ ...config, async_stack_size: KOFFI_ASYNC_STACK_SIZE });
  } catch (cause) {
    const said = cause instanceof Error ? cause.message : String(cause);
    return {
      asyncStackSize: before,
      applied: false,
      reason: `koffi refused the configuration (${said}): another module of this process loaded a library through koffi first`,
    };
  }
  let after: number | undefined;
  try {
    after = koffi.config().async_stack_size;
  } catch {
    after = undefined;
  }
  return after !== undefined && after >= KOFFI_ASYNC_STACK_SIZE
    ? { asyncStackSize: after, applied: true }
    : { asyncStackSize: after, applied: false, reason: 'koffi accepted the configuration but did not apply it' };
}

/** The size in KiB or MiB, for messages. */
function sizeText(bytes: number | undefined): string {
  if (bytes === undefined) return 'an unknown size';
  return bytes >= 1 << 20 && bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

/**
 * Emits the process warning (once per process) for a configuration that could not be applied.
 * Exported for tests and for bindings that configure koffi themselves.
 *
 * @since 0.3.0
 */
export function warnKoffiSetup(setup: KoffiSetup): void {
  if (setup.applied) return;
  const state = globalThis as Record<symbol, unknown>;
  if (state[WARNED] === true) return;
  state[WARNED] = true;
  process.emitWarning(
    `koffi's async stack is ${sizeText(setup.asyncStackSize)}, not ${sizeText(KOFFI_ASYNC_STACK_SIZE)}: ${setup.reason ?? 'unknown reason'}. Native calls on Windows can then run out of stack, which ends the process.`,
    {
      code: KOFFI_STACK_WARNING_CODE,
      type: 'KeyStoreWarning',
      detail:
        'Import and use a @keystore provider before any other module loads a library with koffi, or configure koffi yourself first: koffi.config({ ...koffi.config(), async_stack_size: 1 << 20 }).',
    },
  );
}

/**
 * How koffi was configured by {@link loadKoffi}; `undefined` before koffi was loaded through it.
 * Providers report it in `probe().details` (`koffiAsyncStack`), which `keystore doctor` prints.
 *
 * @since 0.3.0
 */
export function koffiSetup(): KoffiSetup | undefined {
  return koffiSetupResult;
}

/** The line `keystore doctor` shows for {@link koffiSetup}: the size, and the reason when it is too small. */
export function koffiSetupDetail(): string | undefined {
  const setup = koffiSetupResult;
  if (setup === undefined) return undefined;
  return setup.applied
    ? sizeText(setup.asyncStackSize)
    : `${sizeText(setup.asyncStackSize)} (needs ${sizeText(KOFFI_ASYNC_STACK_SIZE)}: ${setup.reason ?? 'unknown reason'})`;
}

/**
 * Loads koffi once and configures it before anything is loaded with it ({@link configureKoffi});
 * when the configuration cannot be applied, emits a process warning (code
 * {@link KOFFI_STACK_WARNING_CODE}) once. The one loader of every native binding of the SDK.
 * Throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` when koffi's native module is missing.
 *
 * @param providerId The provider named in the error.
 * @param requireFrom The module whose dependencies resolve `koffi` (a package that depends on koffi
 *   passes its own `import.meta.url`); this package's by default.
 */
export function loadKoffi(providerId = 'cng', requireFrom: string = import.meta.url): KoffiModule {
  if (koffiModule) return koffiModule;
  let koffi: KoffiModule;
  try {
    koffi = createRequire(requireFrom)('koffi') as KoffiModule;
  } catch (cause) {
    throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the koffi native module could not be loaded', {
      providerId,
      hint: `reinstall @keystore/provider-${['tpm', 'capi', 'pkcs11'].includes(providerId) ? providerId : 'cng'} with its koffi dependency (on Windows its prebuilt win32 package must be present)`,
      cause,
    });
  }
  koffiSetupResult = configureKoffi(koffi);
  warnKoffiSetup(koffiSetupResult);
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
