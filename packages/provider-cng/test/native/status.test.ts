/**
 * The status table and `statusError`, pure.
 */
import { KEYSTORE_ERROR_CODES, KeyStoreError } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import * as constants from '../../src/native/constants.js';
import { formatStatus, NCRYPT_STATUS, statusError, statusName } from '../../src/native/status.js';

/** Every status constant of constants.ts (a numeric export named like an SDK status). */
const statusConstants: [string, number][] = [];
for (const [name, value] of Object.entries(constants) as [string, unknown][]) {
  if (typeof value === 'number' && value !== 0 && /^(NTE_|TPM_E_|TPM_20_E_|TBS_E_|ERROR_|E_|STATUS_)/.test(name)) {
    statusConstants.push([name, value]);
  }
}

describe('NCRYPT_STATUS', () => {
  it('has an SDK-style name, a core error code and a hint for every entry', () => {
    expect(NCRYPT_STATUS.size).toBeGreaterThan(100);
    for (const [status, info] of NCRYPT_STATUS) {
      expect(Number.isInteger(status) && status >= 0 && status <= 0xffffffff, formatStatus(status)).toBe(true);
      expect(info.name).toMatch(/^[A-Z0-9_]+$/);
      expect(KEYSTORE_ERROR_CODES).toContain(info.code);
      expect(info.hint.length).toBeGreaterThan(20);
    }
  });

  it('covers every status of the design notes (WINDOWS-FACTS §7) and the Win32/HRESULT codes the bindings meet', () => {
    const required: [number, string][] = [
      [0x80090006, 'NTE_BAD_SIGNATURE'],
      [0x80090008, 'NTE_BAD_ALGID'],
      [0x80090009, 'NTE_BAD_FLAGS'],
      [0x8009000b, 'NTE_BAD_KEY_STATE'],
      [0x8009000d, 'NTE_NO_KEY'],
      [0x8009000f, 'NTE_EXISTS'],
      [0x80090010, 'NTE_PERM'],
      [0x80090011, 'NTE_NOT_FOUND'],
      [0x80090016, 'NTE_BAD_KEYSET'],
      [0x80090022, 'NTE_SILENT_CONTEXT'],
      [0x80090026, 'NTE_INVALID_HANDLE'],
      [0x80090027, 'NTE_INVALID_PARAMETER'],
      [0x80090028, 'NTE_BUFFER_TOO_SMALL'],
      [0x80090029, 'NTE_NOT_SUPPORTED'],
      [0x8009002a, 'NTE_NO_MORE_ITEMS'],
      [0x8009002d, 'NTE_INTERNAL_ERROR'],
      [0x80090030, 'NTE_DEVICE_NOT_READY'],
      [0x80090036, 'NTE_USER_CANCELLED'],
      [0x80290401, 'TPM_E_PCP_DEVICE_NOT_READY'],
      [0x80290402, 'TPM_E_PCP_INVALID_HANDLE'],
      [0x80290403, 'TPM_E_PCP_INVALID_PARAMETER'],
      [0x80290404, 'TPM_E_PCP_FLAG_NOT_SUPPORTED'],
      [0x80290405, 'TPM_E_PCP_NOT_SUPPORTED'],
      [0x80290406, 'TPM_E_PCP_BUFFER_TOO_SMALL'],
      [0x80290407, 'TPM_E_PCP_INTERNAL_ERROR'],
      [0x80290408, 'TPM_E_PCP_AUTHENTICATION_FAILED'],
      [0x80290409, 'TPM_E_PCP_AUTHENTICATION_IGNORED'],
      [0x8029040a, 'TPM_E_PCP_POLICY_NOT_FOUND'],
      [0x8029040b, 'TPM_E_PCP_PROFILE_NOT_FOUND'],
      [0x8029040c, 'TPM_E_PCP_VALIDATION_FAILED'],
      [0x8029041b, 'TPM_E_LOCKED_OUT'],
      [0x8029041f, 'TPM_E_PCP_IFX_RSA_KEY_CREATION_BLOCKED'],
      [0x40290423, 'TPM_E_PCP_UNSUPPORTED_PSS_SALT'],
      [0x80280081, 'TPM_20_E_ASYMMETRIC'],
      [0x80280083, 'TPM_20_E_HASH'],
      [0x80280087, 'TPM_20_E_KEY_SIZE'],
      [0x80280092, 'TPM_20_E_SCHEME'],
      [0x802800a6, 'TPM_20_E_CURVE'],
      [0x80280123, 'TPM_20_E_ECC_CURVE'],
      [0x80280001, 'TPM_E_AUTHFAIL'],
      [0x80280006, 'TPM_E_DEACTIVATED'],
      [0x80280007, 'TPM_E_DISABLED'],
      [0x80284001, 'TBS_E_INTERNAL_ERROR'],
      [0x80284002, 'TBS_E_BAD_PARAMETER'],
      [0x80284005, 'TBS_E_INSUFFICIENT_BUFFER'],
      [0x80284008, 'TBS_E_SERVICE_NOT_RUNNING'],
      [0x8028400b, 'TBS_E_SERVICE_START_PENDING'],
      [0x8028400f, 'TBS_E_TPM_NOT_FOUND'],
      [0x80284010, 'TBS_E_SERVICE_DISABLED'],
      [0x80284012, 'TBS_E_ACCESS_DENIED'],
      [0x80284016, 'TBS_E_PROVISIONING_INCOMPLETE'],
      [2, 'ERROR_FILE_NOT_FOUND'],
      [5, 'ERROR_ACCESS_DENIED'],
      [50, 'ERROR_NOT_SUPPORTED'],
      [87, 'ERROR_INVALID_PARAMETER'],
      [0x80070005, 'E_ACCESSDENIED'],
      [0x80070057, 'E_INVALIDARG'],
      [0x800704c7, 'ERROR_CANCELLED'],
    ];
    for (const [status, name] of required) expect(statusName(status), name).toBe(name);
  });

  it('names every status constant of constants.ts as constants.ts does, with the same value', () => {
    expect(statusConstants.length).toBeGreaterThan(30);
    for (const [name, value] of statusConstants) expect(statusName(value), name).toBe(name);
  });

  it('maps the statuses callers branch on to the documented codes', () => {
    const codeOf = (status: number) => NCRYPT_STATUS.get(status)?.code;
    expect(codeOf(constants.NTE_BAD_KEYSET)).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(codeOf(constants.NTE_EXISTS)).toBe('ERR_KEYSTORE_KEY_EXISTS');
    expect(codeOf(constants.NTE_PERM)).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(codeOf(constants.NTE_NOT_SUPPORTED)).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
    expect(codeOf(constants.NTE_USER_CANCELLED)).toBe('ERR_KEYSTORE_CANCELLED');
    expect(codeOf(0x800704c7)).toBe('ERR_KEYSTORE_CANCELLED');
    expect(codeOf(constants.NTE_SILENT_CONTEXT)).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    expect(NCRYPT_STATUS.get(constants.NTE_SILENT_CONTEXT)?.hint).toMatch(/UI prompt/);
    expect(NCRYPT_STATUS.get(constants.NTE_BAD_KEYSET)?.hint).toMatch(/machine/);
    expect(codeOf(constants.TBS_E_TPM_NOT_FOUND)).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(codeOf(constants.ERROR_ACCESS_DENIED)).toBe('ERR_KEYSTORE_ACCESS_DENIED');
  });
});

