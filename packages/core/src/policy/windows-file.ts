/**
 * The Windows machine policy file: where it is (never from the environment) and whether its owner
 * and DACL let only administrators write it.
 *
 * The location comes from the registry (`ProgramData` under
 * `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList`, read with the `reg.exe` of the
 * Windows directory), because the `ProgramData` environment variable is the app's to set. The owner
 * and DACL come from the Win32 security API through Windows PowerShell's `Get-Acl`, as SDDL: SIDs,
 * not the localized account names `icacls` prints, and the owner, which `icacls` does not print.
 *
 * @module
 */
import { win32 } from 'node:path';
import { KeyStoreError, type PolicyIssue, throwIfAborted } from '../errors.js';
import { type RegistryReader, readRegistryKey, windowsDirectory } from './registry.js';
import { invalidPolicyError } from './validate.js';
import { SddlError, sddlWriteProblems } from './windows-acl.js';

/**
 * What a {@link WindowsSecurityReader} found at one path: nothing; a reparse point (a symbolic link,
 * junction or mount point, refused since its own security descriptor does not protect what it leads
 * to); or a file or folder with its security descriptor as SDDL, holding at least the owner (`O:`)
 * and DACL (`D:`).
 *
 * @since 0.3.0
 */
export type WindowsSecurityEntry =
  | { readonly exists: false }
  | { readonly exists: true; readonly reparsePoint: true }
  | { readonly exists: true; readonly reparsePoint: false; readonly sddl: string };

/**
 * Reads the security descriptors of files or folders: one {@link WindowsSecurityEntry} per path, in
 * order. The default, {@link readSecurityWithPowerShell}, runs Windows PowerShell's `Get-Acl` once for
 * all of them; pass another (for example one over `GetNamedSecurityInfoW`) where PowerShell is
 * blocked, or in tests.
 *
 * @since 0.3.0
 */
export type WindowsSecurityReader = (
  paths: readonly string[],
  options: { signal?: AbortSignal },
) => Promise<readonly WindowsSecurityEntry[]>;

/**
 * Options of the Windows policy-file functions.
 *
 * @internal
 */
interface WindowsPolicyFileOptions {
  /** Cancels the check. */
  readonly signal?: AbortSignal;
  /** How to read `ProfileList` (default `readRegistryKey`, reg.exe of the Windows directory). */
  readonly registryReader?: RegistryReader;
  /** How to find the Windows directory (default `windowsDirectory()`), whose drive is `%SystemDrive%`. */
  readonly windowsDirectory?: () => { path: string; source: 'object-manager' | 'environment' | 'default' };
  /** How to read a file's owner and DACL (default {@link readSecurityWithPowerShell}). */
  readonly securityReader?: WindowsSecurityReader;
}

/**
 * Where the Windows policy file is, and how that was found.
 *
 * @internal
 */
interface WindowsPolicyFileLocation {
  /** `…\ProgramData\keystore\policy.json`. */
  readonly path: string;
  /**
   * `registry`: the `ProgramData` value of ProfileList; `default`: that value is absent, so the
   * Windows default `%SystemDrive%\ProgramData`.
   */
  readonly source: 'registry' | 'default';
  /** One sentence on how the path was found, including how the Windows directory was found. */
  readonly detail: string;
}

/** Where Windows records the ProgramData folder (set at setup, writable only by administrators). */
const PROFILE_LIST = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';

/** An absolute path on a drive (`C:\ProgramData`): no UNC or device path, no `.` or `..` segments. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse control characters
const DRIVE_PATH = /^[A-Za-z]:(\\[^\\/:*?"<>|\u0000-\u001f]+)+\\?$/;

function isDrivePath(path: string): boolean {
  return DRIVE_PATH.test(path) && !path.split('\\').some((segment) => segment === '.' || segment === '..');
}

function locationError(message: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', message, {
    cause,
    hint: `keystore reads the ProgramData folder from ${PROFILE_LIST} (value ProgramData), never from the environment; check that value (by default %SystemDrive%\\ProgramData)`,
  });
}

/**
 * Expands the variables Windows itself puts in the `ProgramData` value, from the Windows directory
 * (found without the environment): `%SystemDrive%`, `%SystemRoot%`, `%windir%`. Any other variable
 * would have to come from the environment, so it is refused.
 */
