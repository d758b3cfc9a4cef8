/**
 * The machine policy in the Windows registry (`HKLM\SOFTWARE\Policies\keystore`, where Group Policy
 * writes): reading the key with `reg.exe`, and turning its values into a policy document.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { win32 } from 'node:path';
import { KeyStoreError, type PolicyIssue, throwIfAborted } from '../errors.js';
import type { KeyStorePolicy } from '../types.js';
import { isPlainObject } from './util.js';
import { invalidPolicyError, parsePolicy, validatePolicy } from './validate.js';

/**
 * The registry key keystore reads its machine policy from on Windows. Its values mirror the fields of
 * a policy document (`MinimumIsolation`, `ProvidersDeny` …), or one `Policy` value holds a whole JSON
 * policy document; see the policy guide.
 *
 * @since 0.2.0
 */
export const REGISTRY_POLICY_KEY = 'HKLM\\SOFTWARE\\Policies\\keystore';

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
 * with a `KeyStoreError` when it cannot tell. The default is {@link readRegistryKey}; pass your own
 * (to `createKeyStore({ registryReader })`) where `reg.exe` may not run, or in tests.
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

/**
 * Parses the output of `reg query KEY /s`: the values directly under `key`, and the names of its
 * direct subkeys (from the headers of deeper keys). A value whose name is in parentheses is the
 * key's unnamed default value (`(Default)` in English), which is left out.
 *
 * @internal
 */
export function parseRegQueryOutput(output: string, key: string): RegistryKeyContents {
  const wanted = canonicalKey(key);
  const values: RegistryValue[] = [];
  const subkeys = new Set<string>();
  let current: string | undefined;
  for (const line of output.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const value = VALUE_LINE.exec(line);
    if (value === null) {
      if (line.startsWith(' ')) continue;
      const header = expandHive(line.trim());
      current = header.toUpperCase();
      if (current.startsWith(`${wanted}\\`)) subkeys.add(header.slice(wanted.length + 1).split('\\')[0]!);
      continue;
    }
    if (current !== wanted) continue;
    const [, name = '', type = '', text = ''] = value;
    if (name.startsWith('(') && name.endsWith(')')) continue;
    values.push({ name, type, data: valueData(type, text) });
  }
  return { values, subkeys: [...subkeys] };
}

/** Whether `output` of `reg query PARENT` lists `child` as a subkey. */
function listsSubkey(output: string, child: string): boolean {
  const wanted = canonicalKey(child);
  return output.split(/\r?\n/).some((line) => !line.startsWith(' ') && canonicalKey(line.trim()) === wanted);
}

interface RegRun {
  readonly exitCode: number;
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

/** The `reg.exe` of this Windows installation (never one found through PATH). */
function regExe(env: NodeJS.ProcessEnv): string {
  return win32.join(
    env.SystemRoot ?? env.SYSTEMROOT ?? env.windir ?? env.WINDIR ?? 'C:\\Windows',
    'System32',
    'reg.exe',
  );
}

function runReg(args: readonly string[], signal: AbortSignal | undefined, timeoutMs: number): Promise<RegRun> {
  const exe = regExe(process.env);
  return new Promise((resolve, reject) => {
    execFile(
      exe,
      [...args],
      { encoding: 'buffer', windowsHide: true, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, signal },
      (error, stdout, stderr) => {
        const output = `${decode(stdout)}${stderr.length > 0 ? `\n${decode(stderr)}` : ''}`;
        if (error === null) return resolve({ exitCode: 0, output });
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        if (signal?.aborted) {
          return reject(
            new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'reading the registry was cancelled', { cause: signal.reason }),
          );
        }
        if (typeof e.code === 'number') return resolve({ exitCode: e.code, output });
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
                'keystore reads HKLM\\SOFTWARE\\Policies\\keystore with reg.exe; where reg.exe is blocked, an app can ' +
                'pass its own registryReader to createKeyStore',
            },
          ),
        );
      },
    );
  });
}

