/**
 * kernel32, advapi32, ntdll and tbs.dll through koffi: the implementation of
 * {@link WindowsSystemBindings}, which measures the isolation posture (Windows and Wine versions, the
 * TPM, LSASS protection, virtualization-based security, registry configuration). A query Windows
 * refuses gives `{ ok: false, status, reason }`; only bad arguments throw.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import {
  ERROR_MORE_DATA,
  HKEY_LOCAL_MACHINE,
  PROCESS_QUERY_LIMITED_INFORMATION,
  ProcessProtectionInformation,
  REG_DWORD,
  REG_MULTI_SZ,
  REG_SZ,
  RRF_RT_REG_DWORD,
  RRF_RT_REG_MULTI_SZ,
  RRF_RT_REG_SZ,
  SC_MANAGER_CONNECT,
  SC_STATUS_PROCESS_INFO,
  SERVICE_QUERY_STATUS,
  SystemIsolatedUserModeInformation,
  TH32CS_SNAPPROCESS,
} from './constants.js';
import {
  defineStruct,
  type KoffiModule,
  type KoffiType,
  layoutOf,
  loadKoffi,
  type NativeFn,
  type StructLayout,
} from './koffi.js';
import { findLsass, type LookupStep, type LsassLookupCalls } from './lsass.js';
import { formatStatus, NCRYPT_STATUS } from './status.js';
import type { PostureReading, TpmDeviceInfo, WindowsSystemBindings } from './types.js';
import { checkWideString } from './validate.js';

/**
 * The names of the structs the system bindings define.
 *
 * @since 0.2.0
 */
export type WindowsSystemStructName =
  | 'OSVERSIONINFOW'
  | 'TPM_DEVICE_INFO'
  | 'SERVICE_STATUS_PROCESS'
  | 'PROCESSENTRY32W';

/** `REG_EXPAND_SZ` (RegGetValueW expands such values and may report either type). */
const REG_EXPAND_SZ = 2;
/** `ERROR_MOD_NOT_FOUND`. */
const ERROR_MOD_NOT_FOUND = 126;
/** `ERROR_UNSUPPORTED_TYPE` (a registry value of a type the reader does not decode). */
const ERROR_UNSUPPORTED_TYPE = 1630;
/** `ERROR_NO_MORE_FILES` (the end of a Toolhelp walk). */
const ERROR_NO_MORE_FILES = 18;
/** The longest image path read (`MAX_PATH` is 260, but long paths are allowed). */
const MAX_IMAGE_PATH = 32_768;
/** The largest registry value read (policy values are small). */
const MAX_REGISTRY_VALUE = 1024 * 1024;

interface SystemTypes {
  readonly koffi: KoffiModule;
  readonly structs: Readonly<Record<WindowsSystemStructName, KoffiType>>;
}

let types: SystemTypes | undefined;

function defineTypes(): SystemTypes {
  if (types) return types;
  const koffi = loadKoffi();
  const structs: Record<WindowsSystemStructName, KoffiType> = {
    OSVERSIONINFOW: defineStruct(koffi, 'OSVERSIONINFOW', {
      dwOSVersionInfoSize: 'uint32_t',
      dwMajorVersion: 'uint32_t',
      dwMinorVersion: 'uint32_t',
      dwBuildNumber: 'uint32_t',
      dwPlatformId: 'uint32_t',
      szCSDVersion: koffi.array('char16_t', 128, 'String'),
    }),
    TPM_DEVICE_INFO: defineStruct(koffi, 'TPM_DEVICE_INFO', {
      structVersion: 'uint32_t',
      tpmVersion: 'uint32_t',
      tpmInterfaceType: 'uint32_t',
      tpmImpRevision: 'uint32_t',
    }),
    SERVICE_STATUS_PROCESS: defineStruct(koffi, 'SERVICE_STATUS_PROCESS', {
      dwServiceType: 'uint32_t',
      dwCurrentState: 'uint32_t',
      dwControlsAccepted: 'uint32_t',
      dwWin32ExitCode: 'uint32_t',
      dwServiceSpecificExitCode: 'uint32_t',
      dwCheckPoint: 'uint32_t',
      dwWaitHint: 'uint32_t',
      dwProcessId: 'uint32_t',
      dwServiceFlags: 'uint32_t',
    }),
    PROCESSENTRY32W: defineStruct(koffi, 'PROCESSENTRY32W', {
      dwSize: 'uint32_t',
      cntUsage: 'uint32_t',
      th32ProcessID: 'uint32_t',
      th32DefaultHeapID: 'uintptr_t',
      th32ModuleID: 'uint32_t',
      cntThreads: 'uint32_t',
      th32ParentProcessID: 'uint32_t',
      pcPriClassBase: 'int32_t',
      dwFlags: 'uint32_t',
      szExeFile: koffi.array('char16_t', 260, 'String'),
    }),
  };
  types = { koffi, structs };
  return types;
}

