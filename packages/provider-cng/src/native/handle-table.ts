/**
 * The handles one set of NCrypt bindings handed out: which are open (and of what kind), which have
 * async calls in flight, and which were freed by their owner while a call was still running (freed
 * natively when that call ends). Kept apart from the koffi bindings so its rules run without Windows.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';

/** What a handle is. */
export type HandleKind = 'provider' | 'key' | 'secret';

/**
 * Open handles, their in-flight calls and deferred frees. Every native free goes through the
 * `nativeFree` given at construction, at most once per handle handed out.
 */
export class HandleTable {
  // Handles handed out and not freed, by kind, with a count of how many times they were handed out
  // (Wine returns an open provider handle again as the "Provider Handle" property).
  readonly #live = new Map<bigint, { kind: HandleKind; refs: number }>();
  // Async calls in flight per handle: free() waits for them before freeing.
  readonly #busy = new Map<bigint, number>();
  readonly #freeWhenIdle = new Set<bigint>();
  readonly #nativeFree: (handle: bigint) => void;

  constructor(nativeFree: (handle: bigint) => void) {
    this.#nativeFree = nativeFree;
  }

  /** Records a handle NCrypt handed out (again, if it is already open). */
  adopt(handle: bigint, kind: HandleKind): void {
    const entry = this.#live.get(handle);
    if (entry) entry.refs++;
    else this.#live.set(handle, { kind, refs: 1 });
  }

  /** The kind of an open handle; `undefined` when it is not open. */
  kindOf(handle: bigint): HandleKind | undefined {
    return this.#live.get(handle)?.kind;
  }

  /** How many async calls are in flight on `handle`. */
  busyCount(handle: bigint): number {
    return this.#busy.get(handle) ?? 0;
  }

  #enter(handles: readonly bigint[]): void {
    for (const h of handles) this.#busy.set(h, (this.#busy.get(h) ?? 0) + 1);
  }

  #leave(handles: readonly bigint[]): void {
    for (const h of handles) {
      const left = (this.#busy.get(h) ?? 1) - 1;
      if (left > 0) {
        this.#busy.set(h, left);
        continue;
      }
      this.#busy.delete(h);
      if (this.#freeWhenIdle.delete(h)) {
        try {
          this.#nativeFree(h);
        } catch {
          // The caller already let go of this handle; nothing can report the failure.
        }
      }
    }
  }

  /** Runs an async native call while `handles` are marked busy; frees any whose free was deferred. */
  async withHandles<T>(handles: readonly bigint[], run: () => Promise<T>): Promise<T> {
    this.#enter(handles);
    try {
      return await run();
    } finally {
      this.#leave(handles);
    }
  }

  /**
   * Runs `NCryptDeleteKey` on `handle`. A handle with another call in flight is refused before the
   * call: the delete would free the handle under that call. After a successful delete the handle is
   * gone: NCrypt freed it, so it leaves the table and the deferred-free queue (a `free()` that came
   * while the delete ran must not free it a second time). After a failed delete the handle is still
   * open and a deferred free happens as usual.
   *
   * @throws `ERR_KEYSTORE_UNSUPPORTED_OPERATION` when the handle is busy.
   */
  async deleteWith(handle: bigint, run: () => Promise<boolean>): Promise<boolean> {
    const inFlight = this.busyCount(handle);
    if (inFlight > 0) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `the key handle has ${inFlight} call${inFlight === 1 ? '' : 's'} in flight; it cannot be deleted under ${inFlight === 1 ? 'it' : 'them'}`,
        { providerId: 'cng', hint: "wait for the key's running operations to end, then delete it" },
      );
    }
    this.#enter([handle]);
    let deleted = false;
    try {
      deleted = await run();
      return deleted;
    } finally {
      if (deleted) {
        // NCryptDeleteKey freed the handle (whatever its count).
        this.#live.delete(handle);
        this.#freeWhenIdle.delete(handle);
      }
      this.#leave([handle]);
    }
  }

  /**
   * Lets go of one reference to `handle`: idempotent (a handle that is not open is left alone); the
   * last reference frees it natively, now or, if a call on it is running, when that call ends.
   */
  free(handle: bigint): void {
    const entry = this.#live.get(handle);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.#live.delete(handle);
    if (this.busyCount(handle) > 0) {
      this.#freeWhenIdle.add(handle);
      return;
    }
    this.#nativeFree(handle);
  }
}