/**
 * Reads a registry key with `reg.exe query KEY /s /reg:64` (the 64-bit view, also from a 32-bit
 * process), the `reg.exe` in `%SystemRoot%\System32`. Resolves to `null` when the key does not exist:
 * when the query fails, the parent keys are listed to tell a missing key (`null`) from one that
 * cannot be read (`ERR_KEYSTORE_ACCESS_DENIED`), without depending on the language of reg.exe's
 * messages. Windows only.
 *
 * @param key - The key, e.g. {@link REGISTRY_POLICY_KEY}.
 * @param options - `signal` cancels it; `timeoutMs` bounds each `reg.exe` run (default
 *   {@link REGISTRY_TIMEOUT_MS}).
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_ARGUMENT` (not a key path),
 *   `ERR_KEYSTORE_ACCESS_DENIED`, `ERR_KEYSTORE_TIMEOUT`, `ERR_KEYSTORE_NATIVE_FAILURE` (reg.exe
 *   cannot run), `ERR_KEYSTORE_CANCELLED`.
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
  if (first.exitCode === 0) return parseRegQueryOutput(first.output, key);
  // Missing or unreadable? Walk up until a key can be listed, and see whether it lists the next one down.
  const parts = key.split('\\');
  for (let depth = parts.length - 1; depth >= 1; depth--) {
    const parent = parts.slice(0, depth).join('\\');
    const child = parts.slice(0, depth + 1).join('\\');
    const listed = await runReg(['query', parent, '/reg:64'], signal, timeoutMs);
    if (listed.exitCode !== 0) continue;
    if (!listsSubkey(listed.output, child)) return null;
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

type ValueKind = 'string' | 'list' | 'integer' | 'flag';

/** The registry values keystore reads, each with the policy field it sets. */
const REGISTRY_FIELDS: readonly { name: string; pointer: string; kind: ValueKind }[] = [
  { name: 'MinimumIsolation', pointer: '/minimumIsolation', kind: 'string' },
  { name: 'ProvidersAllow', pointer: '/providers/allow', kind: 'list' },
  { name: 'ProvidersDeny', pointer: '/providers/deny', kind: 'list' },
  { name: 'ProvidersPrefer', pointer: '/providers/prefer', kind: 'list' },
  { name: 'LegacyCryptoApi', pointer: '/legacyCryptoApi', kind: 'string' },
  { name: 'ExportableCreate', pointer: '/exportable/create', kind: 'flag' },
  { name: 'ExportableExport', pointer: '/exportable/export', kind: 'flag' },
  { name: 'AllowedAlgorithms', pointer: '/allowedAlgorithms', kind: 'list' },
  { name: 'MinimumRsaBits', pointer: '/minimumRsaBits', kind: 'integer' },
  { name: 'AllowedScopes', pointer: '/allowedScopes', kind: 'list' },
];

/** The name of the value that holds a whole JSON policy document instead. */
const DOCUMENT_VALUE = 'Policy';

const EXPECTED_TYPE: Readonly<Record<ValueKind, string>> = {
  string: 'REG_SZ',
  list: 'REG_MULTI_SZ',
  integer: 'REG_DWORD',
  flag: 'REG_DWORD',
};

function setAt(document: Record<string, unknown>, pointer: string, value: unknown): void {
  const path = pointer.slice(1).split('/');
  let target = document;
  for (const segment of path.slice(0, -1)) {
    const next = target[segment];
    if (isPlainObject(next)) target = next;
    else {
      const created: Record<string, unknown> = {};
      target[segment] = created;
      target = created;
    }
  }
  target[path[path.length - 1]!] = value;
}

/**
 * Turns the contents of the registry policy key into a validated policy document, or throws
 * `ERR_KEYSTORE_INVALID_POLICY` whose issues name each bad registry value (and carry the JSON pointer
 * of the field it sets). Value names are matched without regard to case, as Windows does.
 *
 * @internal
 */
