/**
 * The status table: every `SECURITY_STATUS`, HRESULT, TBS result, Win32 error and NTSTATUS the
 * Windows bindings can meet, with its symbolic name, the SDK error code it becomes and a hint written
 * for a person. Names and numbers are the Windows SDK's (`winerror.h`, `ntstatus.h`); the layout test
 * compares them with the mingw-w64 headers where those define them. Nothing here asks Windows for a
 * message (`FormatMessage` knows none of the NTE_ codes under Wine).
 *
 * @module
 */
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';

/**
 * One entry of {@link NCRYPT_STATUS}.
 *
 * @since 0.2.0
 */
export interface StatusInfo {
  /** The SDK's symbolic name (e.g. `NTE_BAD_KEYSET`). */
  readonly name: string;
  /** The error code a failure with this status becomes, unless the caller knows better. */
  readonly code: KeyStoreErrorCode;
  /** What a person can do about it. */
  readonly hint: string;
}

type Row = readonly [status: number, name: string, code: KeyStoreErrorCode, hint: string];

const NATIVE: KeyStoreErrorCode = 'ERR_KEYSTORE_NATIVE_FAILURE';
const DENIED: KeyStoreErrorCode = 'ERR_KEYSTORE_ACCESS_DENIED';
const UNAVAILABLE: KeyStoreErrorCode = 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE';
const UNSUPPORTED_ALG: KeyStoreErrorCode = 'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM';
const UNSUPPORTED_OP: KeyStoreErrorCode = 'ERR_KEYSTORE_UNSUPPORTED_OPERATION';
const NOT_FOUND: KeyStoreErrorCode = 'ERR_KEYSTORE_KEY_NOT_FOUND';
const INVALID: KeyStoreErrorCode = 'ERR_KEYSTORE_INVALID_ARGUMENT';

const LOCKOUT_HINT =
  "the TPM's dictionary-attack protection is active after too many wrong passwords: wait for the lockout to expire, or reset it as the TPM owner (Clear-TpmLockout / tpm.msc)";

