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
/**
 * `NCRYPT_DO_NOT_FINALIZE_FLAG`: `NCryptImportKey` returns the key unfinalized, so properties can be set
 * before `NCryptFinalizeKey` (without it the imported key comes back finalized).
 */
export const NCRYPT_DO_NOT_FINALIZE_FLAG = 0x400;
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
/** `NCRYPT_ECC_CURVE_NAME_PROPERTY` (= `BCRYPT_ECC_CURVE_NAME`; Windows SDK `ncrypt.h` WINTHRESHOLD+, not in mingw-w64's headers). */
export const NCRYPT_ECC_CURVE_NAME_PROPERTY = 'ECCCurveName';
/**
 * The "Virtual Iso" key property. The Windows SDK's `ncrypt.h` names it
 * `NCRYPT_USE_VIRTUAL_ISOLATION_PROPERTY` (see that alias); mingw-w64's headers lack both names.
 */
export const NCRYPT_VIRTUAL_ISO_PROPERTY = 'Virtual Iso';
/** `NCRYPT_PCP_PLATFORM_TYPE_PROPERTY`. */
export const NCRYPT_PCP_PLATFORM_TYPE_PROPERTY = 'PCP_PLATFORM_TYPE';
/** `NCRYPT_PCP_PROVIDER_VERSION_PROPERTY`. */
export const NCRYPT_PCP_PROVIDER_VERSION_PROPERTY = 'PCP_PROVIDER_VERSION';
/** `NCRYPT_PCP_TPM_VERSION_PROPERTY` (Windows SDK `ncrypt.h` RS3+, not in mingw-w64's headers). */
export const NCRYPT_PCP_TPM_VERSION_PROPERTY = 'PCP_TPM_VERSION';
/** `NCRYPT_PCP_TPM_FW_VERSION_PROPERTY` (Windows SDK `ncrypt.h` RS2+, not in mingw-w64's headers). */
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
/** `TPM_E_PCP_BUFFER_TOO_SMALL` (the PCP's answer where others give NTE_BUFFER_TOO_SMALL; Windows SDK `winerror.h`, not in mingw-w64's). */
export const TPM_E_PCP_BUFFER_TOO_SMALL = 0x80290406;
/** `TPM_E_PCP_UNSUPPORTED_PSS_SALT` (success severity: test `status !== 0`, not `< 0`; Windows SDK `winerror.h`, not in mingw-w64's). */
export const TPM_E_PCP_UNSUPPORTED_PSS_SALT = 0x40290423;
/** `TBS_E_TPM_NOT_FOUND`. */
export const TBS_E_TPM_NOT_FOUND = 0x8028400f;
/** `ERROR_FILE_NOT_FOUND` (registry value missing). */
export const ERROR_FILE_NOT_FOUND = 2;
/** `ERROR_ACCESS_DENIED`. */
export const ERROR_ACCESS_DENIED = 5;
/** `ERROR_INVALID_PARAMETER`. */
export const ERROR_INVALID_PARAMETER = 87;
/** `ERROR_NOT_SUPPORTED`. */
export const ERROR_NOT_SUPPORTED = 50;
/** `ERROR_MORE_DATA` (a registry value grew between the size query and the read). */
export const ERROR_MORE_DATA = 234;
/** `ERROR_SERVICE_DOES_NOT_EXIST` (`OpenServiceW` on a service this Windows does not have). */
export const ERROR_SERVICE_DOES_NOT_EXIST = 1060;
/** `ERROR_NOT_FOUND`. */
export const ERROR_NOT_FOUND = 1168;
/** `ERROR_CANCELLED` (Win32; as an HRESULT it is 0x800704C7). */
export const ERROR_CANCELLED = 1223;
/** `E_ACCESSDENIED`. */
export const E_ACCESSDENIED = 0x80070005;
/** `E_INVALIDARG`. */
export const E_INVALIDARG = 0x80070057;
/** `NTE_BAD_DATA`. */
export const NTE_BAD_DATA = 0x80090005;
/** `NTE_DECRYPTION_FAILURE`. */
export const NTE_DECRYPTION_FAILURE = 0x8009002c;
/** `NTE_UI_REQUIRED`. */
export const NTE_UI_REQUIRED = 0x8009002e;
/** `NTE_AUTHENTICATION_IGNORED` (the TPM's dictionary-attack lockout ignored the authorization). */
export const NTE_AUTHENTICATION_IGNORED = 0x80090031;
/** `NTE_INCORRECT_PASSWORD`. */
export const NTE_INCORRECT_PASSWORD = 0x80090033;
/** `NTE_DEVICE_NOT_FOUND`. */
export const NTE_DEVICE_NOT_FOUND = 0x80090035;
/** `TPM_E_PCP_AUTHENTICATION_FAILED` (Windows SDK `winerror.h`; not in mingw-w64's headers). */
export const TPM_E_PCP_AUTHENTICATION_FAILED = 0x80290408;
/** `TPM_E_LOCKED_OUT` (dictionary-attack lockout; Windows SDK `winerror.h`; not in mingw-w64's headers). */
export const TPM_E_LOCKED_OUT = 0x8029041b;
/** `TBS_E_SERVICE_NOT_RUNNING`. */
export const TBS_E_SERVICE_NOT_RUNNING = 0x80284008;
/** `TBS_E_ACCESS_DENIED` (Windows SDK `winerror.h`; not in mingw-w64's headers). */
export const TBS_E_ACCESS_DENIED = 0x80284012;

