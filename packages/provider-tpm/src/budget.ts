/**
 * The process-wide budget of native calls. koffi's async mode runs every FAPI call on libuv's
 * threadpool, which Node shares with `fs.promises`, `crypto.pbkdf2`, `dns.lookup` and zlib (4 threads
 * unless `UV_THREADPOOL_SIZE` says otherwise). A TPM that stops answering leaves calls stuck on those
 * threads; without a limit they would take the whole pool and starve the app. So at most
 * `max(1, threadpool size - 2)` native calls of this package are outstanding at once, hung or not;
 * further calls wait in JavaScript, and while hung calls fill the whole budget new work is refused
 * at once with `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`. A hung call that finally returns frees its place.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import { UNREACHABLE_HINT } from './rc.js';

/**
 * The size of libuv's threadpool in this process: `UV_THREADPOOL_SIZE` when it is a positive
 * integer (libuv caps it at 1024), else 4.
 */
export function threadpoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.UV_THREADPOOL_SIZE;
  const n = raw !== undefined && /^\s*\d+\s*$/.test(raw) ? Number.parseInt(raw, 10) : 0;
  if (!Number.isSafeInteger(n) || n < 1) return 4;
  return Math.min(n, 1024);
}

/** The number of native calls allowed outstanding at once for a threadpool of `size` threads. */
export function nativeCallLimit(size: number = threadpoolSize()): number {
  return Math.max(1, size - 2);
}

/** One place in the budget, held from just before a native call starts until it returns. */
interface NativeCallTicket {
  /** Marks the call as hung: its caller gave up on it, but it still holds a thread. Idempotent. */
  abandon(): void;
  /** Frees the place (the native call returned). Idempotent. */
  release(): void;
}

interface BudgetWaiter {
  resolve: (ticket: NativeCallTicket) => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

function cancelledError(signal: AbortSignal | undefined): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', {
    providerId: 'tpm',
    cause: signal?.reason,
  });
}

/**
 * Counts the native calls in flight and the hung ones among them, and hands out places.
 */
export class NativeCallBudget {
  private live = 0;
  private hung = 0;
  private readonly waiters: BudgetWaiter[] = [];