function expandProgramData(data: string, windir: string): string {
  const drive = windir.slice(0, 2);
  return data.replace(/%([^%]*)%/g, (whole, name: string) => {
    switch (name.toLowerCase()) {
      case 'systemdrive':
        return drive;
      case 'systemroot':
      case 'windir':
        return windir;
      default:
        throw locationError(
          `${PROFILE_LIST}\\ProgramData is ${JSON.stringify(data)}: keystore expands only %SystemDrive%, %SystemRoot% and %windir% (from the Windows directory), not ${whole}`,
        );
    }
  });
}

/**
 * Finds `%ProgramData%\keystore\policy.json` without reading the environment: the `ProgramData`
 * value (REG_EXPAND_SZ `%SystemDrive%\ProgramData`) of ProfileList, read with the `reg.exe` of the
 * Windows directory, its `%SystemDrive%` expanded from the drive of the Windows directory (the object
 * manager's `\SystemRoot` link; see `windowsDirectory`). Only when ProfileList holds no such value
 * (the key or value absent, which Windows since Vista never leaves so) is it the Windows default
 * `<drive of the Windows directory>\ProgramData`, with `source: 'default'`.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_NATIVE_FAILURE` (the value is not a string, names
 *   another variable, or is not an absolute drive path; reg.exe cannot run), and whatever the
 *   registry reader throws (`ERR_KEYSTORE_ACCESS_DENIED`, `ERR_KEYSTORE_TIMEOUT`,
 *   `ERR_KEYSTORE_CANCELLED`): it fails closed rather than guess a folder.
 * @internal
 */
export async function locateWindowsPolicyFile(
  options: WindowsPolicyFileOptions = {},
): Promise<WindowsPolicyFileLocation> {
  throwIfAborted(options.signal);
  const windir = (options.windowsDirectory ?? windowsDirectory)();
  const how =
    windir.source === 'object-manager'
      ? `the Windows directory ${windir.path} from the object manager's \\SystemRoot link`
      : `the Windows directory ${windir.path} from the ${windir.source === 'environment' ? 'SystemRoot/windir environment variables' : 'built-in default'} (the object manager's \\SystemRoot link did not resolve)`;
  const reader = options.registryReader ?? readRegistryKey;
  const contents = await reader(PROFILE_LIST, options.signal === undefined ? {} : { signal: options.signal });
  const value = contents?.values.find((v) => v.name.toLowerCase() === 'programdata');
  if (value === undefined) {
    const path = win32.join(windir.path.slice(0, 2), '\\ProgramData', 'keystore', 'policy.json');
    return {
      path,
      source: 'default',
      detail: `${PROFILE_LIST} has no ProgramData value, so the Windows default %SystemDrive%\\ProgramData, with %SystemDrive% from ${how}`,
    };
  }
  if ((value.type !== 'REG_EXPAND_SZ' && value.type !== 'REG_SZ') || typeof value.data !== 'string') {
    throw locationError(`${PROFILE_LIST}\\ProgramData is ${value.type}, not a string (REG_EXPAND_SZ)`);
  }
  const folder = expandProgramData(value.data, windir.path);
  if (!isDrivePath(folder)) {
    throw locationError(
      `${PROFILE_LIST}\\ProgramData is ${JSON.stringify(value.data)}, which is not an absolute drive path once expanded (${JSON.stringify(folder)})`,
    );
  }
  return {
    path: win32.join(folder, 'keystore', 'policy.json'),
    source: 'registry',
    detail: `${PROFILE_LIST}\\ProgramData (${JSON.stringify(value.data)}), read with reg.exe, with %SystemDrive% from ${how}`,
  };
}

