/**
 * A small pool of FAPI contexts. A FAPI context is not thread-safe and breaks after an error
 * (tpm2-tss 3.2.1 segfaults on the next sign after "key not found"), so each context serves one
 * call at a time, and after ANY failure it is finalized and replaced. A call that does not return
 * in time rejects with `ERR_KEYSTORE_TIMEOUT`; its context is never used again (it is finalized if
 * the call ever returns). Every native call, `Fapi_Initialize` included, runs inside the
 * process-wide {@link NativeCallBudget} (see `budget.ts`).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { KeyStoreError } from '@keystore/core';
import { guardNativeCall, type NativeCallBudget, processBudget } from './budget.js';
import { parseLenientJson } from './config.js';
import { sameFapiObject } from './names.js';
import type { FapiBindings, FapiContextHandle } from './native/fapi.js';
import { tss2Error, UNREACHABLE_HINT } from './rc.js';
import { Secret } from './secret.js';
import { parseTcti } from './tcti.js';

/** A live FAPI context with its auth callback. */
export interface PoolContext {
  readonly handle: FapiContextHandle;
  /**
   * The password the auth callback hands to FAPI during the current call, in a {@link Secret} so that
   * dumping the pool (or a store holding it) never shows it.
   */
  password: Secret | undefined;
  /** The FAPI path of the only object the password is handed out for during the current call. */
  authPath: string | undefined;
  /**
   * Work to finish before the context is finalized (the loaded-key path flushes its objects and
   * session from the TPM here); `release()` finalizes once it settles. When that work gave up on a
   * native call still running, it resolves with `{ after }`, a promise that settles once the call
   * has returned: the context is finalized only then (finalizing under a running call frees what it uses).
   */
  beforeRelease?: (() => Promise<{ after: Promise<void> } | undefined>) | undefined;
  /** State other modules keep with the context (the loaded-key path's ESYS context and objects). */
  loaded?: unknown;
  /**
   * Settles once a released context is finalized (after its `beforeRelease` work), or once that work
   * gave up on a call that has not returned (the context is finalized when it does).
   */
  finalized?: Promise<void> | undefined;
  readonly release: () => void;
}

/** Options of {@link ContextPool}. */
interface ContextPoolOptions {
  /** Number of contexts (default 2). */
  size: number;
  /** The FAPI config file every context is initialized from. */
  configFile: string;
  /** Time allowed for `Fapi_Initialize` (ms). */
  connectTimeoutMs: number;
  /** The config's TCTI: for a simulator on TCP, its port is checked before each `Fapi_Initialize`. */
  tcti?: string | undefined;
  /** The config's default profile, to match FAPI paths with and without the profile prefix. */
  defaultProfile?: string | undefined;
  /** The native call budget (default: the one of the process). */
  budget?: NativeCallBudget | undefined;
  /** The TCTI receipts were judged by (see {@link OpenContextOptions.expectTcti}). */
  expectTcti?: string | undefined;
}

/** Options of one {@link ContextPool.run}. */
export interface RunOptions {
  /** Time allowed for the native call once it has started (ms). */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Once the native call has started, let it run to its end even if `signal` fires. */
  letFinish?: boolean | undefined;
  password?: string | undefined;
  /** The FAPI path of the key `password` belongs to; the auth callback answers for it alone. */
  keyPath?: string | undefined;
  /** What is being done, for error messages. */
  what: string;
}

interface Slot {
  context: PoolContext | undefined;
  busy: boolean;
}

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * Serializes `Fapi_Initialize` across the process. FAPI reads its config file's name from env
 * `TSS2_FAPICONF` (the `uri` argument must be NULL). The variable is changed only when the config
 * needed differs from its value, under this lock, and is left as it is afterwards: changing the
 * environment while another thread reads it (other contexts run FAPI calls on worker threads) is a
 * crash race in glibc, so a process using one config file sets it at most once.
 */
