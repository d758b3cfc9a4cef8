/**
 * PKCS#11 v2.40 constants this provider uses (values from the OASIS specification, "PKCS #11
 * Cryptographic Token Interface Base Specification Version 2.40", section 3 and its header
 * `pkcs11t.h`), and the names of the return values for errors.
 *
 * @module
 */

/** `CKF_OS_LOCKING_OK` in `CK_C_INITIALIZE_ARGS.flags`: the module may use the OS's locking. */
export const CKF_OS_LOCKING_OK = 0x2;
/** `CKF_RW_SESSION` and `CKF_SERIAL_SESSION` for `C_OpenSession`. */
export const CKF_RW_SESSION = 0x2;
export const CKF_SERIAL_SESSION = 0x4;
/** Session states in which the user is logged in (`CKS_RO_USER_FUNCTIONS`, `CKS_RW_USER_FUNCTIONS`). */
export const CKS_RO_USER_FUNCTIONS = 1;
export const CKS_RW_USER_FUNCTIONS = 3;
/** `CKU_USER` for `C_Login`. */
export const CKU_USER = 1;

/** Object classes. */
export const CKO_PUBLIC_KEY = 2;
export const CKO_PRIVATE_KEY = 3;
export const CKO_SECRET_KEY = 4;
/** Key types. */
export const CKK_RSA = 0;
export const CKK_EC = 3;
export const CKK_GENERIC_SECRET = 0x10;

/** Attributes. */
export const CKA = {
  CLASS: 0x0,
  TOKEN: 0x1,
  PRIVATE: 0x2,
  LABEL: 0x3,
  VALUE: 0x11,
  KEY_TYPE: 0x100,
  ID: 0x102,
  SENSITIVE: 0x103,
  ENCRYPT: 0x104,
  DECRYPT: 0x105,
  SIGN: 0x108,
  VERIFY: 0x10a,
  DERIVE: 0x10c,
  MODULUS: 0x120,
  MODULUS_BITS: 0x121,
  PUBLIC_EXPONENT: 0x122,
  PRIVATE_EXPONENT: 0x123,
  PRIME_1: 0x124,
  PRIME_2: 0x125,
  EXPONENT_1: 0x126,
  EXPONENT_2: 0x127,
  COEFFICIENT: 0x128,
  VALUE_LEN: 0x161,
  EXTRACTABLE: 0x162,
  LOCAL: 0x163,
  NEVER_EXTRACTABLE: 0x164,
  ALWAYS_SENSITIVE: 0x165,
  EC_PARAMS: 0x180,
  EC_POINT: 0x181,
} as const;

/** Mechanisms. */
export const CKM = {
  RSA_PKCS_KEY_PAIR_GEN: 0x0,
  RSA_PKCS: 0x1,
  RSA_PKCS_OAEP: 0x9,
  RSA_PKCS_PSS: 0xd,
  SHA_1: 0x220,
  SHA256: 0x250,
  SHA384: 0x260,
  SHA512: 0x270,
  EC_KEY_PAIR_GEN: 0x1040,
  ECDSA: 0x1041,
  ECDH1_DERIVE: 0x1050,
} as const;

/** MGF1 functions for PSS and OAEP parameters. */
export const CKG = { MGF1_SHA1: 1, MGF1_SHA256: 2, MGF1_SHA384: 3, MGF1_SHA512: 4 } as const;
/** `CKZ_DATA_SPECIFIED`: OAEP's encoding parameter source (empty label). */
export const CKZ_DATA_SPECIFIED = 1;
/** `CKD_NULL`: ECDH without a key derivation function (the raw shared secret). */
export const CKD_NULL = 1;

/** The return values this provider names (PKCS#11 v2.40 section 3.6 and 5.1). */
export const CKR_VALUES = {
  CKR_OK: 0x0,
  CKR_CANCEL: 0x1,
  CKR_HOST_MEMORY: 0x2,
  CKR_SLOT_ID_INVALID: 0x3,
  CKR_GENERAL_ERROR: 0x5,
  CKR_FUNCTION_FAILED: 0x6,
  CKR_ARGUMENTS_BAD: 0x7,
  CKR_ATTRIBUTE_READ_ONLY: 0x10,
  CKR_ATTRIBUTE_SENSITIVE: 0x11,
  CKR_ATTRIBUTE_TYPE_INVALID: 0x12,
  CKR_ATTRIBUTE_VALUE_INVALID: 0x13,
  CKR_ACTION_PROHIBITED: 0x1b,
  CKR_DATA_INVALID: 0x20,
  CKR_DATA_LEN_RANGE: 0x21,
  CKR_DEVICE_ERROR: 0x30,
  CKR_DEVICE_MEMORY: 0x31,
  CKR_DEVICE_REMOVED: 0x32,
  CKR_ENCRYPTED_DATA_INVALID: 0x40,
  CKR_ENCRYPTED_DATA_LEN_RANGE: 0x41,
  CKR_FUNCTION_CANCELED: 0x50,
  CKR_FUNCTION_NOT_SUPPORTED: 0x54,
  CKR_KEY_HANDLE_INVALID: 0x60,
  CKR_KEY_SIZE_RANGE: 0x62,
  CKR_KEY_TYPE_INCONSISTENT: 0x63,
  CKR_KEY_FUNCTION_NOT_PERMITTED: 0x68,
  CKR_KEY_UNEXTRACTABLE: 0x6a,
  CKR_MECHANISM_INVALID: 0x70,
  CKR_MECHANISM_PARAM_INVALID: 0x71,
  CKR_OBJECT_HANDLE_INVALID: 0x82,
  CKR_OPERATION_ACTIVE: 0x90,
  CKR_OPERATION_NOT_INITIALIZED: 0x91,
  CKR_PIN_INCORRECT: 0xa0,
  CKR_PIN_INVALID: 0xa1,
  CKR_PIN_LEN_RANGE: 0xa2,
  CKR_PIN_EXPIRED: 0xa3,
  CKR_PIN_LOCKED: 0xa4,
  CKR_SESSION_CLOSED: 0xb0,
  CKR_SESSION_COUNT: 0xb1,
  CKR_SESSION_HANDLE_INVALID: 0xb3,
  CKR_SESSION_PARALLEL_NOT_SUPPORTED: 0xb4,
  CKR_SESSION_READ_ONLY: 0xb5,
  CKR_SESSION_EXISTS: 0xb6,
  CKR_SIGNATURE_INVALID: 0xc0,
  CKR_SIGNATURE_LEN_RANGE: 0xc1,
  CKR_TEMPLATE_INCOMPLETE: 0xd0,
  CKR_TEMPLATE_INCONSISTENT: 0xd1,
  CKR_TOKEN_NOT_PRESENT: 0xe0,
  CKR_TOKEN_NOT_RECOGNIZED: 0xe1,
  CKR_TOKEN_WRITE_PROTECTED: 0xe2,
  CKR_USER_ALREADY_LOGGED_IN: 0x100,
  CKR_USER_NOT_LOGGED_IN: 0x101,
  CKR_USER_PIN_NOT_INITIALIZED: 0x102,
  CKR_USER_TYPE_INVALID: 0x103,
  CKR_USER_ANOTHER_ALREADY_LOGGED_IN: 0x104,
  CKR_BUFFER_TOO_SMALL: 0x150,
  CKR_CRYPTOKI_NOT_INITIALIZED: 0x190,
  CKR_CRYPTOKI_ALREADY_INITIALIZED: 0x191,
  CKR_DOMAIN_PARAMS_INVALID: 0x130,
  CKR_FUNCTION_REJECTED: 0x200,
} as const;

