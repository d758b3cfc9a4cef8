/**
 * The provider's options, and the checks of options and requests that run before any policy read or
 * CryptoAPI call: bad input gets a typed `KeyStoreError`, never a native failure.
 *
 * @module
 */
import {
  isIsolationLevel,
  isolationRank,
  type KeyScope,
  KeyStoreError,
  type ProviderCreateRequest,
} from '@keystore/core';
import { checkNoPassword, checkProviderScope, invalidArgument } from '@keystore/core/provider';
import type { TestPolicySources } from '@keystore/core/testing';
import { POLICY_SOURCES_KEY } from './gate.js';
import type { CapiKeySpec, CapiThreading } from './key.js';
import { assertNewKeyName } from './names.js';
import type { AdvapiBindings } from './native/advapi32.js';

/**
 * Options of {@link CapiProvider}.
 *
 * @since 0.2.0
 */
export interface CapiProviderOptions {
  /**
   * The key pair new keys become in their container: `keyExchange` (`AT_KEYEXCHANGE`, the default:
   * signs and decrypts) or `signature` (`AT_SIGNATURE`: signs only, the spec some older programs
   * expect for signing keys).
   */
  keySpec?: CapiKeySpec;
  /** Where private-key operations run (default `auto`); see {@link CapiThreading}. */
  threading?: CapiThreading;
  /**
   * The test hatch: machine policy sources to replace, under the key `TEST_POLICY_SOURCES` of
   * `@keystore/core/testing` (`machinePolicy`, `registryPolicy`, `registryReader`, `env`). Each
   * replacement is published as a `policy.override` audit event. Otherwise the provider obeys every
   * machine policy itself, also when used without a key store: the file at the fixed path, the file
   * `KEYSTORE_MACHINE_POLICY` names, and on Windows the registry key
   * `HKLM\SOFTWARE\Policies\keystore`. Since 0.3.0 the options `machinePolicy`, `registryPolicy`,
   * `registryReader` and `env` are gone, and rejected when given.
   *
   * @since 0.3.0
   */
  [POLICY_SOURCES_KEY]?: TestPolicySources;
  /**
   * How long, in milliseconds, one registry read is reused by the provider's later operations
   * (default 30 000; `0` reads the key for every operation). A failed read is never reused.
   *
   * @since 0.2.0
   */
  registryCacheMs?: number;
  /**
   * Whether `listKeys` reports each key's algorithm (default `false`). Reading it means opening the
   * container's key pair (`CryptGetUserKey`), which loads the private key into this process; a plain
   * listing reads container names only and opens no key.
   *
   * @since 0.2.0
   */
  listAlgorithms?: boolean;
  /**
   * A replacement for the CryptoAPI function table: for tests of the provider's logic over a double.
   * Production code leaves it unset.
   */
  native?: AdvapiBindings;
}

/** An `ERR_KEYSTORE_INVALID_ARGUMENT` of the provider. */
export function invalid(message: string): KeyStoreError {
  return invalidArgument(message, 'capi');
}

/** Throws when a password is given: CryptoAPI containers have none. */
export function noPassword(password: unknown): void {
  checkNoPassword(password, 'capi', {
    message: 'CryptoAPI key containers have no passwords',
    hint: 'omit the password; a CryptoAPI container is protected by the account that owns it',
  });
}

/** The error of a call on (or still waiting when) the provider was closed. */
export function closedError(message = 'the CryptoAPI provider was closed'): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', message, { providerId: 'capi' });
}

/** The error of a call whose signal was aborted. */
export function cancelled(signal: AbortSignal, message = 'the operation was cancelled'): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_CANCELLED', message, { providerId: 'capi', cause: signal.reason });
}

/** Checks the parts of a create or import request that are not the key itself. */
export function checkNewKeyRequest(request: ProviderCreateRequest): { scope: KeyScope; exportable: boolean } {
  assertNewKeyName(request.name);
  const scope = checkProviderScope(request.scope, 'capi');
  if (request.exportable !== undefined && typeof request.exportable !== 'boolean') {
    throw invalid('exportable must be a boolean');
  }
  noPassword(request.password);
  if (request.userPrompt !== undefined) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      'the CryptoAPI provider does not protect keys with a user prompt',
      { providerId: 'capi', hint: 'use the CNG provider for keys protected by a prompt' },
    );
  }
  const floor = request.minimumIsolation;
  if (floor !== undefined) {
    if (!isIsolationLevel(floor)) throw invalid(`unknown isolation level ${JSON.stringify(floor)}`);
    if (isolationRank(floor) > isolationRank('in-process')) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_POLICY_VIOLATION',
        `CryptoAPI keys are in-process, below the isolation floor ${floor}`,
        { providerId: 'capi', hint: 'use a provider that reaches the floor (cng, tpm)' },
      );
    }
  }
  return { scope, exportable: request.exportable === true };
}

/**
 * Checks the provider's options (the constructor's first step) and returns the key spec and threading
 * they choose. Options removed in 0.3.0 are rejected, so that no app option lifts the machine policy.
 */
export function checkProviderOptions(options: CapiProviderOptions): { keySpec: CapiKeySpec; threading: CapiThreading } {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  const keySpec = options.keySpec ?? 'keyExchange';
  if (keySpec !== 'keyExchange' && keySpec !== 'signature') {
    throw invalid(`keySpec must be keyExchange or signature, not ${JSON.stringify(keySpec)}`);
  }
  const threading = options.threading ?? 'auto';
  if (threading !== 'auto' && threading !== 'worker') {
    throw invalid(`threading must be auto or worker, not ${JSON.stringify(threading)}`);
  }
  const removed = ['machinePolicy', 'registryPolicy', 'registryReader', 'env'].filter(
    (name) => (options as Record<string, unknown>)[name] !== undefined,
  );
  if (removed.length > 0) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      `the capi provider no longer takes ${removed.join(', ')}: the machine policy is a ceiling no app option can lift or replace`,
      {
        providerId: 'capi',
        hint: 'in tests, pass TEST_POLICY_SOURCES from @keystore/core/testing (or use createTestKeyStore); in production, remove the option',
      },
    );
  }
  const sources: unknown = options[POLICY_SOURCES_KEY];
  if (sources !== undefined) {
    if (typeof sources !== 'object' || sources === null) throw invalid('TEST_POLICY_SOURCES must be an object');
    const s = sources as TestPolicySources;
    for (const field of ['machinePolicy', 'registryPolicy'] as const) {
      const value: unknown = s[field];
      if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
        throw invalid(`${field} must be a policy object, null or omitted`);
      }
    }
    if (s.registryReader !== undefined && typeof s.registryReader !== 'function') {
      throw invalid('registryReader must be a function');
    }
  }
  const cacheMs: unknown = options.registryCacheMs;
  if (cacheMs !== undefined && (typeof cacheMs !== 'number' || !Number.isFinite(cacheMs) || cacheMs < 0)) {
    throw invalid(`registryCacheMs must be a number of milliseconds, 0 or more, not ${String(cacheMs)}`);
  }
  if (options.listAlgorithms !== undefined && typeof options.listAlgorithms !== 'boolean') {
    throw invalid('listAlgorithms must be a boolean');
  }
  return { keySpec, threading };
}
