/**
 * How an NCrypt-based provider words its failures: the typed error of a status (`NTE_*`) of open,
 * delete, create and import, "not found" with a hint about the other scope, the isolation plan that
 * refuses a floor it cannot meet, and the release of handles that never hides the error in flight.
 *
 * @module
 */
import {
  type IsolationLevel,
  isAtLeast,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  type KeyStoreErrorCode,
  type ProviderCapabilities,
  type UserPromptOptions,
} from '@keystore/core';
import {
  NTE_BAD_ALGID,
  NTE_BAD_FLAGS,
  NTE_EXISTS,
  NTE_INVALID_PARAMETER,
  NTE_NOT_SUPPORTED,
  NTE_PERM,
} from './native/constants.js';
import type { NCryptBindings, NCryptHandle } from './native/types.js';
import type { IsolationPosture } from './posture.js';

/** Who speaks in an error: the provider's id and its storage provider's name. */
export interface StorageIdentity {
  readonly id: string;
  readonly storageProvider: string;
  readonly capabilities: ProviderCapabilities;
}

/** A checked create (or import) request. */
export interface CheckedCreate {
  readonly name: string;
  readonly algorithm: KeyAlgorithm;
  readonly scope: KeyScope;
  readonly exportable: boolean;
  readonly minimumIsolation: IsolationLevel | undefined;
  readonly userPrompt: UserPromptOptions | undefined;
  readonly signal: AbortSignal | undefined;
}

/** Marks "no error in flight" for {@link releaseHandles}. */
export const NO_ERROR: unique symbol = Symbol('no error');
/** The error in flight when handles are released, or {@link NO_ERROR}. */
export type Pending = unknown;

/** The native status and its name of a `KeyStoreError`, to carry over to an error made from it. */
export function nativeOf(err: unknown): { nativeStatus?: number; nativeName?: string } {
  return KeyStoreError.is(err) && err.nativeStatus !== undefined
    ? { nativeStatus: err.nativeStatus, ...(err.nativeName === undefined ? {} : { nativeName: err.nativeName }) }
    : {};
}

/** The native status of a `KeyStoreError`, if it has one. */
export function statusOf(err: unknown): number | undefined {
  return KeyStoreError.is(err) ? err.nativeStatus : undefined;
}

/** An error of the provider, carrying the cause's native status. */
export function storageError(
  who: StorageIdentity,
  code: KeyStoreErrorCode,
  message: string,
  extra: { hint?: string; cause?: unknown } = {},
): KeyStoreError {
  return new KeyStoreError(code, message, {
    providerId: who.id,
    ...(extra.hint === undefined ? {} : { hint: extra.hint }),
    ...(extra.cause === undefined ? {} : { cause: extra.cause }),
    ...nativeOf(extra.cause),
  });
}

/**
 * Frees `handles` (skipping undefined ones) when an operation ends. Every handle is tried. A failing
 * free never hides the operation's own error (`pending`): that error comes out with its code, hint
 * and status, as the cause of an error whose message also names the cleanup failure. With no error
 * in flight, the first cleanup failure is thrown.
 */