// biome-ignore format: one row per status reads best as a table.
const ROWS: readonly Row[] = [
  // Win32 errors (also met as HRESULT_FROM_WIN32, 0x8007xxxx).
  [0x00000002, 'ERROR_FILE_NOT_FOUND', NOT_FOUND, 'the file, key or registry value does not exist'],
  [0x00000005, 'ERROR_ACCESS_DENIED', DENIED, 'Windows refused access: run as a user that may use this object, or as an administrator'],
  [0x00000006, 'ERROR_INVALID_HANDLE', NATIVE, 'a handle was invalid or already closed: open the object again'],
  [0x00000032, 'ERROR_NOT_SUPPORTED', UNSUPPORTED_OP, 'this Windows version or configuration does not support the request'],
  [0x00000057, 'ERROR_INVALID_PARAMETER', INVALID, 'Windows rejected a parameter of the call: check the names and sizes passed'],
  [0x00000078, 'ERROR_CALL_NOT_IMPLEMENTED', UNSUPPORTED_OP, 'this Windows (or Wine) does not implement the function'],
  [0x000000ea, 'ERROR_MORE_DATA', NATIVE, 'the value grew while it was read: retry'],
  [0x00000103, 'ERROR_NO_MORE_ITEMS', NATIVE, 'an enumeration ended; this is not an error when listing'],
  [0x00000424, 'ERROR_SERVICE_DOES_NOT_EXIST', UNAVAILABLE, 'the Windows service is not installed on this machine'],
  [0x00000490, 'ERROR_NOT_FOUND', NOT_FOUND, 'the object was not found'],
  [0x000004c7, 'ERROR_CANCELLED', 'ERR_KEYSTORE_CANCELLED', 'the user cancelled the Windows prompt'],
  // HRESULTs.
  [0x80004001, 'E_NOTIMPL', UNSUPPORTED_OP, 'this Windows (or Wine) does not implement the function'],
  [0x80004005, 'E_FAIL', NATIVE, 'Windows reported an unspecified failure: check the event log (Applications and Services Logs > Microsoft > Windows > Crypto-NCrypt)'],
  [0x80070002, 'ERROR_FILE_NOT_FOUND', NOT_FOUND, 'the file, key or registry value does not exist'],
  [0x80070005, 'E_ACCESSDENIED', DENIED, 'Windows refused access: run as a user that may use this object, or as an administrator'],
  [0x8007000e, 'E_OUTOFMEMORY', NATIVE, 'Windows ran out of memory for the request'],
  [0x80070057, 'E_INVALIDARG', INVALID, 'Windows rejected a parameter of the call: check the names and sizes passed'],
  [0x800704c7, 'ERROR_CANCELLED', 'ERR_KEYSTORE_CANCELLED', 'the user cancelled the Windows prompt'],
  // NTE_* (SECURITY_STATUS, winerror.h).
  [0x80090001, 'NTE_BAD_UID', NATIVE, 'the provider rejected an internal identifier: the key may be damaged'],
  [0x80090002, 'NTE_BAD_HASH', INVALID, 'the digest does not fit the hash algorithm named in the padding: hash the data with that algorithm'],
  [0x80090003, 'NTE_BAD_KEY', NATIVE, 'the key is damaged or of the wrong kind for this operation'],
  [0x80090004, 'NTE_BAD_LEN', INVALID, 'a length is wrong for this key: data too long for the modulus, or a buffer of the wrong size'],
  [0x80090005, 'NTE_BAD_DATA', NATIVE, 'the data is malformed for this key: a ciphertext not made for this key or padding, or a malformed key blob'],
  [0x80090006, 'NTE_BAD_SIGNATURE', NATIVE, 'the signature does not verify with this key, digest and padding'],
  [0x80090007, 'NTE_BAD_VER', NATIVE, 'the blob or structure has a version this provider does not know'],
  [0x80090008, 'NTE_BAD_ALGID', UNSUPPORTED_ALG, 'the provider does not know this algorithm or hash: choose one it supports (RSA, ECDSA_P256/P384/P521, SHA256/384/512)'],
  [0x80090009, 'NTE_BAD_FLAGS', UNSUPPORTED_OP, 'the provider rejected a flag: it may need a newer Windows (the VBS flags need Windows 11 24H2 or Server 2025)'],
  [0x8009000a, 'NTE_BAD_TYPE', UNSUPPORTED_OP, 'the provider does not know this blob or object type'],
  [0x8009000b, 'NTE_BAD_KEY_STATE', UNSUPPORTED_OP, 'the key is not in a state for this operation: not finalized yet, or its export policy forbids it'],
  [0x8009000c, 'NTE_BAD_HASH_STATE', NATIVE, 'the hash object is not in a usable state'],
  [0x8009000d, 'NTE_NO_KEY', NOT_FOUND, 'the container holds no key of the requested kind (AT_SIGNATURE or AT_KEYEXCHANGE)'],
  [0x8009000e, 'NTE_NO_MEMORY', NATIVE, 'the provider ran out of memory'],
  [0x8009000f, 'NTE_EXISTS', 'ERR_KEYSTORE_KEY_EXISTS', 'a key by that name already exists in this scope: choose another name, open the existing key, or delete it first'],
  [0x80090010, 'NTE_PERM', DENIED, 'Windows refused the operation: the key belongs to another user or to the machine scope (needs administrator), or its policy forbids it'],
  [0x80090011, 'NTE_NOT_FOUND', NATIVE, 'the object or property does not exist for this key or provider'],
  [0x80090012, 'NTE_DOUBLE_ENCRYPT', NATIVE, 'the data was already encrypted'],
  [0x80090013, 'NTE_BAD_PROVIDER', UNAVAILABLE, 'the key storage provider is not installed or not registered on this machine'],
  [0x80090014, 'NTE_BAD_PROV_TYPE', UNAVAILABLE, 'the provider type is not installed on this machine'],
  [0x80090015, 'NTE_BAD_PUBLIC_KEY', INVALID, 'the public key is malformed or does not fit the algorithm'],
  [0x80090016, 'NTE_BAD_KEYSET', NOT_FOUND, "no key by that name in this scope; was it created for the machine (scope 'machine') or by another user?"],
  [0x80090017, 'NTE_PROV_TYPE_NOT_DEF', UNAVAILABLE, 'the provider type is not defined on this machine'],
  [0x80090018, 'NTE_PROV_TYPE_ENTRY_BAD', UNAVAILABLE, "the provider's registration is damaged: reinstall or repair it"],
  [0x80090019, 'NTE_KEYSET_NOT_DEF', NOT_FOUND, 'the key container does not exist'],
  [0x8009001a, 'NTE_KEYSET_ENTRY_BAD', NATIVE, 'the key container is damaged: delete and recreate the key'],
  [0x8009001b, 'NTE_PROV_TYPE_NO_MATCH', UNAVAILABLE, 'the provider type does not match the registered provider'],
  [0x8009001c, 'NTE_SIGNATURE_FILE_BAD', UNAVAILABLE, "the provider's signature file is damaged: repair the Windows installation"],
  [0x8009001d, 'NTE_PROVIDER_DLL_FAIL', UNAVAILABLE, "the provider's DLL failed to load: repair the provider or the Windows installation"],
  [0x8009001e, 'NTE_PROV_DLL_NOT_FOUND', UNAVAILABLE, "the provider's DLL was not found: repair the provider or the Windows installation"],
  [0x8009001f, 'NTE_BAD_KEYSET_PARAM', INVALID, 'a key set parameter is invalid'],
  [0x80090020, 'NTE_FAIL', NATIVE, 'the provider reported an internal failure: check the event log (Crypto-NCrypt)'],
  [0x80090021, 'NTE_SYS_ERR', NATIVE, 'a system error occurred inside the provider: check the event log'],
  [0x80090022, 'NTE_SILENT_CONTEXT', DENIED, 'the key needs a UI prompt (a password or consent) but the call was made silently: allow prompts (userPrompt) or use a key without UI protection'],
  [0x80090023, 'NTE_TOKEN_KEYSET_STORAGE_FULL', NATIVE, 'the smart card or token has no room for another key: delete keys on it'],
  [0x80090024, 'NTE_TEMPORARY_PROFILE', DENIED, 'Windows loaded a temporary user profile, where keys cannot persist: sign in with the real profile, or use the machine scope'],
  [0x80090025, 'NTE_FIXEDPARAMETER', UNSUPPORTED_OP, 'the provider does not allow this parameter to be changed'],
  [0x80090026, 'NTE_INVALID_HANDLE', NATIVE, 'the handle is invalid or already freed: open the key again'],
  [0x80090027, 'NTE_INVALID_PARAMETER', INVALID, 'the provider rejected a parameter: e.g. a key length it does not support (the TPM: RSA 1024/2048 only) or a malformed name'],
  [0x80090028, 'NTE_BUFFER_TOO_SMALL', NATIVE, 'an output buffer was too small: retry (the size changed between calls)'],
  [0x80090029, 'NTE_NOT_SUPPORTED', UNSUPPORTED_ALG, 'the provider does not support this algorithm, curve, padding or option here (a TPM without P-384, or no VBS)'],
  [0x8009002a, 'NTE_NO_MORE_ITEMS', NATIVE, 'an enumeration ended; this is not an error when listing'],
  [0x8009002b, 'NTE_BUFFERS_OVERLAP', NATIVE, 'the input and output buffers overlap'],
  [0x8009002c, 'NTE_DECRYPTION_FAILURE', NATIVE, 'decryption failed: the ciphertext was not made for this key, or with another padding or OAEP hash'],
  [0x8009002d, 'NTE_INTERNAL_ERROR', NATIVE, 'the provider reported an internal error: check the event log (Crypto-NCrypt); on a TPM, check it in tpm.msc'],
  [0x8009002e, 'NTE_UI_REQUIRED', DENIED, 'the operation needs a Windows prompt (a password or consent): allow prompts (userPrompt)'],
  [0x8009002f, 'NTE_HMAC_NOT_SUPPORTED', UNSUPPORTED_ALG, 'the provider does not support HMAC keys'],
  [0x80090030, 'NTE_DEVICE_NOT_READY', UNAVAILABLE, 'the device (TPM or smart card) is not ready: check it in tpm.msc or Device Manager, then retry'],
  [0x80090031, 'NTE_AUTHENTICATION_IGNORED', DENIED, LOCKOUT_HINT],
  [0x80090032, 'NTE_VALIDATION_FAILED', NATIVE, 'the provider could not validate the key or data: the key blob may be malformed or its parts inconsistent'],
  [0x80090033, 'NTE_INCORRECT_PASSWORD', DENIED, 'the key password or PIN was wrong'],
  [0x80090034, 'NTE_ENCRYPTION_FAILURE', NATIVE, 'encryption failed: the data may be too long for the key and padding'],
  [0x80090035, 'NTE_DEVICE_NOT_FOUND', UNAVAILABLE, 'the device (TPM or smart card) was not found: check it is present and enabled in the firmware'],
  [0x80090036, 'NTE_USER_CANCELLED', 'ERR_KEYSTORE_CANCELLED', 'the user cancelled the Windows prompt'],
  [0x80090037, 'NTE_PASSWORD_CHANGE_REQUIRED', DENIED, 'the key password must be changed before the key can be used'],
  [0x80090038, 'NTE_NOT_ACTIVE_CONSOLE', DENIED, 'the prompt needs the active console session: run it from a session shown on the machine, not over remote desktop'],
  // CRYPT_E_* (crypt32.dll, winerror.h).
  [0x80092004, 'CRYPT_E_NOT_FOUND', NOT_FOUND, 'no certificate or property of that kind in this store'],
  [0x80092005, 'CRYPT_E_EXISTS', 'ERR_KEYSTORE_KEY_EXISTS', 'the certificate is already in this store'],
  [0x8009310b, 'CRYPT_E_ASN1_BADTAG', INVALID, 'the data is not a DER-encoded X.509 certificate'],
  // TPM 1.2 and TPM 2.0 results surfaced by the Platform Crypto Provider (winerror.h).
  [0x80280001, 'TPM_E_AUTHFAIL', DENIED, 'the TPM rejected the authorization (password or PIN)'],
  [0x80280006, 'TPM_E_DEACTIVATED', UNAVAILABLE, 'the TPM is deactivated: activate it in the firmware setup or tpm.msc'],
  [0x80280007, 'TPM_E_DISABLED', UNAVAILABLE, 'the TPM is disabled: enable it in the firmware setup'],
  // TPM 2.0 response codes the Platform Crypto Provider passes through (TPM_RC_* + 0x80280000):
  // what the TPM cannot do with this key, scheme or curve.
  [0x80280081, 'TPM_20_E_ASYMMETRIC', UNSUPPORTED_ALG, 'the TPM does not support this asymmetric algorithm: use RSA-2048 or ECDSA-P256, or the cng provider'],
  [0x80280083, 'TPM_20_E_HASH', UNSUPPORTED_ALG, 'the TPM does not support this hash with this key: use SHA-256 (most TPMs lack SHA-384/512 in signing schemes)'],
  [0x80280087, 'TPM_20_E_KEY_SIZE', UNSUPPORTED_ALG, 'the TPM does not support this key size: use RSA-2048 (TPM 2.0 chips make no larger RSA keys) or ECDSA-P256'],
  [0x80280092, 'TPM_20_E_SCHEME', UNSUPPORTED_ALG, 'the TPM does not support this signing or encryption scheme with this key: try PKCS#1 v1.5, or SHA-256 with PSS'],
  [0x802800a6, 'TPM_20_E_CURVE', UNSUPPORTED_ALG, 'the TPM does not support this elliptic curve: use ECDSA-P256'],
  [0x80280123, 'TPM_20_E_ECC_CURVE', UNSUPPORTED_ALG, 'the TPM does not implement this elliptic curve: use ECDSA-P256'],
  [0x8028008e, 'TPM_20_E_AUTH_FAIL', DENIED, 'the TPM rejected the authorization (password or PIN)'],
  [0x802800a2, 'TPM_20_E_BAD_AUTH', DENIED, 'the TPM rejected the authorization (password or PIN)'],
  [0x80280803, 'TPM_E_DEFEND_LOCK_RUNNING', DENIED, LOCKOUT_HINT],
  [0x80280921, 'TPM_20_E_LOCKOUT', DENIED, LOCKOUT_HINT],
  // TPM Base Services (TBS_E_*, winerror.h / tbs.h).
  [0x80284001, 'TBS_E_INTERNAL_ERROR', NATIVE, 'the TPM Base Services reported an internal error: check the event log (TPM)'],
  [0x80284002, 'TBS_E_BAD_PARAMETER', INVALID, 'the TPM Base Services rejected a parameter'],
  [0x80284003, 'TBS_E_INVALID_OUTPUT_POINTER', INVALID, 'the TPM Base Services rejected an output buffer'],
  [0x80284005, 'TBS_E_INSUFFICIENT_BUFFER', NATIVE, 'an output buffer for the TPM Base Services was too small'],
  [0x80284006, 'TBS_E_IOERROR', UNAVAILABLE, 'the TPM did not answer (I/O error): check it in tpm.msc'],
  [0x80284008, 'TBS_E_SERVICE_NOT_RUNNING', UNAVAILABLE, 'the TPM Base Services service (TBS) is not running: start it (services.msc)'],
  [0x8028400b, 'TBS_E_SERVICE_START_PENDING', UNAVAILABLE, 'the TPM Base Services service is still starting: retry in a moment'],
  [0x8028400e, 'TBS_E_BUFFER_TOO_LARGE', INVALID, 'the command for the TPM is too large'],
  [0x8028400f, 'TBS_E_TPM_NOT_FOUND', UNAVAILABLE, 'no TPM was found on this machine: enable it in the firmware setup (PTT/fTPM), or use a provider without a TPM'],
  [0x80284010, 'TBS_E_SERVICE_DISABLED', UNAVAILABLE, 'the TPM Base Services service is disabled: set it to start manually or automatically'],
  [0x80284012, 'TBS_E_ACCESS_DENIED', DENIED, 'the caller may not use the TPM Base Services this way'],
  [0x80284016, 'TBS_E_PROVISIONING_INCOMPLETE', UNAVAILABLE, 'the TPM is not fully provisioned: open tpm.msc and prepare the TPM'],
  // Platform Crypto Provider (TPM_E_PCP_*, winerror.h).
  [0x80290401, 'TPM_E_PCP_DEVICE_NOT_READY', UNAVAILABLE, 'the TPM is not ready: check it in tpm.msc, then retry'],
  [0x80290402, 'TPM_E_PCP_INVALID_HANDLE', NATIVE, 'the TPM key handle is invalid: open the key again'],
  [0x80290403, 'TPM_E_PCP_INVALID_PARAMETER', INVALID, 'the Platform Crypto Provider rejected a parameter (e.g. an RSA length other than 1024 or 2048)'],
  [0x80290404, 'TPM_E_PCP_FLAG_NOT_SUPPORTED', UNSUPPORTED_OP, 'the Platform Crypto Provider does not support a flag of this call'],
  [0x80290405, 'TPM_E_PCP_NOT_SUPPORTED', UNSUPPORTED_ALG, 'this TPM does not support the algorithm, curve or operation'],
  [0x80290406, 'TPM_E_PCP_BUFFER_TOO_SMALL', NATIVE, 'an output buffer was too small: retry (the size changed between calls)'],
  [0x80290407, 'TPM_E_PCP_INTERNAL_ERROR', NATIVE, 'the Platform Crypto Provider reported an internal error: check the TPM in tpm.msc and the event log'],
  [0x80290408, 'TPM_E_PCP_AUTHENTICATION_FAILED', DENIED, 'the TPM key password (usage authorization) was wrong'],
  [0x80290409, 'TPM_E_PCP_AUTHENTICATION_IGNORED', DENIED, LOCKOUT_HINT],
  [0x8029040a, 'TPM_E_PCP_POLICY_NOT_FOUND', NATIVE, 'the TPM policy for the key was not found'],
  [0x8029040b, 'TPM_E_PCP_PROFILE_NOT_FOUND', NATIVE, 'the TPM profile was not found'],
  [0x8029040c, 'TPM_E_PCP_VALIDATION_FAILED', NATIVE, 'the TPM could not validate the key or its data'],
  [0x8029041b, 'TPM_E_LOCKED_OUT', DENIED, LOCKOUT_HINT],
  [0x8029041f, 'TPM_E_PCP_IFX_RSA_KEY_CREATION_BLOCKED', UNSUPPORTED_ALG, 'Windows blocks RSA key creation on this Infineon TPM (ROCA, CVE-2017-15361): update the TPM firmware, or use ECDSA'],
  [0x40290423, 'TPM_E_PCP_UNSUPPORTED_PSS_SALT', UNSUPPORTED_ALG, 'the TPM cannot sign RSA-PSS with this salt length: use a salt equal to the hash length, or let the TPM choose (NCRYPT_TPM_PAD_PSS_IGNORE_SALT) and verify with an automatic salt length'],
  [0x40290424, 'TPM_E_PCP_PLATFORM_CLAIM_MAY_BE_OUTDATED', NATIVE, 'the platform claim may be outdated: refresh it'],
  [0x40290425, 'TPM_E_PCP_PLATFORM_CLAIM_OUTDATED', NATIVE, 'the platform claim is outdated: refresh it'],
  [0x40290426, 'TPM_E_PCP_PLATFORM_CLAIM_REBOOT', NATIVE, 'the platform claim needs a reboot to be refreshed'],
  // NTSTATUS (ntstatus.h), from ntdll's posture queries.
  [0xc0000002, 'STATUS_NOT_IMPLEMENTED', UNSUPPORTED_OP, 'this Windows (or Wine) does not implement the query'],
  [0xc0000003, 'STATUS_INVALID_INFO_CLASS', UNSUPPORTED_OP, 'this Windows (or Wine) does not know the information class'],
  [0xc0000004, 'STATUS_INFO_LENGTH_MISMATCH', NATIVE, 'the information buffer has the wrong size for this Windows version'],
  [0xc000000d, 'STATUS_INVALID_PARAMETER', INVALID, 'Windows rejected a parameter of the query'],
  [0xc0000022, 'STATUS_ACCESS_DENIED', DENIED, 'Windows refused access: run as an administrator to read this'],
  [0xc00000bb, 'STATUS_NOT_SUPPORTED', UNSUPPORTED_OP, 'this Windows does not support the query'],
];