let initChain: Promise<unknown> = Promise.resolve();
/** The last value this module wrote to `TSS2_FAPICONF`, and the value the app had set before. */
let written: { value: string; before: string | undefined } | undefined;

/** `TSS2_FAPICONF` as the app set it, even when a provider has since set it to its own config file. */
export function ambientFapiConf(): string | undefined {
  const current = process.env.TSS2_FAPICONF;
  return written && current === written.value ? written.before : current;
}

/** Points `TSS2_FAPICONF` at `configFile` unless it already names it. Call under the initialize lock. */
function pointFapiConfAt(configFile: string): void {
  const current = process.env.TSS2_FAPICONF;
  if (current === configFile) return;
  const before = written && current === written.value ? written.before : current;
  process.env.TSS2_FAPICONF = configFile;
  written = { value: configFile, before };
}

function withInitLock<T>(fn: () => Promise<T>): Promise<T> {
  const run = initChain.then(fn);
  initChain = run.catch(() => undefined);
  return run;
}

/**
 * Points `TSS2_FAPICONF` at `configFile` (under the initialize lock) unless it already names it.
 * Used after provisioning through a temporary config, so that the variable names the provider's own.
 */
export function restoreFapiConf(configFile: string): Promise<void> {
  return withInitLock(async () => pointFapiConfAt(configFile));
}

function cancelled(signal: AbortSignal | undefined): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', {
    providerId: 'tpm',
    cause: signal?.reason,
  });
}

/** Marks an error as coming from a native call that failed, so that the context gets replaced. */
export class NativeCallFailure extends Error {
  constructor(readonly error: KeyStoreError) {
    super(error.message);
  }
}

/**
 * The TCP endpoint of a simulator TCTI (`swtpm:host=H,port=P`, `mssim:…`, in any spelling of the
 * module's name; defaults `localhost` and 2321, as in tpm2-tss), or `undefined` for any other TCTI or a config string this does not parse.
 */
export function tcpEndpointOf(tcti: string): { host: string; port: number } | undefined {
  // Any spelling of the simulators' TCTIs (libtss2-tcti-swtpm.so.0:…, tcti-mssim…), as tctildr reads it.
  const parsed = parseTcti(tcti.trim());
  if (parsed.module !== 'swtpm' && parsed.module !== 'mssim') return undefined;
  let host = 'localhost';
  let port = 2321;
  for (const part of (parsed.config ?? '').split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 'host') host = value;
    else if (key === 'port') {
      port = Number(value);
      if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    }
  }
  return { host, port };
}

// node:net is loaded at the first reachability check, not when the package is imported.
let net: Promise<typeof import('node:net')> | undefined;
const loadNet = () => (net ??= import('node:net'));

async function tryConnect(host: string, port: number, timeoutMs: number): Promise<'open' | 'refused' | 'timeout'> {
  const { connect } = await loadNet();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let timer: NodeJS.Timeout | undefined;
    const done = (result: 'open' | 'refused' | 'timeout') => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(result);
    };
    timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('open'));
    socket.once('error', () => done('refused'));
  });
}

/**
 * For a simulator on TCP: checks in JavaScript (no threadpool, no name lookup) that its port accepts
 * connections, so that a dead simulator never puts a `Fapi_Initialize` on the threadpool. Hosts
 * given as an IP address or `localhost` are checked; other host names and other TCTIs are not.
 */