// More NCrypt flags, limits and names.
/** `NCRYPT_NO_PADDING_FLAG` (same value as `BCRYPT_PAD_NONE`). */
export const NCRYPT_NO_PADDING_FLAG = 0x1;
/** `NCRYPT_PAD_PKCS1_FLAG`. */
export const NCRYPT_PAD_PKCS1_FLAG = 0x2;
/** `NCRYPT_PAD_OAEP_FLAG`. */
export const NCRYPT_PAD_OAEP_FLAG = 0x4;
/** `NCRYPT_PAD_PSS_FLAG`. */
export const NCRYPT_PAD_PSS_FLAG = 0x8;
/**
 * `NCRYPT_TPM_PAD_PSS_IGNORE_SALT`: lets the Platform Crypto Provider choose the PSS salt (Windows SDK
 * `ncrypt.h`; not in mingw-w64's headers). Verify such signatures with an automatic salt length.
 */
export const NCRYPT_TPM_PAD_PSS_IGNORE_SALT = 0x20;
/**
 * `NCRYPT_PCP_PSS_SALT_SIZE_PROPERTY`: which PSS salt a Platform Crypto Provider key's TPM makes
 * (Windows SDK `ncrypt.h` RS5+; not in mingw-w64's headers). Values below.
 */
export const NCRYPT_PCP_PSS_SALT_SIZE_PROPERTY = 'PSS Salt Size';
/** `NCRYPT_TPM_PSS_SALT_SIZE_UNKNOWN` (Windows SDK `ncrypt.h`). */
export const NCRYPT_TPM_PSS_SALT_SIZE_UNKNOWN = 0;
/** `NCRYPT_TPM_PSS_SALT_SIZE_MAXIMUM`: TPMs built to spec versions before 1.16 (Windows SDK `ncrypt.h`). */
export const NCRYPT_TPM_PSS_SALT_SIZE_MAXIMUM = 1;
/** `NCRYPT_TPM_PSS_SALT_SIZE_HASHSIZE`: TPMs built to spec 1.16 and later (Windows SDK `ncrypt.h`). */
export const NCRYPT_TPM_PSS_SALT_SIZE_HASHSIZE = 2;
/** `NCRYPT_IGNORE_DEVICE_STATE_FLAG` (Windows SDK `ncrypt.h`; not in mingw-w64's headers). */
export const NCRYPT_IGNORE_DEVICE_STATE_FLAG = 0x1000;
/** `NCRYPT_PROTECT_TO_LOCAL_SYSTEM` (Windows SDK `ncrypt.h`; not in mingw-w64's headers). */
export const NCRYPT_PROTECT_TO_LOCAL_SYSTEM = 0x8000;
/** `NCRYPT_ALLOW_ARCHIVING_FLAG`. */
export const NCRYPT_ALLOW_ARCHIVING_FLAG = 0x4;
/** `NCRYPT_ALLOW_PLAINTEXT_ARCHIVING_FLAG`. */
export const NCRYPT_ALLOW_PLAINTEXT_ARCHIVING_FLAG = 0x8;
/** `NCRYPT_IMPL_REMOVABLE_FLAG`. */
export const NCRYPT_IMPL_REMOVABLE_FLAG = 0x8;
/** `NCRYPT_IMPL_HARDWARE_RNG_FLAG`. */
export const NCRYPT_IMPL_HARDWARE_RNG_FLAG = 0x10;
/** `NCRYPT_MAX_KEY_NAME_LENGTH`: the longest key name NCrypt accepts, in UTF-16 code units. */
export const NCRYPT_MAX_KEY_NAME_LENGTH = 512;
/** `NCRYPT_MAX_ALG_ID_LENGTH`: the longest algorithm id, in UTF-16 code units. */
export const NCRYPT_MAX_ALG_ID_LENGTH = 512;
/** `NCRYPT_MAX_PROPERTY_NAME`: the longest property name, in UTF-16 code units. */
export const NCRYPT_MAX_PROPERTY_NAME = 64;
/** `NCRYPT_MAX_PROPERTY_DATA`: the largest property value, in bytes. */
export const NCRYPT_MAX_PROPERTY_DATA = 0x100000;
/** `NCRYPTBUFFER_VERSION` (`NCryptBufferDesc.ulVersion`). */
export const NCRYPTBUFFER_VERSION = 0;
/** `MS_PLATFORM_KEY_STORAGE_PROVIDER`: the older SDK name of {@link MS_PLATFORM_CRYPTO_PROVIDER}. */
export const MS_PLATFORM_KEY_STORAGE_PROVIDER = 'Microsoft Platform Crypto Provider';

