/**
 * TSS2 return codes: symbolic names, and their mapping to {@link KeyStoreError} codes with hints.
 *
 * @module
 */
import { KeyStoreError, type KeyStoreErrorCode } from '@keystore/core';

const BASE_NAMES: readonly string[] = [
  'SUCCESS',
  'GENERAL_FAILURE',
  'NOT_IMPLEMENTED',
  'BAD_CONTEXT',
  'ABI_MISMATCH',
  'BAD_REFERENCE',
  'INSUFFICIENT_BUFFER',
  'BAD_SEQUENCE',
  'NO_CONNECTION',
  'TRY_AGAIN',
  'IO_ERROR',
  'BAD_VALUE',
  'NOT_PERMITTED',
  'INVALID_SESSIONS',
  'NO_DECRYPT_PARAM',
  'NO_ENCRYPT_PARAM',
  'BAD_SIZE',
  'MALFORMED_RESPONSE',
  'INSUFFICIENT_CONTEXT',
  'INSUFFICIENT_RESPONSE',
  'INCOMPATIBLE_TCTI',
  'NOT_SUPPORTED',
  'BAD_TCTI_STRUCTURE',
  'MEMORY',
  'BAD_TR',
  'MULTIPLE_DECRYPT_SESSIONS',
  'MULTIPLE_ENCRYPT_SESSIONS',
  'RSP_AUTH_FAILED',
  'NO_CONFIG',
  'BAD_PATH',
  'NOT_DELETABLE',
  'PATH_ALREADY_EXISTS',
  'KEY_NOT_FOUND',
  'SIGNATURE_VERIFICATION_FAILED',
  'HASH_MISMATCH',
  'KEY_NOT_DUPLICABLE',
  'PATH_NOT_FOUND',
  'NO_CERT',
  'NO_PCR',
  'PCR_NOT_RESETTABLE',
  'BAD_TEMPLATE',
  'AUTHORIZATION_FAILED',
  'AUTHORIZATION_UNKNOWN',
  'NV_NOT_READABLE',
  'NV_TOO_SMALL',
  'NV_NOT_WRITEABLE',
  'POLICY_UNKNOWN',
  'NV_WRONG_TYPE',
  'NAME_ALREADY_EXISTS',
  'NO_TPM',
  'BAD_KEY',
  'NO_HANDLE',
  'NOT_PROVISIONED',
  'ALREADY_PROVISIONED',
  'CALLBACK_NULL',
];

const LAYERS: Readonly<Record<number, string>> = {
  6: 'TSS2_FAPI_RC_',
  7: 'TSS2_ESYS_RC_',
  8: 'TSS2_SYS_RC_',
  9: 'TSS2_MU_RC_',
  10: 'TSS2_TCTI_RC_',
  11: 'TSS2_RESMGR_RC_',
};

/** TPM 2.0 format-one codes (bit 7 set), by their low six bits. */
const TPM_FMT1: Readonly<Record<number, string>> = {
  1: 'ASYMMETRIC',
  2: 'ATTRIBUTES',
  3: 'HASH',
  4: 'VALUE',
  5: 'HIERARCHY',
  7: 'KEY_SIZE',
  8: 'MGF',
  9: 'MODE',
  10: 'TYPE',
  11: 'HANDLE',
  12: 'KDF',
  13: 'RANGE',
  14: 'AUTH_FAIL',
  15: 'NONCE',
  16: 'PP',
  18: 'SCHEME',
  21: 'SIZE',
  22: 'SYMMETRIC',
  23: 'TAG',
  24: 'SELECTOR',
  26: 'INSUFFICIENT',
  27: 'SIGNATURE',
  28: 'KEY',
  29: 'POLICY_FAIL',
  31: 'INTEGRITY',
  32: 'TICKET',
  33: 'RESERVED_BITS',
  34: 'BAD_AUTH',
  35: 'EXPIRED',
  36: 'POLICY_CC',
  37: 'BINDING',
  38: 'CURVE',
  39: 'ECC_POINT',
};