/**
 * Defines (once) the structs the system bindings use and returns their layouts as koffi computes
 * them, for comparison with the Windows SDK headers. Needs koffi, not Windows.
 *
 * @example
 * ```ts
 * defineWindowsSystemTypes().TPM_DEVICE_INFO.size; // 16
 * ```
 * @since 0.2.0
 */
export function defineWindowsSystemTypes(): Readonly<Record<WindowsSystemStructName, StructLayout>> {
  const { koffi, structs } = defineTypes();
  const out = {} as Record<WindowsSystemStructName, StructLayout>;
  for (const [name, type] of Object.entries(structs) as [WindowsSystemStructName, KoffiType][]) {
    out[name] = layoutOf(koffi, type);
  }
  return out;
}

function refused<T>(fn: string, status: number, detail?: string): PostureReading<T> {
  const unsigned = status >>> 0;
  const info = NCRYPT_STATUS.get(unsigned);
  const what = info ? `${info.name} (${formatStatus(unsigned)})` : formatStatus(unsigned);
  const reason = `${fn} returned ${what}${detail ? `: ${detail}` : ''}${info ? `; ${info.hint}` : ''}`;
  return { ok: false, status: unsigned, reason };
}

const isNull = (pointer: unknown): boolean =>
  pointer === null || pointer === undefined || pointer === 0n || pointer === 0;

/** `HKLM\…` and `HKEY_LOCAL_MACHINE\…` both name a path under HKLM; the bindings take it relative. */
function registrySubKey(path: string): string {
  checkWideString(path, 'registry path', { maxLength: 4096 });
  const stripped = path.replace(/^(HKLM|HKEY_LOCAL_MACHINE)\\/i, '');
  if (stripped.length === 0 || stripped.startsWith('\\')) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `"${path}" is not a key path under HKEY_LOCAL_MACHINE`, {
      hint: 'pass a path such as SYSTEM\\CurrentControlSet\\Control\\Lsa',
    });
  }
  return stripped;
}

let cached: WindowsSystemBindings | undefined;

/**
 * Loads the system bindings (once) and returns them. koffi and the DLLs are loaded only then; tbs.dll
 * on the first `tpmDeviceInfo()` call (a Windows without it gives `{ ok: false }`).
 *
 * @throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` on a platform other than Windows, or when koffi or a
 *   core system DLL cannot be loaded.
 * @example
 * ```ts
 * const system = loadWindowsSystem();
 * const lsa = system.lsassProtection();
 * if (lsa.ok && (lsa.value.protection & 0x07) !== 0) console.log('LSASS runs as a protected process');
 * ```
 * @since 0.2.0
 */
