/**
 * The PKCS#11 provider's options, the PIN's sources, and the checks every request goes through
 * before any native call.
 *
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { type KeyScope, KeyStoreError, OAEP_HASHES, type OaepHash } from '@keystore/core';
import { checkNoPassword as kitCheckNoPassword, checkScope as kitCheckScope } from '@keystore/core/provider';
import type { TestPolicySources } from '@keystore/core/testing';
import { POLICY_SOURCES_KEY } from './isolation.js';
import type { Pkcs11Native } from './native/pkcs11.js';
import { PROVIDER_ID } from './rv.js';
import { Secret } from './secret.js';

/**
 * Options of {@link Pkcs11Provider}. Give the module, one way to find the token (`tokenLabel` or
 * `tokenSerial`; slot ids change across restarts, so they are not an option) and at most one source
 * of the user PIN.
 *
 * @since 0.1.0
 */
export interface Pkcs11ProviderOptions {
  /** Absolute path of the PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`). */
  module: string;
  /** The token's label (`CK_TOKEN_INFO.label`, trailing spaces ignored). */
  tokenLabel?: string;
  /** The token's serial number (`CK_TOKEN_INFO.serialNumber`). */
  tokenSerial?: string;
  /** The user PIN itself, as a string or a {@link Secret}. */
  pin?: string | Secret;
  /** A file holding the user PIN (one trailing newline is dropped). */
  pinFile?: string;
  /** The name of an environment variable holding the user PIN (read when the provider is made). */
  pinEnv?: string;
  /** Sessions used in parallel (default 4, at most 32). Each runs one operation at a time. */
  poolSize?: number;
  /**
   * The OAEP hashes the token decrypts with (default all four). PKCS#11 has no way to ask a token
   * which OAEP parameters it accepts; SoftHSM2 2.6 accepts only `sha1`, so give `['sha1']` there.
   */
  oaepHashes?: readonly OaepHash[];
  /**
   * The test hatch of `@keystore/core/testing` (`[TEST_POLICY_SOURCES]`): replaces the machine
   * policy sources the module's declared isolation is read from. Code only; tests and tools.
   */
  [POLICY_SOURCES_KEY]?: TestPolicySources;
  /**
   * A replacement for the loaded module: for tests of the provider's logic over a double. Production
   * code leaves it unset.
   */
  native?: Pkcs11Native;
}

/** The options after checking, the PIN wrapped. */
export interface CheckedOptions {
  readonly module: string;
  readonly tokenLabel: string | undefined;
  readonly tokenSerial: string | undefined;
  readonly pin: Secret | undefined;
  readonly poolSize: number;
  readonly oaepHashes: readonly OaepHash[];
  readonly native: Pkcs11Native | undefined;
  readonly policySources: TestPolicySources | undefined;
}

/** A typed error of this provider: `providerId` pkcs11, with the hint when given. */
function pkcs11Error(
  code: 'ERR_KEYSTORE_INVALID_ARGUMENT' | 'ERR_KEYSTORE_KEY_NOT_FOUND' | 'ERR_KEYSTORE_INVALID_NAME',
  message: string,
  hint?: string,
): KeyStoreError {
  return new KeyStoreError(code, message, { providerId: PROVIDER_ID, hint });
}

function pinFromFile(path: string): Secret {
  if (!isAbsolute(path)) {
    throw pkcs11Error(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      'pinFile must be an absolute path',
      'a relative path would be read from the working directory, which other users may control',
    );
  }
  let text: string;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new Error('not a regular file');
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw pkcs11Error(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        `the PIN file ${path} can be read or written by other users (mode ${(stat.mode & 0o777).toString(8)})`,
        `chmod 600 ${path}`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    if (KeyStoreError.is(cause)) throw cause;
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `the PIN file ${path} could not be read`, {
      providerId: PROVIDER_ID,
      hint: 'check that the file exists and that this user can read it',
      cause,
    });
  }
  return new Secret(text.replace(/\r?\n$/, ''));
}

