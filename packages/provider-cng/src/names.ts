/**
 * Key names and the NCrypt algorithm identifiers of the SDK's algorithms.
 *
 * @module
 */
import { type KeyAlgorithm, KeyStoreError } from '@keystore/core';

/**
 * The longest key name accepted.
 *
 * @since 0.2.0
 */
export const MAX_KEY_NAME_LENGTH = 64;

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/**
 * The rule key names follow, in words (also in `docs/providers/cng.md`). NCrypt itself accepts
 * almost any string; the rule keeps names that are safe as file names, in a shell and in a key
 * reference (`keystore:cng:user:<name>`), and the same as the TPM provider's.
 *
 * @since 0.2.0
 */
export const KEY_NAME_RULE = 'a CNG key name is 1 to 64 characters from A-Z a-z 0-9 . _ - and is not "." or ".."';

/**
 * True when `name` is a valid key name for an NCrypt key storage provider (see {@link KEY_NAME_RULE}).
 *
 * @example
 * ```ts
 * isValidKeyName('signing-key.v2'); // true
 * isValidKeyName('a\\b'); // false
 * ```
 * @since 0.2.0
 */
export function isValidKeyName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length >= 1 &&
    name.length <= MAX_KEY_NAME_LENGTH &&
    NAME_PATTERN.test(name) &&
    name !== '.' &&
    name !== '..'
  );
}

/**
 * Throws `ERR_KEYSTORE_INVALID_NAME` naming the rule when `name` is not a valid key name.
 *
 * @param name The name to check.
 * @param providerId The id of the provider reporting it.
 * @since 0.2.0
 */
export function assertKeyName(name: unknown, providerId: string): asserts name is string {
  if (!isValidKeyName(name)) {
    const shown =
      typeof name === 'string' ? JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name) : typeof name;
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_NAME', `invalid key name ${shown}: ${KEY_NAME_RULE}`, {
      providerId,
      hint: 'use letters, digits, ".", "_" and "-" only, at most 64 characters',
    });
  }
}

/**
 * The NCrypt algorithm identifier (`pszAlgId` of `NCryptCreatePersistedKey`) for a key algorithm:
 * `RSA` for every RSA size (the size is the `Length` property), `ECDSA_P256` … `ECDH_P521` for the
 * curve-specific EC algorithms.
 *
 * @example
 * ```ts
 * ncryptAlgorithmId('RSA-3072'); // 'RSA'
 * ncryptAlgorithmId('ECDH-P384'); // 'ECDH_P384'
 * ```
 * @since 0.2.0
 */
export function ncryptAlgorithmId(algorithm: KeyAlgorithm): string {
  if (algorithm.startsWith('RSA-')) return 'RSA';
  const [kind, curve] = algorithm.split('-') as [string, string];
  return `${kind}_${curve}`;
}

/**
 * The key algorithm of an NCrypt algorithm identifier, as `NCryptEnumKeys` and the `Algorithm Name`
 * property give it; `undefined` when the SDK has no such algorithm (DSA, DH, an RSA size it does
 * not know). `bits` is the RSA modulus size (`Length`) and `curve` the `ECCCurveName` property, for
 * the generic `RSA`, `ECDSA` and `ECDH` identifiers.
 *
 * @example
 * ```ts
 * keyAlgorithmOf('ECDSA_P256'); // 'ECDSA-P256'
 * keyAlgorithmOf('RSA', { bits: 2048 }); // 'RSA-2048'
 * keyAlgorithmOf('ECDH', { curve: 'nistP384' }); // 'ECDH-P384'
 * keyAlgorithmOf('DSA'); // undefined
 * ```
 * @since 0.2.0
 */
export function keyAlgorithmOf(
  ncryptId: string,
  extra: { readonly bits?: number; readonly curve?: string } = {},
): KeyAlgorithm | undefined {
  const id = ncryptId.toUpperCase();
  if (id === 'RSA') {
    const { bits } = extra;
    return bits === 2048 || bits === 3072 || bits === 4096 ? (`RSA-${bits}` as KeyAlgorithm) : undefined;
  }
  const specific = /^(ECDSA|ECDH)_P(256|384|521)$/.exec(id);
  if (specific) return `${specific[1]}-P${specific[2]}` as KeyAlgorithm;
  if (id === 'ECDSA' || id === 'ECDH') {
    const curve = /^(?:nistP|P-?)(256|384|521)$|^secp(256|384|521)r1$/i.exec(extra.curve ?? '');
    const size = curve?.[1] ?? curve?.[2];
    return size ? (`${id}-P${size}` as KeyAlgorithm) : undefined;
  }
  return undefined;
}
