/**
 * Key names and FAPI paths: a key named `N` lives at `HS/SRK/N`.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';

/**
 * The longest key name accepted.
 *
 * @since 0.1.0
 */
export const MAX_KEY_NAME_LENGTH = 64;

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/**
 * The rule key names follow, in words (also in `docs/providers/tpm.md`).
 *
 * @since 0.1.0
 */
export const KEY_NAME_RULE =
  'a TPM key name is 1 to 64 characters from A-Z a-z 0-9 . _ - , is not "." or "..", and does not end in ".json" in any case (it becomes one FAPI path component, HS/SRK/<name>, beside FAPI\'s own object.json files)';

/**
 * FAPI keeps each object in a file `object.json` inside the object's directory, and the SRK's own in
 * `HS/SRK/object.json`, beside the key directories: a key named `object.json` would be that file,
 * and tpm2-tss 3.2.1 fails natively on names ending in `.json`. Refused in any case, since the
 * keystore may sit on a case-insensitive file system.
 */
const FAPI_FILE_NAME = /\.json$/i;

/**
 * True when `name` is a valid TPM key name (see {@link KEY_NAME_RULE}).
 *
 * @example
 * ```ts
 * isValidKeyName('signing-key.v2'); // true
 * isValidKeyName('a/b'); // false: "/" would make a child key path
 * ```
 * @since 0.1.0
 */
export function isValidKeyName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length >= 1 &&
    name.length <= MAX_KEY_NAME_LENGTH &&
    NAME_PATTERN.test(name) &&
    name !== '.' &&
    name !== '..' &&
    !FAPI_FILE_NAME.test(name)
  );
}

/** Throws `ERR_KEYSTORE_INVALID_NAME` naming the rule when `name` is not a valid key name. */
export function assertKeyName(name: unknown): asserts name is string {
  if (!isValidKeyName(name)) {
    const shown =
      typeof name === 'string' ? JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name) : typeof name;
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_NAME', `invalid TPM key name ${shown}: ${KEY_NAME_RULE}`, {
      providerId: 'tpm',
      hint: 'use letters, digits, ".", "_" and "-" only, at most 64 characters, not ending in ".json"',
    });
  }
}

/**
 * The FAPI path of the key named `name`: `HS/SRK/<name>` in the config's default profile, or
 * `/<profile>/HS/SRK/<name>` when `profile` names another profile (RSA keys next to an ECC default
 * profile, for example). Throws `ERR_KEYSTORE_INVALID_NAME` for a name that breaks the rule.
 *
 * @example
 * ```ts
 * fapiPathForKey('signing'); // 'HS/SRK/signing'
 * fapiPathForKey('archive', 'P_RSA2048SHA256'); // '/P_RSA2048SHA256/HS/SRK/archive'
 * ```
 * @since 0.1.0
 */
export function fapiPathForKey(name: string, profile?: string): string {
  assertKeyName(name);
  return profile ? `/${profile}/HS/SRK/${name}` : `HS/SRK/${name}`;
}

/**
 * A parsed FAPI key path.
 *
 * @since 0.1.0
 */
export interface FapiKeyPath {
  /** The profile named in the path (`/P_RSA2048SHA256/HS/SRK/N`), if any. */
  profile?: string;
  /** The key name. */
  name: string;
}

/**
 * Parses a FAPI key path (`HS/SRK/N`, `/HS/SRK/N` or `/<profile>/HS/SRK/N`, as `Fapi_List`
 * returns them). Returns `undefined` for anything that is not a key directly under the SRK (hierarchies,
 * the SRK itself, child keys, NV indexes) or whose name breaks the rule.
 *
 * @example
 * ```ts
 * parseFapiKeyPath('/P_ECCP256SHA256/HS/SRK/signing'); // { profile: 'P_ECCP256SHA256', name: 'signing' }
 * ```
 * @since 0.1.0
 */
export function parseFapiKeyPath(path: string): FapiKeyPath | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  let profile: string | undefined;
  if (parts[0] !== 'HS') profile = parts.shift();
  if (parts.length !== 3 || parts[0] !== 'HS' || parts[1] !== 'SRK') return undefined;
  const name = parts[2] as string;
  if (!isValidKeyName(name)) return undefined;
  return profile === undefined ? { name } : { profile, name };
}

/** Splits a FAPI path into its profile (a first component starting with `P_`, as FAPI reads it) and the rest. */
function splitProfile(path: string): { profile: string | undefined; rest: string } {
  const parts = path.split('/').filter((p) => p !== '');
  const profile = parts.length > 1 && parts[0]?.startsWith('P_') ? parts.shift() : undefined;
  return { profile, rest: parts.join('/') };
}

/**
 * Whether two FAPI paths name the same object: with or without a leading `/`, with or without the
 * profile prefix (FAPI's auth callback names a key `P_ECCP256SHA256/HS/SRK/N` for `HS/SRK/N`). When
 * both name a profile, or one names one and `defaultProfile` is known, the profiles must match.
 *
 * @example
 * ```ts
 * sameFapiObject('P_ECCP256SHA256/HS/SRK/k', 'HS/SRK/k', 'P_ECCP256SHA256'); // true
 * sameFapiObject('HS', 'HS/SRK/k'); // false
 * ```
 */
export function sameFapiObject(a: string, b: string, defaultProfile?: string): boolean {
  const x = splitProfile(a);
  const y = splitProfile(b);
  if (x.rest === '' || x.rest !== y.rest) return false;
  const px = x.profile ?? defaultProfile;
  const py = y.profile ?? defaultProfile;
  return px === undefined || py === undefined || px === py;
}
