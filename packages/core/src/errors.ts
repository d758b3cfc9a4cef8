/**
 * The one error class of the SDK, with a stable `code`.
 *
 * @module
 */

/**
 * Every error code. Codes are stable across releases; messages are not, so branch on the code.
 *
 * | code | meaning |
 * |---|---|
 * | `ERR_KEYSTORE_KEY_NOT_FOUND` | no key by that name or reference (in that scope) |
 * | `ERR_KEYSTORE_KEY_EXISTS` | a key by that name already exists |
 * | `ERR_KEYSTORE_NOT_EXPORTABLE` | the private key cannot or may not be exported |
 * | `ERR_KEYSTORE_POLICY_VIOLATION` | the effective policy forbids the request |
 * | `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` | the provider cannot serve on this machine now |
 * | `ERR_KEYSTORE_NO_PROVIDER` | no provider qualifies; `reasons` lists each one's refusal |
 * | `ERR_KEYSTORE_UNSUPPORTED_ALGORITHM` | the provider or device does not support the algorithm |
 * | `ERR_KEYSTORE_UNSUPPORTED_OPERATION` | the key or provider cannot do that operation |
 * | `ERR_KEYSTORE_ACCESS_DENIED` | the OS refused access, or a key password was wrong |
 * | `ERR_KEYSTORE_CANCELLED` | an `AbortSignal` fired |
 * | `ERR_KEYSTORE_INVALID_ARGUMENT` | bad input, caught before any native call |
 * | `ERR_KEYSTORE_INVALID_NAME` | a key name the provider cannot store |
 * | `ERR_KEYSTORE_INVALID_POLICY` | a policy document failed validation; `issues` lists each field (its JSON pointer and what is wrong) |
 * | `ERR_KEYSTORE_KEY_CLOSED` | the key object was closed |
 * | `ERR_KEYSTORE_TIMEOUT` | the device did not answer in time |
 * | `ERR_KEYSTORE_NATIVE_FAILURE` | a native call failed; see `nativeStatus`, `nativeName`, `hint` |
 *
 * @since 0.1.0
 */
export type KeyStoreErrorCode =
  | 'ERR_KEYSTORE_KEY_NOT_FOUND'
  | 'ERR_KEYSTORE_KEY_EXISTS'
  | 'ERR_KEYSTORE_NOT_EXPORTABLE'
  | 'ERR_KEYSTORE_POLICY_VIOLATION'
  | 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE'
  | 'ERR_KEYSTORE_NO_PROVIDER'
  | 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM'
  | 'ERR_KEYSTORE_UNSUPPORTED_OPERATION'
  | 'ERR_KEYSTORE_ACCESS_DENIED'
  | 'ERR_KEYSTORE_CANCELLED'
  | 'ERR_KEYSTORE_INVALID_ARGUMENT'
  | 'ERR_KEYSTORE_INVALID_NAME'
  | 'ERR_KEYSTORE_INVALID_POLICY'
  | 'ERR_KEYSTORE_KEY_CLOSED'
  | 'ERR_KEYSTORE_TIMEOUT'
  | 'ERR_KEYSTORE_NATIVE_FAILURE';

/**
 * Every error code, for iteration and validation.
 *
 * @since 0.1.0
 */
export const KEYSTORE_ERROR_CODES: readonly KeyStoreErrorCode[] = [
  'ERR_KEYSTORE_KEY_NOT_FOUND',
  'ERR_KEYSTORE_KEY_EXISTS',
  'ERR_KEYSTORE_NOT_EXPORTABLE',
  'ERR_KEYSTORE_POLICY_VIOLATION',
  'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
  'ERR_KEYSTORE_NO_PROVIDER',
  'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
  'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
  'ERR_KEYSTORE_ACCESS_DENIED',
  'ERR_KEYSTORE_CANCELLED',
  'ERR_KEYSTORE_INVALID_ARGUMENT',
  'ERR_KEYSTORE_INVALID_NAME',
  'ERR_KEYSTORE_INVALID_POLICY',
  'ERR_KEYSTORE_KEY_CLOSED',
  'ERR_KEYSTORE_TIMEOUT',
  'ERR_KEYSTORE_NATIVE_FAILURE',
];

