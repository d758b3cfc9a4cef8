/**
 * A small pool of FAPI contexts. A FAPI context is not thread-safe and breaks after an error
 * (tpm2-tss 3.2.1 segfaults on the next sign after "key not found"), so each context serves one
 * call at a time, and after ANY failure it is finalized and replaced. A call that does not return
 * in time rejects with `ERR_KEYSTORE_TIMEOUT`; its context is never used again (it is finalized if
 * the call ever returns).
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import type { FapiBindings, FapiContextHandle } from './native/fapi.js';
import { tss2Error, UNREACHABLE_HINT } from './rc.js';

/** A live FAPI context with its auth callback. */
export interface PoolContext {
  readonly handle: FapiContextHandle;
  /** The password the auth callback hands to FAPI during the current call. */
  password: string | undefined;
  readonly release: () => void;
}

/** Options of {@link ContextPool}. */
export interface ContextPoolOptions {
  /** Number of contexts (default 2). */
  size: number;
  /** The FAPI config file every context is initialized from. */
  configFile: string;
  /** Time allowed for `Fapi_Initialize` (ms). */
  connectTimeoutMs: number;
  /** Calls that hang and are abandoned before the pool refuses work (each holds a libuv worker thread). */
  maxAbandoned?: number;
}

/** Options of one {@link ContextPool.run}. */
export interface RunOptions {
  /** Time allowed for the native call once it has started (ms). */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  password?: string | undefined;
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
 * Serializes `Fapi_Initialize` across the process: FAPI reads its config from `TSS2_FAPICONF` (the
 * `uri` argument must be NULL), so the variable is set for the duration of each initialization.
 */
let initChain: Promise<unknown> = Promise.resolve();
/** While an initialization overrides `TSS2_FAPICONF`: the value it replaced. */
let override: { previous: string | undefined } | undefined;

/** `TSS2_FAPICONF` as the app set it, even while an initialization has overridden it. */
export function ambientFapiConf(): string | undefined {
  return override ? override.previous : process.env.TSS2_FAPICONF;
}

async function withFapiConf<T>(configFile: string, fn: () => Promise<T>): Promise<T> {
  const run = initChain.then(async () => {
    const previous = process.env.TSS2_FAPICONF;
    override = { previous };
    process.env.TSS2_FAPICONF = configFile;
    try {
      return await fn();
    } finally {
      override = undefined;
      if (previous === undefined) delete process.env.TSS2_FAPICONF;
      else process.env.TSS2_FAPICONF = previous;
    }
  });
  initChain = run.catch(() => undefined);
  return run;
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
 * Opens a FAPI context from `configFile`, with an auth callback bound to a mutable password.
 * On timeout the context, if it ever arrives, is finalized.
 */
export async function openContext(native: FapiBindings, configFile: string, timeoutMs: number): Promise<PoolContext> {
  return withFapiConf(configFile, async () => {
    const pending = native.initialize();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
    if (result === 'timeout') {
      void pending.then((r) => {
        if (r.value !== undefined) native.finalize(r.value);
      });
      throw new KeyStoreError('ERR_KEYSTORE_TIMEOUT', `TPM: no answer within ${timeoutMs} ms while connecting`, {
        providerId: 'tpm',
        hint: UNREACHABLE_HINT,
      });
    }
    if (result.rc !== 0 || result.value === undefined) {
      throw tss2Error(result.rc, 'connecting (Fapi_Initialize)', native.decode(result.rc));
    }
    const handle = result.value;
    const context: PoolContext = {
      handle,
      password: undefined,
      release: () => undefined,
    };
    const auth = native.setAuthCallback(handle, () => context.password);
    if (auth.rc !== 0) {
      auth.release();
      native.finalize(handle);
      throw tss2Error(auth.rc, 'installing the auth callback (Fapi_SetAuthCB)', native.decode(auth.rc));
    }
    let released = false;
    (context as { release: () => void }).release = () => {
      if (released) return;
      released = true;
      try {
        native.finalize(handle);
      } finally {
        auth.release();
      }
    };
    return context;
  });
}

/**
 * The pool: `run(fn)` waits for a free context (FIFO), opens it if needed, runs `fn` with a
 * timeout, and replaces the context when `fn` fails.
 */
export class ContextPool {
  private readonly slots: Slot[];
  private readonly waiters: Waiter[] = [];
  private abandoned = 0;
  private closed = false;

  constructor(
    private readonly native: FapiBindings,
    private readonly options: ContextPoolOptions,
  ) {
    this.slots = Array.from({ length: options.size }, () => ({ context: undefined, busy: false }));
  }

  /** Contexts currently open. */
  get openContexts(): number {
    return this.slots.filter((s) => s.context !== undefined).length;
  }

  /** Calls abandoned after a timeout whose native call has not returned yet. */
  get abandonedCalls(): number {
    return this.abandoned;
  }

  /**
   * Runs `fn` on a context. When `fn` throws (a failed native call), the context is finalized and
   * the slot gets a fresh one next time.
   */
  async run<T>(fn: (context: PoolContext) => Promise<T>, options: RunOptions): Promise<T> {
    if (options.signal?.aborted) throw cancelled(options.signal);
    if (this.closed) {
      throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the TPM provider was closed', {
        providerId: 'tpm',
      });
    }
    const maxAbandoned = this.options.maxAbandoned ?? 3;
    if (this.abandoned >= maxAbandoned) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `TPM: ${this.abandoned} native calls have hung and were abandoned; refusing more work`,
        { providerId: 'tpm', hint: `${UNREACHABLE_HINT}; restart the app once the TPM answers again` },
      );
    }
    const slot = await this.acquire(options.signal);
    let detached = false;
    try {
      if (slot.context === undefined) {
        slot.context = await openContext(this.native, this.options.configFile, this.options.connectTimeoutMs);
      }
      const context = slot.context;
      context.password = options.password;
      const call = fn(context);
      const outcome = await this.race(call, options);
      if (outcome.kind === 'done') {
        context.password = undefined;
        return outcome.value;
      }
      if (outcome.kind === 'failed') {
        context.password = undefined;
        slot.context = undefined;
        context.release();
        throw outcome.error instanceof NativeCallFailure ? outcome.error.error : outcome.error;
      }
      // Timed out or cancelled while the native call runs: the context cannot be reused until the
      // call returns, and may never be; detach it and finalize it if the call ever comes back.
      detached = true;
      slot.context = undefined;
      this.abandoned++;
      void call
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.abandoned--;
          context.password = undefined;
          context.release();
        });
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

  private async race<T>(
    call: Promise<T>,
    options: RunOptions,
  ): Promise<{ kind: 'done'; value: T } | { kind: 'failed' | 'timeout'; error: unknown }> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const guard = new Promise<{ kind: 'timeout'; error: unknown }>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            kind: 'timeout',
            error: new KeyStoreError(
              'ERR_KEYSTORE_TIMEOUT',
              `TPM: ${options.what} did not finish within ${options.timeoutMs} ms`,
              { providerId: 'tpm', hint: UNREACHABLE_HINT },
            ),
          }),
        options.timeoutMs,
      );
      if (options.signal) {
        onAbort = () => resolve({ kind: 'timeout', error: cancelled(options.signal) });
        options.signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      return await Promise.race([
        call.then(
          (value) => ({ kind: 'done' as const, value }),
          (error: unknown) => ({ kind: 'failed' as const, error }),
        ),
        guard,
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
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

  /** Finalizes idle contexts now and busy ones when their call returns; later calls reject. Idempotent. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      if (!slot.busy && slot.context) {
        const context = slot.context;
        slot.context = undefined;
        context.release();
      }
    }
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.reject(
        new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the TPM provider was closed', { providerId: 'tpm' }),
      );
    }
  }
}
