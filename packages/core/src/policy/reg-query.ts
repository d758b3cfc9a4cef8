/**
 * Reading a registry key on Windows with the `reg.exe` of this Windows installation, and parsing
 * what it prints. Fails closed on anything it cannot read with certainty.
 *
 * @module
 */
import { realpathSync } from 'node:fs';
import { win32 } from 'node:path';
import { KeyStoreError, throwIfAborted } from '../errors.js';

// node:child_process pulls in net, dgram and the stream machinery: it is loaded at the first
// registry read, not when @keystore/core is imported (most processes never read the registry).
let childProcess: Promise<typeof import('node:child_process')> | undefined;
const loadChildProcess = () => (childProcess ??= import('node:child_process'));

/**
 * How long reading the registry may take before it counts as failed (`ERR_KEYSTORE_TIMEOUT`).
 *
 * @since 0.2.0
 */
export const REGISTRY_TIMEOUT_MS = 10_000;

/**
 * One value of a registry key, as a {@link RegistryReader} returns it: `REG_SZ` and `REG_EXPAND_SZ`
 * data as a string (unexpanded), `REG_MULTI_SZ` as an array of strings, `REG_DWORD` and `REG_QWORD`
 * as a number, anything else as the text `reg.exe` printed (hex for `REG_BINARY`).
 *
 * @since 0.2.0
 */
export interface RegistryValue {
  /** The value's name. */
  readonly name: string;
  /** Its type as `reg.exe` names it: `REG_SZ`, `REG_MULTI_SZ`, `REG_DWORD` … */
  readonly type: string;
  /** Its data. */
  readonly data: string | number | readonly string[];
}

/**
 * What a registry key holds: its values, and the names of its subkeys.
 *
 * @since 0.2.0
 */
export interface RegistryKeyContents {
  /** The values directly under the key. */
  readonly values: readonly RegistryValue[];
  /** The names (not paths) of its direct subkeys, when the reader knows them. */
  readonly subkeys?: readonly string[];
}

/**
 * Reads one registry key: resolves to its contents, or to `null` when the key does not exist; rejects
 * with a `KeyStoreError` when it cannot tell. The key store always uses {@link readRegistryKey}
 * (since 0.3.0 an app cannot hand it another: a reader could answer "no key"); pass your own to
 * {@link loadRegistryPolicy} to read the policy with other means, or to the test hatch of
 * `@keystore/core/testing`.
 *
 * @since 0.2.0
 */
export type RegistryReader = (key: string, options: { signal?: AbortSignal }) => Promise<RegistryKeyContents | null>;

const HIVES: Readonly<Record<string, string>> = {
  HKLM: 'HKEY_LOCAL_MACHINE',
  HKCU: 'HKEY_CURRENT_USER',
  HKCR: 'HKEY_CLASSES_ROOT',
  HKU: 'HKEY_USERS',
  HKCC: 'HKEY_CURRENT_CONFIG',
};
const LONG_HIVES = new Set(Object.values(HIVES));
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse control characters
const KEY_PATTERN = /^[A-Za-z_]+(\\[^\\"\u0000-\u001f]+)*$/;

/** `HKLM\A\B` → `HKEY_LOCAL_MACHINE\A\B`. */
function expandHive(key: string): string {
  const [hive = '', ...rest] = key.split('\\');
  return [HIVES[hive.toUpperCase()] ?? hive, ...rest].join('\\');
}

/** The key with its hive spelt out, upper-cased for comparison (the registry ignores case). */
function canonicalKey(key: string): string {
  return expandHive(key).toUpperCase();
}

function checkKey(key: unknown): string {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `not a registry key path: ${JSON.stringify(key)}`);
  }
  const hive = key.split('\\')[0]!.toUpperCase();
  if (!(hive in HIVES) && !LONG_HIVES.has(hive)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `unknown registry hive in ${JSON.stringify(key)}`);
  }
  return key;
}

/** A value line of `reg query`: four spaces, name, four spaces, type, and (unless empty) four spaces and data. */
const VALUE_LINE = /^ {4}(.*?) {4}(REG_[A-Z0-9_]+)(?: {4}(.*))?$/;

