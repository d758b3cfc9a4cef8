/**
 * Key algorithms, hashes and signature options, with the identifiers used by the API, the policy and the CLI.
 *
 * @module
 */
import { KeyStoreError } from './errors.js';

/**
 * Every key algorithm identifier. `ECDSA-*` keys sign; `ECDH-*` keys derive shared secrets;
 * `RSA-*` keys sign and decrypt.
 *
 * @since 0.1.0
 */
export const KEY_ALGORITHMS = [
  'RSA-2048',
  'RSA-3072',
  'RSA-4096',
  'ECDSA-P256',
  'ECDSA-P384',
  'ECDSA-P521',
  'ECDH-P256',
  'ECDH-P384',
  'ECDH-P521',
] as const;

/**
 * One of {@link KEY_ALGORITHMS}.
 *
 * @since 0.1.0
 */
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/**
 * What a key can be used for.
 *
 * @since 0.1.0
 */
export type KeyOperation = 'sign' | 'decrypt' | 'derive';

/**
 * Every key operation.
 *
 * @since 0.1.0
 */
export const KEY_OPERATIONS: readonly KeyOperation[] = ['sign', 'decrypt', 'derive'];

/**
 * Hashes for signatures (`sha256`, `sha384`, `sha512`).
 *
 * @since 0.1.0
 */
export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';

/**
 * Every signature hash.
 *
 * @since 0.1.0
 */
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];

/**
 * Hashes for RSA-OAEP decryption.
 *
 * @since 0.1.0
 */
export type OaepHash = 'sha1' | HashAlgorithm;

/**
 * Every OAEP hash.
 *
 * @since 0.1.0
 */
export const OAEP_HASHES: readonly OaepHash[] = ['sha1', 'sha256', 'sha384', 'sha512'];

/**
 * RSA signature padding: PKCS#1 v1.5 or PSS.
 *
 * @since 0.1.0
 */
export type RsaPadding = 'pkcs1' | 'pss';

/**
 * ECDSA signature encoding, as in Node's `crypto.sign`: ASN.1 DER or IEEE P1363 (`r‖s`).
 *
 * @since 0.1.0
 */
export type DsaEncoding = 'der' | 'ieee-p1363';

/**
 * Whether a key is the current user's or the machine's.
 *
 * @since 0.1.0
 */
export type KeyScope = 'user' | 'machine';

/**
 * Every scope.
 *
 * @since 0.1.0
 */
export const KEY_SCOPES: readonly KeyScope[] = ['user', 'machine'];

/**
 * Facts about one algorithm.
 *
 * @since 0.1.0
 */
export interface AlgorithmInfo {
  /** The identifier. */
  readonly id: KeyAlgorithm;
  /** `rsa` or `ec`. */
  readonly family: 'rsa' | 'ec';
  /** RSA modulus size or EC field size, in bits. */
  readonly bits: number;
  /** The NIST curve name for EC keys (`P-256` …), as in JWK `crv`. */
  readonly curve?: 'P-256' | 'P-384' | 'P-521';
  /** The OpenSSL curve name Node uses (`prime256v1` …). */
  readonly namedCurve?: 'prime256v1' | 'secp384r1' | 'secp521r1';
  /** Operations a key of this algorithm supports. */
  readonly operations: readonly KeyOperation[];
  /** Size of an EC field element in bytes (32, 48, 66), for IEEE P1363 signatures. */
  readonly fieldBytes?: number;
}

const EC = {
  'P-256': { namedCurve: 'prime256v1', bits: 256, fieldBytes: 32 },
  'P-384': { namedCurve: 'secp384r1', bits: 384, fieldBytes: 48 },
  'P-521': { namedCurve: 'secp521r1', bits: 521, fieldBytes: 66 },
} as const;

function ec(id: KeyAlgorithm, curve: keyof typeof EC, op: KeyOperation): AlgorithmInfo {
  return { id, family: 'ec', curve, ...EC[curve], operations: [op] };
}

function rsa(id: KeyAlgorithm, bits: number): AlgorithmInfo {
  return { id, family: 'rsa', bits, operations: ['sign', 'decrypt'] };
}

const INFO: Readonly<Record<KeyAlgorithm, AlgorithmInfo>> = {
  'RSA-2048': rsa('RSA-2048', 2048),
  'RSA-3072': rsa('RSA-3072', 3072),
  'RSA-4096': rsa('RSA-4096', 4096),
  'ECDSA-P256': ec('ECDSA-P256', 'P-256', 'sign'),
  'ECDSA-P384': ec('ECDSA-P384', 'P-384', 'sign'),
  'ECDSA-P521': ec('ECDSA-P521', 'P-521', 'sign'),
  'ECDH-P256': ec('ECDH-P256', 'P-256', 'derive'),
  'ECDH-P384': ec('ECDH-P384', 'P-384', 'derive'),
  'ECDH-P521': ec('ECDH-P521', 'P-521', 'derive'),
};

/**
 * True when `value` is one of the algorithm identifiers.
 *
 * @since 0.1.0
 */
export function isKeyAlgorithm(value: unknown): value is KeyAlgorithm {
  return typeof value === 'string' && Object.hasOwn(INFO, value);
}

/**
 * Facts about an algorithm.
 *
 * @example
 * ```ts
 * algorithmInfo('ECDSA-P384').fieldBytes; // 48
 * algorithmInfo('RSA-3072').operations; // ['sign', 'decrypt']
 * ```
 * @since 0.1.0
 */
export function algorithmInfo(algorithm: KeyAlgorithm): AlgorithmInfo {
  const info = isKeyAlgorithm(algorithm) ? INFO[algorithm] : undefined;
  if (!info) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      `unknown key algorithm: ${String(algorithm)} (expected one of ${KEY_ALGORITHMS.join(', ')})`,
    );
  }
  return info;
}

/**
 * The size in bytes of a digest made with `hash`.
 *
 * @since 0.1.0
 */
export function digestLength(hash: OaepHash): number {
  switch (hash) {
    case 'sha1':
      return 20;
    case 'sha256':
      return 32;
    case 'sha384':
      return 48;
    case 'sha512':
      return 64;
  }
}