export function loadWindowsSystem(): WindowsSystemBindings {
  if (cached) return cached;
  if (process.platform !== 'win32') {
    throw new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      `the Windows posture queries run on Windows only; this is ${process.platform}`,
      { providerId: 'cng', hint: 'on Linux the posture comes from the TPM provider' },
    );
  }
  const { koffi, structs } = defineTypes();
  const load = (name: string) => {
    try {
      return koffi.load(name);
    } catch (cause) {
      throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `${name} could not be loaded`, {
        providerId: 'cng',
        hint: 'a core Windows DLL is missing; check the system installation',
        cause,
      });
    }
  };
  const kernel32 = load('kernel32.dll');
  const advapi32 = load('advapi32.dll');
  const ntdll = load('ntdll.dll');
  const k32 = (s: string) => kernel32.func(s) as NativeFn;
  const adv = (s: string) => advapi32.func(s) as NativeFn;
  const nt = (s: string) => ntdll.func(s) as NativeFn;
  const optional = (lib: ReturnType<KoffiModule['load']>, s: string): NativeFn | undefined => {
    try {
      return lib.func(s) as NativeFn;
    } catch {
      return undefined;
    }
  };

  const GetLastError = k32('uint32_t __stdcall GetLastError(void)');
  const CloseHandle = k32('int __stdcall CloseHandle(void *hObject)');
  const OpenProcess = k32(
    'void * __stdcall OpenProcess(uint32_t dwDesiredAccess, int bInheritHandle, uint32_t dwProcessId)',
  );
  const CreateToolhelp32Snapshot = k32(
    'void * __stdcall CreateToolhelp32Snapshot(uint32_t dwFlags, uint32_t th32ProcessID)',
  );
  const ProcessIdToSessionId = k32(
    'int __stdcall ProcessIdToSessionId(uint32_t dwProcessId, _Out_ uint32_t *pSessionId)',
  );
  const QueryFullProcessImageNameW = k32(
    'int __stdcall QueryFullProcessImageNameW(void *hProcess, uint32_t dwFlags, _Out_ uint8_t *lpExeName, _Inout_ uint32_t *lpdwSize)',
  );
  const GetSystemDirectoryW = k32('uint32_t __stdcall GetSystemDirectoryW(_Out_ uint8_t *lpBuffer, uint32_t uSize)');
  const Process32FirstW = k32('int __stdcall Process32FirstW(void *hSnapshot, _Inout_ PROCESSENTRY32W *lppe)');
  const Process32NextW = k32('int __stdcall Process32NextW(void *hSnapshot, _Inout_ PROCESSENTRY32W *lppe)');
  const OpenSCManagerW = adv(
    'void * __stdcall OpenSCManagerW(const char16_t *lpMachineName, const char16_t *lpDatabaseName, uint32_t dwDesiredAccess)',
  );
  const OpenServiceW = adv(
    'void * __stdcall OpenServiceW(void *hSCManager, const char16_t *lpServiceName, uint32_t dwDesiredAccess)',
  );
  const QueryServiceStatusEx = adv(
    'int __stdcall QueryServiceStatusEx(void *hService, int InfoLevel, _Out_ SERVICE_STATUS_PROCESS *lpBuffer, uint32_t cbBufSize, _Out_ uint32_t *pcbBytesNeeded)',
  );
  const CloseServiceHandle = adv('int __stdcall CloseServiceHandle(void *hSCObject)');
  const RegGetValueW = adv(
    'int32_t __stdcall RegGetValueW(uintptr_t hkey, const char16_t *lpSubKey, const char16_t *lpValue, uint32_t dwFlags, _Out_ uint32_t *pdwType, _Out_ uint8_t *pvData, _Inout_ uint32_t *pcbData)',
  );
  const RtlGetVersion = nt('int32_t __stdcall RtlGetVersion(_Inout_ OSVERSIONINFOW *lpVersionInformation)');
  const NtQueryInformationProcess = nt(
    'int32_t __stdcall NtQueryInformationProcess(void *ProcessHandle, uint32_t ProcessInformationClass, _Out_ uint8_t *ProcessInformation, uint32_t ProcessInformationLength, _Out_ uint32_t *ReturnLength)',
  );
  const NtQuerySystemInformation = nt(
    'int32_t __stdcall NtQuerySystemInformation(uint32_t SystemInformationClass, _Out_ uint8_t *SystemInformation, uint32_t SystemInformationLength, _Out_ uint32_t *ReturnLength)',
  );
  const NtQuerySystemInformationEx = optional(
    ntdll,
    'int32_t __stdcall NtQuerySystemInformationEx(uint32_t SystemInformationClass, const uint8_t *InputBuffer, uint32_t InputBufferLength, _Out_ uint8_t *SystemInformation, uint32_t SystemInformationLength, _Out_ uint32_t *ReturnLength)',
  );
  // Exported by Wine's ntdll only: its absence is the answer on Windows.
  const wineGetVersion = optional(ntdll, 'const char * wine_get_version(void)');

  let Tbsi_GetDeviceInfo: NativeFn | null | undefined;
  let tbsContext: { create: NativeFn; submit: NativeFn; close: NativeFn } | null | undefined;
  const tbs = (): NativeFn | null => {
    if (Tbsi_GetDeviceInfo !== undefined) return Tbsi_GetDeviceInfo;
    try {
      const lib = koffi.load('tbs.dll');
      Tbsi_GetDeviceInfo = lib.func(
        'uint32_t __stdcall Tbsi_GetDeviceInfo(uint32_t Size, _Out_ TPM_DEVICE_INFO *Info)',
      ) as NativeFn;
      try {
        tbsContext = {
          create: lib.func(
            'uint32_t __stdcall Tbsi_Context_Create(const uint8_t *pContextParams, _Out_ uintptr_t *phContext)',
          ) as NativeFn,
          submit: lib.func(
            'uint32_t __stdcall Tbsip_Submit_Command(uintptr_t hContext, uint32_t Locality, uint32_t Priority, const uint8_t *pabCommand, uint32_t cbCommand, _Out_ uint8_t *pabResult, _Inout_ uint32_t *pcbResult)',
          ) as NativeFn,
          close: lib.func('uint32_t __stdcall Tbsip_Context_Close(uintptr_t hContext)') as NativeFn,
        };
      } catch {
        tbsContext = null;
      }
    } catch {
      Tbsi_GetDeviceInfo = null;
      tbsContext = null;
    }
    return Tbsi_GetDeviceInfo;
  };

  /** The PID the service control manager reports for a service (0: it runs in no process). */
  const servicePid = (name: string): LookupStep<number> => {
    const scm = OpenSCManagerW(null, null, SC_MANAGER_CONNECT);
    if (isNull(scm)) return { ok: false, status: (GetLastError() as number) >>> 0 };
    try {
      const service = OpenServiceW(scm, name, SERVICE_QUERY_STATUS);
      if (isNull(service)) return { ok: false, status: (GetLastError() as number) >>> 0 };
      try {
        const info: Record<string, number>[] = [{}];
        const needed = [0];
        const size = koffi.sizeof(structs.SERVICE_STATUS_PROCESS);
        if (!(QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, info, size, needed) as number)) {
          return { ok: false, status: (GetLastError() as number) >>> 0 };
        }
        return { ok: true, value: (info[0]?.dwProcessId ?? 0) >>> 0 };
      } finally {
        CloseServiceHandle(service);
      }
    } finally {
      CloseServiceHandle(scm);
    }
  };

  /** The PIDs of the processes named `name` in a Toolhelp snapshot. */
  const processesNamed = (name: string): LookupStep<number[]> => {
    const snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    // INVALID_HANDLE_VALUE is (HANDLE)-1.
    if (isNull(snapshot) || snapshot === 0xffffffffffffffffn)
      return { ok: false, status: (GetLastError() as number) >>> 0 };
    try {
      const pids: number[] = [];
      const wanted = name.toLowerCase();
      const entry: Record<string, unknown>[] = [{ dwSize: koffi.sizeof(structs.PROCESSENTRY32W) }];
      let more = Process32FirstW(snapshot, entry) as number;
      for (let guard = 0; more && guard < 1_000_000; guard++) {
        const current = entry[0] ?? {};
        if (String(current.szExeFile ?? '').toLowerCase() === wanted)
          pids.push(Number(current.th32ProcessID ?? 0) >>> 0);
        entry[0] = { dwSize: koffi.sizeof(structs.PROCESSENTRY32W) };
        more = Process32NextW(snapshot, entry) as number;
      }
      const last = (GetLastError() as number) >>> 0;
      if (last !== ERROR_NO_MORE_FILES && pids.length === 0) return { ok: false, status: last };
      return { ok: true, value: pids };
    } finally {
      CloseHandle(snapshot);
    }
  };

  const lookupCalls: LsassLookupCalls = {
    servicePid,
    processesNamed,
    sessionOf(pid) {
      const session = [0];
      if (!(ProcessIdToSessionId(pid, session) as number))
        return { ok: false, status: (GetLastError() as number) >>> 0 };
      return { ok: true, value: (session[0] ?? 0) >>> 0 };
    },
    imagePathOf(pid) {
      const handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
      if (isNull(handle)) return { ok: false, status: (GetLastError() as number) >>> 0 };
      try {
        const buffer = Buffer.alloc(2 * MAX_IMAGE_PATH);
        const size = [MAX_IMAGE_PATH];
        // Flag 0: the Win32 path form (C:\...), not the native \Device\HarddiskVolume form.
        if (!(QueryFullProcessImageNameW(handle, 0, buffer, size) as number)) {
          return { ok: false, status: (GetLastError() as number) >>> 0 };
        }
        return { ok: true, value: buffer.subarray(0, 2 * Math.min(size[0] ?? 0, MAX_IMAGE_PATH)).toString('utf16le') };
      } finally {
        CloseHandle(handle);
      }
    },
    systemDirectory() {
      const buffer = Buffer.alloc(2 * MAX_IMAGE_PATH);
      const length = (GetSystemDirectoryW(buffer, MAX_IMAGE_PATH) as number) >>> 0;
      if (length === 0 || length >= MAX_IMAGE_PATH) return { ok: false, status: (GetLastError() as number) >>> 0 };
      return { ok: true, value: buffer.subarray(0, 2 * length).toString('utf16le') };
    },
  };

  const system: WindowsSystemBindings = {
    wineVersion() {
      if (!wineGetVersion) return null;
      const version = wineGetVersion() as string | null;
      return typeof version === 'string' ? version : null;
    },

    windowsVersion() {
      const info: Record<string, unknown>[] = [{ dwOSVersionInfoSize: koffi.sizeof(structs.OSVERSIONINFOW) }];
      const status = (RtlGetVersion(info) as number) >>> 0;
      if (status !== 0) {
        throw new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `RtlGetVersion failed: ${formatStatus(status)}`, {
          providerId: 'cng',
          nativeStatus: status,
          hint: 'RtlGetVersion does not fail on a working Windows; report it',
        });
      }
      const v = info[0] ?? {};
      return {
        major: Number(v.dwMajorVersion ?? 0) >>> 0,
        minor: Number(v.dwMinorVersion ?? 0) >>> 0,
        build: Number(v.dwBuildNumber ?? 0) >>> 0,
      };
    },

    tpmManufacturer(): PostureReading<string> {
      if (tbs() === null || !tbsContext) {
        return refused('LoadLibrary(tbs.dll)', ERROR_MOD_NOT_FOUND, 'TPM Base Services are not installed');
      }
      const { create, submit, close } = tbsContext;
      // TBS_CONTEXT_PARAMS2 { version = TPM_VERSION_20 (2), includeTpm20 (bit 2) }.
      const params = Buffer.alloc(8);
      params.writeUInt32LE(2, 0);
      params.writeUInt32LE(0x4, 4);
      const handle: bigint[] = [0n];
      const created = (create(params, handle) as number) >>> 0;
      if (created !== 0) return refused('Tbsi_Context_Create', created);
      const context = handle[0] ?? 0n;
      if (context === 0n) return refused('Tbsi_Context_Create', 0, 'TBS returned no context');
      try {
        // TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_MANUFACTURER, 1), no sessions.
        const command = Buffer.alloc(22);
        command.writeUInt16BE(0x8001, 0); // TPM_ST_NO_SESSIONS
        command.writeUInt32BE(22, 2); // commandSize
        command.writeUInt32BE(0x17a, 6); // TPM_CC_GetCapability
        command.writeUInt32BE(6, 10); // TPM_CAP_TPM_PROPERTIES
        command.writeUInt32BE(0x105, 14); // TPM_PT_MANUFACTURER
        command.writeUInt32BE(1, 18); // propertyCount
        const response = Buffer.alloc(64);
        const length = [response.length];
        // TBS_COMMAND_LOCALITY_ZERO, TBS_COMMAND_PRIORITY_NORMAL (200).
        const status = (submit(context, 0, 200, command, command.length, response, length) as number) >>> 0;
        if (status !== 0) return refused('Tbsip_Submit_Command', status);
        const n = length[0] ?? 0;
        // header (10) | moreData (1) | capability (4) | count (4) | property (4) | value (4)
        if (n < 27 || n > response.length || response.readUInt32BE(2) !== n) {
          return refused('Tbsip_Submit_Command', 0, `a malformed TPM2_GetCapability response of ${n} bytes`);
        }
        const rc = response.readUInt32BE(6);
        if (rc !== 0) return refused('TPM2_GetCapability', rc, `the TPM answered 0x${rc.toString(16)}`);
        if (response.readUInt32BE(11) !== 6 || response.readUInt32BE(15) < 1 || response.readUInt32BE(19) !== 0x105) {
          return refused('TPM2_GetCapability', 0, 'the response does not carry TPM_PT_MANUFACTURER');
        }
        const id = response
          .subarray(23, 27)
          .toString('latin1')
          .replace(/[\0 ]+$/g, '');
        if (!/^[\x20-\x7e]{1,4}$/.test(id)) {
          return refused('TPM2_GetCapability', 0, 'the manufacturer id is not printable ASCII');
        }
        return { ok: true, value: id };
      } finally {
        close(context);
      }
    },

    tpmDeviceInfo(): PostureReading<TpmDeviceInfo> {
      const f = tbs();
      if (f === null)
        return refused('LoadLibrary(tbs.dll)', ERROR_MOD_NOT_FOUND, 'TPM Base Services are not installed');
      const out: Record<string, number>[] = [{}];
      const status = (f(koffi.sizeof(structs.TPM_DEVICE_INFO), out) as number) >>> 0;
      if (status !== 0) return refused('Tbsi_GetDeviceInfo', status);
      const v = out[0] ?? {};
      return {
        ok: true,
        value: {
          structVersion: (v.structVersion ?? 0) >>> 0,
          tpmVersion: (v.tpmVersion ?? 0) >>> 0,
          tpmInterfaceType: (v.tpmInterfaceType ?? 0) >>> 0,
          tpmImpRevision: (v.tpmImpRevision ?? 0) >>> 0,
        },
      };
    },

    lsassProtection() {
      const found = findLsass(lookupCalls);
      if (!found.ok) return refused('the LSASS lookup', found.status, found.reason);
      const { pid, identifiedBy } = found.value;
      const handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
      if (isNull(handle)) {
        return refused(
          'OpenProcess',
          (GetLastError() as number) >>> 0,
          `LSASS (PID ${pid}, identified through: ${identifiedBy}); the protection is unknown`,
        );
      }
      try {
        const protection = Buffer.alloc(1);
        const returned = [0];
        const status =
          (NtQueryInformationProcess(handle, ProcessProtectionInformation, protection, 1, returned) as number) >>> 0;
        if (status !== 0)
          return refused(
            'NtQueryInformationProcess(ProcessProtectionInformation)',
            status,
            `LSASS (PID ${pid}, identified through: ${identifiedBy})`,
          );
        return { ok: true, value: { pid, protection: protection[0] ?? 0, identifiedBy } };
      } finally {
        CloseHandle(handle);
      }
    },

    isolatedUserMode() {
      const out = Buffer.alloc(16);
      const returned = [0];
      let status: number | undefined;
      if (NtQuerySystemInformationEx) {
        // The Ex form with an 8-byte input of 1 also fills TrustletRunning (bit 8).
        const input = Buffer.alloc(8);
        input.writeBigUInt64LE(1n, 0);
        status =
          (NtQuerySystemInformationEx(SystemIsolatedUserModeInformation, input, 8, out, 16, returned) as number) >>> 0;
      }
      if (status !== 0) {
        out.fill(0);
        const plain = (NtQuerySystemInformation(SystemIsolatedUserModeInformation, out, 16, returned) as number) >>> 0;
        if (plain !== 0) {
          return refused(
            'NtQuerySystemInformation(SystemIsolatedUserModeInformation)',
            plain,
            status === undefined ? undefined : `the Ex form returned ${formatStatus(status)}`,
          );
        }
      }
      const flags = out.readUInt16LE(0);
      return {
        ok: true,
        value: {
          secureKernelRunning: (flags & 0x1) !== 0,
          hvciEnabled: (flags & 0x2) !== 0,
          trustletRunning: (flags & 0x100) !== 0,
          hardwareEnforcedVbs: (flags & 0x400) !== 0,
        },
      };
    },

    registryValue(path, name) {
      const subKey = registrySubKey(path);
      checkWideString(name, 'registry value name', { allowEmpty: true, maxLength: 16383 });
      const flags = RRF_RT_REG_DWORD | RRF_RT_REG_SZ | RRF_RT_REG_MULTI_SZ;
      for (let attempt = 0; attempt < 3; attempt++) {
        const type = [0];
        const size = [0];
        let status = (RegGetValueW(HKEY_LOCAL_MACHINE, subKey, name, flags, type, null, size) as number) >>> 0;
        if (status !== 0) return refused('RegGetValueW', status, `HKLM\\${subKey}\\${name}`);
        const needed = size[0] ?? 0;
        if (needed > MAX_REGISTRY_VALUE) {
          return refused('RegGetValueW', ERROR_MORE_DATA, `HKLM\\${subKey}\\${name} is ${needed} bytes`);
        }
        // Two spare bytes: RegGetValueW NUL-terminates strings, which may need room the size query omits.
        const data = Buffer.alloc(needed + 2);
        size[0] = data.length;
        status = (RegGetValueW(HKEY_LOCAL_MACHINE, subKey, name, flags, type, data, size) as number) >>> 0;
        if (status === ERROR_MORE_DATA) continue;
        if (status !== 0) return refused('RegGetValueW', status, `HKLM\\${subKey}\\${name}`);
        const bytes = data.subarray(0, Math.min(size[0] ?? 0, data.length));
        switch (type[0]) {
          case REG_DWORD:
            if (bytes.length !== 4) break;
            return { ok: true, value: bytes.readUInt32LE(0) };
          case REG_SZ:
          case REG_EXPAND_SZ:
            return {
              ok: true,
              value: bytes
                .subarray(0, bytes.length - (bytes.length % 2))
                .toString('utf16le')
                .replace(/\0+$/, ''),
            };
          case REG_MULTI_SZ:
            return {
              ok: true,
              value: bytes
                .subarray(0, bytes.length - (bytes.length % 2))
                .toString('utf16le')
                .split('\0')
                .filter((s) => s.length > 0),
            };
        }
        return refused('RegGetValueW', ERROR_UNSUPPORTED_TYPE, `HKLM\\${subKey}\\${name} has type ${type[0]}`);
      }
      return refused('RegGetValueW', ERROR_MORE_DATA, `HKLM\\${subKey}\\${name} kept growing`);
    },
  };
  cached = system;
  return system;
}
