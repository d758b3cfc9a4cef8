/**
 * The process warning the provider emits the first time a legacy CryptoAPI key is used.
 *
 * @module
 */
import type { KeyScope } from '@keystore/core';

/**
 * The `code` of the warning emitted on the first use of a CryptoAPI key in a process (stable across
 * releases). Listen for it with `process.on('warning', (w) => w.code === LEGACY_CRYPTOAPI_WARNING_CODE)`.
 *
 * @since 0.2.0
 */
export const LEGACY_CRYPTOAPI_WARNING_CODE = 'KEYSTORE_LEGACY_CRYPTOAPI';

/**
 * The `type` (the `name` of the `Error`) of that warning.
 *
 * @since 0.2.0
 */
export const LEGACY_CRYPTOAPI_WARNING_TYPE = 'SecurityWarning';

/** Shared by every copy of this package in the process, so the warning really comes once. */
const EMITTED = Symbol.for('@keystore/provider-capi/legacy-warning-emitted');

const SIMPLE = /^[A-Za-z0-9._:-]+$/;

/** The name as a shell argument: as is when it needs no quoting, else in double quotes. */
function shellWord(name: string): string {
  return SIMPLE.test(name) ? name : `"${name.replace(/["\\$`]/g, (c) => `\\${c}`)}"`;
}

/**
 * The command that moves the key named `name` to CNG, as the warning and the docs print it.
 *
 * @example
 * ```ts
 * migrationCommand('signing'); // 'keystore migrate --from capi:signing --to cng'
 * ```
 * @since 0.2.0
 */
export function migrationCommand(name: string): string {
  return `keystore migrate --from ${shellWord(`capi:${name}`)} --to cng`;
}

/**
 * Emits the legacy CryptoAPI warning, once per process: `process.emitWarning` with type
 * `SecurityWarning` and code {@link LEGACY_CRYPTOAPI_WARNING_CODE}, naming the risk and the migration
 * command for the key being used. Returns whether it emitted it now.
 */
export function warnLegacyUse(name: string, scope: KeyScope): boolean {
  const global = globalThis as Record<symbol, unknown>;
  if (global[EMITTED] === true) return false;
  global[EMITTED] = true;
  const where = scope === 'machine' ? 'machine' : 'user';
  process.emitWarning(
    `the legacy CryptoAPI key "${name}" (${where} scope) is loaded into this process: anyone running as this user can read it from memory, even if it is marked non-exportable. Move it to CNG: ${migrationCommand(name)}`,
    {
      type: LEGACY_CRYPTOAPI_WARNING_TYPE,
      code: LEGACY_CRYPTOAPI_WARNING_CODE,
      detail:
        'CryptoAPI decrypts a container’s private key into the memory of the process that uses it; the CNG Key Storage Provider keeps it in LSASS instead (with LSA protection or VBS, out of reach of user-mode code). A legacy key that cannot be exported cannot be moved: issue a new key. See docs/providers/capi.md. This warning is shown once per process.',
    },
  );
  return true;
}
