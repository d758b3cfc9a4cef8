/**
 * PKCS#11 return values (`CK_RV`) as typed errors, each with a hint a person can act on.
 *
 * @module
 */
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';
import { CKR, ckrName } from './native/constants.js';

/** The provider's id, on every error it raises. */
export const PROVIDER_ID = 'pkcs11';

interface Mapping {
  readonly code: KeyStoreErrorCode;
  readonly hint: string;
}

const MAPPINGS: Readonly<Record<string, Mapping>> = {
  CKR_PIN_INCORRECT: {
    code: 'ERR_KEYSTORE_ACCESS_DENIED',
    hint: 'the token refused the user PIN; check the PIN option, file or environment variable. Tokens lock the PIN after a few wrong tries: do not retry in a loop',
  },
  CKR_PIN_LOCKED: {
    code: 'ERR_KEYSTORE_ACCESS_DENIED',
    hint: "the user PIN is locked after too many wrong tries; the token's security officer must unlock or reset it (softhsm2-util, or the HSM vendor's tool)",
  },
  CKR_PIN_EXPIRED: {
    code: 'ERR_KEYSTORE_ACCESS_DENIED',
    hint: "the user PIN has expired; set a new one with the token's tool (pkcs11-tool --change-pin)",
  },
  CKR_PIN_LEN_RANGE: {
    code: 'ERR_KEYSTORE_ACCESS_DENIED',
    hint: 'the PIN is shorter or longer than the token accepts; check for a trailing newline or space in the PIN file',
  },
  CKR_USER_NOT_LOGGED_IN: {
    code: 'ERR_KEYSTORE_ACCESS_DENIED',
    hint: 'the token needs the user PIN for this; give the provider the PIN (option `pin`, `pinFile` or `pinEnv`)',
  },
  CKR_USER_PIN_NOT_INITIALIZED: {
    code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    hint: 'the token has no user PIN yet; its security officer must set one (softhsm2-util --init-token, pkcs11-tool --init-pin)',
  },
  CKR_DEVICE_REMOVED: {
    code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    hint: 'the token was removed or the connection to the HSM dropped; reconnect it and try again (the provider opens new sessions and logs in again)',
  },
  CKR_TOKEN_NOT_PRESENT: {
    code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    hint: "no token is in the slot; insert it, or check the HSM client's connection and configuration",
  },
  CKR_SESSION_HANDLE_INVALID: {
    code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    hint: 'the token closed the session (it was removed, reset or reconnected); try again: the provider opens a new session',
  },
  CKR_SESSION_CLOSED: {
    code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    hint: 'the token closed the session while the call ran; try again',
  },
  CKR_SESSION_COUNT: {
    code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    hint: "the token has no free session; lower the provider's poolSize or close other applications using the token",
  },
  CKR_OBJECT_HANDLE_INVALID: {
    code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
    hint: 'the key was deleted (by this or another process) while the call ran; open or create it again',
  },
  CKR_KEY_HANDLE_INVALID: {
    code: 'ERR_KEYSTORE_KEY_NOT_FOUND',
    hint: 'the key was deleted (by this or another process) while the call ran; open or create it again',
  },
  CKR_DEVICE_ERROR: {
    code: 'ERR_KEYSTORE_NATIVE_FAILURE',
    hint: 'the token reported a device error; check its health and logs',
  },
  CKR_DEVICE_MEMORY: {
    code: 'ERR_KEYSTORE_NATIVE_FAILURE',
    hint: 'the token is out of memory; delete keys it no longer needs',
  },
  CKR_TOKEN_WRITE_PROTECTED: {
    code: 'ERR_KEYSTORE_ACCESS_DENIED',
    hint: 'the token is write-protected; keys cannot be created or deleted on it',
  },
  CKR_MECHANISM_INVALID: {
    code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    hint: 'the token does not offer this mechanism; see the mechanisms `keystore doctor` lists for it',
  },
  CKR_MECHANISM_PARAM_INVALID: {
    code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    hint: 'the token does not accept these mechanism parameters (hash, salt length or curve)',
  },
  CKR_KEY_SIZE_RANGE: {
    code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    hint: 'the token does not support this key size',
  },
  CKR_DOMAIN_PARAMS_INVALID: {
    code: 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    hint: 'the token does not support this curve',
  },
  CKR_KEY_FUNCTION_NOT_PERMITTED: {
    code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
    hint: "the key's attributes forbid this operation (CKA_SIGN, CKA_DECRYPT or CKA_DERIVE is false)",
  },
  CKR_KEY_TYPE_INCONSISTENT: {
    code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
    hint: 'this key type cannot do this operation',
  },
  CKR_ENCRYPTED_DATA_INVALID: {
    code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
    hint: 'the ciphertext is not valid for this key and padding',
  },
  CKR_ENCRYPTED_DATA_LEN_RANGE: {
    code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
    hint: "the ciphertext must be as long as the key's modulus",
  },
  CKR_DATA_LEN_RANGE: {
    code: 'ERR_KEYSTORE_INVALID_ARGUMENT',
    hint: 'the input is too long or too short for this key',
  },
  CKR_DATA_INVALID: { code: 'ERR_KEYSTORE_INVALID_ARGUMENT', hint: 'the token refused the input' },
  CKR_FUNCTION_CANCELED: { code: 'ERR_KEYSTORE_CANCELLED', hint: 'the token cancelled the call' },
  CKR_HOST_MEMORY: {
    code: 'ERR_KEYSTORE_NATIVE_FAILURE',
    hint: 'the PKCS#11 module ran out of memory in this process',
  },
  CKR_CRYPTOKI_NOT_INITIALIZED: {
    code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    hint: "the PKCS#11 module was finalized (by this provider's close, or by other code in this process); create a new provider",
  },
};

/** The typed error of a failed PKCS#11 call. */
export function rvError(rv: number, fn: string, context?: string): KeyStoreError {
  const name = ckrName(rv);
  const mapping = MAPPINGS[name] ?? {
    code: 'ERR_KEYSTORE_NATIVE_FAILURE' as const,
    hint: `the PKCS#11 module returned ${name} from ${fn}; its own log or documentation may say more`,
  };
  const where = context ? ` (${context})` : '';
  return new KeyStoreError(mapping.code, `${fn} failed with ${name}${where}`, {
    providerId: PROVIDER_ID,
    nativeStatus: rv,
    nativeName: name,
    hint: mapping.hint,
  });
}

/** Whether `rv` means the session or the token went away, so that a new session (and login) may help. */
export function isSessionLost(rv: number | undefined): boolean {
  return (
    rv === CKR.SLOT_ID_INVALID ||
    rv === CKR.SESSION_HANDLE_INVALID ||
    rv === CKR.SESSION_CLOSED ||
    rv === CKR.DEVICE_REMOVED ||
    rv === CKR.TOKEN_NOT_PRESENT ||
    rv === CKR.USER_NOT_LOGGED_IN
  );
}
