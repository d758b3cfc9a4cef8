/**
 * The isolation posture of the Microsoft Software Key Storage Provider, measured at run time: is
 * ncrypt running under Wine (inside the app's process), is LSASS running as a protected process now,
 * can the machine make virtualization-based (VBS) keys.
 *
 * @module
 */
import type { IsolationLevel } from '@keystore/core';
import { ERROR_NOT_FOUND, ERROR_SERVICE_DOES_NOT_EXIST } from './native/constants.js';
import { statusName } from './native/status.js';
import type { PostureReading, WindowsSystemBindings } from './native/types.js';

/**
 * What a posture measurement found: the level an ordinary key gets now, whether VBS keys can be
 * made, and the sentences and facts behind it.
 *
 * @since 0.2.0
 */
export interface IsolationPosture {
  /** Whether the key storage provider can serve here now. */
  readonly available: boolean;
  /** The level a key created now without virtualization-based isolation gets. */
  readonly level: IsolationLevel;
  /**
   * Whether keys protected by virtualization-based security can be created: `available` (VBS
   * running and Windows new enough), `unavailable` (known not to work here), `unknown` (the state
   * could not be read: a create may try, and the key is checked afterwards).
   */
  readonly virtualization: 'available' | 'unavailable' | 'unknown';
  /** Why virtualization-based keys cannot be made here (when `virtualization` is not `available`). */
  readonly virtualizationReason?: string;
  /** The strongest level keys would get now: what `probe()` reports. */
  readonly best: IsolationLevel;
  /** What limits the isolation, for `probe().reasons`: sentences a person can act on. */
  readonly reasons: readonly string[];
  /** How the level was measured, for each key's receipt: one sentence each. */
  readonly evidence: readonly string[];
  /** Facts for `keystore doctor`. */
  readonly details: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A posture measurement: what an NCrypt-based provider calls (with the system bindings) before it
 * creates or opens a key, and in `probe()`. It must not throw.
 *
 * @since 0.2.0
 */
export type IsolationMeasurement = (system: WindowsSystemBindings) => IsolationPosture;

/**
 * The first Windows build whose Software Key Storage Provider makes VBS keys
 * (`NCRYPT_USE_VIRTUAL_ISOLATION_FLAG`): Windows 11 24H2 and Windows Server 2025.
 *
 * @since 0.2.0
 */
export const VBS_KEYS_MIN_BUILD = 26100;

/** The registry key holding `RunAsPPL` (under HKLM). */
const LSA_KEY = 'SYSTEM\\CurrentControlSet\\Control\\Lsa';

const SIGNERS = ['None', 'Authenticode', 'CodeGen', 'Antimalware', 'Lsa', 'Windows', 'WinTcb', 'WinSystem', 'App'];
const TYPES = ['none', 'light', 'full'];
const TPM_INTERFACES = ['unknown', 'TIS (FIFO)', 'TrustZone', 'hardware', 'emulator', 'SPB'];

/**
 * A `PS_PROTECTION` byte in words: `0x41` is `0x41 (light, signer Lsa)`, `0` is `0x00 (none)`.
 *
 * @since 0.2.0
 */
export function describeProtection(protection: number): string {
  const type = protection & 7;
  const signer = protection >> 4;
  const audit = (protection & 8) !== 0 ? ', audit' : '';
  return `0x${protection.toString(16).padStart(2, '0')} (${TYPES[type] ?? `type ${type}`}${type === 0 ? '' : `, signer ${SIGNERS[signer] ?? signer}`}${audit})`;
}

function hex(status: number): string {
  return `0x${(status >>> 0).toString(16).padStart(8, '0')}`;
}

/** Runs one posture read; a throw (a binding that failed in an unexpected way) becomes a refused reading. */
function read<T>(fn: () => PostureReading<T>): PostureReading<T> {
  try {
    return fn();
  } catch (err) {
    const status =
      typeof err === 'object' && err !== null && typeof (err as { nativeStatus?: unknown }).nativeStatus === 'number'
        ? (err as { nativeStatus: number }).nativeStatus >>> 0
        : 0;
    return { ok: false, status, reason: err instanceof Error ? err.message : String(err) };
  }
}

function refused(reading: { status: number; reason: string }): string {
  return reading.status === 0 ? reading.reason : `${reading.reason}, status ${hex(reading.status)}`;
}

function runAsPplMeaning(value: number | string | string[]): string {
  if (value === 1) return '1 (enabled with a UEFI lock)';
  if (value === 2) return '2 (enabled without a UEFI lock)';
  if (value === 0) return '0 (disabled)';
  return `${JSON.stringify(value)} (not a known setting)`;
}

type Details = Record<string, string | number | boolean>;
type LsassReading = ReturnType<WindowsSystemBindings['lsassProtection']>;
type RunAsPplReading = ReturnType<WindowsSystemBindings['registryValue']>;

/** `RunAsPPL` as configured, in words: its meaning, `not configured`, or why it could not be read. */
function runAsPplConfigured(ppl: RunAsPplReading): string {
  if (ppl.ok) return runAsPplMeaning(ppl.value);
  return ppl.status === 2 ? 'not configured' : `unreadable (${refused(ppl)})`;
}

/**
 * The readings every posture starts from, into `details`: the Windows version, the TPM; returns the
 * Wine version (`null` on Windows) and the Windows build (0 when unreadable).
 */
function readPlatform(system: WindowsSystemBindings, details: Details): { wine: string | null; build: number } {
  let wine: string | null = null;
  try {
    wine = system.wineVersion();
  } catch {
    wine = null;
  }
  let build = 0;
  try {
    const v = system.windowsVersion();
    build = v.build;
    details.windowsVersion = `${v.major}.${v.minor}.${v.build}`;
    details.windowsBuild = v.build;
  } catch (err) {
    details.windowsVersion = `unreadable (${err instanceof Error ? err.message : String(err)})`;
  }
  const tpm = read(() => system.tpmDeviceInfo());
  details.tpm = tpm.ok
    ? `TPM ${tpm.value.tpmVersion === 2 ? '2.0' : tpm.value.tpmVersion === 1 ? '1.2' : `version ${tpm.value.tpmVersion}`} (interface ${TPM_INTERFACES[tpm.value.tpmInterfaceType] ?? tpm.value.tpmInterfaceType})`
    : `not found (${statusName(tpm.status) ?? (tpm.status === 0 ? tpm.reason : hex(tpm.status))})`;
  return { wine, build };
}

/** The posture under Wine: `in-process`, with the readings taken for `keystore doctor`. */
function winePosture(system: WindowsSystemBindings, wine: string, details: Details): IsolationPosture {
  details.platform = 'wine';
  details.wineVersion = wine;
  // The posture readings are still taken, for `keystore doctor`: they show what Wine answers.
  const lsass = read(() => system.lsassProtection());
  const ppl = read(() => system.registryValue(LSA_KEY, 'RunAsPPL'));
  const configured = runAsPplConfigured(ppl);
  const running = lsass.ok ? describeProtection(lsass.value.protection) : `unknown (${refused(lsass)})`;
  details.lsaProtection = `configured: ${configured}; running: ${running}`;
  const iso = read(() => system.isolatedUserMode());
  details.secureKernelRunning = iso.ok ? iso.value.secureKernelRunning : `unknown (${refused(iso)})`;
  details.vbsKeys = 'unavailable';
  const why =
    "Wine's ncrypt runs inside this process: keys are generated and used in the app's own memory, not in LSASS, so they are reported in-process";
  return {
    available: true,
    level: 'in-process',
    virtualization: 'unavailable',
    virtualizationReason: 'Wine has no virtualization-based security',
    best: 'in-process',
    reasons: [
      why,
      'Wine does not persist CNG keys (NCryptCreatePersistedKey ignores the name) and does not implement NCryptOpenKey, NCryptDeleteKey, NCryptEnumKeys, NCryptDecrypt, OAEP, named imports or ECC: a key lives only as long as its handle',
    ],
    evidence: [`ncrypt.dll is Wine ${wine}'s: ${why}`],
    details,
  };
}

/** What the level is when LSASS was read: its pid, how it was identified and its protection now. */
interface LsassJudgement {
  level: IsolationLevel;
  /** Whether LSA protection runs now, for `details.lsaProtection`. */
  running: string;
  evidence: string[];
  reasons: string[];
}

/** Judges a reading of LSASS (found and read, not found, or unreadable) into `details` and a level. */
function judgeLsass(lsass: LsassReading, details: Details): LsassJudgement {
  const evidence: string[] = [];
  const reasons: string[] = [];
  // Not found (no KeyIso or SamSs service gave a process, and no lsass.exe ran in session 0 from the
  // system directory; or no such service): not a normal Windows, or a process only named lsass.exe.
  const noLsass = !lsass.ok && (lsass.status === ERROR_NOT_FOUND || lsass.status === ERROR_SERVICE_DOES_NOT_EXIST);
  if (noLsass) {
    details.lsassProtection = `no LSASS found (${refused(lsass)})`;
    const why = `no LSASS process was found (${refused(lsass)}): the CNG key isolation service that would keep keys out of this process cannot be confirmed, so keys are reported in-process`;
    evidence.push(why);
    reasons.push(why);
    return { level: 'in-process', running: `no LSASS found (${refused(lsass)})`, evidence, reasons };
  }
  evidence.push(
    'the Microsoft Software Key Storage Provider keeps the private key in LSASS (the CNG key isolation service, KeyIso) and uses it only there; this process reaches it by LRPC',
  );
  if (!lsass.ok) {
    details.lsassProtection = `unreadable (${refused(lsass)})`;
    const why = `LSA protection could not be read (${refused(lsass)}); reported as os-isolated`;
    evidence.push(why);
    reasons.push(`${why}; run as an administrator to measure it`);
    return { level: 'os-isolated', running: `unknown (${refused(lsass)})`, evidence, reasons };
  }
  return judgeLsassProtection(lsass.value, details, evidence, reasons);
}

/** Judges LSASS's `PS_PROTECTION`, read for a process the bindings did (or did not) say how they identified. */
function judgeLsassProtection(
  value: Extract<LsassReading, { ok: true }>['value'],
  details: Details,
  evidence: string[],
  reasons: string[],
): LsassJudgement {
  const { pid, protection, identifiedBy } = value;
  // How the process was told from any other process named lsass.exe: the receipt says it. Bindings
  // that do not say cannot raise the level, since the protected process may not be LSASS.
  const how = typeof identifiedBy === 'string' && identifiedBy !== '' ? identifiedBy : undefined;
  details.lsassPid = pid;
  details.lsassIdentifiedBy = how ?? 'not said by the system bindings';
  details.lsassProtection = describeProtection(protection);
  if (how === undefined) {
    const why = `the system bindings read PS_PROTECTION ${describeProtection(protection)} for pid ${pid} but did not say how that process was identified as LSASS; reported as os-isolated`;
    evidence.push(why);
    reasons.push(why);
    return {
      level: 'os-isolated',
      running: `unknown (the system bindings did not say how pid ${pid} was identified as LSASS)`,
      evidence,
      reasons,
    };
  }
  if ((protection & 7) !== 0) {
    evidence.push(
      `LSASS (pid ${pid}, identified through: ${how}) runs as a protected process now: PS_PROTECTION ${describeProtection(protection)}, read with NtQueryInformationProcess`,
    );
    return { level: 'os-protected', running: `yes, ${describeProtection(protection)}`, evidence, reasons };
  }
  evidence.push(
    `LSASS (pid ${pid}, identified through: ${how}) does not run as a protected process now (PS_PROTECTION ${describeProtection(protection)})`,
  );
  reasons.push(
    'LSASS is not running as a protected process (LSA protection is off): code running as SYSTEM or with debug rights can read it; turn on LSA protection (RunAsPPL) and reboot to reach os-protected',
  );
  return { level: 'os-isolated', running: `no, ${describeProtection(protection)}`, evidence, reasons };
}

/** Reads `RunAsPPL` into `details` (configured is not running: a reboot may be pending). */
function readRunAsPpl(system: WindowsSystemBindings, details: Details): RunAsPplReading {
  const ppl = read(() => system.registryValue(LSA_KEY, 'RunAsPPL'));
  if (ppl.ok) details.runAsPPL = typeof ppl.value === 'number' ? ppl.value : JSON.stringify(ppl.value);
  else details.runAsPPL = runAsPplConfigured(ppl);
  return ppl;
}

/** Whether VBS keys can be made: the secure kernel's state (into `details`) and the Windows build. */
function judgeVirtualization(
  system: WindowsSystemBindings,
  build: number,
  details: Details,
): Pick<IsolationPosture, 'virtualization' | 'virtualizationReason'> {
  const iso = read(() => system.isolatedUserMode());
  if (iso.ok) {
    details.secureKernelRunning = iso.value.secureKernelRunning;
    details.hvciEnabled = iso.value.hvciEnabled;
    details.trustletRunning = iso.value.trustletRunning;
  } else {
    details.secureKernelRunning = `unknown (${refused(iso)})`;
  }
  if (build > 0 && build < VBS_KEYS_MIN_BUILD) {
    return {
      virtualization: 'unavailable',
      virtualizationReason: `virtualization-based key protection needs Windows 11 24H2 or Windows Server 2025 (build ${VBS_KEYS_MIN_BUILD}) or later; this is build ${build}`,
    };
  }
  if (iso.ok && !iso.value.secureKernelRunning) {
    return {
      virtualization: 'unavailable',
      virtualizationReason:
        'virtualization-based security is not running (the secure kernel is not running): VBS keys need VBS on, with a TPM 2.0 and UEFI Secure Boot',
    };
  }
  if (iso.ok && build >= VBS_KEYS_MIN_BUILD) return { virtualization: 'available' };
  return {
    virtualization: 'unknown',
    virtualizationReason: `whether virtualization-based security runs could not be read (${iso.ok ? 'Windows build unknown' : refused(iso)})`,
  };
}

/**
 * Measures the isolation of keys in the Microsoft Software Key Storage Provider, now:
 *
 * - under Wine (`wine_get_version` exported by ntdll): `in-process`, since Wine's ncrypt runs inside
 *   the app's own process;
 * - on Windows: `os-isolated` (keys are used only inside LSASS, by the CNG key isolation service);
 *   `os-protected` when LSASS runs as a protected process now (its `PS_PROTECTION` type is not 0,
 *   e.g. 0x41 for LSA light) — LSASS being the process the service control manager runs as
 *   KeyIso/SamSs, or the one session-0 `lsass.exe` in the system directory, never a name alone, and
 *   the evidence says which; when that cannot be read (e.g. access denied), or the bindings do not
 *   say how the process was identified, `os-isolated` with the reason; when no LSASS is found at all (`ERROR_NOT_FOUND`, `ERROR_SERVICE_DOES_NOT_EXIST`), the
 *   key isolation service cannot be confirmed: `in-process`, with the reason. `RunAsPPL` in the
 *   registry is read for the details only: configured is not running;
 * - VBS keys are possible when the secure kernel runs and the build is at least
 *   {@link VBS_KEYS_MIN_BUILD}; then `best` is `virtualization`.
 *
 * @example
 * ```ts
 * import { loadWindowsSystem } from '@keystore/provider-cng/native';
 * const posture = measureSoftwareKspPosture(loadWindowsSystem());
 * console.log(posture.level, posture.evidence);
 * ```
 * @since 0.2.0
 */
export function measureSoftwareKspPosture(system: WindowsSystemBindings): IsolationPosture {
  const details: Details = {};
  const { wine, build } = readPlatform(system, details);
  if (wine !== null) return winePosture(system, wine, details);

  details.platform = 'windows';
  const lsass = read(() => system.lsassProtection());
  const { level, running, evidence, reasons } = judgeLsass(lsass, details);
  const ppl = readRunAsPpl(system, details);
  details.lsaProtection = `configured: ${runAsPplConfigured(ppl)}; running: ${running}`;
  if (ppl.ok && (ppl.value === 1 || ppl.value === 2) && lsass.ok && (lsass.value.protection & 7) === 0) {
    reasons.push('RunAsPPL is configured but LSASS is not running protected: it takes effect after a reboot');
  }

  const { virtualization, virtualizationReason } = judgeVirtualization(system, build, details);
  details.vbsKeys = virtualization;
  if (virtualizationReason) reasons.push(virtualizationReason);

  return {
    available: true,
    level,
    virtualization,
    ...(virtualizationReason === undefined ? {} : { virtualizationReason }),
    best: virtualization === 'available' ? 'virtualization' : level,
    reasons,
    evidence,
    details,
  };
}