function valueData(type: string, text: string): RegistryValue['data'] {
  switch (type) {
    case 'REG_MULTI_SZ':
      return text === '' ? [] : text.split('\\0');
    case 'REG_DWORD':
    case 'REG_QWORD':
      return /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : text;
    default:
      return text;
  }
}

/** The error for output of `reg query` that keystore cannot read with certainty: it fails closed. */
function unreadable(key: string, lineNumber: number | null, what: string, line?: string): KeyStoreError {
  const where =
    lineNumber === null
      ? ''
      : ` (line ${lineNumber}${line === undefined ? '' : `: ${JSON.stringify(line.slice(0, 120))}`})`;
  return new KeyStoreError(
    'ERR_KEYSTORE_NATIVE_FAILURE',
    `reg.exe printed output for ${key} that keystore cannot read: ${what}${where}`,
    {
      hint:
        'reg.exe prints each value on one line, so a value whose data holds a line break cannot be read ' +
        'reliably: rewrite such a value on one line (no policy value needs a line break), or delete it',
    },
  );
}

/**
 * Parses the output of `reg query KEY /s`: the values directly under `key`, and the names of its
 * direct subkeys (from the headers of deeper keys). A value whose name is in parentheses is the
 * key's unnamed default value (`(Default)` in English), which is left out.
 *
 * Strict, so that it fails closed rather than drop what it does not understand: the output must
 * start with the header of `key` itself; every other non-blank line must be a value line (four
 * spaces, name, four spaces, `REG_…` type, four spaces, data) or the header of a key below `key`;
 * a value line may not follow a blank line (reg.exe puts blank lines only before headers); a header
 * may not repeat, nor a value name within one key; no line may hold a carriage return. A value whose
 * data holds a line break breaks one of these rules unless its data itself continues with a
 * complete, well-formed value line, which no output can tell apart.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_NATIVE_FAILURE`, naming the line it cannot read.
 * @internal
 */
export function parseRegQueryOutput(output: string, key: string): RegistryKeyContents {
  const wanted = canonicalKey(key);
  const values: RegistryValue[] = [];
  const subkeys = new Set<string>();
  const headers = new Set<string>();
  let current: string | undefined;
  let names = new Set<string>();
  let afterBlank = false;
  const lines = output.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const lineNumber = index + 1;
    if (line.includes('\r')) {
      throw unreadable(
        key,
        lineNumber,
        'a carriage return inside a line (a value whose data holds a line break)',
        line,
      );
    }
    if (line === '') {
      afterBlank = true;
      continue;
    }
    if (line.startsWith(' ')) {
      if (current === undefined) throw unreadable(key, lineNumber, `a value line before the header of ${key}`, line);
      if (afterBlank) {
        throw unreadable(
          key,
          lineNumber,
          'a value line after a blank line (a value whose data holds a line break)',
          line,
        );
      }
      const value = VALUE_LINE.exec(line);
      if (value === null) throw unreadable(key, lineNumber, 'an indented line that is not a value line', line);
      const [, name = '', type = '', text = ''] = value;
      const lower = name.toLowerCase();
      if (names.has(lower)) {
        throw unreadable(key, lineNumber, `the value ${JSON.stringify(name)} is listed twice in one key`, line);
      }
      names.add(lower);
      if (current !== wanted || (name.startsWith('(') && name.endsWith(')'))) continue;
      values.push({ name, type, data: valueData(type, text) });
      continue;
    }
    const header = expandHive(line);
    const canonical = header.toUpperCase();
    if (current === undefined && canonical !== wanted) {
      throw unreadable(key, lineNumber, `the output does not start with the header of ${key}`, line);
    }
    if (canonical !== wanted && !canonical.startsWith(`${wanted}\\`)) {
      throw unreadable(key, lineNumber, `a line that is neither a value nor a key under ${key}`, line);
    }
    if (headers.has(canonical)) throw unreadable(key, lineNumber, 'a key header that appears twice', line);
    headers.add(canonical);
    if (canonical !== wanted) subkeys.add(header.slice(wanted.length + 1).split('\\')[0]!);
    current = canonical;
    names = new Set();
    afterBlank = false;
  }
  if (current === undefined) throw unreadable(key, null, `no header of ${key} in the output`);
  return { values, subkeys: [...subkeys] };
}

