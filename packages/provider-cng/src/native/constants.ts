/**
 * NCrypt, BCrypt, TBS and Win32 constants the bindings and providers use, named as in the Windows SDK
 * headers (`ncrypt.h`, `bcrypt.h`, `winerror.h`, `tbs.h`). Values the mingw-w64 headers also define
 * are checked against them by the layout test; the others say where they come from.
 *
 * @module
 */

/** `MS_KEY_STORAGE_PROVIDER`. */
export const MS_KEY_STORAGE_PROVIDER = 'Microsoft Software Key Storage Provider';
/** `MS_PLATFORM_CRYPTO_PROVIDER` (the TPM). */
export const MS_PLATFORM_CRYPTO_PROVIDER = 'Microsoft Platform Crypto Provider';

// Flags of create / open / finalize / enum / import.
/** `NCRYPT_NO_KEY_VALIDATION`. */
export const NCRYPT_NO_KEY_VALIDATION = 0x8;
/** `NCRYPT_MACHINE_KEY_FLAG`. */
export const NCRYPT_MACHINE_KEY_FLAG = 0x20;
/** `NCRYPT_SILENT_FLAG`. */
export const NCRYPT_SILENT_FLAG = 0x40;
/** `NCRYPT_OVERWRITE_KEY_FLAG`. */
export const NCRYPT_OVERWRITE_KEY_FLAG = 0x80;
/** `NCRYPT_WRITE_KEY_TO_LEGACY_STORE_FLAG`. */
export const NCRYPT_WRITE_KEY_TO_LEGACY_STORE_FLAG = 0x200;
/** `NCRYPT_PREFER_VIRTUAL_ISOLATION_FLAG` (not in mingw-w64's headers; Windows SDK `ncrypt.h` 10.0.22621+). */
export const NCRYPT_PREFER_VIRTUAL_ISOLATION_FLAG = 0x10000;
/** `NCRYPT_USE_VIRTUAL_ISOLATION_FLAG` (not in mingw-w64's headers; Windows SDK `ncrypt.h`, NCryptCreatePersistedKey docs). */
export const NCRYPT_USE_VIRTUAL_ISOLATION_FLAG = 0x20000;
/** `NCRYPT_USE_PER_BOOT_KEY_FLAG` (not in mingw-w64's headers; Windows SDK `ncrypt.h`). */
export const NCRYPT_USE_PER_BOOT_KEY_FLAG = 0x40000;
/** `NCRYPT_PERSIST_FLAG`. */
export const NCRYPT_PERSIST_FLAG = 0x80000000;

// Legacy key specs (`dwLegacyKeySpec`).
/** `AT_KEYEXCHANGE`. */
export const AT_KEYEXCHANGE = 1;
/** `AT_SIGNATURE`. */
export const AT_SIGNATURE = 2;

// Padding flags.
/** `NCRYPT_NO_PADDING_FLAG` / `BCRYPT_PAD_NONE`. */
export const BCRYPT_PAD_NONE = 0x1;
/** `BCRYPT_PAD_PKCS1`. */
export const BCRYPT_PAD_PKCS1 = 0x2;
/** `BCRYPT_PAD_OAEP`. */
export const BCRYPT_PAD_OAEP = 0x4;
/** `BCRYPT_PAD_PSS`. */
export const BCRYPT_PAD_PSS = 0x8;