/**
 * The path of `%ProgramData%\keystore\policy.json`, resolved without reading the environment; see
 * {@link locateWindowsPolicyFile}, which also says how it was found.
 *
 * @internal
 */
export async function windowsPolicyFilePath(options: WindowsPolicyFileOptions = {}): Promise<string> {
  return (await locateWindowsPolicyFile(options)).path;
}

/** How long PowerShell may take to print a security descriptor (its cold start can take seconds). */
const SECURITY_TIMEOUT_MS = 30_000;

/** Single-quote characters PowerShell honours in a single-quoted string besides `'`. */
const SMART_QUOTES = /[\u2018\u2019\u201a\u201b]/;

function securityReadError(path: string, what: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_NATIVE_FAILURE',
    `cannot read the owner and DACL of ${path}, so the machine policy cannot be trusted: ${what}`,
    {
      cause,
      hint:
        'keystore reads them with Windows PowerShell (Get-Acl) from the Windows directory; where PowerShell ' +
        'cannot run, the policy file cannot be checked and is refused. Remove the file, or let ' +
        'System32\\WindowsPowerShell\\v1.0\\powershell.exe run for this app',
    },
  );
}

/** A PowerShell single-quoted string literal. */
function psLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The default {@link WindowsSecurityReader}: runs `System32\WindowsPowerShell\v1.0\powershell.exe`
 * of the Windows directory (never one found through PATH) once, with an environment of its own (the
 * app's could load modules or a .NET profiler into it), and prints for each path whether it is
 * missing, a reparse point (`FILE_ATTRIBUTE_REPARSE_POINT`), or else `(Get-Acl -LiteralPath PATH).Sddl`:
 * the owner, group and DACL read with the Win32 security API. Strict: the output must hold exactly
 * one marked line per path, in order; anything else (Wine's `powershell.exe` is a stub that prints
 * nothing) fails closed.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_NATIVE_FAILURE`, `ERR_KEYSTORE_TIMEOUT`,
 *   `ERR_KEYSTORE_CANCELLED`, `ERR_KEYSTORE_INVALID_ARGUMENT` (not an absolute drive path).
 * @internal
 */
export async function readSecurityWithPowerShell(
  paths: readonly string[],
  options: { signal?: AbortSignal } = {},
): Promise<readonly WindowsSecurityEntry[]> {
  for (const path of paths) {
    if (typeof path !== 'string' || !isDrivePath(path) || SMART_QUOTES.test(path)) {
      throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `not an absolute drive path: ${JSON.stringify(path)}`);
    }
  }
  throwIfAborted(options.signal);
  const what = paths.join(', ');
  const windir = windowsDirectory().path;
  const exe = win32.join(windir, 'System32', 'WindowsPowerShell', 'v1.0', 'powershell.exe');
  const script = [
    "$ErrorActionPreference = 'Stop'",
    `$paths = @(${paths.map(psLiteral).join(', ')})`,
    'for ($i = 0; $i -lt $paths.Count; $i++) {',
    '  $p = $paths[$i]',
    '  if (-not (Test-Path -LiteralPath $p)) { "KEYSTORE-$i-MISSING" }',
    // 1024 = FILE_ATTRIBUTE_REPARSE_POINT (a number, not a type literal, so that constrained language mode allows it).
    '  elseif (((Get-Item -LiteralPath $p -Force).Attributes -band 1024) -ne 0) { "KEYSTORE-$i-REPARSE" }',
    '  else { "KEYSTORE-$i-SDDL:" + (Get-Acl -LiteralPath $p).Sddl }',
    '}',
  ].join('\n');
  const encoded = Buffer.from(script, 'utf16le').toString('base64');
  const env = {
    SystemRoot: windir,
    windir,
    SystemDrive: windir.slice(0, 2),
    PSModulePath: win32.join(windir, 'System32', 'WindowsPowerShell', 'v1.0', 'Modules'),
    TEMP: win32.join(windir, 'Temp'),
    TMP: win32.join(windir, 'Temp'),
  };
  // -InputFormat None: PowerShell otherwise may wait on a redirected stdin before it exits.
  const args = ['-NoLogo', '-NoProfile', '-NonInteractive', '-InputFormat', 'None', '-EncodedCommand', encoded];
  // Loaded here, not at import: node:child_process pulls in net, dgram and streams.
  const { execFile } = await import('node:child_process');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      exe,
      args,
      {
        env,
        windowsHide: true,
        timeout: SECURITY_TIMEOUT_MS,
        maxBuffer: 1024 * 1024,
        signal: options.signal,
        encoding: 'latin1',
      },
      (error, out, stderr) => {
        if (error === null) return resolve(out);
        if (options.signal?.aborted) {
          return reject(
            new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', {
              cause: options.signal.reason,
            }),
          );
        }
        const e = error as NodeJS.ErrnoException & { killed?: boolean };
        if (e.killed) {
          return reject(
            new KeyStoreError(
              'ERR_KEYSTORE_TIMEOUT',
              `PowerShell did not print the owner and DACL of ${what} within ${SECURITY_TIMEOUT_MS / 1000} s`,
              { cause: error, hint: 'the machine may be overloaded; try again' },
            ),
          );
        }
        reject(
          securityReadError(
            what,
            `${exe} failed (${String(e.code ?? e.message)}): ${stderr.trim().slice(0, 300)}`,
            error,
          ),
        );
      },
    );
  });
  return parsePowerShellOutput(stdout, paths);
}

/**
 * The entries in the output of {@link readSecurityWithPowerShell}'s script: one line per path, in
 * order, `KEYSTORE-<index>-MISSING`, `KEYSTORE-<index>-REPARSE` or `KEYSTORE-<index>-SDDL:<sddl>`.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_NATIVE_FAILURE` for any other output.
 * @internal
 */
export function parsePowerShellOutput(stdout: string, paths: readonly string[]): WindowsSecurityEntry[] {
  const what = paths.join(', ');
  const lines = stdout
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length !== paths.length) {
    throw securityReadError(
      what,
      lines.length === 0
        ? 'PowerShell printed nothing (a stub powershell.exe, as under Wine, does this)'
        : `PowerShell printed ${lines.length} lines where ${paths.length} were expected`,
    );
  }
  return lines.map((line, index): WindowsSecurityEntry => {
    const prefix = `KEYSTORE-${index}-`;
    if (line === `${prefix}MISSING`) return { exists: false };
    if (line === `${prefix}REPARSE`) return { exists: true, reparsePoint: true };
    if (line.startsWith(`${prefix}SDDL:`) && line.length > `${prefix}SDDL:`.length) {
      return { exists: true, reparsePoint: false, sddl: line.slice(`${prefix}SDDL:`.length) };
    }
    throw securityReadError(what, `PowerShell printed ${JSON.stringify(line.slice(0, 120))}`);
  });
}

