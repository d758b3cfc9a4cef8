/**
 * Binding-layout conformance: the structs the CNG bindings define in koffi, and the constants and
 * status names they use, against the Windows SDK headers shipped with mingw-w64. layout.c is built
 * with x86_64-w64-mingw32-gcc and run under Wine (sizeof/alignof/offsetof as the C compiler lays the
 * structs out, constant values as the headers define them); a Windows Node script prints the same
 * from the built `@keystore/provider-cng/native` (koffi's sizeof/alignof/offsetof of each definition,
 * and the exported constants). Any difference fails.
 *
 * Names the mingw-w64 headers do not define are listed below with the source of their value; the
 * test asserts that the set of missing names is exactly that list, so a constant added to the
 * bindings without a header to check it against fails until it is listed here with its source.
 *
 * Runs against the built package: `npm run build -w @keystore/provider-cng` first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mingw, repoRoot, runWineExe, runWineScript, wine } from '../../../../test-support/wine.js';
import * as constants from '../../src/native/constants.js';
import { NCRYPT_STATUS } from '../../src/native/status.js';

const SDK = 'Windows SDK 10.0.22621';
const DOCS = 'learn.microsoft.com';

/** Structs the bindings define that mingw-w64's headers lack, with where their layout comes from. */
const MISSING_STRUCTS: Readonly<Record<string, string>> = {
  TPM_DEVICE_INFO: `${SDK} tbs.h; ${DOCS}/windows/win32/api/tbs/ns-tbs-tpm_device_info (four UINT32, 16 bytes)`,
};

const VBS = `${SDK} ncrypt.h; ${DOCS}/windows/win32/api/ncrypt/nf-ncrypt-ncryptcreatepersistedkey; windows-rs`;
const WINERROR = `${SDK} winerror.h`;
const TPM_CODES = `${WINERROR}; ${DOCS}/windows/win32/com/com-error-codes-10 (TPM and PCP codes)`;
const TBS_CODES = `${WINERROR} / tbs.h; ${DOCS}/windows/win32/tbs/tbs-return-codes`;
const PHNT = 'winsiderss/phnt ntpsapi.h / ntexapi.h (not in the Windows SDK)';

/**
 * Constants and status names the bindings use that mingw-w64's headers (10.0) do not define, with
 * the source of their value.
 */