/** Names by value, for error messages. */
const CKR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(CKR_VALUES).map(([name, value]) => [value, name]),
);

/** Return values used by name in the code. */
export const CKR = {
  OK: 0x0,
  SLOT_ID_INVALID: 0x3,
  ATTRIBUTE_SENSITIVE: 0x11,
  ATTRIBUTE_TYPE_INVALID: 0x12,
  DEVICE_ERROR: 0x30,
  OBJECT_HANDLE_INVALID: 0x82,
  DEVICE_REMOVED: 0x32,
  FUNCTION_NOT_SUPPORTED: 0x54,
  MECHANISM_INVALID: 0x70,
  PIN_INCORRECT: 0xa0,
  PIN_LOCKED: 0xa4,
  SESSION_CLOSED: 0xb0,
  SESSION_HANDLE_INVALID: 0xb3,
  TOKEN_NOT_PRESENT: 0xe0,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101,
  BUFFER_TOO_SMALL: 0x150,
  CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191,
} as const;

/** The name of a return value (`CKR_PIN_INCORRECT`), or its number in hex when this table lacks it. */
export function ckrName(rv: number): string {
  return (
    CKR_NAMES[rv] ??
    (rv >= 0x80000000 ? `CKR_VENDOR_DEFINED+0x${(rv - 0x80000000).toString(16)}` : `CKR_0x${rv.toString(16)}`)
  );
}

/**
 * The v2.40 function list in the order of `CK_FUNCTION_LIST` (after its `CK_VERSION`): entry `i` is
 * the `i`-th function pointer. A v3.0 `CK_FUNCTION_LIST_3_0` begins with the same 68 entries.
 */
export const FUNCTION_LIST_ORDER = [
  'C_Initialize',
  'C_Finalize',
  'C_GetInfo',
  'C_GetFunctionList',
  'C_GetSlotList',
  'C_GetSlotInfo',
  'C_GetTokenInfo',
  'C_GetMechanismList',
  'C_GetMechanismInfo',
  'C_InitToken',
  'C_InitPIN',
  'C_SetPIN',
  'C_OpenSession',
  'C_CloseSession',
  'C_CloseAllSessions',
  'C_GetSessionInfo',
  'C_GetOperationState',
  'C_SetOperationState',
  'C_Login',
  'C_Logout',
  'C_CreateObject',
  'C_CopyObject',
  'C_DestroyObject',
  'C_GetObjectSize',
  'C_GetAttributeValue',
  'C_SetAttributeValue',
  'C_FindObjectsInit',
  'C_FindObjects',
  'C_FindObjectsFinal',
  'C_EncryptInit',
  'C_Encrypt',
  'C_EncryptUpdate',
  'C_EncryptFinal',
  'C_DecryptInit',
  'C_Decrypt',
  'C_DecryptUpdate',
  'C_DecryptFinal',
  'C_DigestInit',
  'C_Digest',
  'C_DigestUpdate',
  'C_DigestKey',
  'C_DigestFinal',
  'C_SignInit',
  'C_Sign',
  'C_SignUpdate',
  'C_SignFinal',
  'C_SignRecoverInit',
  'C_SignRecover',
  'C_VerifyInit',
  'C_Verify',
  'C_VerifyUpdate',
  'C_VerifyFinal',
  'C_VerifyRecoverInit',
  'C_VerifyRecover',
  'C_DigestEncryptUpdate',
  'C_DecryptDigestUpdate',
  'C_SignEncryptUpdate',
  'C_DecryptVerifyUpdate',
  'C_GenerateKey',
  'C_GenerateKeyPair',
  'C_WrapKey',
  'C_UnwrapKey',
  'C_DeriveKey',
  'C_SeedRandom',
  'C_GenerateRandom',
  'C_GetFunctionStatus',
  'C_CancelFunction',
  'C_WaitForSlotEvent',
] as const;