export async function checkSimulatorReachable(tcti: string | undefined, timeoutMs: number): Promise<void> {
  const endpoint = tcti === undefined ? undefined : tcpEndpointOf(tcti);
  if (!endpoint) return;
  const { isIP } = await loadNet();
  const hosts = endpoint.host === 'localhost' ? ['127.0.0.1', '::1'] : isIP(endpoint.host) !== 0 ? [endpoint.host] : [];
  if (hosts.length === 0) return;
  let timedOut = false;
  for (const host of hosts) {
    const result = await tryConnect(host, endpoint.port, timeoutMs);
    if (result === 'open') return;
    if (result === 'timeout') timedOut = true;
  }
  if (timedOut) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_TIMEOUT',
      `TPM: no answer within ${timeoutMs} ms while connecting to ${endpoint.host}:${endpoint.port} (tcti "${tcti}")`,
      { providerId: 'tpm', hint: UNREACHABLE_HINT },
    );
  }
  throw new KeyStoreError(
    'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    `TPM: nothing accepts connections at ${endpoint.host}:${endpoint.port} (tcti "${tcti}")`,
    { providerId: 'tpm', hint: UNREACHABLE_HINT },
  );
}

/** Options of {@link openContext}. */
interface OpenContextOptions {
  /** The config's TCTI, for the check of a simulator's port. */
  tcti?: string | undefined;
  /** The config's default profile (see {@link ContextPoolOptions.defaultProfile}). */
  defaultProfile?: string | undefined;
  /** The native call budget (default: the one of the process). */
  budget?: NativeCallBudget | undefined;
  /**
   * The TCTI the provider judged its receipts by. FAPI reads the config file again at every
   * `Fapi_Initialize`: when the file no longer names this TCTI once the context is open, the context
   * is finalized and the open fails, so that no context talks to another TPM than the receipts say.
   */
  expectTcti?: string | undefined;
}

/** The `tcti` a FAPI config file names now, or `undefined` when it cannot be read. */
function configTcti(configFile: string): string | undefined {
  try {
    const raw = parseLenientJson(readFileSync(configFile, 'utf8')) as { tcti?: unknown } | null;
    return typeof raw?.tcti === 'string' ? raw.tcti : '';
  } catch {
    return undefined;
  }
}

/**
 * Checks a simulator's port, then runs `Fapi_Initialize` from `configFile` under the initialize lock
 * and the call budget, and returns the new context's handle. On timeout the `Fapi_Initialize` counts
 * as a hung call; the context, if it ever arrives, is finalized.
 */
async function initializeFapi(
  native: FapiBindings,
  configFile: string,
  timeoutMs: number,
  budget: NativeCallBudget,
  tcti: string | undefined,
): Promise<FapiContextHandle> {
  budget.assertAvailable();
  try {
    await checkSimulatorReachable(tcti, timeoutMs);
  } catch (err) {
    // A stalled simulator's backlog can fill up: when hung calls took the budget meanwhile, say so.
    budget.assertAvailable();
    throw err;
  }
  const outcome = await withInitLock(() =>
    guardNativeCall(
      budget,
      () => {
        pointFapiConfAt(configFile);
        return native.initialize();
      },
      {
        timeoutMs,
        what: 'connecting (Fapi_Initialize)',
        afterAbandoned: (late) => {
          if (late?.value !== undefined) native.finalize(late.value);
        },
      },
    ),
  );
  if (outcome.kind === 'abandoned') {
    throw new KeyStoreError('ERR_KEYSTORE_TIMEOUT', `TPM: no answer within ${timeoutMs} ms while connecting`, {
      providerId: 'tpm',
      hint: UNREACHABLE_HINT,
    });
  }
  if (outcome.kind === 'failed') throw outcome.error;
  const result = outcome.value;
  if (result.rc !== 0 || result.value === undefined) {
    throw tss2Error(result.rc, 'connecting (Fapi_Initialize)', native.decode(result.rc));
  }
  return result.value;
}

/**
 * Finalizes `handle` and fails when the config file no longer names `expectTcti` (see
 * {@link OpenContextOptions.expectTcti}).
 */
