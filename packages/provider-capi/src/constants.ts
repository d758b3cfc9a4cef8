/**
 * CryptoAPI constants, as `wincrypt.h` defines them (checked against mingw-w64's copy).
 *
 * @module
 */

/** `MS_ENH_RSA_AES_PROV_W`: the CSP this provider uses (SHA-2 signatures, RSA up to 16384 bits). */
export const MS_ENH_RSA_AES_PROV = 'Microsoft Enhanced RSA and AES Cryptographic Provider';
/** `PROV_RSA_AES`. */
export const PROV_RSA_AES = 24;

/** `CryptAcquireContextW` flags. */
export const CRYPT_VERIFYCONTEXT = 0xf0000000;
export const CRYPT_NEWKEYSET = 0x8;
export const CRYPT_DELETEKEYSET = 0x10;
export const CRYPT_MACHINE_KEYSET = 0x20;
export const CRYPT_SILENT = 0x40;

/** `CryptGenKey` / `CryptImportKey` flags. */
export const CRYPT_EXPORTABLE = 0x1;

/** Key specs (also accepted by `CryptGenKey` as algorithm ids). */
export const AT_KEYEXCHANGE = 1;
export const AT_SIGNATURE = 2;

/** Algorithm ids. */
export const CALG_RSA_KEYX = 0xa400;
export const CALG_RSA_SIGN = 0x2400;
export const CALG_SHA_256 = 0x800c;
export const CALG_SHA_384 = 0x800d;
export const CALG_SHA_512 = 0x800e;

/** Blob types and versions. */
export const PUBLICKEYBLOB = 0x6;
export const PRIVATEKEYBLOB = 0x7;
export const CUR_BLOB_VERSION = 2;
/** `RSAPUBKEY.magic` values: `RSA1` (public), `RSA2` (private). */
export const RSA1_MAGIC = 0x31415352;
export const RSA2_MAGIC = 0x32415352;

/** `CryptGetKeyParam` parameters and the export permission bit. */
export const KP_PERMISSIONS = 6;
export const KP_KEYLEN = 9;
export const CRYPT_EXPORT = 0x4;

/** `CryptSetHashParam(HP_HASHVAL)`. */
export const HP_HASHVAL = 0x2;

/** `CryptDecrypt` flag for RSA-OAEP (SHA-1, MGF1-SHA-1, empty label: the only OAEP CryptoAPI has). */
export const CRYPT_OAEP = 0x40;
