/**
 * The exit codes of the `keystore` command.
 *
 * @module
 */

/**
 * Success (for `keys verify`: the signature is valid; for `doctor`: some provider satisfies the policy).
 *
 * @since 0.1.0
 */
export const EXIT_OK = 0;

/**
 * Invalid input: a policy that fails validation, a signature that does not verify, an unreadable input
 * file, a bad argument value caught by the SDK (`ERR_KEYSTORE_INVALID_ARGUMENT`, `ERR_KEYSTORE_INVALID_NAME`,
 * `ERR_KEYSTORE_INVALID_POLICY`).
 *
 * @since 0.1.0
 */
export const EXIT_INVALID = 1;

/**
 * Usage error: unknown command or option, missing or extra argument, a value outside an option's choices.
 *
 * @since 0.1.0
 */
export const EXIT_USAGE = 2;

/**
 * No provider satisfies the policy and the request (`doctor` found none; `ERR_KEYSTORE_NO_PROVIDER`,
 * `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`).
 *
 * @since 0.1.0
 */
export const EXIT_NO_PROVIDER = 3;

/**
 * No key by that name or reference (`ERR_KEYSTORE_KEY_NOT_FOUND`).
 *
 * @since 0.1.0
 */
export const EXIT_KEY_NOT_FOUND = 4;

/**
 * Any other `KeyStoreError`: policy violation, access denied, key exists, unsupported algorithm or
 * operation, native failure, timeout, cancelled …; the error's `code` says which.
 *
 * @since 0.1.0
 */
export const EXIT_KEYSTORE_ERROR = 5;

/**
 * An unexpected error that is not a `KeyStoreError` (a bug; run with `KEYSTORE_DEBUG=1` for the stack).
 *
 * @since 0.1.0
 */
export const EXIT_INTERNAL = 6;

/**
 * The output could not be delivered (`ERR_OUTPUT`): an `--out` file that exists (without `--force`),
 * is a symbolic link, or cannot be written; a full disk (`ENOSPC`); standard output closed or a
 * reader that went away (`EBADF`, `EPIPE`). Whatever was written is incomplete.
 *
 * @since 0.3.0
 */
export const EXIT_OUTPUT = 7;

/**
 * `doctor --require LEVEL`: a provider would serve new keys, but below LEVEL (the isolation a
 * default request gets here is weaker than required).
 *
 * @since 0.3.0
 */
export const EXIT_BELOW_REQUIRED = 8;

/**
 * The command was interrupted (Ctrl-C) and its operation cancelled (`ERR_KEYSTORE_CANCELLED`),
 * as shells report a process ended by SIGINT.
 *
 * @since 0.1.0
 */
export const EXIT_CANCELLED = 130;

/**
 * One of the exit codes above.
 *
 * @since 0.1.0
 */
export type ExitCode =
  | typeof EXIT_OK
  | typeof EXIT_INVALID
  | typeof EXIT_USAGE
  | typeof EXIT_NO_PROVIDER
  | typeof EXIT_KEY_NOT_FOUND
  | typeof EXIT_KEYSTORE_ERROR
  | typeof EXIT_INTERNAL
  | typeof EXIT_OUTPUT
  | typeof EXIT_BELOW_REQUIRED
  | typeof EXIT_CANCELLED;