/** TPM 2.0 format-zero codes (errors 0x1xx, warnings 0x9xx). */
const TPM_FMT0: Readonly<Record<number, string>> = {
  256: 'INITIALIZE',
  257: 'FAILURE',
  259: 'SEQUENCE',
  267: 'PRIVATE',
  281: 'HMAC',
  288: 'DISABLED',
  289: 'EXCLUSIVE',
  292: 'AUTH_TYPE',
  293: 'AUTH_MISSING',
  294: 'POLICY',
  295: 'PCR',
  296: 'PCR_CHANGED',
  301: 'UPGRADE',
  302: 'TOO_MANY_CONTEXTS',
  303: 'AUTH_UNAVAILABLE',
  304: 'REBOOT',
  305: 'UNBALANCED',
  322: 'COMMAND_SIZE',
  323: 'COMMAND_CODE',
  324: 'AUTHSIZE',
  325: 'AUTH_CONTEXT',
  326: 'NV_RANGE',
  327: 'NV_SIZE',
  328: 'NV_LOCKED',
  329: 'NV_AUTHORIZATION',
  330: 'NV_UNINITIALIZED',
  331: 'NV_SPACE',
  332: 'NV_DEFINED',
  336: 'BAD_CONTEXT',
  337: 'CPHASH',
  338: 'PARENT',
  339: 'NEEDS_TEST',
  340: 'NO_RESULT',
  341: 'SENSITIVE',
  2305: 'CONTEXT_GAP',
  2306: 'OBJECT_MEMORY',
  2307: 'SESSION_MEMORY',
  2308: 'MEMORY',
  2309: 'SESSION_HANDLES',
  2310: 'OBJECT_HANDLES',
  2311: 'LOCALITY',
  2312: 'YIELDED',
  2313: 'CANCELED',
  2314: 'TESTING',
  2336: 'NV_RATE',
  2337: 'LOCKOUT',
  2338: 'RETRY',
  2339: 'NV_UNAVAILABLE',
};

/** The TPM-layer code without its handle/parameter/session number (format one), or as is. */
function tpmBase(rc: number): number {
  return rc & 0x80 ? 0x80 | (rc & 0x3f) : rc & 0xfff;
}

/**
 * The symbolic name of a TSS2 return code, e.g. `TSS2_FAPI_RC_KEY_NOT_FOUND` for `0x60020`,
 * `TPM2_RC_BAD_AUTH` for `0x9a2`, `TSS2_TCTI_RC_IO_ERROR` for `0xa000a`.
 *
 * @example
 * ```ts
 * tss2RcName(0x60020); // 'TSS2_FAPI_RC_KEY_NOT_FOUND'
 * ```
 * @since 0.1.0
 */
export function tss2RcName(rc: number): string {
  const code = rc >>> 0;
  const layer = (code >>> 16) & 0xff;
  if (layer === 0 || layer === 12) {
    const prefix = layer === 0 ? 'TPM2_RC_' : 'TSS2_RESMGR_TPM_RC_';
    const tpm = code & 0xffff;
    const name = tpm & 0x80 ? TPM_FMT1[tpm & 0x3f] : TPM_FMT0[tpm & 0xfff];
    return name ? `${prefix}${name}` : `${prefix}0x${tpm.toString(16)}`;
  }
  const prefix = LAYERS[layer] ?? `TSS2_LAYER${layer}_RC_`;
  const base = code & 0xffff;
  return `${prefix}${BASE_NAMES[base] ?? `0x${base.toString(16)}`}`;
}

/** The hint given when the TPM cannot be reached. */
export const UNREACHABLE_HINT =
  'is swtpm/the TPM running? check the tcti in the FAPI config named by TSS2_FAPICONF (or the configFile option)';

interface Mapping {
  readonly code: KeyStoreErrorCode;
  readonly hint: string;
}