/** The user PIN from the one source given, or `undefined` when none is. */
export function resolvePin(options: Pick<Pkcs11ProviderOptions, 'pin' | 'pinFile' | 'pinEnv'>): Secret | undefined {
  const given = [options.pin, options.pinFile, options.pinEnv].filter((v) => v !== undefined).length;
  if (given > 1) {
    throw pkcs11Error('ERR_KEYSTORE_INVALID_ARGUMENT', 'give the PIN one way: pin, pinFile or pinEnv');
  }
  if (options.pin instanceof Secret) return options.pin;
  if (options.pin !== undefined) {
    if (typeof options.pin !== 'string')
      throw pkcs11Error('ERR_KEYSTORE_INVALID_ARGUMENT', 'pin must be a string or a Secret');
    return new Secret(options.pin);
  }
  if (options.pinFile !== undefined) return pinFromFile(String(options.pinFile));
  if (options.pinEnv !== undefined) {
    const value = process.env[String(options.pinEnv)];
    if (value === undefined) {
      throw pkcs11Error(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        `the environment variable ${String(options.pinEnv)} named by pinEnv is not set`,
      );
    }
    return new Secret(value);
  }
  return undefined;
}

/** Checks the options; the PIN is read now and kept only as a {@link Secret}. */
export function checkOptions(options: Pkcs11ProviderOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) {
    throw pkcs11Error('ERR_KEYSTORE_INVALID_ARGUMENT', 'the PKCS#11 provider needs options with at least `module`');
  }
  if (typeof options.module !== 'string' || !isAbsolute(options.module)) {
    throw pkcs11Error(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      'module must be the absolute path of a PKCS#11 library',
      'a bare name would be searched on the library path, which the environment can change; give the full path (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)',
    );
  }
  for (const key of ['tokenLabel', 'tokenSerial'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value) > 32)) {
      throw pkcs11Error('ERR_KEYSTORE_INVALID_ARGUMENT', `${key} must be a string of 1 to 32 bytes`);
    }
  }
  if (options.tokenLabel !== undefined && options.tokenSerial !== undefined) {
    throw pkcs11Error('ERR_KEYSTORE_INVALID_ARGUMENT', 'give the token by tokenLabel or by tokenSerial, not both');
  }
  const poolSize = options.poolSize ?? 4;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 32) {
    throw pkcs11Error(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      `poolSize must be an integer from 1 to 32, not ${String(poolSize)}`,
    );
  }
  const oaepHashes = options.oaepHashes ?? OAEP_HASHES;
  if (!Array.isArray(oaepHashes) || oaepHashes.some((h) => !OAEP_HASHES.includes(h))) {
    throw pkcs11Error('ERR_KEYSTORE_INVALID_ARGUMENT', `oaepHashes must be a list of ${OAEP_HASHES.join(', ')}`);
  }
  return {
    module: options.module,
    oaepHashes: [...oaepHashes],
    tokenLabel: options.tokenLabel,
    tokenSerial: options.tokenSerial,
    pin: resolvePin(options),
    poolSize,
    native: options.native,
    policySources: options[POLICY_SOURCES_KEY],
  };
}

/** Key names: what a `CKA_LABEL` holds and a person can type (1-64 characters, no control characters). */
export const KEY_NAME_RULE = '1 to 64 characters of letters, digits, `.`, `_`, `-`, `@`, `:`';
const KEY_NAME = /^[A-Za-z0-9._@:-]{1,64}$/;

/** Refuses a name this provider does not store. */
export function checkName(name: unknown): string {
  if (typeof name !== 'string' || !KEY_NAME.test(name)) {
    throw pkcs11Error('ERR_KEYSTORE_INVALID_NAME', `invalid key name ${JSON.stringify(name)}: ${KEY_NAME_RULE}`);
  }
  return name;
}

/**
 * The request's scope. A token has no per-user and per-machine halves: its keys belong to whoever
 * holds its PIN. Keys live in `user` scope; `machine` is refused with that reason.
 */
export function checkScope(scope: unknown): KeyScope {
  const checked = kitCheckScope(scope, PROVIDER_ID) ?? 'user';
  if (checked === 'machine') {
    throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'the PKCS#11 provider has no machine scope', {
      providerId: PROVIDER_ID,
      hint: 'a token\'s keys belong to whoever holds its user PIN, whatever the OS user; use scope "user" and share the PIN (or the token) as the machine\'s services need',
    });
  }
  return checked;
}

/** Refuses a key password: token keys are protected by the token's PIN, not a password of their own. */
export function checkNoPassword(password: unknown): void {
  kitCheckNoPassword(password, PROVIDER_ID, {
    message: 'PKCS#11 keys do not take a password of their own',
    hint: "the token's user PIN protects every key on it; give the PIN in the provider options",
  });
}

/** The error of a call on (or interrupted by) a closed provider. */
export function closedError(): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'the PKCS#11 provider was closed', {
    providerId: PROVIDER_ID,
  });
}