/** Whether `output` of `reg query PARENT` lists `child` as a subkey. */
function listsSubkey(output: string, child: string): boolean {
  const wanted = canonicalKey(child);
  return output.split(/\r?\n/).some((line) => !line.startsWith(' ') && canonicalKey(line.trim()) === wanted);
}

/** Whether `reg query PARENT` succeeds and lists `key` as a subkey. */
async function listedByParent(key: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<boolean> {
  const parent = key.split('\\').slice(0, -1).join('\\');
  if (parent === '') return false;
  const listed = await runReg(['query', parent, '/reg:64'], signal, timeoutMs);
  return listed.exitCode === 0 && listsSubkey(listed.stdout, key);
}

interface RegRun {
  readonly exitCode: number;
  /** What reg.exe wrote to stdout: the only part parsed. */
  readonly stdout: string;
  /** stdout and stderr, for messages. */
  readonly output: string;
}

function decode(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // reg.exe writes redirected output in the console code page; the parts keystore reads are ASCII.
    return bytes.toString('latin1');
  }
}

/** The Windows directory through the object manager's `\SystemRoot` link, which the kernel sets at boot. */
const OBJECT_MANAGER_SYSTEM_ROOT = '\\\\?\\GLOBALROOT\\SystemRoot';

/** An absolute path on a drive (`C:\Windows`): no UNC or device path, no `.` or `..` segments. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse control characters
const DRIVE_PATH = /^[A-Za-z]:(\\[^\\/:*?"<>|\u0000-\u001f]+)+\\?$/;

function isDrivePath(path: string): boolean {
  return DRIVE_PATH.test(path) && !path.split('\\').some((segment) => segment === '.' || segment === '..');
}

/** An environment variable, found without regard to case (as Windows does) in a plain object too. */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(env)) {
    if (key.toLowerCase() === lower && value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * Where {@link windowsDirectory} looks; the defaults are the real ones, tests pass doubles.
 *
 * @internal
 */
export interface WindowsDirectorySources {
  /** Resolves a path to its final form (default `fs.realpathSync.native`). */
  readonly realpath?: (path: string) => string;
  /** The environment (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The Windows directory, in which `System32\reg.exe` is run. First from the object manager's
 * `\SystemRoot` link (`\\?\GLOBALROOT\SystemRoot` resolved to its final path), which the environment
 * cannot change. Where that does not resolve to a drive path (Wine has no such link), from the
 * environment: `SystemRoot`, else `windir`, each an absolute drive path and, when both are set, the
 * same directory; neither set: `C:\Windows`.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_NATIVE_FAILURE` when the environment names no usable
 *   Windows directory (a relative, UNC or device path, or `SystemRoot` and `windir` disagreeing).
 * @internal
 */
export function windowsDirectory(sources: WindowsDirectorySources = {}): {
  path: string;
  source: 'object-manager' | 'environment' | 'default';
} {
  const realpath = sources.realpath ?? (process.platform === 'win32' ? realpathSync.native : undefined);
  try {
    const resolved = realpath?.(OBJECT_MANAGER_SYSTEM_ROOT);
    if (typeof resolved === 'string' && isDrivePath(resolved)) {
      return { path: resolved.replace(/\\$/, ''), source: 'object-manager' };
    }
  } catch {
    // Not resolvable here: fall back to the environment.
  }
  const env = sources.env ?? process.env;
  const named = (['SystemRoot', 'windir'] as const).flatMap((name) => {
    const value = envValue(env, name);
    return value === undefined ? [] : [{ name, value }];
  });
  for (const { name, value } of named) {
    if (!isDrivePath(value)) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_NATIVE_FAILURE',
        `the environment variable ${name} is not an absolute drive path (${JSON.stringify(value)}), so keystore ` +
          'cannot tell where reg.exe is to read the machine policy in the registry',
        { hint: `start the app with ${name} set to the Windows directory (C:\\Windows)` },
      );
    }
  }
  const [first, second] = named;
  if (first === undefined) return { path: 'C:\\Windows', source: 'default' };
  const same = (a: string, b: string) => a.replace(/\\$/, '').toLowerCase() === b.replace(/\\$/, '').toLowerCase();
  if (second !== undefined && !same(first.value, second.value)) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_NATIVE_FAILURE',
      `the environment names two Windows directories (SystemRoot ${JSON.stringify(first.value)}, windir ` +
        `${JSON.stringify(second.value)}), so keystore cannot tell which reg.exe reports the machine policy`,
      { hint: 'start the app with SystemRoot and windir both set to the Windows directory, as Windows sets them' },
    );
  }
  return { path: first.value.replace(/\\$/, ''), source: 'environment' };
}