/** Maps a TSS2 return code to an error code and a hint for a person. */
export function classifyRc(rc: number): Mapping {
  const code = rc >>> 0;
  const layer = (code >>> 16) & 0xff;
  const base = code & 0xffff;
  if (layer === 10 || layer === 11) return { code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE', hint: UNREACHABLE_HINT };
  if (layer === 6 || layer === 7) {
    switch (base) {
      case 32: // KEY_NOT_FOUND
      case 36: // PATH_NOT_FOUND
        return { code: 'ERR_KEYSTORE_KEY_NOT_FOUND', hint: 'no key at that FAPI path; list keys to see which exist' };
      case 31: // PATH_ALREADY_EXISTS
      case 48: // NAME_ALREADY_EXISTS
        return { code: 'ERR_KEYSTORE_KEY_EXISTS', hint: 'a key with that name exists; open it, or delete it first' };
      case 41: // AUTHORIZATION_FAILED
      case 42: // AUTHORIZATION_UNKNOWN
        return { code: 'ERR_KEYSTORE_ACCESS_DENIED', hint: 'the key needs a password: pass the right one' };
      case 8: // NO_CONNECTION
      case 10: // IO_ERROR
      case 49: // NO_TPM
        return { code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE', hint: UNREACHABLE_HINT };
      case 28: // NO_CONFIG
        return {
          code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
          hint: 'set TSS2_FAPICONF to a FAPI config file (writeFapiConfig() writes one), or pass the configFile option',
        };
      case 52: // NOT_PROVISIONED
        return {
          code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
          hint: 'the FAPI keystore is not provisioned (tss2_provision)',
        };
      case 37: // NO_CERT
        return {
          code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
          hint: 'the TPM has no EK certificate: set "ek_cert_less": "yes" in the FAPI config',
        };
      default:
        return { code: 'ERR_KEYSTORE_NATIVE_FAILURE', hint: 'a tpm2-tss FAPI call failed; see nativeName' };
    }
  }
  if (layer === 0 || layer === 12) {
    const tpm = tpmBase(base);
    switch (tpm) {
      case 0x8e: // AUTH_FAIL
      case 0xa2: // BAD_AUTH
        return { code: 'ERR_KEYSTORE_ACCESS_DENIED', hint: 'wrong password for the key' };
      case 0x921: // LOCKOUT
        return {
          code: 'ERR_KEYSTORE_ACCESS_DENIED',
          hint: 'the TPM is in dictionary-attack lockout; wait for it to recover or reset it',
        };
      case 0x92: // SCHEME
      case 0x9c: // KEY
      case 0x82: // ATTRIBUTES
        return {
          code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
          hint: 'the key does not allow that operation or scheme',
        };
      case 0x902: // OBJECT_MEMORY
      case 0x903: // SESSION_MEMORY
        return {
          code: 'ERR_KEYSTORE_NATIVE_FAILURE',
          hint: 'the TPM ran out of object or session slots; use a resource manager (device:/dev/tpmrm0) or a smaller poolSize, or flush stale objects (tpm2_flushcontext -t)',
        };
      default:
        return { code: 'ERR_KEYSTORE_NATIVE_FAILURE', hint: 'the TPM refused the command; see nativeName' };
    }
  }
  return { code: 'ERR_KEYSTORE_NATIVE_FAILURE', hint: 'a tpm2-tss call failed; see nativeName' };
}

/**
 * Builds the {@link KeyStoreError} for a failed TSS2 call, keeping the status and its name.
 *
 * @param rc The return code.
 * @param what What was being done, e.g. `sign with key "a"`.
 * @param decoded `Tss2_RC_Decode`'s text, if available.
 */
export function tss2Error(rc: number, what: string, decoded?: string): KeyStoreError {
  const { code, hint } = classifyRc(rc);
  const name = tss2RcName(rc);
  const text = decoded ? `: ${decoded}` : '';
  return new KeyStoreError(code, `TPM: ${what} failed with ${name} (0x${(rc >>> 0).toString(16)})${text}`, {
    providerId: 'tpm',
    nativeStatus: rc >>> 0,
    nativeName: name,
    hint,
  });
}