// Algorithm ids, groups, hashes, curves and KDFs.
/** `NCRYPT_RSA_ALGORITHM` / `BCRYPT_RSA_ALGORITHM`. */
export const NCRYPT_RSA_ALGORITHM = 'RSA';
/** `NCRYPT_ECDSA_P256_ALGORITHM`. */
export const NCRYPT_ECDSA_P256_ALGORITHM = 'ECDSA_P256';
/** `NCRYPT_ECDSA_P384_ALGORITHM`. */
export const NCRYPT_ECDSA_P384_ALGORITHM = 'ECDSA_P384';
/** `NCRYPT_ECDSA_P521_ALGORITHM`. */
export const NCRYPT_ECDSA_P521_ALGORITHM = 'ECDSA_P521';
/** `NCRYPT_ECDH_P256_ALGORITHM`. */
export const NCRYPT_ECDH_P256_ALGORITHM = 'ECDH_P256';
/** `NCRYPT_ECDH_P384_ALGORITHM`. */
export const NCRYPT_ECDH_P384_ALGORITHM = 'ECDH_P384';
/** `NCRYPT_ECDH_P521_ALGORITHM`. */
export const NCRYPT_ECDH_P521_ALGORITHM = 'ECDH_P521';
/** `NCRYPT_ECDSA_ALGORITHM`: generic ECDSA, curve set through `ECCCurveName` (Windows SDK; not in mingw-w64's headers). */
export const NCRYPT_ECDSA_ALGORITHM = 'ECDSA';
/** `NCRYPT_ECDH_ALGORITHM`: generic ECDH, curve set through `ECCCurveName` (Windows SDK; not in mingw-w64's headers). */
export const NCRYPT_ECDH_ALGORITHM = 'ECDH';
/** `NCRYPT_RSA_ALGORITHM_GROUP`. */
export const NCRYPT_RSA_ALGORITHM_GROUP = 'RSA';
/** `NCRYPT_ECDSA_ALGORITHM_GROUP`. */
export const NCRYPT_ECDSA_ALGORITHM_GROUP = 'ECDSA';
/** `NCRYPT_ECDH_ALGORITHM_GROUP`. */
export const NCRYPT_ECDH_ALGORITHM_GROUP = 'ECDH';
/** `BCRYPT_SHA1_ALGORITHM`. */
export const BCRYPT_SHA1_ALGORITHM = 'SHA1';
/** `BCRYPT_SHA256_ALGORITHM`. */
export const BCRYPT_SHA256_ALGORITHM = 'SHA256';
/** `BCRYPT_SHA384_ALGORITHM`. */
export const BCRYPT_SHA384_ALGORITHM = 'SHA384';
/** `BCRYPT_SHA512_ALGORITHM`. */
export const BCRYPT_SHA512_ALGORITHM = 'SHA512';
/** `BCRYPT_ECC_CURVE_NISTP256` (Windows SDK `bcrypt.h`; not in mingw-w64's headers). */
export const BCRYPT_ECC_CURVE_NISTP256 = 'nistP256';
/** `BCRYPT_ECC_CURVE_NISTP384` (Windows SDK `bcrypt.h`; not in mingw-w64's headers). */
export const BCRYPT_ECC_CURVE_NISTP384 = 'nistP384';
/** `BCRYPT_ECC_CURVE_NISTP521` (Windows SDK `bcrypt.h`; not in mingw-w64's headers). */
export const BCRYPT_ECC_CURVE_NISTP521 = 'nistP521';
/** `BCRYPT_KDF_RAW_SECRET`: the KDF name that returns the raw (little-endian) agreed secret. */
export const BCRYPT_KDF_RAW_SECRET = 'TRUNCATE';