// Property names.
/** `NCRYPT_NAME_PROPERTY`. */
export const NCRYPT_NAME_PROPERTY = 'Name';
/** `NCRYPT_UNIQUE_NAME_PROPERTY`. */
export const NCRYPT_UNIQUE_NAME_PROPERTY = 'Unique Name';
/** `NCRYPT_ALGORITHM_PROPERTY`. */
export const NCRYPT_ALGORITHM_PROPERTY = 'Algorithm Name';
/** `NCRYPT_ALGORITHM_GROUP_PROPERTY`. */
export const NCRYPT_ALGORITHM_GROUP_PROPERTY = 'Algorithm Group';
/** `NCRYPT_LENGTH_PROPERTY`. */
export const NCRYPT_LENGTH_PROPERTY = 'Length';
/** `NCRYPT_LENGTHS_PROPERTY`. */
export const NCRYPT_LENGTHS_PROPERTY = 'Lengths';
/** `NCRYPT_EXPORT_POLICY_PROPERTY`. */
export const NCRYPT_EXPORT_POLICY_PROPERTY = 'Export Policy';
/** `NCRYPT_KEY_USAGE_PROPERTY`. */
export const NCRYPT_KEY_USAGE_PROPERTY = 'Key Usage';
/** `NCRYPT_KEY_TYPE_PROPERTY`. */
export const NCRYPT_KEY_TYPE_PROPERTY = 'Key Type';
/** `NCRYPT_IMPL_TYPE_PROPERTY`. */
export const NCRYPT_IMPL_TYPE_PROPERTY = 'Impl Type';
/** `NCRYPT_UI_POLICY_PROPERTY`. */
export const NCRYPT_UI_POLICY_PROPERTY = 'UI Policy';
/** `NCRYPT_PROVIDER_HANDLE_PROPERTY`. */
export const NCRYPT_PROVIDER_HANDLE_PROPERTY = 'Provider Handle';
/** `NCRYPT_ECC_CURVE_NAME_PROPERTY`. */
export const NCRYPT_ECC_CURVE_NAME_PROPERTY = 'ECCCurveName';
/** `NCRYPT_VIRTUAL_ISO_PROPERTY` ("Virtual Iso"; Windows SDK `ncrypt.h`, not in mingw-w64's headers). */
export const NCRYPT_VIRTUAL_ISO_PROPERTY = 'Virtual Iso';
/** `NCRYPT_PCP_PLATFORM_TYPE_PROPERTY`. */
export const NCRYPT_PCP_PLATFORM_TYPE_PROPERTY = 'PCP_PLATFORM_TYPE';
/** `NCRYPT_PCP_PROVIDER_VERSION_PROPERTY`. */
export const NCRYPT_PCP_PROVIDER_VERSION_PROPERTY = 'PCP_PROVIDER_VERSION';
/** `NCRYPT_PCP_TPM_VERSION_PROPERTY`. */
export const NCRYPT_PCP_TPM_VERSION_PROPERTY = 'PCP_TPM_VERSION';
/** `NCRYPT_PCP_TPM_FW_VERSION_PROPERTY`. */
export const NCRYPT_PCP_TPM_FW_VERSION_PROPERTY = 'PCP_TPM_FW_VERSION';

// Export policy, key usage and implementation type flags.
/** `NCRYPT_ALLOW_EXPORT_FLAG`. */
export const NCRYPT_ALLOW_EXPORT_FLAG = 0x1;
/** `NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG`. */
export const NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG = 0x2;
/** `NCRYPT_ALLOW_DECRYPT_FLAG`. */
export const NCRYPT_ALLOW_DECRYPT_FLAG = 0x1;
/** `NCRYPT_ALLOW_SIGNING_FLAG`. */
export const NCRYPT_ALLOW_SIGNING_FLAG = 0x2;
/** `NCRYPT_ALLOW_KEY_AGREEMENT_FLAG`. */
export const NCRYPT_ALLOW_KEY_AGREEMENT_FLAG = 0x4;
/** `NCRYPT_ALLOW_ALL_USAGES`. */
export const NCRYPT_ALLOW_ALL_USAGES = 0x00ffffff;
/** `NCRYPT_IMPL_HARDWARE_FLAG`. */
export const NCRYPT_IMPL_HARDWARE_FLAG = 0x1;
/** `NCRYPT_IMPL_SOFTWARE_FLAG`. */
export const NCRYPT_IMPL_SOFTWARE_FLAG = 0x2;
/** `NCRYPT_IMPL_VIRTUAL_ISOLATION_FLAG` (Windows SDK `ncrypt.h`, not in mingw-w64's headers). */
export const NCRYPT_IMPL_VIRTUAL_ISOLATION_FLAG = 0x20;
/** `NCRYPT_UI_PROTECT_KEY_FLAG`. */
export const NCRYPT_UI_PROTECT_KEY_FLAG = 0x1;
/** `NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG`. */
export const NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG = 0x2;
/** `NCRYPTBUFFER_PKCS_KEY_NAME`. */
export const NCRYPTBUFFER_PKCS_KEY_NAME = 45;

