/**
 * Isolation levels: where a private key lives while it is used, ordered from weakest to strongest.
 *
 * @module
 */
import { KeyStoreError } from './errors.js';

/**
 * Every isolation level, weakest first. The order is the contract: a later level is stronger.
 *
 * - `none`: key bytes live in JavaScript memory (the in-memory provider for tests and demos).
 * - `in-process`: a native library holds the key inside the app's own process (CryptoAPI), or the
 *   key lives somewhere any process of the same user can read (a software TPM simulator).
 * - `os-isolated`: another, more privileged process or the kernel holds it (CNG key isolation in LSASS).
 * - `os-protected`: `os-isolated`, and that process is protected from debugging and injection (LSASS as PPL).
 * - `virtualization`: isolated by the hypervisor (VBS keys, Credential Guard).
 * - `hardware`: a TPM, smart card or HSM holds it; the private key never leaves the device.
 *
 * @since 0.1.0
 */
export const ISOLATION_LEVELS = [
  'none',
  'in-process',
  'os-isolated',
  'os-protected',
  'virtualization',
  'hardware',
] as const;

/**
 * One of {@link ISOLATION_LEVELS}.
 *
 * @since 0.1.0
 */
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/**
 * True when `value` is one of the isolation level names.
 *
 * @example
 * ```ts
 * isIsolationLevel('hardware'); // true
 * isIsolationLevel('tpm'); // false
 * ```
 * @since 0.1.0
 */
export function isIsolationLevel(value: unknown): value is IsolationLevel {
  return typeof value === 'string' && (ISOLATION_LEVELS as readonly string[]).includes(value);
}

/**
 * The rank of a level: 0 for `none` up to 5 for `hardware`.
 *
 * @since 0.1.0
 */
export function isolationRank(level: IsolationLevel): number {
  const rank = (ISOLATION_LEVELS as readonly string[]).indexOf(level);
  if (rank < 0) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      `unknown isolation level: ${String(level)} (expected one of ${ISOLATION_LEVELS.join(', ')})`,
    );
  }
  return rank;
}

/**
 * Compares two levels like `Array.prototype.sort` expects: negative when `a` is weaker than `b`,
 * zero when equal, positive when stronger.
 *
 * @example
 * ```ts
 * ['hardware', 'none', 'os-isolated'].sort(compareIsolation); // ['none', 'os-isolated', 'hardware']
 * ```
 * @since 0.1.0
 */
export function compareIsolation(a: IsolationLevel, b: IsolationLevel): number {
  return isolationRank(a) - isolationRank(b);
}

/**
 * True when `level` is at least as strong as `floor`.
 *
 * @example
 * ```ts
 * isAtLeast('os-protected', 'os-isolated'); // true
 * isAtLeast('in-process', 'os-isolated'); // false
 * ```
 * @since 0.1.0
 */
export function isAtLeast(level: IsolationLevel, floor: IsolationLevel): boolean {
  return isolationRank(level) >= isolationRank(floor);
}

/**
 * The stronger of two levels.
 *
 * @since 0.1.0
 */
export function strongerIsolation(a: IsolationLevel, b: IsolationLevel): IsolationLevel {
  return isolationRank(a) >= isolationRank(b) ? a : b;
}

/**
 * The weaker of two levels.
 *
 * @since 0.1.0
 */
export function weakerIsolation(a: IsolationLevel, b: IsolationLevel): IsolationLevel {
  return isolationRank(a) <= isolationRank(b) ? a : b;
}
