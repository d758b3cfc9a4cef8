/**
 * Key names: one CryptoAPI key container per key, container name = key name.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';

/**
 * The longest name of a key this provider creates or imports.
 *
 * @since 0.2.0
 */
export const MAX_KEY_NAME_LENGTH = 64;

/**
 * The longest container name this provider opens, lists or deletes (the core's limit for key names;
 * CryptoAPI allows 260).
 *
 * @since 0.2.0
 */
export const MAX_CONTAINER_NAME_LENGTH = 255;

const NEW_NAME = /^[A-Za-z0-9._-]+$/;
/** Printable ASCII except the backslash. */
const CONTAINER_NAME = /^[\x20-\x5b\x5d-\x7e]+$/;

/**
 * The rule for names of keys this provider creates or imports, in words (also in `docs/providers/capi.md`).
 *
 * @since 0.2.0
 */
export const KEY_NAME_RULE =
  'a new CryptoAPI key name is 1 to 64 characters from A-Z a-z 0-9 . _ - (the same rule as CNG key names, so that keys move between them unchanged)';

/**
 * The rule for names of existing containers this provider opens, lists or deletes, in words.
 *
 * @since 0.2.0
 */
export const CONTAINER_NAME_RULE =
  'an existing CryptoAPI container is opened by a name of 1 to 255 printable ASCII characters other than "\\" (CryptoAPI enumerates names in the ANSI code page, and Wine files a "\\" as a registry path separator), not starting or ending with a space';

/**
 * True when `name` is a valid name for a new key (see {@link KEY_NAME_RULE}).
 *
 * @example
 * ```ts
 * isValidKeyName('signing-key.v2'); // true
 * isValidKeyName('{0F3A…}'); // false: braces are for existing containers only
 * ```
 * @since 0.2.0
 */
export function isValidKeyName(name: unknown): name is string {
  return typeof name === 'string' && name.length >= 1 && name.length <= MAX_KEY_NAME_LENGTH && NEW_NAME.test(name);
}

/**
 * True when `name` can name an existing container (see {@link CONTAINER_NAME_RULE}): every valid
 * key name, and the names other programs use, such as `{7D5C…}` GUIDs or `le-1234-abcd`.
 *
 * @example
 * ```ts
 * isOpenableContainerName('{0F3A5C1E-8B2D-4E7F-9A10-3C4D5E6F7A8B}'); // true
 * isOpenableContainerName('a\\b'); // false
 * ```
 * @since 0.2.0
 */
export function isOpenableContainerName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length >= 1 &&
    name.length <= MAX_CONTAINER_NAME_LENGTH &&
    CONTAINER_NAME.test(name) &&
    name.trim() === name
  );
}

function shown(name: unknown): string {
  if (typeof name !== 'string') return typeof name;
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
}

/** Throws `ERR_KEYSTORE_INVALID_NAME` naming the rule when `name` cannot name a new key. */
export function assertNewKeyName(name: unknown): asserts name is string {
  if (!isValidKeyName(name)) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_NAME',
      `invalid CryptoAPI key name ${shown(name)}: ${KEY_NAME_RULE}`,
      {
        providerId: 'capi',
        hint: 'use letters, digits, ".", "_" and "-" only, at most 64 characters',
      },
    );
  }
}

/** Throws `ERR_KEYSTORE_INVALID_NAME` naming the rule when `name` cannot name an existing container. */
export function assertContainerName(name: unknown): asserts name is string {
  if (!isOpenableContainerName(name)) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_NAME',
      `invalid CryptoAPI container name ${shown(name)}: ${CONTAINER_NAME_RULE}`,
      { providerId: 'capi', hint: 'list keys to see the container names this provider can open' },
    );
  }
}