/** The commands that give a file or folder the owner and DACL keystore accepts, by SID (any language). */
function fixCommands(file: string, folder: string): string {
  return (
    `icacls "${folder}" /setowner *S-1-5-32-544 && ` +
    `icacls "${folder}" /inheritance:r /grant:r *S-1-5-32-544:(OI)(CI)F *S-1-5-18:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX && ` +
    `icacls "${file}" /setowner *S-1-5-32-544 && ` +
    `icacls "${file}" /inheritance:r /grant:r *S-1-5-32-544:F *S-1-5-18:F *S-1-5-32-545:R`
  );
}

/**
 * Refuses (with `ERR_KEYSTORE_INVALID_POLICY`) a policy file that a non-administrator can write: the
 * file and its folder (`…\keystore`) must be owned by Administrators, SYSTEM or TrustedInstaller, and
 * their DACLs may grant write-type rights (write or append data, add files, delete, write
 * attributes or extended attributes, change the DACL or owner, generic write or all) only to those
 * three; a NULL DACL lets everyone write; neither may be a reparse point (a link or junction, whose
 * own descriptor does not protect what it leads to). Deny ACEs are read past (they grant nothing) and
 * inherit-only ACEs do not apply to the object itself. Each problem is one issue; the hint gives the
 * `icacls` commands that fix them.
 *
 * Call it after reading the file, on the path read: a file missing by then is refused too, so that
 * a planted file removed before the check cannot pass.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY`; `ERR_KEYSTORE_NATIVE_FAILURE` when the
 *   owner and DACL cannot be read or parsed with certainty (it fails closed), `ERR_KEYSTORE_TIMEOUT`,
 *   `ERR_KEYSTORE_CANCELLED`, `ERR_KEYSTORE_INVALID_ARGUMENT` (not an absolute drive path).
 * @internal
 */
