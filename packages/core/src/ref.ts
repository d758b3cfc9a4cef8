/**
 * Key reference strings: `keystore:<providerId>:<scope>:<name>`, stable and round-tripping.
 *
 * @module
 */
import type { KeyScope } from './algorithms.js';
import { KeyStoreError } from './errors.js';

/**
 * The prefix of every key reference.
 *
 * @since 0.1.0
 */
export const KEY_REF_PREFIX = 'keystore:';

/** Provider ids: the same rule as the policy schema's `PROVIDER_ID_PATTERN`. */
const PROVIDER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** What `encodeURIComponent` can produce: unreserved characters and percent escapes. */
const ENCODED_NAME = /^(?:[A-Za-z0-9\-_.!~*'()]|%[0-9A-Fa-f]{2})+$/;

/**
 * The parts of a key reference.
 *
 * @since 0.1.0
 */
export interface KeyRefParts {
  /** The id of the provider holding the key. */
  readonly providerId: string;
  /** The key's scope. */
  readonly scope: KeyScope;
  /** The key's name, decoded. */
  readonly name: string;
}

function invalid(message: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, cause === undefined ? {} : { cause });
}

/**
 * True when `value` is a provider id: a letter or digit, then letters, digits, `.`, `_` or `-`.
 *
 * @since 0.1.0
 */
export function isProviderId(value: unknown): value is string {
  return typeof value === 'string' && PROVIDER_ID.test(value);
}

/**
 * Builds the reference string of a key: `keystore:<providerId>:<scope>:<name>`, with the name
 * percent-encoded by `encodeURIComponent` (so it never contains `:`). {@link parseKeyRef} reverses it
 * for every name.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_ARGUMENT` for a bad provider id, an unknown scope,
 *   an empty name, or a name that is not well-formed Unicode (a lone surrogate).
 * @example
 * ```ts
 * formatKeyRef({ providerId: 'tpm', scope: 'user', name: 'my key' }); // 'keystore:tpm:user:my%20key'
 * ```
 * @since 0.1.0
 */
export function formatKeyRef(parts: { providerId: string; scope: KeyScope; name: string }): string {
  if (typeof parts !== 'object' || parts === null) throw invalid('key reference parts must be an object');
  const { providerId, scope, name } = parts;
  if (!isProviderId(providerId)) {
    throw invalid(`not a provider id: ${JSON.stringify(String(providerId))} (letters, digits, ".", "_", "-")`);
  }
  if (scope !== 'user' && scope !== 'machine') throw invalid(`unknown scope: ${String(scope)} (user or machine)`);
  if (typeof name !== 'string' || name.length === 0) throw invalid('a key name must be a non-empty string');
  let encoded: string;
  try {
    encoded = encodeURIComponent(name);
  } catch (cause) {
    throw invalid('a key name must be well-formed Unicode (it contains a lone surrogate)', cause);
  }
  return `${KEY_REF_PREFIX}${providerId}:${scope}:${encoded}`;
}

/**
 * Parses a reference string made by {@link formatKeyRef}. Parsing is strict: exactly four
 * `:`-separated parts, the `keystore` prefix, a valid provider id, `user` or `machine`, and a
 * non-empty, correctly percent-encoded name.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_ARGUMENT` for anything else.
 * @example
 * ```ts
 * parseKeyRef('keystore:tpm:user:my%20key'); // { providerId: 'tpm', scope: 'user', name: 'my key' }
 * ```
 * @since 0.1.0
 */
export function parseKeyRef(ref: string): KeyRefParts {
  if (typeof ref !== 'string') throw invalid('a key reference must be a string');
  if (!ref.startsWith(KEY_REF_PREFIX)) throw invalid('a key reference starts with "keystore:"');
  const parts = ref.split(':');
  if (parts.length !== 4) {
    throw invalid('a key reference has four parts: keystore:<provider>:<scope>:<name>');
  }
  const [, providerId = '', scope = '', encoded = ''] = parts;
  if (!isProviderId(providerId)) throw invalid(`key reference: not a provider id: ${JSON.stringify(providerId)}`);
  if (scope !== 'user' && scope !== 'machine') {
    throw invalid(`key reference: unknown scope ${JSON.stringify(scope)} (user or machine)`);
  }
  if (!ENCODED_NAME.test(encoded)) {
    throw invalid('key reference: the name must be non-empty and percent-encoded (encodeURIComponent)');
  }
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch (cause) {
    throw invalid('key reference: the name is not valid percent-encoded UTF-8', cause);
  }
  return { providerId, scope, name };
}

/**
 * True when `value` is a well-formed key reference ({@link parseKeyRef} would accept it).
 *
 * @example
 * ```ts
 * isKeyRef('keystore:memory:user:signing'); // true
 * isKeyRef('signing'); // false
 * ```
 * @since 0.1.0
 */
export function isKeyRef(value: string): boolean {
  if (typeof value !== 'string' || !value.startsWith(KEY_REF_PREFIX)) return false;
  try {
    parseKeyRef(value);
    return true;
  } catch {
    return false;
  }
}