const MISSING_CONSTANTS: Readonly<Record<string, string>> = {
  // ncrypt.h / bcrypt.h names newer than mingw-w64's copy.
  NCRYPT_PREFER_VIRTUAL_ISOLATION_FLAG: VBS,
  NCRYPT_USE_VIRTUAL_ISOLATION_FLAG: VBS,
  NCRYPT_USE_PER_BOOT_KEY_FLAG: VBS,
  NCRYPT_IMPL_VIRTUAL_ISOLATION_FLAG: `${SDK} ncrypt.h`,
  NCRYPT_VIRTUAL_ISO_PROPERTY: `${SDK} ncrypt.h`,
  NCRYPT_ECC_CURVE_NAME_PROPERTY: `${SDK} ncrypt.h (= BCRYPT_ECC_CURVE_NAME_PROPERTY)`,
  NCRYPT_PCP_TPM_VERSION_PROPERTY: `${SDK} ncrypt.h`,
  NCRYPT_PCP_TPM_FW_VERSION_PROPERTY: `${SDK} ncrypt.h`,
  NCRYPT_TPM_PAD_PSS_IGNORE_SALT: `${SDK} ncrypt.h`,
  NCRYPT_PCP_PSS_SALT_SIZE_PROPERTY: `${SDK} ncrypt.h (RS5+)`,
  NCRYPT_TPM_PSS_SALT_SIZE_UNKNOWN: `${SDK} ncrypt.h (RS5+)`,
  NCRYPT_TPM_PSS_SALT_SIZE_MAXIMUM: `${SDK} ncrypt.h (RS5+)`,
  NCRYPT_TPM_PSS_SALT_SIZE_HASHSIZE: `${SDK} ncrypt.h (RS5+)`,
  NCRYPT_IGNORE_DEVICE_STATE_FLAG: `${SDK} ncrypt.h`,
  NCRYPT_PROTECT_TO_LOCAL_SYSTEM: `${SDK} ncrypt.h`,
  NCRYPT_ECDSA_ALGORITHM: `${SDK} ncrypt.h (= BCRYPT_ECDSA_ALGORITHM, Windows 10+)`,
  NCRYPT_ECDH_ALGORITHM: `${SDK} ncrypt.h (= BCRYPT_ECDH_ALGORITHM, Windows 10+)`,
  BCRYPT_ECC_CURVE_NISTP256: `${SDK} bcrypt.h`,
  BCRYPT_ECC_CURVE_NISTP384: `${SDK} bcrypt.h`,
  BCRYPT_ECC_CURVE_NISTP521: `${SDK} bcrypt.h`,
  // tbs.h: mingw-w64's copy stops before Tbsi_GetDeviceInfo.
  TPM_VERSION_12: `${SDK} tbs.h`,
  TPM_VERSION_20: `${SDK} tbs.h`,
  TPM_IFTYPE_HW: `${SDK} tbs.h`,
  TPM_IFTYPE_EMULATOR: `${SDK} tbs.h`,
  // Undocumented information classes.
  ProcessProtectionInformation: PHNT,
  SystemIsolatedUserModeInformation: PHNT,
  // winerror.h codes mingw-w64 lacks: TPM 1.2, TPM 2.0 and Platform Crypto Provider results, and
  // the TBS codes added after Windows 8.
  TPM_E_AUTHFAIL: TPM_CODES,
  TPM_E_DEACTIVATED: TPM_CODES,
  TPM_E_DISABLED: TPM_CODES,
  // TPM 2.0 response codes passed through by the PCP (TPM_RC_* of TPM 2.0 Part 2 + 0x80280000).
  TPM_20_E_ASYMMETRIC: TPM_CODES,
  TPM_20_E_HASH: TPM_CODES,
  TPM_20_E_KEY_SIZE: TPM_CODES,
  TPM_20_E_SCHEME: TPM_CODES,
  TPM_20_E_CURVE: TPM_CODES,
  TPM_20_E_ECC_CURVE: TPM_CODES,
  TPM_20_E_AUTH_FAIL: TPM_CODES,
  TPM_20_E_BAD_AUTH: TPM_CODES,
  TPM_E_DEFEND_LOCK_RUNNING: TPM_CODES,
  TPM_20_E_LOCKOUT: TPM_CODES,
  TPM_E_PCP_DEVICE_NOT_READY: TPM_CODES,
  TPM_E_PCP_INVALID_HANDLE: TPM_CODES,
  TPM_E_PCP_INVALID_PARAMETER: TPM_CODES,
  TPM_E_PCP_FLAG_NOT_SUPPORTED: TPM_CODES,
  TPM_E_PCP_NOT_SUPPORTED: TPM_CODES,
  TPM_E_PCP_BUFFER_TOO_SMALL: TPM_CODES,
  TPM_E_PCP_INTERNAL_ERROR: TPM_CODES,
  TPM_E_PCP_AUTHENTICATION_FAILED: TPM_CODES,
  TPM_E_PCP_AUTHENTICATION_IGNORED: TPM_CODES,
  TPM_E_PCP_POLICY_NOT_FOUND: TPM_CODES,
  TPM_E_PCP_PROFILE_NOT_FOUND: TPM_CODES,
  TPM_E_PCP_VALIDATION_FAILED: TPM_CODES,
  TPM_E_LOCKED_OUT: TPM_CODES,
  TPM_E_PCP_IFX_RSA_KEY_CREATION_BLOCKED: TPM_CODES,
  TPM_E_PCP_UNSUPPORTED_PSS_SALT: TPM_CODES,
  TPM_E_PCP_PLATFORM_CLAIM_MAY_BE_OUTDATED: TPM_CODES,
  TPM_E_PCP_PLATFORM_CLAIM_OUTDATED: TPM_CODES,
  TPM_E_PCP_PLATFORM_CLAIM_REBOOT: TPM_CODES,
  TBS_E_ACCESS_DENIED: TBS_CODES,
  // mingw-w64 names 0x80284016 TBS_E_DEACTIVATED; the SDK and the TBS documentation call it this.
  TBS_E_PROVISIONING_INCOMPLETE: TBS_CODES,
};