describe('statusName', () => {
  it('reads negative int32 statuses (SECURITY_STATUS is signed) as unsigned', () => {
    expect(statusName(0x80090016 | 0)).toBe('NTE_BAD_KEYSET');
    expect(0x80090016 | 0).toBeLessThan(0);
    expect(statusName(-2146893802)).toBe('NTE_BAD_KEYSET');
  });

  it('names a Win32 error wrapped as an HRESULT (0x8007xxxx) by its Win32 name', () => {
    expect(statusName(0x80070002)).toBe('ERROR_FILE_NOT_FOUND');
    expect(statusName(0x80070424)).toBe('ERROR_SERVICE_DOES_NOT_EXIST');
  });

  it('is undefined for a status it does not know', () => {
    expect(statusName(0x8badf00d)).toBeUndefined();
    expect(statusName(0x80071234)).toBeUndefined();
  });
});

describe('statusError', () => {
  it('formats the function, name and hex, keeps the status unsigned, and takes code and hint from the table', () => {
    const err = statusError('NCryptOpenKey', -2146893802, { providerId: 'cng', context: 'opening key "a"' });
    expect(KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND')).toBe(true);
    expect(err.message).toBe('NCryptOpenKey failed: NTE_BAD_KEYSET (0x80090016): opening key "a"');
    expect(err.nativeStatus).toBe(0x80090016);
    expect(err.nativeName).toBe('NTE_BAD_KEYSET');
    expect(err.providerId).toBe('cng');
    expect(err.hint).toBe(NCRYPT_STATUS.get(0x80090016)?.hint);
    expect(err.toJSON().nativeStatus).toBe('0x80090016');
  });

  it('lets the caller override code and hint (NTE_PERM on a private export means NOT_EXPORTABLE)', () => {
    const err = statusError('NCryptExportKey', constants.NTE_PERM, {
      code: 'ERR_KEYSTORE_NOT_EXPORTABLE',
      hint: 'the key was created non-exportable',
    });
    expect(err.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
    expect(err.hint).toBe('the key was created non-exportable');
    expect(err.nativeName).toBe('NTE_PERM');
  });

  it('makes an unknown status a NATIVE_FAILURE with its hex value and no name', () => {
    const err = statusError('NCryptSignHash', 0x8badf00d | 0);
    expect(err.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(err.nativeStatus).toBe(0x8badf00d);
    expect(err.nativeName).toBeUndefined();
    expect(err.message).toBe('NCryptSignHash failed: status 0x8BADF00D');
    expect(err.hint).toMatch(/0x8BADF00D/);
  });

  it('TPM 2.0 response codes the PCP passes through are UNSUPPORTED_ALGORITHM, with a hint', () => {
    for (const [status, name] of [
      [0x80280081, 'TPM_20_E_ASYMMETRIC'],
      [0x80280083, 'TPM_20_E_HASH'],
      [0x80280087, 'TPM_20_E_KEY_SIZE'],
      [0x80280092, 'TPM_20_E_SCHEME'],
      [0x802800a6, 'TPM_20_E_CURVE'],
      [0x80280123, 'TPM_20_E_ECC_CURVE'],
    ] as const) {
      const err = statusError('NCryptSignHash', status | 0);
      expect(err.code, name).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
      expect(err.nativeName).toBe(name);
      expect(err.hint).toMatch(/TPM/);
    }
  });

  it('keeps a success-severity PCP status as itself (0x40290423 is not negative, yet a failure)', () => {
    const err = statusError('NCryptSignHash', constants.TPM_E_PCP_UNSUPPORTED_PSS_SALT);
    expect(err.nativeStatus).toBe(0x40290423);
    expect(err.nativeName).toBe('TPM_E_PCP_UNSUPPORTED_PSS_SALT');
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
  });
});

describe('formatStatus', () => {
  it('prints eight upper-case hex digits of the unsigned value', () => {
    expect(formatStatus(2)).toBe('0x00000002');
    expect(formatStatus(-1)).toBe('0xFFFFFFFF');
    expect(formatStatus(0x8028400f)).toBe('0x8028400F');
  });
});