/** The `reg.exe` of this Windows installation (never one found through PATH). */
function regExe(): string {
  return win32.join(windowsDirectory().path, 'System32', 'reg.exe');
}

/**
 * Spawn failures worth another try: Windows can refuse to start a process for a moment when it runs
 * short of resources (Node reports `UNKNOWN`, `EAGAIN`, `EMFILE`, `ENFILE`). A missing or forbidden
 * reg.exe is never retried.
 */
const TRANSIENT_SPAWN_CODES = new Set(['UNKNOWN', 'EAGAIN', 'EMFILE', 'ENFILE', 'EBUSY']);

/** Waits before each further try to start reg.exe; the read fails closed after the last. */
const REG_SPAWN_RETRY_DELAYS_MS: readonly number[] = [100, 400];

async function runReg(args: readonly string[], signal: AbortSignal | undefined, timeoutMs: number): Promise<RegRun> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await runRegOnce(args, signal, timeoutMs);
    } catch (error) {
      const delay = REG_SPAWN_RETRY_DELAYS_MS[attempt];
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      const transient =
        error instanceof KeyStoreError &&
        error.code === 'ERR_KEYSTORE_NATIVE_FAILURE' &&
        typeof code === 'string' &&
        TRANSIENT_SPAWN_CODES.has(code);
      if (!transient || delay === undefined) throw error;
      const { setTimeout: sleep } = await import('node:timers/promises');
      await sleep(delay, undefined, signal === undefined ? {} : { signal }).catch((cause: unknown) => {
        throw new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'reading the registry was cancelled', { cause });
      });
    }
  }
}

async function runRegOnce(
  args: readonly string[],
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<RegRun> {
  const exe = regExe();
  const { execFile } = await loadChildProcess();
  return new Promise((resolve, reject) => {
    execFile(
      exe,
      [...args],
      { encoding: 'buffer', windowsHide: true, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, signal },
      (error, stdout, stderr) => {
        const out = decode(stdout);
        const output = `${out}${stderr.length > 0 ? `\n${decode(stderr)}` : ''}`;
        if (error === null) return resolve({ exitCode: 0, stdout: out, output });
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        if (signal?.aborted) {
          return reject(
            new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'reading the registry was cancelled', { cause: signal.reason }),
          );
        }
        if (typeof e.code === 'number') return resolve({ exitCode: e.code, stdout: out, output });
        if (e.killed) {
          return reject(
            new KeyStoreError(
              'ERR_KEYSTORE_TIMEOUT',
              `reg.exe did not answer within ${timeoutMs / 1000} s while reading the machine policy in the registry`,
              { cause: error, hint: 'the machine may be overloaded; try again' },
            ),
          );
        }
        const denied = e.code === 'EACCES' || e.code === 'EPERM';
        return reject(
          new KeyStoreError(
            denied ? 'ERR_KEYSTORE_ACCESS_DENIED' : 'ERR_KEYSTORE_NATIVE_FAILURE',
            `cannot run ${exe} to read the machine policy in the registry (${String(e.code ?? e.message)})`,
            {
              cause: error,
              hint:
                'keystore reads HKLM\\SOFTWARE\\Policies\\keystore with reg.exe, and fails closed where it cannot run; ' +
                'ask the administrators to let standard users run reg.exe',
            },
          ),
        );
      },
    );
  });
}