/**
 * Every status the bindings know, by unsigned value. A Win32 error met as an HRESULT
 * (`0x8007xxxx`) that has no entry of its own is looked up by its low 16 bits.
 *
 * @example
 * ```ts
 * NCRYPT_STATUS.get(0x80090016); // { name: 'NTE_BAD_KEYSET', code: 'ERR_KEYSTORE_KEY_NOT_FOUND', hint: … }
 * ```
 * @since 0.2.0
 */
export const NCRYPT_STATUS: ReadonlyMap<number, StatusInfo> = new Map(
  ROWS.map(([status, name, code, hint]) => [status >>> 0, Object.freeze({ name, code, hint })]),
);

function lookup(status: number): StatusInfo | undefined {
  const unsigned = status >>> 0;
  const direct = NCRYPT_STATUS.get(unsigned);
  if (direct) return direct;
  // HRESULT_FROM_WIN32(x) = 0x80070000 | x.
  if ((unsigned & 0xffff0000) >>> 0 === 0x80070000) return NCRYPT_STATUS.get(unsigned & 0xffff);
  return undefined;
}

/**
 * `0x` and eight upper-case hex digits of the unsigned value of `status` (which may be a negative
 * int32, as `SECURITY_STATUS` is signed).
 *
 * @since 0.2.0
 */
