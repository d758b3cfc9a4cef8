/**
 * The probe answers a key store reuses for a short while: open, list and delete ask the providers
 * again only once the answers are older than {@link PROBE_CACHE_MS} (create and explain always
 * re-probe). Internal to the core; the clock is injectable so that expiry is tested without waiting.
 */
import type { KeyStoreProvider } from './provider-types.js';
import type { SelectionCandidate } from './selection.js';

/** How long probe answers are reused by open, list and delete. */
export const PROBE_CACHE_MS = 1500;

export class ProbeCache {
  readonly #ttlMs: number;
  /** A clock in milliseconds; only differences between its readings matter. */
  readonly #now: () => number;
  #entry: { at: number; candidates: SelectionCandidate[] } | undefined;

  /**
   * @param now - The clock (default `Date.now`, read at each call).
   * @param ttlMs - How long an answer stays fresh (default {@link PROBE_CACHE_MS}).
   */
  constructor(now: () => number = () => Date.now(), ttlMs: number = PROBE_CACHE_MS) {
    this.#now = now;
    this.#ttlMs = ttlMs;
  }

  /** Every provider's answer, while fresh; `undefined` once they are older than the time to live. */
  all(): SelectionCandidate[] | undefined {
    const entry = this.#entry;
    if (entry === undefined) return undefined;
    const age = this.#now() - entry.at;
    // A clock that went backwards (a changed system time) makes the answers stale, not fresh forever.
    return age >= 0 && age < this.#ttlMs ? entry.candidates : undefined;
  }

  /** One provider's answer, while fresh. */
  find(provider: KeyStoreProvider): SelectionCandidate | undefined {
    return this.all()?.find((c) => c.provider === provider);
  }

  /** Keeps the answers of every provider, stamped with the clock's time now. */
  store(candidates: SelectionCandidate[]): void {
    this.#entry = { at: this.#now(), candidates };
  }
}
