/**
 * The checks every provider (and the key store in front of them) runs on a request before it touches
 * a key store: a caller in plain JavaScript may pass anything, and bad input must come back as a
 * typed {@link KeyStoreError}, never as a native failure. One set of rules and messages.
 *
 * @module
 */
import { digestLength, type HashAlgorithm, KEY_SCOPES, type KeyScope } from '../algorithms.js';
import { KeyStoreError } from '../errors.js';
import type { UserPromptOptions } from '../provider-types.js';
import { KEY_REF_PREFIX } from '../ref.js';

/**
 * The longest text accepted in a user prompt's `friendlyName` or `description`, in UTF-16 code units.
 *
 * @since 0.4.0
 */
export const MAX_PROMPT_TEXT = 1024;

/**
 * The longest key name the key store accepts, in UTF-16 code units. A provider may accept less.
 *
 * @since 0.4.0
 */
export const MAX_KEY_NAME_LENGTH = 255;

// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** A value as a message shows it: strings quoted, anything else as `String` gives it (never throws). */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

/**
 * An `ERR_KEYSTORE_INVALID_ARGUMENT` error, with `providerId` when a provider raises it.
 *
 * @since 0.4.0
 */
export function invalidArgument(message: string, providerId?: string): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_INVALID_ARGUMENT',
    message,
    providerId === undefined ? undefined : { providerId },
  );
}

/**
 * Returns `request` when it is an object; otherwise throws `ERR_KEYSTORE_INVALID_ARGUMENT` saying
 * that `what` (the method, such as `createKey`) needs a request object.
 *
 * @since 0.4.0
 */
export function checkRequest<T>(request: T, what: string, providerId?: string): NonNullable<T> {
  if (typeof request !== 'object' || request === null)
    throw invalidArgument(`${what} needs a request object`, providerId);
  return request as NonNullable<T>;
}

/**
 * The scope a request names, or `undefined` when it names none; `ERR_KEYSTORE_INVALID_ARGUMENT`
 * unless it is `user` or `machine`.
 *
 * @since 0.4.0
 */
export function checkScope(scope: unknown, providerId?: string): KeyScope | undefined {
  if (scope === undefined) return undefined;
  if (scope !== 'user' && scope !== 'machine') {
    throw invalidArgument(`invalid scope ${shown(scope)}: user or machine`, providerId);
  }
  return scope;
}

/**
 * The scope a provider request names, `user` by default, checked as by {@link checkScope} and
 * against the scopes the provider has (`ERR_KEYSTORE_UNSUPPORTED_OPERATION` for one it has not).
 *
 * @since 0.4.0
 */
export function checkProviderScope(
  scope: unknown,
  providerId: string,
  scopes: readonly KeyScope[] = KEY_SCOPES,
): KeyScope {
  const checked = checkScope(scope, providerId) ?? 'user';
  if (!scopes.includes(checked)) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      `the ${providerId} provider has no ${checked} scope`,
      {
        providerId,
      },
    );
  }
  return checked;
}

/**
 * The `AbortSignal` a request carries, or `undefined`; `ERR_KEYSTORE_INVALID_ARGUMENT` for anything else.
 *
 * @since 0.4.0
 */
export function checkSignal(signal: unknown, providerId?: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalidArgument('signal must be an AbortSignal', providerId);
  return signal;
}

/**
 * The key password a request carries, or `undefined` for none; `ERR_KEYSTORE_INVALID_ARGUMENT` when
 * it is not a string or holds a NUL character (native stores take passwords as C strings).
 *
 * @since 0.4.0
 */
export function checkPassword(password: unknown, providerId?: string): string | undefined {
  if (password === undefined) return undefined;
  if (typeof password !== 'string') throw invalidArgument('password must be a string', providerId);
  if (password.includes('\0')) throw invalidArgument('password may not contain NUL characters', providerId);
  return password;
}

/**
 * For a provider whose keys take no password: returns when the request carries none (`undefined`,
 * `null` or the empty string), else throws `ERR_KEYSTORE_UNSUPPORTED_OPERATION` with the provider's
 * own message and hint (what protects its keys instead).
 *
 * @since 0.4.0
 */