export function releaseHandles(
  who: StorageIdentity,
  ncrypt: NCryptBindings,
  handles: readonly (NCryptHandle | undefined)[],
  pending: Pending,
): void {
  const failures: unknown[] = [];
  for (const handle of handles) {
    if (handle === undefined) continue;
    try {
      ncrypt.freeObject(handle);
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 0) return;
  if (pending === NO_ERROR) throw failures[0];
  const said = failures
    .map((f) => (KeyStoreError.is(f) ? `${f.message}${f.nativeName ? ` (${f.nativeName})` : ''}` : String(f)))
    .join('; ');
  const original = KeyStoreError.is(pending) ? pending : undefined;
  const message = original?.message ?? (pending instanceof Error ? pending.message : String(pending));
  throw new KeyStoreError(
    original?.code ?? 'ERR_KEYSTORE_NATIVE_FAILURE',
    `${message}; freeing its handles afterwards failed too: ${said}`,
    {
      providerId: who.id,
      cause: pending,
      ...nativeOf(pending),
      ...(original?.hint === undefined ? {} : { hint: original.hint }),
    },
  );
}

const VBS_HINT =
  'VBS keys need Windows 11 24H2 or Windows Server 2025 (build 26100+) with virtualization-based security running (TPM 2.0, UEFI Secure Boot)';
const LSA_HINT = 'turn on LSA protection (RunAsPPL) and reboot, so that LSASS runs as a protected process';

/** What would lift a floor that neither an ordinary key nor a VBS key of this storage provider meets. */
function floorHint(who: StorageIdentity, floor: IsolationLevel, posture: IsolationPosture): string {
  switch (floor) {
    case 'hardware':
      return `hardware isolation is the TPM provider's job (${who.storageProvider} keeps keys in software)`;
    case 'virtualization':
      return `${who.storageProvider} cannot make virtualization-based keys`;
    case 'os-protected':
      return LSA_HINT;
    default:
      return `keys in ${who.storageProvider} get ${posture.level} isolation here`;
  }
}

/**
 * Decides whether the new key must be a VBS key, or refuses. A floor the posture meets needs
 * nothing. A floor above it and at most `virtualization` is met only by a VBS key (on a storage
 * provider that makes them; checked after it is made), never by hoping; an import cannot be one.
 * Anything else is `ERR_KEYSTORE_POLICY_VIOLATION` before any key is made.
 */
export function planIsolation(
  who: StorageIdentity,
  virtualIsolation: boolean,
  posture: IsolationPosture,
  floor: IsolationLevel | undefined,
  importing: boolean,
): boolean {
  if (floor === undefined || isAtLeast(posture.level, floor)) return false;
  const refuse = (message: string, hint: string) =>
    storageError(who, 'ERR_KEYSTORE_POLICY_VIOLATION', message, { hint });
  const now = `${who.storageProvider} keys get ${posture.level} isolation here now`;
  if (virtualIsolation && isAtLeast('virtualization', floor)) {
    if (importing) {
      throw refuse(
        `the floor is ${floor}, ${now}, and only a virtualization-based key would meet it; ${who.storageProvider} imports keys with ${posture.level} isolation only`,
        'create the key instead: a key generated with virtualization-based security never existed outside the isolated LSA',
      );
    }
    if (posture.virtualization === 'unavailable') {
      throw refuse(
        `the floor is ${floor}, ${now}, and virtualization-based keys cannot be made here: ${posture.virtualizationReason ?? 'VBS is not available'}`,
        floor === 'os-protected' ? `${LSA_HINT}; or: ${VBS_HINT}` : VBS_HINT,
      );
    }
    return true;
  }
  throw refuse(
    `the floor is ${floor}, and ${now}: ${posture.reasons.join('; ') || 'no stronger isolation is available'}`,
    floorHint(who, floor, posture),
  );
}

/**
 * `ERR_KEYSTORE_KEY_NOT_FOUND` for a name, with a hint about the other scope: `other` says whether
 * a key by that name is there (`undefined` when that could not be told).
 */
export function notFoundError(
  who: StorageIdentity,
  name: string,
  scope: KeyScope,
  cause: unknown,
  other: boolean | undefined,
): KeyStoreError {
  const otherScope = scope === 'user' ? 'machine' : 'user';
  let hint = `no key by that name in the ${scope} scope; was it created for the ${otherScope}?`;
  if (other === true) hint = `a key by that name exists in the ${otherScope} scope: open it with scope "${otherScope}"`;
  if (other === false) hint = `no key by that name in the ${otherScope} scope either; list keys to see which exist`;
  return storageError(
    who,
    'ERR_KEYSTORE_KEY_NOT_FOUND',
    `no key "${name}" in the ${scope} scope of ${who.storageProvider}`,
    { hint, cause },
  );
}

/** Maps a status of open/delete/use that means something to the caller. */
export function mapKeyError(who: StorageIdentity, err: unknown, what: string): unknown {
  const status = statusOf(err);
  if (status === NTE_PERM) {
    return storageError(who, 'ERR_KEYSTORE_ACCESS_DENIED', `${who.storageProvider} refused to ${what} the key`, {
      hint: 'machine-scope keys need administrator rights to create and delete, and a key file readable by this account',
      cause: err,
    });
  }
  if (status === NTE_NOT_SUPPORTED) {
    return storageError(who, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION', `${who.storageProvider} cannot ${what} keys here`, {
      hint: 'this ncrypt.dll does not implement the call (Wine implements only part of CNG)',
      cause: err,
    });
  }
  return err;
}

/** Maps a status of a create or import step. */
export function mapCreateError(
  who: StorageIdentity,
  err: unknown,
  req: CheckedCreate,
  vbs: boolean,
  step: string,
): unknown {
  const status = statusOf(err);
  if (status === NTE_EXISTS) {
    return storageError(
      who,
      'ERR_KEYSTORE_KEY_EXISTS',
      `a key "${req.name}" exists in the ${req.scope} scope of ${who.storageProvider}`,
      { hint: 'keys are never overwritten: open it, or delete it first', cause: err },
    );
  }
  if (vbs && (status === NTE_NOT_SUPPORTED || status === NTE_INVALID_PARAMETER || status === NTE_BAD_FLAGS)) {
    return storageError(
      who,
      'ERR_KEYSTORE_POLICY_VIOLATION',
      `the floor is ${req.minimumIsolation ?? 'virtualization'}, which only a virtualization-based key meets here, and ${who.storageProvider} refused NCRYPT_USE_VIRTUAL_ISOLATION_FLAG (${step})`,
      { hint: VBS_HINT, cause: err },
    );
  }
  if (status === NTE_PERM) return mapKeyError(who, err, 'create');
  const generating = step === 'NCryptCreatePersistedKey' || step === 'Length' || step === 'NCryptFinalizeKey';
  if (status === NTE_BAD_ALGID || (generating && (status === NTE_NOT_SUPPORTED || status === NTE_INVALID_PARAMETER))) {
    return storageError(
      who,
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      `${who.storageProvider} refused ${req.algorithm} (${step})`,
      { cause: err, hint: 'this key storage provider does not implement the algorithm or key size' },
    );
  }
  if (status === NTE_NOT_SUPPORTED || status === NTE_BAD_FLAGS) {
    const importing = step === 'NCryptImportKey';
    const what = importing ? `import a ${req.algorithm} key under a name` : `set ${step}`;
    return storageError(who, 'ERR_KEYSTORE_UNSUPPORTED_OPERATION', `${who.storageProvider} cannot ${what} here`, {
      cause: err,
      hint: importing
        ? 'this ncrypt.dll does not implement named, unfinalized imports (Wine does not)'
        : 'this key storage provider does not implement the property',
    });
  }
  return err;
}

/** The VBS hint, for the check of a key made with `NCRYPT_USE_VIRTUAL_ISOLATION_FLAG`. */
export { VBS_HINT };
