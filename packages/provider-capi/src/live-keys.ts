/**
 * A set of open keys held weakly: a key the application dropped without `close()` can be
 * garbage-collected (and its CryptoAPI handles released by its finalizer) although a provider or
 * the container registry still lists it; a key that is still reachable is listed until it leaves.
 *
 * @module
 */

/** An iterable set whose members may be garbage-collected. */
export class LiveKeys<T extends object> {
  readonly #refs = new Set<WeakRef<T>>();
  readonly #byKey = new WeakMap<T, WeakRef<T>>();

  /** Adds `key` (once). */
  add(key: T): void {
    if (this.#byKey.has(key)) return;
    const ref = new WeakRef(key);
    this.#byKey.set(key, ref);
    this.#refs.add(ref);
  }

  /** Removes `key`, if present. */
  delete(key: T): void {
    const ref = this.#byKey.get(key);
    if (ref === undefined) return;
    this.#byKey.delete(key);
    this.#refs.delete(ref);
  }

  /** The members still alive; forgets the ones that were collected. */
  values(): T[] {
    const out: T[] = [];
    for (const ref of this.#refs) {
      const key = ref.deref();
      if (key === undefined) this.#refs.delete(ref);
      else out.push(key);
    }
    return out;
  }

  /** How many members are still alive. */
  get size(): number {
    return this.values().length;
  }
}