// Blob types.
/** `BCRYPT_RSAPUBLIC_BLOB`. */
export const BCRYPT_RSAPUBLIC_BLOB = 'RSAPUBLICBLOB';
/** `BCRYPT_RSAPRIVATE_BLOB`. */
export const BCRYPT_RSAPRIVATE_BLOB = 'RSAPRIVATEBLOB';
/** `BCRYPT_RSAFULLPRIVATE_BLOB`. */
export const BCRYPT_RSAFULLPRIVATE_BLOB = 'RSAFULLPRIVATEBLOB';
/** `BCRYPT_ECCPUBLIC_BLOB`. */
export const BCRYPT_ECCPUBLIC_BLOB = 'ECCPUBLICBLOB';
/** `BCRYPT_ECCPRIVATE_BLOB`. */
export const BCRYPT_ECCPRIVATE_BLOB = 'ECCPRIVATEBLOB';

// Blob magics (little-endian DWORDs at offset 0).
/** `BCRYPT_RSAPUBLIC_MAGIC` ('RSA1'). */
export const BCRYPT_RSAPUBLIC_MAGIC = 0x31415352;
/** `BCRYPT_RSAPRIVATE_MAGIC` ('RSA2'). */
export const BCRYPT_RSAPRIVATE_MAGIC = 0x32415352;
/** `BCRYPT_RSAFULLPRIVATE_MAGIC` ('RSA3'). */
export const BCRYPT_RSAFULLPRIVATE_MAGIC = 0x33415352;

// Status codes (SECURITY_STATUS / HRESULT, unsigned).
/** `ERROR_SUCCESS`. */
export const ERROR_SUCCESS = 0;
/** `NTE_BAD_SIGNATURE`. */
export const NTE_BAD_SIGNATURE = 0x80090006;
/** `NTE_BAD_ALGID`. */
export const NTE_BAD_ALGID = 0x80090008;
/** `NTE_BAD_FLAGS`. */
export const NTE_BAD_FLAGS = 0x80090009;
/** `NTE_BAD_KEY_STATE`. */
export const NTE_BAD_KEY_STATE = 0x8009000b;
/** `NTE_NO_KEY`. */
export const NTE_NO_KEY = 0x8009000d;
/** `NTE_EXISTS`. */
export const NTE_EXISTS = 0x8009000f;
/** `NTE_PERM`. */
export const NTE_PERM = 0x80090010;
/** `NTE_NOT_FOUND`. */
export const NTE_NOT_FOUND = 0x80090011;
/** `NTE_BAD_KEYSET`. */
export const NTE_BAD_KEYSET = 0x80090016;
/** `NTE_SILENT_CONTEXT`. */
export const NTE_SILENT_CONTEXT = 0x80090022;
/** `NTE_INVALID_HANDLE`. */
export const NTE_INVALID_HANDLE = 0x80090026;
/** `NTE_INVALID_PARAMETER`. */
export const NTE_INVALID_PARAMETER = 0x80090027;
/** `NTE_BUFFER_TOO_SMALL`. */
export const NTE_BUFFER_TOO_SMALL = 0x80090028;
/** `NTE_NOT_SUPPORTED`. */
export const NTE_NOT_SUPPORTED = 0x80090029;
/** `NTE_NO_MORE_ITEMS`. */
export const NTE_NO_MORE_ITEMS = 0x8009002a;
/** `NTE_INTERNAL_ERROR`. */
export const NTE_INTERNAL_ERROR = 0x8009002d;
/** `NTE_DEVICE_NOT_READY`. */
export const NTE_DEVICE_NOT_READY = 0x80090030;
/** `NTE_USER_CANCELLED`. */
export const NTE_USER_CANCELLED = 0x80090036;
/** `TPM_E_PCP_BUFFER_TOO_SMALL` (the PCP's answer where others give NTE_BUFFER_TOO_SMALL). */
export const TPM_E_PCP_BUFFER_TOO_SMALL = 0x80290406;
/** `TPM_E_PCP_UNSUPPORTED_PSS_SALT` (success severity: test `status !== 0`, not `< 0`). */
export const TPM_E_PCP_UNSUPPORTED_PSS_SALT = 0x40290423;
/** `TBS_E_TPM_NOT_FOUND`. */
export const TBS_E_TPM_NOT_FOUND = 0x8028400f;
/** `ERROR_FILE_NOT_FOUND` (registry value missing). */
export const ERROR_FILE_NOT_FOUND = 2;
/** `ERROR_ACCESS_DENIED`. */
export const ERROR_ACCESS_DENIED = 5;