/**
 * Reads a registry key with `reg.exe query KEY /s /reg:64` (the 64-bit view, also from a 32-bit
 * process), the `reg.exe` in the `System32` folder of the Windows directory: the one the object
 * manager's `\SystemRoot` link names, or where that cannot be resolved (Wine), the one the
 * `SystemRoot` environment variable names. Resolves to `null` when the key does not exist, and to no
 * values and no subkeys for an empty key (under Wine, whose reg.exe prints nothing for one, only when
 * the parent key lists it): when the
 * query fails, the parent keys are listed to tell a missing key (`null`) from one that cannot be read
 * (`ERR_KEYSTORE_ACCESS_DENIED`), without depending on the language of reg.exe's messages. Output it
 * cannot read with certainty (a value whose data holds a line break, a line it does not know) fails
 * closed with `ERR_KEYSTORE_NATIVE_FAILURE`. Windows only.
 *
 * @param key - The key, e.g. `HKLM\\SOFTWARE\\Policies\\keystore`.
 * @param options - `signal` cancels it; `timeoutMs` bounds each `reg.exe` run (default
 *   {@link REGISTRY_TIMEOUT_MS}).
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_ARGUMENT` (not a key path),
 *   `ERR_KEYSTORE_ACCESS_DENIED`, `ERR_KEYSTORE_TIMEOUT`, `ERR_KEYSTORE_NATIVE_FAILURE` (reg.exe
 *   cannot run, or printed output that cannot be read), `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * const contents = await readRegistryKey('HKLM\\SOFTWARE\\Policies\\keystore');
 * for (const value of contents?.values ?? []) console.log(value.name, value.type, value.data);
 * ```
 * @since 0.2.0
 */
export async function readRegistryKey(
  key: string,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<RegistryKeyContents | null> {
  checkKey(key);
  const { signal } = options;
  const timeoutMs = options.timeoutMs ?? REGISTRY_TIMEOUT_MS;
  throwIfAborted(signal);
  const first = await runReg(['query', key, '/s', '/reg:64'], signal, timeoutMs);
  if (first.exitCode === 0) {
    // Wine's reg.exe prints nothing but a line break for a key with neither values nor subkeys (what
    // Group Policy leaves when every policy is disabled again). Empty output alone is not trusted: the
    // key counts as empty only when its parent, listed by a second run, names it.
    if (/^[\r\n]*$/.test(first.stdout) && (await listedByParent(key, signal, timeoutMs))) {
      return { values: [], subkeys: [] };
    }
    return parseRegQueryOutput(first.stdout, key);
  }
  // Missing or unreadable? Walk up until a key can be listed, and see whether it lists the next one down.
  const parts = key.split('\\');
  for (let depth = parts.length - 1; depth >= 1; depth--) {
    const parent = parts.slice(0, depth).join('\\');
    const child = parts.slice(0, depth + 1).join('\\');
    const listed = await runReg(['query', parent, '/reg:64'], signal, timeoutMs);
    if (listed.exitCode !== 0) continue;
    if (!listsSubkey(listed.stdout, child)) return null;
    if (depth === parts.length - 1) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_ACCESS_DENIED',
        `${key} exists but cannot be read: ${first.output.trim() || `reg.exe exited with ${first.exitCode}`}`,
        { hint: 'give the account running the app read access to the policy key (Users can read it by default)' },
      );
    }
    // The next key down is listed but could not be listed itself: its contents are unknown.
    break;
  }
  throw new KeyStoreError(
    'ERR_KEYSTORE_ACCESS_DENIED',
    `cannot tell whether ${key} exists: ${first.output.trim() || `reg.exe exited with ${first.exitCode}`}`,
    { hint: 'give the account running the app read access to HKLM\\SOFTWARE\\Policies' },
  );
}