/**
 * One provider's reason for not serving a request, carried by `ERR_KEYSTORE_NO_PROVIDER`.
 *
 * @since 0.1.0
 */
export interface ProviderRefusal {
  /** The provider's id. */
  readonly providerId: string;
  /** Why it was refused, one sentence each. */
  readonly reasons: readonly string[];
}

/**
 * One invalid field of a policy document, carried by `ERR_KEYSTORE_INVALID_POLICY`.
 *
 * @since 0.1.0
 */
export interface PolicyIssue {
  /** JSON pointer of the bad field (RFC 6901), `""` for the document itself. */
  readonly pointer: string;
  /** What is wrong and what is allowed. */
  readonly message: string;
}

/**
 * Options for {@link KeyStoreError}.
 *
 * @since 0.1.0
 */
export interface KeyStoreErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** Id of the provider that raised it. */
  providerId?: string;
  /** For native failures: the status number (unsigned, e.g. `0x80090016`). */
  nativeStatus?: number;
  /** For native failures: the symbolic name of the status (e.g. `NTE_BAD_KEYSET`). */
  nativeName?: string;
  /** A sentence a person can act on. */
  hint?: string;
  /** For `ERR_KEYSTORE_NO_PROVIDER`: every provider's refusal. */
  refusals?: readonly ProviderRefusal[];
  /** For `ERR_KEYSTORE_INVALID_POLICY`: every invalid field. */
  issues?: readonly PolicyIssue[];
}

const BRAND = Symbol.for('@keystore/core/KeyStoreError');

/**
 * The error every SDK call throws or rejects with. Branch on {@link KeyStoreError.code}; detect it
 * with {@link KeyStoreError.is}, which works across duplicated installs of the package.
 * The {@link "Errors" | errors guide} lists every code and what to do about it.
 *
 * @example
 * ```ts
 * try {
 *   await store.openKey('missing');
 * } catch (err) {
 *   if (KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')) {
 *     // create it instead
 *   } else throw err;
 * }
 * ```
 * @since 0.1.0
 */
export class KeyStoreError extends Error {
  /** The stable code. */
  readonly code: KeyStoreErrorCode;
  /** Id of the provider that raised it, when one did. */
  readonly providerId: string | undefined;
  /** For native failures: the unsigned status number. */
  readonly nativeStatus: number | undefined;
  /** For native failures: the status's symbolic name. */
  readonly nativeName: string | undefined;
  /** A sentence a person can act on. */
  readonly hint: string | undefined;
  /** For `ERR_KEYSTORE_NO_PROVIDER`: why each provider was refused. */
  readonly refusals: readonly ProviderRefusal[];
  /** For `ERR_KEYSTORE_INVALID_POLICY`: each invalid field. */
  readonly issues: readonly PolicyIssue[];

  constructor(code: KeyStoreErrorCode, message: string, options: KeyStoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyStoreError';
    this.code = code;
    this.providerId = options.providerId;
    this.nativeStatus = options.nativeStatus === undefined ? undefined : options.nativeStatus >>> 0;
    this.nativeName = options.nativeName;
    this.hint = options.hint;
    this.refusals = options.refusals ?? [];
    this.issues = options.issues ?? [];
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * True when `value` is a `KeyStoreError` (from any copy of this package), and, when `code` is
   * given, has that code.
   */
  static is(value: unknown, code?: KeyStoreErrorCode): value is KeyStoreError {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
    return code === undefined || (value as KeyStoreError).code === code;
  }

  /** A plain object for logs and `--json` output; never carries key material. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    if (this.providerId !== undefined) out.providerId = this.providerId;
    if (this.nativeStatus !== undefined) out.nativeStatus = `0x${this.nativeStatus.toString(16).padStart(8, '0')}`;
    if (this.nativeName !== undefined) out.nativeName = this.nativeName;
    if (this.hint !== undefined) out.hint = this.hint;
    if (this.refusals.length > 0) out.refusals = this.refusals;
    if (this.issues.length > 0) out.issues = this.issues;
    return out;
  }
}

/**
 * Throws `ERR_KEYSTORE_CANCELLED` when `signal` has fired.
 *
 * @since 0.1.0
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', { cause: signal.reason });
  }
}