// ECC blob magics (little-endian DWORDs at offset 0 of a BCRYPT_ECCKEY_BLOB).
/** `BCRYPT_ECDSA_PUBLIC_P256_MAGIC` ('ECS1'). */
export const BCRYPT_ECDSA_PUBLIC_P256_MAGIC = 0x31534345;
/** `BCRYPT_ECDSA_PRIVATE_P256_MAGIC` ('ECS2'). */
export const BCRYPT_ECDSA_PRIVATE_P256_MAGIC = 0x32534345;
/** `BCRYPT_ECDSA_PUBLIC_P384_MAGIC` ('ECS3'). */
export const BCRYPT_ECDSA_PUBLIC_P384_MAGIC = 0x33534345;
/** `BCRYPT_ECDSA_PRIVATE_P384_MAGIC` ('ECS4'). */
export const BCRYPT_ECDSA_PRIVATE_P384_MAGIC = 0x34534345;
/** `BCRYPT_ECDSA_PUBLIC_P521_MAGIC` ('ECS5'). */
export const BCRYPT_ECDSA_PUBLIC_P521_MAGIC = 0x35534345;
/** `BCRYPT_ECDSA_PRIVATE_P521_MAGIC` ('ECS6'). */
export const BCRYPT_ECDSA_PRIVATE_P521_MAGIC = 0x36534345;
/** `BCRYPT_ECDSA_PUBLIC_GENERIC_MAGIC` ('ECDP'): the curve is not in the blob. */
export const BCRYPT_ECDSA_PUBLIC_GENERIC_MAGIC = 0x50444345;
/** `BCRYPT_ECDSA_PRIVATE_GENERIC_MAGIC` ('ECDV'). */
export const BCRYPT_ECDSA_PRIVATE_GENERIC_MAGIC = 0x56444345;
/** `BCRYPT_ECDH_PUBLIC_P256_MAGIC` ('ECK1'). */
export const BCRYPT_ECDH_PUBLIC_P256_MAGIC = 0x314b4345;
/** `BCRYPT_ECDH_PRIVATE_P256_MAGIC` ('ECK2'). */
export const BCRYPT_ECDH_PRIVATE_P256_MAGIC = 0x324b4345;
/** `BCRYPT_ECDH_PUBLIC_P384_MAGIC` ('ECK3'). */
export const BCRYPT_ECDH_PUBLIC_P384_MAGIC = 0x334b4345;
/** `BCRYPT_ECDH_PRIVATE_P384_MAGIC` ('ECK4'). */
export const BCRYPT_ECDH_PRIVATE_P384_MAGIC = 0x344b4345;
/** `BCRYPT_ECDH_PUBLIC_P521_MAGIC` ('ECK5'). */
export const BCRYPT_ECDH_PUBLIC_P521_MAGIC = 0x354b4345;
/** `BCRYPT_ECDH_PRIVATE_P521_MAGIC` ('ECK6'). */
export const BCRYPT_ECDH_PRIVATE_P521_MAGIC = 0x364b4345;
/** `BCRYPT_ECDH_PUBLIC_GENERIC_MAGIC` ('ECKP'): the curve is not in the blob. */
export const BCRYPT_ECDH_PUBLIC_GENERIC_MAGIC = 0x504b4345;
/** `BCRYPT_ECDH_PRIVATE_GENERIC_MAGIC` ('ECKV'). */
export const BCRYPT_ECDH_PRIVATE_GENERIC_MAGIC = 0x564b4345;

// TPM Base Services.
/** `TBS_SUCCESS`. */
export const TBS_SUCCESS = 0;
/** `TPM_VERSION_12` (`TPM_DEVICE_INFO.tpmVersion`; Windows SDK `tbs.h`, not in mingw-w64's headers). */
export const TPM_VERSION_12 = 1;
/** `TPM_VERSION_20` (Windows SDK `tbs.h`, not in mingw-w64's headers). */
export const TPM_VERSION_20 = 2;
/** `TPM_IFTYPE_HW` (`TPM_DEVICE_INFO.tpmInterfaceType`; Windows SDK `tbs.h`, not in mingw-w64's headers). */
export const TPM_IFTYPE_HW = 3;
/** `TPM_IFTYPE_EMULATOR` (Windows SDK `tbs.h`, not in mingw-w64's headers). */
export const TPM_IFTYPE_EMULATOR = 4;