export async function checkWindowsPolicyFile(path: string, options: WindowsPolicyFileOptions = {}): Promise<void> {
  throwIfAborted(options.signal);
  if (typeof path !== 'string' || !isDrivePath(path) || path.endsWith('\\')) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `not an absolute path to a file: ${JSON.stringify(path)}`);
  }
  const reader = options.securityReader ?? readSecurityWithPowerShell;
  const folder = win32.dirname(path);
  const targets = [
    { target: folder, what: `the folder ${folder}` },
    { target: path, what: `the policy file ${path}` },
  ];
  const entries = await reader(
    targets.map((t) => t.target),
    options.signal === undefined ? {} : { signal: options.signal },
  );
  if (!Array.isArray(entries) || entries.length !== targets.length) {
    throw securityReadError(
      `${folder}, ${path}`,
      `the security reader returned no entry for each of the ${targets.length} paths`,
    );
  }
  const issues: PolicyIssue[] = [];
  for (const [index, { target, what }] of targets.entries()) {
    const entry = entries[index] as WindowsSecurityEntry | undefined;
    // A reader that does not say whether the path is a link has not said enough: fail closed.
    if (
      typeof entry !== 'object' ||
      entry === null ||
      typeof entry.exists !== 'boolean' ||
      (entry.exists && typeof entry.reparsePoint !== 'boolean')
    ) {
      throw securityReadError(
        target,
        'the security reader returned no entry for it, or none saying whether it is a link',
      );
    }
    if (!entry.exists) {
      issues.push({
        pointer: '',
        message: `${what} does not exist (any more), so what was read from it cannot be trusted`,
      });
      continue;
    }
    if (entry.reparsePoint) {
      issues.push({
        pointer: '',
        message: `${what} is a reparse point (a symbolic link, junction or mount point): its own security descriptor does not protect what it leads to`,
      });
      continue;
    }
    if (typeof entry.sddl !== 'string') throw securityReadError(target, 'the security reader returned no SDDL text');
    try {
      for (const message of sddlWriteProblems(entry.sddl, what)) issues.push({ pointer: '', message });
    } catch (error) {
      if (!(error instanceof SddlError)) throw error;
      throw securityReadError(
        target,
        `its SDDL ${JSON.stringify(entry.sddl.slice(0, 200))} cannot be read with certainty (${error.message})`,
        error,
      );
    }
  }
  if (issues.length > 0) {
    const links = issues.some((issue) => issue.message.includes('is a reparse point'))
      ? 'replace each link or junction with a real folder or file, then '
      : '';
    throw invalidPolicyError(issues, path, {
      hint: `only Administrators, SYSTEM and TrustedInstaller may own or write the machine policy; as an administrator ${links}run: ${fixCommands(path, folder)}`,
    });
  }
}