  /** @param limit Native calls allowed outstanding at once (at least 1). */
  constructor(readonly limit: number = nativeCallLimit()) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('the native call budget must be at least 1');
  }

  /** Native calls outstanding (running or hung). */
  get outstanding(): number {
    return this.live + this.hung;
  }

  /**
   * Native calls that have not returned within their time limit and are still outstanding (a call
   * abandoned because its caller cancelled it counts only once its time limit has passed).
   */
  get stuck(): number {
    return this.hung;
  }

  /** True while hung calls take every place: new work is refused. */
  get exhausted(): boolean {
    return this.hung >= this.limit;
  }

  /** The error new work gets while {@link NativeCallBudget.exhausted}. */
  exhaustedError(): KeyStoreError {
    return new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      `TPM: ${this.hung} native calls are stuck waiting for the TPM (at most ${this.limit} may be outstanding, to keep Node's threadpool free for the app); refusing more work`,
      {
        providerId: 'tpm',
        hint: `the TPM stopped answering (${UNREACHABLE_HINT}); ${this.hung} calls are still stuck on Node's threadpool; they are released, and the provider works again, if the TPM comes back`,
      },
    );
  }

  /** Throws {@link NativeCallBudget.exhaustedError} while hung calls take every place. */
  assertAvailable(): void {
    if (this.exhausted) throw this.exhaustedError();
  }

  /**
   * A place for one native call: at once when one is free; after a wait (FIFO) when running calls
   * take them all; never while hung calls take them all (`ERR_KEYSTORE_PROVIDER_UNAVAILABLE`).
   * A wait ends with `ERR_KEYSTORE_CANCELLED` when `signal` fires, `ERR_KEYSTORE_TIMEOUT` after
   * `waitMs`, or `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` when the running calls hang meanwhile.
   */
  acquire(
    options: { signal?: AbortSignal | undefined; waitMs?: number; what?: string } = {},
  ): Promise<NativeCallTicket> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(cancelledError(signal));
    if (this.exhausted) return Promise.reject(this.exhaustedError());
    if (this.outstanding < this.limit && this.waiters.length === 0) return Promise.resolve(this.issue());
    return new Promise<NativeCallTicket>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        remove();
        reject(cancelledError(signal));
      };
      const remove = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        waiter.cleanup();
      };
      const waiter: BudgetWaiter = {
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      if (options.waitMs !== undefined) {
        timer = setTimeout(() => {
          remove();
          reject(
            new KeyStoreError(
              'ERR_KEYSTORE_TIMEOUT',
              `TPM: ${options.what ?? 'a call'} waited ${options.waitMs} ms for one of the ${this.limit} native call places`,
              { providerId: 'tpm', hint: UNREACHABLE_HINT },
            ),
          );
        }, options.waitMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private issue(): NativeCallTicket {
    this.live++;
    let state: 'live' | 'hung' | 'done' = 'live';
    return {
      abandon: () => {
        if (state !== 'live') return;
        state = 'hung';
        this.live--;
        this.hung++;
        this.settle();
      },
      release: () => {
        if (state === 'done') return;
        if (state === 'live') this.live--;
        else this.hung--;
        state = 'done';
        this.settle();
      },
    };
  }

  /** Hands free places to waiters; rejects them all when hung calls take every place. */
  private settle(): void {
    if (this.exhausted) {
      for (const waiter of this.waiters.splice(0)) {
        waiter.cleanup();
        waiter.reject(this.exhaustedError());
      }
      return;
    }
    while (this.waiters.length > 0 && this.outstanding < this.limit) {
      const waiter = this.waiters.shift() as BudgetWaiter;
      waiter.cleanup();
      waiter.resolve(this.issue());
    }
  }
}

let shared: NativeCallBudget | undefined;

/** The budget every TPM provider and context pool of this process shares. */
export function processBudget(): NativeCallBudget {
  if (!shared) shared = new NativeCallBudget();
  return shared;
}

/** How a guarded native call ended. */
export type GuardedOutcome<T> =
  | { readonly kind: 'done'; readonly value: T }
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'abandoned'; readonly error: KeyStoreError };

/** Options of {@link guardNativeCall}. */
export interface GuardOptions<T> {
  /** Time allowed once the native call has started (ms); also the longest wait for a place. */
  timeoutMs: number;
  /** Cancels the wait for a place; and the running call too unless `letFinish`. */
  signal?: AbortSignal | undefined;
  /** Once the native call has started, the signal no longer abandons it (the timeout still does). */
  letFinish?: boolean | undefined;
  /** What is being done, for error messages. */
  what: string;
  /** Runs when an abandoned call finally returns (to finalize its context), with its value if any. */
  afterAbandoned?: (value: T | undefined) => void;
}

/**
 * Runs one native call inside the budget: takes a place (see {@link NativeCallBudget.acquire}),
 * starts `start()`, and waits for it, for the timeout, or for the signal. A call given up on keeps
 * its place until it returns; then the place is freed and `afterAbandoned` runs. It counts as hung
 * (see {@link NativeCallBudget.stuck}) once its time limit has passed: at once after a timeout, and
 * after a cancellation only if it has still not returned when the limit passes.
 * Throws only when no place could be had (before the native call started).
 */
export async function guardNativeCall<T>(
  budget: NativeCallBudget,
  start: () => Promise<T>,
  options: GuardOptions<T>,
): Promise<GuardedOutcome<T>> {
  const ticket = await budget.acquire({ signal: options.signal, waitMs: options.timeoutMs, what: options.what });
  if (options.signal?.aborted) {
    ticket.release();
    throw cancelledError(options.signal);
  }
  let call: Promise<T>;
  const startedAt = Date.now();
  try {
    call = start();
  } catch (error) {
    ticket.release();
    return { kind: 'failed', error };
  }
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const signal = options.letFinish ? undefined : options.signal;
  const guard = new Promise<GuardedOutcome<T>>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          kind: 'abandoned',
          error: new KeyStoreError(
            'ERR_KEYSTORE_TIMEOUT',
            `TPM: ${options.what} did not finish within ${options.timeoutMs} ms`,
            { providerId: 'tpm', hint: UNREACHABLE_HINT },
          ),
        }),
      options.timeoutMs,
    );
    if (signal) {
      onAbort = () => resolve({ kind: 'abandoned', error: cancelledError(signal) });
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  const settled = call.then(
    (value): GuardedOutcome<T> => ({ kind: 'done', value }),
    (error: unknown): GuardedOutcome<T> => ({ kind: 'failed', error }),
  );
  let outcome: GuardedOutcome<T>;
  try {
    outcome = await Promise.race([settled, guard]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
  if (outcome.kind !== 'abandoned') {
    ticket.release();
    return outcome;
  }
  // A call given up on because its caller cancelled is not hung: it still runs on a live TPM and
  // keeps its place as a running call. It counts as hung only once its own time limit has passed
  // without an answer, as a timed-out call does at once; so cancelling calls never makes other
  // calls fail for a TPM that answers.
  let lateTimer: NodeJS.Timeout | undefined;
  if (KeyStoreError.is(outcome.error, 'ERR_KEYSTORE_TIMEOUT')) ticket.abandon();
  else {
    lateTimer = setTimeout(() => ticket.abandon(), Math.max(0, startedAt + options.timeoutMs - Date.now()));
    lateTimer.unref?.();
  }
  void settled.then((late) => {
    clearTimeout(lateTimer);
    try {
      options.afterAbandoned?.(late.kind === 'done' ? late.value : undefined);
    } finally {
      ticket.release();
    }
  });
  return outcome;
}
