/**
 * The live keys of each key container in this process, and one-at-a-time access to a container.
 *
 * Why: rsaenh under Wine writes a container's keys back when a context of it is released, so a
 * handle still open on a deleted container brings the container back when it is closed, over any
 * newer key made under the same name. A deletion must therefore release every handle of the
 * container first, and creating, opening and deleting one container must not interleave.
 *
 * @module
 */
import type { KeyScope } from '@keystore/core';
import type { CapiKey } from './key.js';
import { LiveKeys } from './live-keys.js';
import type { AdvapiBindings } from './native/advapi32.js';

/**
 * A container's identity: its scope and its name, case-folded because CryptoAPI matches container
 * names without case (files on Windows, registry keys under Wine). Names are ASCII (the name rules).
 */
function containerId(name: string, scope: KeyScope): string {
  return `${scope}\\${name.toLowerCase()}`;
}

/** The live keys and the queue of one set of CryptoAPI bindings (one per process for the real DLL). */
class ContainerRegistry {
  // Held weakly, as the provider holds its keys: a dropped key is released by its finalizer.
  readonly #live = new Map<string, LiveKeys<CapiKey>>();
  readonly #queues = new Map<string, Promise<unknown>>();

  /** Records a key whose handles are open. */
  add(key: CapiKey): void {
    const id = containerId(key.name, key.scope);
    const set = this.#live.get(id) ?? new LiveKeys<CapiKey>();
    set.add(key);
    this.#live.set(id, set);
  }

  /** Forgets a key once its handles are released. */
  remove(key: CapiKey): void {
    const id = containerId(key.name, key.scope);
    const set = this.#live.get(id);
    if (set === undefined) return;
    set.delete(key);
    if (set.size === 0) this.#live.delete(id);
  }

  /** The keys of a container whose handles are still open in this process. */
  liveKeys(name: string, scope: KeyScope): CapiKey[] {
    const id = containerId(name, scope);
    const set = this.#live.get(id);
    if (set === undefined) return [];
    const keys = set.values();
    if (keys.length === 0) this.#live.delete(id);
    return keys;
  }

  /**
   * Runs `fn` when every earlier `exclusive` call on the same container has settled, so that a
   * create, open or delete of one container never runs while another one of it is half done.
   */
  exclusive<T>(name: string, scope: KeyScope, fn: () => Promise<T>): Promise<T> {
    const id = containerId(name, scope);
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(id, settled);
    void settled.then(() => {
      if (this.#queues.get(id) === settled) this.#queues.delete(id);
    });
    return run;
  }
}

/**
 * One registry per set of bindings: every provider of this process over the real `advapi32.dll`
 * (loaded once) shares it, since they share rsaenh; a test double gets its own.
 */
const registries = new WeakMap<AdvapiBindings, ContainerRegistry>();

/** The registry of `native`, made on first use. */
export function containerRegistry(native: AdvapiBindings): ContainerRegistry {
  let registry = registries.get(native);
  if (registry === undefined) {
    registry = new ContainerRegistry();
    registries.set(native, registry);
  }
  return registry;
}