function assertConfigTcti(
  native: FapiBindings,
  handle: FapiContextHandle,
  configFile: string,
  expectTcti: string,
): void {
  const now = configTcti(configFile);
  if (now === expectTcti) return;
  native.finalize(handle);
  throw new KeyStoreError(
    'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    `the FAPI config ${configFile} changed while the provider was using it: its tcti is now ${now === undefined ? 'unreadable' : JSON.stringify(now)}, not ${JSON.stringify(expectTcti)}`,
    {
      providerId: 'tpm',
      hint: 'the TPM a key lives in and the isolation its receipt states were judged by the old tcti; create a new provider (or store) to use the new config',
    },
  );
}

/**
 * Wraps an open `handle` in a {@link PoolContext}: installs the auth callback that hands the
 * context's password to FAPI for the context's `authPath` alone, and a `release` that finalizes the
 * context (after its `beforeRelease` work) once. A failed install finalizes the handle.
 */
function contextFor(native: FapiBindings, handle: FapiContextHandle, defaultProfile: string | undefined): PoolContext {
  const context: PoolContext = {
    handle,
    password: undefined,
    authPath: undefined,
    release: () => undefined,
  };
  const auth = native.setAuthCallback(handle, (objectPath) =>
    context.password !== undefined &&
    context.authPath !== undefined &&
    sameFapiObject(objectPath, context.authPath, defaultProfile)
      ? context.password.reveal()
      : undefined,
  );
  if (auth.rc !== 0) {
    auth.release();
    native.finalize(handle);
    throw tss2Error(auth.rc, 'installing the auth callback (Fapi_SetAuthCB)', native.decode(auth.rc));
  }
  let released = false;
  (context as { release: () => void }).release = () => {
    if (released) return;
    released = true;
    const finish = () => {
      try {
        native.finalize(handle);
      } finally {
        auth.release();
      }
    };
    const before = context.beforeRelease;
    context.beforeRelease = undefined;
    if (before === undefined) finish();
    else
      context.finalized = before()
        .then((later) => {
          if (later === undefined) finish();
          else void later.after.then(finish, finish).catch(() => undefined);
        }, finish)
        .catch(() => undefined);
  };
  return context;
}

/**
 * Opens a FAPI context from `configFile`, with an auth callback that hands the context's password
 * to FAPI for the context's `authPath` alone. On timeout the `Fapi_Initialize` counts as a hung
 * call; the context, if it ever arrives, is finalized.
 */
export async function openContext(
  native: FapiBindings,
  configFile: string,
  timeoutMs: number,
  options: OpenContextOptions = {},
): Promise<PoolContext> {
  const budget = options.budget ?? processBudget();
  const handle = await initializeFapi(native, configFile, timeoutMs, budget, options.tcti);
  if (options.expectTcti !== undefined) assertConfigTcti(native, handle, configFile, options.expectTcti);
  return contextFor(native, handle, options.defaultProfile);
}

/**
 * The pool: `run(fn)` waits for a free context (FIFO), opens it if needed, runs `fn` with a
 * timeout, and replaces the context when `fn` fails.
 */
export class ContextPool {
  private readonly slots: Slot[];
  private readonly waiters: Waiter[] = [];
  private closed = false;
  private readonly budget: NativeCallBudget;

  constructor(
    private readonly native: FapiBindings,
    private readonly options: ContextPoolOptions,
  ) {
    this.budget = options.budget ?? processBudget();
    this.slots = Array.from({ length: options.size }, () => ({ context: undefined, busy: false }));
  }

  /** Contexts currently open. */
  get openContexts(): number {
    return this.slots.filter((s) => s.context !== undefined).length;
  }

  /**
   * Native calls abandoned after a timeout or an abort that have not returned yet, counted across
   * the budget (by default the whole process: every pool, probe and provider).
   */
  get abandonedCalls(): number {
    return this.budget.stuck;
  }

