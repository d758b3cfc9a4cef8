/**
 * Lifetime of NCrypt handles held by JavaScript objects: a `FinalizationRegistry` frees the handles of
 * an object that was garbage-collected without being closed, and every path frees a handle at most
 * once.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import type { NCryptHandle } from './types.js';

/**
 * What frees one handle: a function, or anything with `freeObject` (an `NCryptBindings`).
 *
 * @since 0.2.0
 */
export type HandleFreer =
  | ((handle: NCryptHandle) => void)
  | {
      /** Frees one handle (`NCryptFreeObject`). */
      freeObject(handle: NCryptHandle): void;
    };

/**
 * Options of {@link HandleTracker}.
 *
 * @since 0.2.0
 */
export interface HandleTrackerOptions {
  /**
   * Called when freeing a handle throws (from the finalizer or {@link HandleTracker.freeOnce}); the
   * default ignores it, since nothing more can be done about a handle NCrypt refuses to free.
   */
  readonly onError?: (error: unknown, handle: NCryptHandle) => void;
}

/** The handles one owner holds; shared between the owner's entry and the finalizer. */
interface Cell {
  readonly handles: readonly NCryptHandle[];
  freed: boolean;
}

function checkHandle(handle: unknown): NCryptHandle {
  if (typeof handle !== 'bigint' || handle <= 0n || handle > 0xffffffffffffffffn) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'a handle to track must be a non-zero 64-bit bigint');
  }
  return handle as NCryptHandle;
}

/**
 * Frees the NCrypt handles of objects that are garbage-collected without being closed, and guards
 * against freeing a handle twice. An owner (typically a key object) registers its handles once; its
 * `close()` then calls {@link HandleTracker.freeOnce} (or frees them itself after
 * {@link HandleTracker.unregister}); if it is dropped unclosed, the finalizer frees them.
 *
 * @example
 * ```ts
 * const tracker = new HandleTracker(loadNCrypt());
 * class Key {
 *   constructor(readonly handle: NCryptKeyHandle) {
 *     tracker.register(this, handle);
 *   }
 *   close() {
 *     tracker.freeOnce(this); // a second close() does nothing
 *   }
 * }
 * ```
 * @since 0.2.0
 */
export class HandleTracker {
  readonly #free: (handle: NCryptHandle) => void;
  readonly #onError: (error: unknown, handle: NCryptHandle) => void;
  readonly #cells = new WeakMap<object, Cell>();
  readonly #registry: FinalizationRegistry<Cell>;
  #live = 0;

  constructor(free: HandleFreer, options: HandleTrackerOptions = {}) {
    if (typeof free === 'function') this.#free = free;
    else if (typeof free === 'object' && free !== null && typeof free.freeObject === 'function') {
      this.#free = (handle) => free.freeObject(handle);
    } else {
      throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'HandleTracker needs a free function or NCryptBindings');
    }
    this.#onError = options.onError ?? (() => {});
    this.#registry = new FinalizationRegistry((cell) => this.#release(cell));
  }

  /** How many owners currently have handles registered. */
  get size(): number {
    return this.#live;
  }

  #release(cell: Cell): boolean {
    if (cell.freed) return false;
    cell.freed = true;
    this.#live--;
    for (const handle of cell.handles) {
      try {
        this.#free(handle);
      } catch (error) {
        this.#onError(error, handle);
      }
    }
    return true;
  }

  /**
   * Starts tracking `handles` for `owner`: they are freed when `owner` is garbage-collected, unless
   * {@link HandleTracker.unregister} or {@link HandleTracker.freeOnce} came first.
   *
   * @throws `ERR_KEYSTORE_INVALID_ARGUMENT` when a handle is zero or not a bigint, or `owner` already
   *   has handles registered.
   */
  register(owner: object, handles: NCryptHandle | readonly NCryptHandle[]): void {
    if (typeof owner !== 'object' || owner === null) {
      throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'the owner of a handle must be an object');
    }
    const list = (Array.isArray(handles) ? [...handles] : [handles]).map(checkHandle);
    if (list.length === 0) throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'no handle to track');
    const existing = this.#cells.get(owner);
    if (existing && !existing.freed) {
      throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'this owner already has handles registered');
    }
    const cell: Cell = { handles: Object.freeze(list), freed: false };
    this.#cells.set(owner, cell);
    this.#registry.register(owner, cell, owner);
    this.#live++;
  }

  /** The same as {@link HandleTracker.register} with a list of handles. */
  track(owner: object, handles: readonly NCryptHandle[]): void {
    this.register(owner, handles);
  }

  /**
   * Stops tracking `owner` without freeing its handles (the caller frees them, or NCrypt already did,
   * as `NCryptDeleteKey` does). Returns the handles that were registered, or `undefined` when none
   * were (never registered, already unregistered or already freed).
   */
  unregister(owner: object): readonly NCryptHandle[] | undefined {
    const cell = this.#cells.get(owner);
    if (!cell || cell.freed) return undefined;
    cell.freed = true;
    this.#live--;
    this.#cells.delete(owner);
    this.#registry.unregister(owner);
    return cell.handles;
  }

  /** The same as {@link HandleTracker.unregister}. */
  untrack(owner: object): readonly NCryptHandle[] | undefined {
    return this.unregister(owner);
  }

  /**
   * Frees `owner`'s handles now, once: the first call frees them and returns true; later calls (and
   * the finalizer) do nothing and return false.
   */
  freeOnce(owner: object): boolean {
    const cell = this.#cells.get(owner);
    if (!cell) return false;
    this.#cells.delete(owner);
    this.#registry.unregister(owner);
    return this.#release(cell);
  }

  /** True while `owner` has handles registered that were not freed. */
  has(owner: object): boolean {
    const cell = this.#cells.get(owner);
    return cell !== undefined && !cell.freed;
  }
}
