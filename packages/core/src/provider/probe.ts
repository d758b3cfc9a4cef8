/**
 * What a provider's `probe()` answers when it cannot serve, and how it puts an error into words:
 * every provider says "unavailable" the same way, so that `keystore doctor` and
 * `ERR_KEYSTORE_NO_PROVIDER` read alike whichever provider is down.
 *
 * @module
 */
import { KeyStoreError } from '../errors.js';
import type { ProbeResult } from '../provider-types.js';

/**
 * The probe answer of a provider that cannot serve here: not available, isolation `none`, the
 * reasons, and the details given (none when omitted).
 *
 * @example
 * ```ts
 * import { unavailableProbe } from '@keystore/core/provider';
 * if (process.platform !== 'win32') {
 *   return unavailableProbe([`CNG exists only on Windows; this is ${process.platform}`], { platform: process.platform });
 * }
 * ```
 * @since 0.4.0
 */
export function unavailableProbe(
  reasons: readonly string[],
  details?: Readonly<Record<string, string | number | boolean>>,
): ProbeResult {
  return {
    available: false,
    isolation: 'none',
    reasons: [...reasons],
    ...(details ? { details: { ...details } } : {}),
  };
}

/**
 * An error as probe reasons: a {@link KeyStoreError}'s message and its hint; anything else as an
 * unexpected failure with its message.
 *
 * @since 0.4.0
 */
export function explainError(error: unknown): string[] {
  if (KeyStoreError.is(error)) return [error.message, ...(error.hint ? [error.hint] : [])];
  return [`unexpected failure: ${error instanceof Error ? error.message : String(error)}`];
}
