/**
 * The TPM provider's options and the checks every request goes through before any native call.
 *
 * @module
 */
import { type KeyScope, KeyStoreError } from '@keystore/core';
import {
  checkProviderScope,
  checkPassword as kitCheckPassword,
  checkRequest as kitCheckRequest,
} from '@keystore/core/provider';
import type { FapiBindings } from './native/fapi.js';

/**
 * Time limits, in milliseconds.
 *
 * @since 0.1.0
 */
export interface TpmTimeouts {
  /** `Fapi_Initialize` (connecting to the TPM); default 5,000. */
  connect?: number;
  /** One sign, decrypt, export, list or delete once it runs; default 10,000. */
  operation?: number;
  /** Key creation (RSA key generation takes seconds on some chips); default 60,000. */
  create?: number;
  /** The whole of `probe()`; default 3,000. */
  probe?: number;
}

/**
 * Options of {@link TpmProvider}.
 *
 * @since 0.1.0
 */
export interface TpmProviderOptions {
  /** A FAPI config file; default: the file named by env `TSS2_FAPICONF`. */
  configFile?: string;
  /** FAPI contexts used in parallel (default 2, at most 8). Each serves one call at a time. */
  poolSize?: number;
  /** Time limits. */
  timeouts?: TpmTimeouts;
  /** The FAPI shared library (default `libtss2-fapi.so.1`). */
  libraryPath?: string;
  /**
   * Keys each pool context keeps loaded in the TPM for signing (an integer from 0 to 16). A loaded
   * key signs with one TPM command; `0` sends every signature through `Fapi_Sign` (about six
   * commands). Default: 4 through a resource manager (`device:/dev/tpmrm0`, `tabrmd`); 0 straight
   * to a TPM or simulator, whose three transient object slots a loaded key would hold between calls
   * (set 1 where this process is the TPM's only user). Keys with a password or a policy always sign
   * through FAPI. See the TPM provider's page.
   *
   * @since 0.2.0
   */
  loadedKeys?: number;
  /**
   * A replacement for the FAPI function table: for tests of the provider's logic over a double.
   * Production code leaves it unset.
   */
  native?: FapiBindings;
}

/** The scopes a TPM key can live in, in the order a key is looked for. */
export const SCOPES: readonly KeyScope[] = ['user', 'machine'];
const MAX_PASSWORD_BYTES = 32;

/** A typed error of the TPM provider for a bad argument or a missing key. */
export function tpmError(
  code: 'ERR_KEYSTORE_INVALID_ARGUMENT' | 'ERR_KEYSTORE_KEY_NOT_FOUND',
  message: string,
  hint?: string,
): KeyStoreError {
  return new KeyStoreError(code, message, { providerId: 'tpm', hint });
}

/** The pool size asked for: an integer from 1 to 8 (default 2). */
export function checkPoolSize(options: TpmProviderOptions): number {
  const size = options.poolSize ?? 2;
  if (!Number.isInteger(size) || size < 1 || size > 8) {
    throw tpmError('ERR_KEYSTORE_INVALID_ARGUMENT', `poolSize must be an integer from 1 to 8, not ${String(size)}`);
  }
  return size;
}

/** The `loadedKeys` option: an integer from 0 to 16, or `undefined` for the default. */
export function checkLoadedKeys(options: TpmProviderOptions): number | undefined {
  const n = options.loadedKeys;
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0 || n > 16) {
    throw tpmError('ERR_KEYSTORE_INVALID_ARGUMENT', `loadedKeys must be an integer from 0 to 16, not ${String(n)}`);
  }
  return n;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw tpmError('ERR_KEYSTORE_INVALID_ARGUMENT', `${name} must be a positive number of milliseconds`);
  }
  return value;
}

/** Every time limit, the defaults filled in; a limit that is not a positive number is refused. */
export function checkTimeouts(options: TpmProviderOptions): Required<TpmTimeouts> {
  const t = options.timeouts ?? {};
  return {
    connect: positive(t.connect, 5_000, 'timeouts.connect'),
    operation: positive(t.operation, 10_000, 'timeouts.operation'),
    create: positive(t.create, 60_000, 'timeouts.create'),
    probe: positive(t.probe, 3_000, 'timeouts.probe'),
  };
}

/** Refuses a request that is not an object (a JavaScript caller may pass anything). */
export function checkRequest<T>(request: T, what: string): NonNullable<T> {
  return kitCheckRequest(request, what, 'tpm');
}

/** The request's scope: `user` when unset. */
export function checkScope(scope: unknown): KeyScope {
  return checkProviderScope(scope, 'tpm', SCOPES);
}

/** The request's key password, or `undefined` for none; TPM auth values are at most a SHA-256 digest long. */
export function checkPassword(password: unknown): string | undefined {
  if (password === null || password === '') return undefined;
  const checked = kitCheckPassword(password, 'tpm');
  if (checked !== undefined && Buffer.byteLength(checked, 'utf8') > MAX_PASSWORD_BYTES) {
    throw tpmError(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      `a TPM key password is at most ${MAX_PASSWORD_BYTES} bytes in UTF-8 (the size of a SHA-256 digest)`,
    );
  }
  return checked;
}

/** The error of a call on (or interrupted by) a closed provider. */
export function closedError(when?: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    `the TPM provider was closed${when ? ` ${when}` : ''}`,
    {
      providerId: 'tpm',
      ...(cause === undefined ? {} : { cause }),
    },
  );
}