export function formatStatus(status: number): string {
  return `0x${(status >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/**
 * The symbolic name of a status (`NTE_BAD_KEYSET` for 0x80090016 or -2146893802), or `undefined`
 * when the table does not know it.
 *
 * @example
 * ```ts
 * statusName(0x80090016); // 'NTE_BAD_KEYSET'
 * ```
 * @since 0.2.0
 */
export function statusName(status: number): string | undefined {
  return lookup(status)?.name;
}

/**
 * Options of {@link statusError}.
 *
 * @since 0.2.0
 */
export interface StatusErrorOptions {
  /** Id of the provider the error is reported for. */
  readonly providerId?: string;
  /** What was being done, appended to the message (e.g. `opening key "app-signing"`). */
  readonly context?: string;
  /** Overrides the table's code, for a status that means something else in this call (NTE_PERM on export → NOT_EXPORTABLE). */
  readonly code?: KeyStoreErrorCode;
  /** Overrides the table's hint. */
  readonly hint?: string;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * The `KeyStoreError` for a failed native call: `NCryptOpenKey failed: NTE_BAD_KEYSET (0x80090016):
 * context`, with `nativeStatus` (unsigned), `nativeName` and the table's code and hint. An unknown
 * status becomes `ERR_KEYSTORE_NATIVE_FAILURE` with its hex value.
 *
 * @param fn The Windows function that failed (e.g. `NCryptOpenKey`).
 * @param status The returned status; negative int32 values are read as unsigned.
 * @example
 * ```ts
 * const err = statusError('NCryptOpenKey', -2146893802, { providerId: 'cng', context: 'opening key "a"' });
 * err.code; // 'ERR_KEYSTORE_KEY_NOT_FOUND'
 * err.nativeStatus; // 0x80090016
 * ```
 * @since 0.2.0
 */
export function statusError(fn: string, status: number, options: StatusErrorOptions = {}): KeyStoreError {
  const info = lookup(status);
  const hex = formatStatus(status);
  const what = info ? `${info.name} (${hex})` : `status ${hex}`;
  const message = `${fn} failed: ${what}${options.context ? `: ${options.context}` : ''}`;
  const hint =
    options.hint ??
    info?.hint ??
    `Windows returned a status this SDK does not know: look ${hex} up in winerror.h or ntstatus.h`;
  return new KeyStoreError(options.code ?? info?.code ?? NATIVE, message, {
    providerId: options.providerId,
    nativeStatus: status >>> 0,
    nativeName: info?.name,
    hint,
    cause: options.cause,
  });
}