  /**
   * Runs `fn` (one native call) on a context. When `fn` throws (a failed native call), the context
   * is finalized and the slot gets a fresh one next time. While hung native calls take the whole
   * budget, rejects at once with `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`.
   */
  async run<T>(fn: (context: PoolContext) => Promise<T>, options: RunOptions): Promise<T> {
    if (options.signal?.aborted) throw cancelled(options.signal);
    if (this.closed) {
      throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the TPM provider was closed', {
        providerId: 'tpm',
      });
    }
    this.budget.assertAvailable();
    const slot = await this.acquire(options.signal);
    let detached = false;
    try {
      if (slot.context === undefined) {
        slot.context = await openContext(this.native, this.options.configFile, this.options.connectTimeoutMs, {
          tcti: this.options.tcti,
          defaultProfile: this.options.defaultProfile,
          budget: this.budget,
          expectTcti: this.options.expectTcti,
        });
      }
      const context = slot.context;
      const outcome = await guardNativeCall(
        this.budget,
        () => {
          context.password = options.password === undefined ? undefined : new Secret(options.password);
          context.authPath = options.password === undefined ? undefined : options.keyPath;
          return fn(context);
        },
        {
          timeoutMs: options.timeoutMs,
          signal: options.signal,
          letFinish: options.letFinish,
          what: options.what,
          afterAbandoned: () => {
            context.password = undefined;
            context.authPath = undefined;
            context.release();
          },
        },
      );
      if (outcome.kind === 'done') {
        context.password = undefined;
        context.authPath = undefined;
        return outcome.value;
      }
      if (outcome.kind === 'failed') {
        context.password = undefined;
        context.authPath = undefined;
        slot.context = undefined;
        context.release();
        throw outcome.error instanceof NativeCallFailure ? outcome.error.error : outcome.error;
      }
      // Timed out or cancelled while the native call runs: the context cannot be reused until the
      // call returns, and may never be; it was detached, and is finalized if the call comes back.
      detached = true;
      slot.context = undefined;
      throw outcome.error;
    } catch (err) {
      if (!detached && slot.context !== undefined && !(err instanceof KeyStoreError)) {
        // An unexpected exception (not from the TPM): do not trust the context either.
        const context = slot.context;
        slot.context = undefined;
        context.release();
      }
      throw err;
    } finally {
      this.releaseSlot(slot);
    }
  }

  private acquire(signal: AbortSignal | undefined): Promise<Slot> {
    const free = this.slots.find((s) => !s.busy && s.context !== undefined) ?? this.slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(cancelled(signal));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaseSlot(slot: Slot): void {
    const next = this.waiters.shift();
    if (next) {
      next.signal?.removeEventListener('abort', next.onAbort);
      if (this.closed) {
        slot.busy = false;
        next.reject(
          new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the TPM provider was closed', { providerId: 'tpm' }),
        );
        this.releaseSlot(slot);
        return;
      }
      next.resolve(slot);
      return;
    }
    slot.busy = false;
    if (this.closed && slot.context) {
      const context = slot.context;
      slot.context = undefined;
      context.release();
    }
  }

  /**
   * Releases the idle contexts that keep keys loaded (their objects and session flushed from the
   * TPM); resolves once they are finalized. Used when the TPM runs out of object or session slots.
   */
  releaseLoaded(): Promise<void> {
    const finalized: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (!slot.busy && slot.context?.loaded !== undefined) {
        const context = slot.context;
        slot.context = undefined;
        context.release();
        if (context.finalized) finalized.push(context.finalized);
      }
    }
    return Promise.all(finalized).then(() => undefined);
  }

  /**
   * Finalizes idle contexts now and busy ones when their call returns; later calls reject. Idempotent.
   * Returns once the idle contexts are finalized (their loaded keys flushed first).
   */
  close(): Promise<void> {
    this.closed = true;
    const finalized: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (!slot.busy && slot.context) {
        const context = slot.context;
        slot.context = undefined;
        context.release();
        if (context.finalized) finalized.push(context.finalized);
      }
    }
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.reject(
        new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the TPM provider was closed', { providerId: 'tpm' }),
      );
    }
    return Promise.all(finalized).then(() => undefined);
  }
}