export function registryPolicyFromContents(contents: RegistryKeyContents, key = REGISTRY_POLICY_KEY): KeyStorePolicy {
  const issues: PolicyIssue[] = [];
  const document: Record<string, unknown> = {};
  let json: RegistryValue | undefined;
  const fieldValues: string[] = [];
  for (const subkey of contents.subkeys ?? []) {
    issues.push({
      pointer: '',
      message: `subkey ${JSON.stringify(subkey)}: keystore reads only the values directly under ${key}; move them up or delete the subkey`,
    });
  }
  for (const value of contents.values) {
    const lower = value.name.toLowerCase();
    if (lower === DOCUMENT_VALUE.toLowerCase()) {
      json = value;
      continue;
    }
    const field = REGISTRY_FIELDS.find((f) => f.name.toLowerCase() === lower);
    if (field === undefined) {
      issues.push({
        pointer: '',
        message:
          `unknown registry value ${JSON.stringify(value.name)}; the key allows only: ` +
          `${[DOCUMENT_VALUE, ...REGISTRY_FIELDS.map((f) => f.name)].join(', ')}`,
      });
      continue;
    }
    fieldValues.push(field.name);
    const expected = EXPECTED_TYPE[field.kind];
    const wrongType = (what = expected) =>
      issues.push({
        pointer: field.pointer,
        message: `registry value ${field.name} must be ${what}, not ${value.type} ${JSON.stringify(value.data)}`,
      });
    if (value.type !== expected) {
      wrongType();
      continue;
    }
    switch (field.kind) {
      case 'string':
        if (typeof value.data === 'string') setAt(document, field.pointer, value.data);
        else wrongType();
        break;
      case 'list':
        if (Array.isArray(value.data)) setAt(document, field.pointer, [...value.data]);
        else wrongType();
        break;
      case 'integer':
        if (typeof value.data === 'number') setAt(document, field.pointer, value.data);
        else wrongType();
        break;
      case 'flag':
        if (value.data === 0 || value.data === 1) setAt(document, field.pointer, value.data === 1);
        else wrongType('REG_DWORD 0 (false) or 1 (true)');
        break;
    }
  }
  if (json !== undefined) {
    if (fieldValues.length > 0) {
      issues.push({
        pointer: '',
        message:
          `registry value ${DOCUMENT_VALUE} holds a whole policy document, so the key may not also hold ` +
          `${fieldValues.join(', ')}; use one form or the other`,
      });
    } else if (json.type !== 'REG_SZ' || typeof json.data !== 'string') {
      issues.push({
        pointer: '',
        message: `registry value ${DOCUMENT_VALUE} must be REG_SZ holding a JSON policy document, not ${json.type}`,
      });
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(json.data);
      } catch (error) {
        issues.push({
          pointer: '',
          message: `registry value ${DOCUMENT_VALUE} is not valid JSON: ${(error as Error).message}`,
        });
      }
      if (parsed !== undefined) {
        for (const issue of validatePolicy(parsed)) {
          issues.push({ pointer: issue.pointer, message: `registry value ${DOCUMENT_VALUE}: ${issue.message}` });
        }
        if (issues.length === 0) return parsePolicy(parsed, key);
      }
    }
  }
  if (json === undefined) {
    // Every value of the right type is checked too, so one run reports every problem.
    for (const issue of validatePolicy(document)) {
      const field = REGISTRY_FIELDS.find(
        (f) => issue.pointer === f.pointer || issue.pointer.startsWith(`${f.pointer}/`),
      );
      const index =
        field && issue.pointer !== field.pointer ? ` (item ${issue.pointer.slice(field.pointer.length + 1)})` : '';
      issues.push({
        pointer: issue.pointer,
        message: field ? `registry value ${field.name}${index}: ${issue.message}` : issue.message,
      });
    }
  }
  if (issues.length > 0) {
    throw invalidPolicyError(issues, key, {
      hint: `fix or delete each named value under ${key}; the policy guide lists the value names and types`,
    });
  }
  return parsePolicy(document, key);
}

/**
 * Options of {@link loadRegistryPolicy}.
 *
 * @since 0.2.0
 */
export interface LoadRegistryPolicyOptions {
  /** The platform (default `process.platform`); the registry is read only on `win32`. */
  platform?: NodeJS.Platform;
  /** How to read the key (default {@link readRegistryKey}). */
  reader?: RegistryReader;
  /** Cancels the read. */
  signal?: AbortSignal;
}

/**
 * Reads the machine policy from the registry key {@link REGISTRY_POLICY_KEY} on Windows. No key means
 * no registry policy (`policy: null`); elsewhere than Windows, nothing is read. Everything else fails
 * closed: an unknown value, a value of the wrong type, an invalid field, a key that cannot be read.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY` (its issues name each registry value),
 *   `ERR_KEYSTORE_ACCESS_DENIED`, `ERR_KEYSTORE_TIMEOUT`, `ERR_KEYSTORE_NATIVE_FAILURE`,
 *   `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * const { policy, key } = await loadRegistryPolicy();
 * console.log(policy ? `registry policy from ${key}` : 'no registry policy');
 * ```
 * @since 0.2.0
 */
export async function loadRegistryPolicy(
  options: LoadRegistryPolicyOptions = {},
): Promise<{ policy: KeyStorePolicy | null; key: string }> {
  const key = REGISTRY_POLICY_KEY;
  const platform = options.platform ?? process.platform;
  throwIfAborted(options.signal);
  if (platform !== 'win32') return { policy: null, key };
  const reader = options.reader ?? readRegistryKey;
  const contents = await reader(key, options.signal === undefined ? {} : { signal: options.signal });
  if (contents === null) return { policy: null, key };
  if (typeof contents !== 'object' || !Array.isArray(contents.values)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'the registry reader returned no values array');
  }
  return { policy: registryPolicyFromContents(contents, key), key };
}