/** Names that are enum members, not macros, in the headers (`#ifdef` cannot see them). */
const ENUM_MEMBERS: ReadonlySet<string> = new Set(['SC_STATUS_PROCESS_INFO']);

type ConstantValue = number | string | bigint;
type HeaderConstant = { kind: 'number'; value: string } | { kind: 'string'; value: string } | { kind: 'missing' };
interface Layout {
  size: number;
  alignment: number;
  offsets: Record<string, number>;
}

/** constants.ts: every exported value. */
const ours: Record<string, ConstantValue> = Object.fromEntries(
  Object.entries(constants).filter(([, v]) => ['number', 'string', 'bigint'].includes(typeof v)),
) as Record<string, ConstantValue>;

/** The status table by name; a name may stand for a Win32 code and its HRESULT form. */
const statusValues = new Map<string, number[]>();
for (const [status, info] of NCRYPT_STATUS) {
  statusValues.set(info.name, [...(statusValues.get(info.name) ?? []), status]);
}

function constantsHeader(): string {
  const lines: string[] = [];
  const emit = (name: string, macro: string) => {
    if (ENUM_MEMBERS.has(name)) lines.push(`${macro}(${name});`);
    else lines.push(`#ifdef ${name}`, `${macro}(${name});`, '#else', `KS_MISSING(${name});`, '#endif');
  };
  for (const [name, value] of Object.entries(ours)) {
    emit(name, typeof value === 'string' ? 'KS_STR' : typeof value === 'bigint' ? 'KS_U64' : 'KS_U32');
  }
  for (const name of statusValues.keys()) if (!(name in ours)) emit(name, 'KS_U32');
  return `${lines.join('\n')}\n`;
}

const built = join(repoRoot, 'packages/provider-cng/dist/native.cjs');
const NEEDS = !wine.available ? `needs Wine: ${wine.reason}` : `needs mingw-w64: ${mingw.reason}`;