// Posture queries: processes, services, registry, ntdll information classes.
/** `PROCESS_QUERY_LIMITED_INFORMATION` (`OpenProcess` access right). */
export const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
/** `SC_MANAGER_CONNECT`. */
export const SC_MANAGER_CONNECT = 0x1;
/** `SERVICE_QUERY_STATUS`. */
export const SERVICE_QUERY_STATUS = 0x4;
/** `SC_STATUS_PROCESS_INFO` (`QueryServiceStatusEx` info level; an enum member in `winsvc.h`). */
export const SC_STATUS_PROCESS_INFO = 0;
/** `TH32CS_SNAPPROCESS`. */
export const TH32CS_SNAPPROCESS = 0x2;
/** `HKEY_LOCAL_MACHINE`: the predefined key `(HKEY)(ULONG_PTR)(LONG)0x80000002`, sign-extended on x64. */
export const HKEY_LOCAL_MACHINE = 0xffffffff80000002n;
/** `RRF_RT_REG_SZ`. */
export const RRF_RT_REG_SZ = 0x2;
/** `RRF_RT_REG_DWORD`. */
export const RRF_RT_REG_DWORD = 0x10;
/** `RRF_RT_REG_MULTI_SZ`. */
export const RRF_RT_REG_MULTI_SZ = 0x20;
/** `REG_SZ`. */
export const REG_SZ = 1;
/** `REG_DWORD`. */
export const REG_DWORD = 4;
/** `REG_MULTI_SZ`. */
export const REG_MULTI_SZ = 7;
/** `ProcessProtectionInformation` (`PROCESSINFOCLASS` 61; phnt `ntpsapi.h`, not in the Windows SDK's `winternl.h`). */
export const ProcessProtectionInformation = 61;
/** `SystemIsolatedUserModeInformation` (`SYSTEM_INFORMATION_CLASS` 165; phnt `ntexapi.h`, not in `winternl.h`). */
export const SystemIsolatedUserModeInformation = 165;
/** `STATUS_INVALID_INFO_CLASS` (NTSTATUS). */
export const STATUS_INVALID_INFO_CLASS = 0xc0000003;
/** `STATUS_ACCESS_DENIED` (NTSTATUS). */
export const STATUS_ACCESS_DENIED = 0xc0000022;

// crypt32.dll (wincrypt.h): the system certificate stores and the key a certificate is bound to.
/** `CERT_STORE_PROV_SYSTEM_W`: the store provider `(LPCSTR) 10`, passed as a pointer-sized value. */
export const CERT_STORE_PROV_SYSTEM_W = 10n;
/** `X509_ASN_ENCODING`. */
export const X509_ASN_ENCODING = 0x1;
/** `PKCS_7_ASN_ENCODING`. */
export const PKCS_7_ASN_ENCODING = 0x10000;
/** `CERT_SYSTEM_STORE_CURRENT_USER`. */
export const CERT_SYSTEM_STORE_CURRENT_USER = 0x10000;
/** `CERT_SYSTEM_STORE_LOCAL_MACHINE`. */
export const CERT_SYSTEM_STORE_LOCAL_MACHINE = 0x20000;
/** `CERT_STORE_OPEN_EXISTING_FLAG`: fail rather than create a store that does not exist. */
export const CERT_STORE_OPEN_EXISTING_FLAG = 0x4000;
/** `CERT_STORE_READONLY_FLAG`. */
export const CERT_STORE_READONLY_FLAG = 0x8000;
/** `CERT_STORE_ADD_REPLACE_EXISTING`. */
export const CERT_STORE_ADD_REPLACE_EXISTING = 3;
/** `CERT_KEY_PROV_INFO_PROP_ID`: the `CRYPT_KEY_PROV_INFO` naming the certificate's private key. */
export const CERT_KEY_PROV_INFO_PROP_ID = 2;
/** `CERT_FIND_SHA1_HASH`: find by the SHA-1 thumbprint (a `CRYPT_HASH_BLOB`). */
export const CERT_FIND_SHA1_HASH = 0x10000;
/** `CRYPT_E_NOT_FOUND`. */
export const CRYPT_E_NOT_FOUND = 0x80092004;
/** `CRYPT_E_EXISTS`. */
export const CRYPT_E_EXISTS = 0x80092005;