export function checkNoPassword(
  password: unknown,
  providerId: string,
  refusal: { message: string; hint: string },
): void {
  if (password === undefined || password === null || password === '') return;
  throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', refusal.message, { providerId, hint: refusal.hint });
}

/** Checks one member of a user prompt and returns it. */
function promptMember(key: string, member: unknown, providerId: string | undefined): string | boolean {
  if (key === 'friendlyName' || key === 'description') {
    if (typeof member !== 'string') throw invalidArgument(`userPrompt.${key} must be a string`, providerId);
    if (member.length > MAX_PROMPT_TEXT) {
      throw invalidArgument(
        `userPrompt.${key} is at most ${MAX_PROMPT_TEXT} characters long, not ${member.length}`,
        providerId,
      );
    }
    if (member.includes('\0')) throw invalidArgument(`userPrompt.${key} may not contain NUL characters`, providerId);
    return member;
  }
  if (key === 'forceHighProtection') {
    if (typeof member !== 'boolean')
      throw invalidArgument('userPrompt.forceHighProtection must be a boolean', providerId);
    return member;
  }
  throw invalidArgument(
    `unknown userPrompt member ${JSON.stringify(key)} (friendlyName, description, forceHighProtection)`,
    providerId,
  );
}

/**
 * Validates a request's `userPrompt` and returns its members copied into a fresh frozen object (so
 * that a caller cannot change them between the check and their use), or `undefined` for none.
 * `ERR_KEYSTORE_INVALID_ARGUMENT` for a non-object, an unknown member, a text that is not a string,
 * is longer than {@link MAX_PROMPT_TEXT} or holds NUL, or a `forceHighProtection` that is not a boolean.
 *
 * @since 0.4.0
 */
export function checkUserPrompt(value: unknown, providerId?: string): UserPromptOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgument('userPrompt must be an object', providerId);
  }
  const out: Record<string, string | boolean> = {};
  for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
    if (member !== undefined) out[key] = promptMember(key, member, providerId);
  }
  return Object.freeze(out) as UserPromptOptions;
}

/**
 * Checks the key name of a request: a non-empty string of at most {@link MAX_KEY_NAME_LENGTH}
 * characters, well-formed Unicode, without control characters, not starting with `keystore:` (which
 * marks a key reference). `ERR_KEYSTORE_INVALID_NAME` otherwise. A provider may add rules of its store.
 *
 * @since 0.4.0
 */
export function checkKeyName(name: unknown, providerId?: string): string {
  const fail = (message: string) =>
    new KeyStoreError('ERR_KEYSTORE_INVALID_NAME', message, providerId === undefined ? undefined : { providerId });
  if (typeof name !== 'string' || name.length === 0) throw fail('a key name must be a non-empty string');
  if (name.length > MAX_KEY_NAME_LENGTH) {
    throw fail(`a key name is at most ${MAX_KEY_NAME_LENGTH} characters long, not ${name.length}`);
  }
  if (CONTROL_CHARACTERS.test(name)) throw fail('a key name may not contain NUL or other control characters');
  if (name.startsWith(KEY_REF_PREFIX)) {
    throw fail(`a key name may not start with "${KEY_REF_PREFIX}", which marks a key reference`);
  }
  try {
    encodeURIComponent(name);
  } catch {
    throw fail('a key name must be well-formed Unicode (no lone surrogates)');
  }
  return name;
}

/**
 * Checks that `digest` is as long as a digest made with `hash`; `ERR_KEYSTORE_INVALID_ARGUMENT` otherwise.
 *
 * @since 0.4.0
 */
export function checkDigestLength(digest: Uint8Array, hash: HashAlgorithm, providerId?: string): void {
  const expected = digestLength(hash);
  if (digest.byteLength !== expected) {
    throw invalidArgument(`a ${hash} digest is ${expected} bytes long, not ${digest.byteLength}`, providerId);
  }
}