describe.skipIf(!wine.available || !mingw.available)(`binding layouts against the SDK headers (${NEEDS})`, () => {
  let header: { structs: Record<string, Layout>; constants: Record<string, HeaderConstant> };
  let koffi: { structs: Record<string, Layout>; constants: Record<string, { type: string; value: string }> };

  beforeAll(async () => {
    expect(existsSync(built), 'build the package first: npm run build -w @keystore/provider-cng').toBe(true);
    const dir = join(repoRoot, '.tmp/layout');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'layout-constants.h'), constantsHeader());
    const exe = join(dir, 'layout.exe');
    execFileSync(
      mingw.gcc,
      [
        '-std=c11',
        '-Wall',
        '-Werror',
        '-D_WIN32_WINNT=0x0A00',
        '-DNTDDI_VERSION=0x0A000000',
        `-I${dir}`,
        join(repoRoot, 'packages/provider-cng/test/layout/layout.c'),
        '-o',
        exe,
      ],
      { stdio: 'pipe' },
    );
    const c = await runWineExe(exe, []);
    expect(c.code, c.stderr).toBe(0);
    header = JSON.parse(c.stdout.trim().split('\n').pop() ?? '');

    const script = await runWineScript(`
      const native = require('@keystore/provider-cng/native');
      const names = ${JSON.stringify(Object.keys(ours))};
      const out = { structs: { ...native.defineNCryptTypes(), ...native.defineWindowsSystemTypes(), ...native.defineCrypt32Types() }, constants: {} };
      for (const name of names) {
        const value = native[name];
        out.constants[name] = { type: typeof value, value: String(value) };
      }
      out.constants.BCRYPT_RSAKEY_BLOB_SIZE = { type: 'number', value: String(native.BCRYPT_RSAKEY_BLOB_SIZE) };
      out.constants.BCRYPT_ECCKEY_BLOB_SIZE = { type: 'number', value: String(native.BCRYPT_ECCKEY_BLOB_SIZE) };
      console.log(JSON.stringify(out));
    `);
    expect(script.code, script.stderr).toBe(0);
    koffi = script.json as typeof koffi;
  }, 180_000);

  it('lays out every struct exactly as the C compiler does (size, alignment, each member offset)', () => {
    const names = Object.keys(koffi.structs).sort();
    expect(names.length).toBeGreaterThanOrEqual(16);
    const inHeaders = names.filter((n) => !(n in MISSING_STRUCTS));
    // layout.c covers every struct the bindings define, and nothing else.
    expect(Object.keys(header.structs).sort()).toEqual(inHeaders);
    for (const name of inHeaders) expect(koffi.structs[name], name).toEqual(header.structs[name]);
  });

  it('lists exactly the structs the headers lack', () => {
    const absent = Object.keys(koffi.structs).filter((n) => !(n in header.structs));
    expect(absent.sort()).toEqual(Object.keys(MISSING_STRUCTS).sort());
  });

  it('agrees with the documented sizes of the headers checked by hand (x64)', () => {
    expect(header.structs.NCryptKeyName?.size).toBe(24);
    expect(header.structs.NCryptBuffer?.size).toBe(16);
    expect(header.structs.NCRYPT_UI_POLICY?.size).toBe(32);
    expect(header.structs.BCRYPT_OAEP_PADDING_INFO?.size).toBe(24);
    expect(koffi.structs.TPM_DEVICE_INFO?.size).toBe(16);
    expect(header.structs.CERT_CONTEXT?.size).toBe(40);
    expect(header.structs.CRYPT_KEY_PROV_INFO?.size).toBe(48);
    expect(header.structs.CRYPT_DATA_BLOB?.size).toBe(16);
  });

  it('gives every constant of constants.ts the value the headers define, and exports it from the built entry', () => {
    let compared = 0;
    for (const [name, value] of Object.entries(ours)) {
      // The built entry exports it with the same value.
      expect(koffi.constants[name], `${name} is not exported from @keystore/provider-cng/native`).toEqual({
        type: typeof value,
        value: String(value),
      });
      const h = header.constants[name];
      expect(h, name).toBeDefined();
      if (h?.kind === 'missing') continue;
      compared++;
      if (typeof value === 'string') expect(h, name).toEqual({ kind: 'string', value });
      else expect(h, name).toEqual({ kind: 'number', value: BigInt(value).toString() });
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('gives every status of the table the value the headers define for its name (or its HRESULT_FROM_WIN32 form)', () => {
    let compared = 0;
    for (const [name, values] of statusValues) {
      const h = header.constants[name];
      expect(h, name).toBeDefined();
      if (h?.kind === 'missing') continue;
      expect(h?.kind, name).toBe('number');
      const win32 = Number(h?.kind === 'number' ? h.value : Number.NaN);
      for (const value of values) {
        const ok = value === win32 || (win32 < 0x10000 && value === (0x80070000 | win32) >>> 0);
        expect(ok, `${name}: table 0x${value.toString(16)}, header ${win32}`).toBe(true);
      }
      compared++;
    }
    expect(compared).toBeGreaterThan(60);
  });

  it('lists exactly the constants the headers lack', () => {
    const absent = Object.entries(header.constants)
      .filter(([, h]) => h.kind === 'missing')
      .map(([name]) => name)
      .sort();
    expect(absent).toEqual(Object.keys(MISSING_CONSTANTS).sort());
  });

  it('sizes the blob headers the codecs parse as the SDK does', () => {
    expect(Number(koffi.constants.BCRYPT_RSAKEY_BLOB_SIZE?.value)).toBe(header.structs.BCRYPT_RSAKEY_BLOB?.size);
    expect(Number(koffi.constants.BCRYPT_ECCKEY_BLOB_SIZE?.value)).toBe(header.structs.BCRYPT_ECCKEY_BLOB?.size);
  });
});
