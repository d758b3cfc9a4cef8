/**
 * Finding the LSASS process without trusting a process by its executable name: the PID the service
 * control manager gives for the services LSASS hosts (`KeyIso`, then `SamSs`), or, failing that, a
 * process named `lsass.exe` only when it runs in session 0 (where services and the system's own
 * processes run, not a user's) and its image is `<system directory>\lsass.exe`. Pure: the system
 * calls are passed in, so the rules are tested without Windows.
 *
 * @module
 */
import { ERROR_NOT_FOUND } from './constants.js';
import { formatStatus } from './status.js';

/** The services hosted in lsass.exe, tried in order to learn its PID. */
export const LSASS_SERVICES = ['KeyIso', 'SamSs'] as const;

/**
 * A step of the lookup that can fail: its value, or the Win32 status it failed with.
 *
 * @since 0.3.0
 */
export type LookupStep<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly status: number };

/**
 * The system calls the LSASS lookup makes; {@link loadWindowsSystem} passes the real ones.
 *
 * @since 0.3.0
 */
export interface LsassLookupCalls {
  /** `QueryServiceStatusEx(SC_STATUS_PROCESS_INFO)` on a service: its `dwProcessId` (0 when it runs in none). */
  servicePid(service: string): LookupStep<number>;
  /** A Toolhelp snapshot: the PIDs of the processes whose executable name is `name` (any case). */
  processesNamed(name: string): LookupStep<number[]>;
  /** `ProcessIdToSessionId`. */
  sessionOf(pid: number): LookupStep<number>;
  /** `QueryFullProcessImageNameW` (Win32 path form) on the process opened with limited query rights. */
  imagePathOf(pid: number): LookupStep<string>;
  /** `GetSystemDirectoryW` (`C:\Windows\System32`): from the kernel, not the environment. */
  systemDirectory(): LookupStep<string>;
}

/**
 * How LSASS was found, in words for evidence: `service control manager (KeyIso)`, or
 * `session-0 process at C:\Windows\System32\lsass.exe`.
 *
 * @since 0.3.0
 */
export interface LsassIdentity {
  /** Its PID. */
  readonly pid: number;
  /** How it was identified, for the posture's evidence. */
  readonly identifiedBy: string;
}

/**
 * The outcome of {@link findLsass}: the process, or why none can be trusted (`status` is
 * `ERROR_NOT_FOUND` when no candidate passed; `reason` names each one refused).
 *
 * @since 0.3.0
 */
export type LsassLookup =
  | { readonly ok: true; readonly value: LsassIdentity }
  | { readonly ok: false; readonly status: number; readonly reason: string };

/**
 * Finds LSASS: first the PID the service control manager reports for `KeyIso`, then `SamSs`
 * (a service's process is the SCM's to say, not a name's); when neither gives one, each process
 * named `lsass.exe` counts only if it is in session 0 and its image path is
 * `<system directory>\lsass.exe` (compared without regard to case), and exactly one such process
 * exists. Anyone can start a process named lsass.exe, from anywhere, in their own session; only the
 * system starts one from the system directory in session 0.
 *
 * @since 0.3.0
 */
export function findLsass(calls: LsassLookupCalls): LsassLookup {
  const serviceNotes: string[] = [];
  for (const service of LSASS_SERVICES) {
    const step = calls.servicePid(service);
    if (step.ok && step.value !== 0) {
      return { ok: true, value: { pid: step.value >>> 0, identifiedBy: `service control manager (${service})` } };
    }
    serviceNotes.push(`${service}: ${step.ok ? 'runs in no process' : formatStatus(step.status)}`);
  }
  const services = `no process hosts the KeyIso or SamSs service (${serviceNotes.join(', ')})`;
  const named = calls.processesNamed('lsass.exe');
  if (!named.ok) {
    return { ok: false, status: named.status, reason: `${services}, and the process snapshot failed` };
  }
  if (named.value.length === 0) {
    return { ok: false, status: ERROR_NOT_FOUND, reason: `${services}, and no lsass.exe is running` };
  }
  const system = calls.systemDirectory();
  const expected = system.ok ? `${system.value.replace(/\\+$/, '')}\\lsass.exe` : undefined;
  const trusted: LsassIdentity[] = [];
  const refused: string[] = [];
  for (const pid of named.value) {
    const session = calls.sessionOf(pid);
    if (!session.ok) {
      refused.push(`pid ${pid}: its session could not be read (${formatStatus(session.status)})`);
      continue;
    }
    if (session.value !== 0) {
      refused.push(`pid ${pid}: runs in session ${session.value}, not session 0`);
      continue;
    }
    if (expected === undefined) {
      refused.push(`pid ${pid}: the system directory could not be read to check its image`);
      continue;
    }
    const image = calls.imagePathOf(pid);
    if (!image.ok) {
      refused.push(`pid ${pid}: its image path could not be read (${formatStatus(image.status)})`);
      continue;
    }
    if (image.value.toLowerCase() !== expected.toLowerCase()) {
      refused.push(`pid ${pid}: its image is ${image.value}, not ${expected}`);
      continue;
    }
    trusted.push({ pid: pid >>> 0, identifiedBy: `session-0 process at ${image.value}` });
  }
  if (trusted.length === 1) return { ok: true, value: trusted[0]! };
  if (trusted.length > 1) {
    refused.push(
      `${trusted.length} processes pass (pids ${trusted.map((t) => t.pid).join(', ')}), so none can be told apart`,
    );
  }
  return {
    ok: false,
    status: ERROR_NOT_FOUND,
    reason: `${services}, and no lsass.exe can be trusted by name (${refused.join('; ')})`,
  };
}
