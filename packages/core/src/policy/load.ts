/**
 * Finding, reading and resolving policy files.
 *
 * @module
 */
import { posix, win32 } from 'node:path';
import { KeyStoreError, throwIfAborted } from '../errors.js';
import type { EffectivePolicy, KeyStorePolicy, PolicyOverride } from '../types.js';
import { duplicateKeyIssues } from './duplicates.js';
import { mergePolicies } from './merge.js';
import { MISSING, readFixedPolicyFile, readNamedPolicyFile } from './read.js';
import { loadRegistryPolicy } from './registry.js';
import {
  fileOverrides,
  POLICY_SOURCES,
  policySourcesOf,
  publishOverrides,
  registryOverrides,
  type TestPolicySources,
  type WithPolicySources,
} from './sources.js';
import { invalidPolicyError, parsePolicy } from './validate.js';
import { checkWindowsPolicyFile, windowsPolicyFilePath } from './windows-file.js';

/**
 * The environment variable that names an ADDITIONAL machine policy file (since 0.3.0; before, it
 * replaced the file at the fixed path). It can only tighten: its policy caps the app like the
 * others, and the fixed-path file and the registry still apply.
 *
 * @since 0.1.0
 */
export const MACHINE_POLICY_ENV = 'KEYSTORE_MACHINE_POLICY';

/** Reads `name` from `env`; on Windows, where variable names are case-insensitive, in any case. */
function envValue(env: NodeJS.ProcessEnv, name: string, platform: NodeJS.Platform): string | undefined {
  const exact = env[name];
  if (exact !== undefined || platform !== 'win32') return exact === '' ? undefined : exact;
  const lower = name.toLowerCase();
  const key = Object.keys(env).find((candidate) => candidate.toLowerCase() === lower);
  const value = key === undefined ? undefined : env[key];
  return value === '' ? undefined : value;
}

/** The Windows default; the real path comes from `windowsPolicyFilePath`, which never reads the environment. */
const WINDOWS_DEFAULT_PATH = win32.join('C:\\ProgramData', 'keystore', 'policy.json');

/**
 * The fixed path of the machine policy file: `/etc/keystore/policy.json`, or on Windows
 * `%ProgramData%\keystore\policy.json` (this function answers the usual `C:\ProgramData`; the key
 * store asks Windows for the real folder). Since 0.3.0 no environment variable changes it:
 * `KEYSTORE_MACHINE_POLICY` names an additional file.
 *
 * @param platform - The platform (default `process.platform`).
 * @example
 * ```ts
 * machinePolicyPath('linux'); // '/etc/keystore/policy.json'
 * ```
 * @since 0.1.0
 */
export function machinePolicyPath(platform: NodeJS.Platform = process.platform): string {
  // A 0.2 caller may still pass an environment first: it no longer decides anything.
  const p = typeof platform === 'string' ? platform : process.platform;
  return p === 'win32' ? WINDOWS_DEFAULT_PATH : posix.join('/etc', 'keystore', 'policy.json');
}

/** Parses policy text read from `path`, refusing duplicate keys. */
function parsePolicyText(text: string, path: string): KeyStorePolicy {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw invalidPolicyError([{ pointer: '', message: `not valid JSON: ${(error as Error).message}` }], path, {
      cause: error,
      hint: 'a policy file must hold one JSON object (no comments, no trailing commas)',
    });
  }
  const duplicates = duplicateKeyIssues(text);
  if (duplicates.length > 0) {
    throw invalidPolicyError(duplicates, path, { hint: 'give each key once per object' });
  }
  return parsePolicy(document, path);
}

/**
 * Reads a policy file, parses its JSON and validates it.
 *
 * @param path - The file.
 * @param options - `signal` cancels the read.
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY` when the file is missing, not a
 * regular file (a directory, FIFO, socket or device), over 1 MiB, not JSON (pointer `""`), holds a key
 * twice in one object (since 0.3.0; the issue names its pointer) or is invalid (`issues` names each
 * field); `ERR_KEYSTORE_ACCESS_DENIED` when it cannot be read; `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * const app = await loadPolicyFile('./keystore-policy.json');
 * const effective = await resolvePolicy({ app });
 * ```
 * @since 0.1.0
 */
export async function loadPolicyFile(path: string, options: { signal?: AbortSignal } = {}): Promise<KeyStorePolicy> {
  const text = await readNamedPolicyFile(path, options.signal);
  if (text === MISSING) {
    throw invalidPolicyError([{ pointer: '', message: 'no such file' }], path, {
      hint: 'check the policy file path',
    });
  }
  return parsePolicyText(text, path);
}

/**
 * Options of {@link loadMachinePolicy}.
 *
 * @since 0.1.0
 */
export interface LoadMachinePolicyOptions extends WithPolicySources {
  /** Cancels the read. */
  signal?: AbortSignal;
}

/**
 * What {@link loadMachinePolicy} read.
 *
 * @since 0.3.0
 */
export interface MachinePolicyFiles {
  /** The policy of the file at the fixed path, or `null` when there is no file there. */
  readonly policy: KeyStorePolicy | null;
  /** The fixed path looked at. */
  readonly path: string;
  /** The policy of the additional file named by `KEYSTORE_MACHINE_POLICY`, or `null` when it is unset. */
  readonly envPolicy: KeyStorePolicy | null;
  /** The file `KEYSTORE_MACHINE_POLICY` names, or `null` when it is unset. */
  readonly envPath: string | null;
  /** The sources replaced by the test hatch (empty in production). */
  readonly overrides: readonly PolicyOverride[];
}

/** Fails closed when `directory` exists but is not a directory (so the file under it cannot be). */
async function refuseNonDirectory(directory: string, path: string): Promise<void> {
  // node:fs/promises is loaded here, at the first read, not when @keystore/core is imported.
  const { stat } = await import('node:fs/promises');
  const stats = await stat(directory).catch(() => undefined);
  if (stats !== undefined && !stats.isDirectory()) {
    throw invalidPolicyError([{ pointer: '', message: `${directory} is not a directory` }], path, {
      hint: `make ${directory} a folder only administrators can change`,
    });
  }
}

/** Reads the fixed-path file: `MISSING` only when truly absent. */
async function readFixedFile(
  sources: TestPolicySources | undefined,
  platform: NodeJS.Platform,
  signal: AbortSignal | undefined,
): Promise<{ text: string | typeof MISSING; path: string }> {
  if (sources?.machinePolicyFile !== undefined) {
    const { path, trustRoot } = sources.machinePolicyFile;
    return { text: await readFixedPolicyFile({ path, trustRoot }, signal), path };
  }
  if (platform === 'win32') {
    const options = signal === undefined ? {} : { signal };
    const path = process.platform === 'win32' ? await windowsPolicyFilePath(options) : WINDOWS_DEFAULT_PATH;
    const text = await readNamedPolicyFile(path, signal);
    // Windows reports a file where the folder should be as "not found": that is not "no policy".
    if (text === MISSING) await refuseNonDirectory(win32.dirname(path), path);
    // The owner and DACL are checked only when there is a file to trust.
    if (text !== MISSING && process.platform === 'win32') await checkWindowsPolicyFile(path, options);
    return { text, path };
  }
  const path = machinePolicyPath(platform);
  return { text: await readFixedPolicyFile({ path, trustRoot: '/' }, signal), path };
}

/**
 * Reads the machine policy files: the file at the fixed path ({@link machinePolicyPath}), which
 * always applies, and the additional file named by `KEYSTORE_MACHINE_POLICY`, if it is set.
 *
 * - Fixed path (POSIX): the file and every directory above it must be owned by root and not writable
 *   by group or others; a symbolic link is followed and its target checked the same way. Only a
 *   truly absent file (in a sound directory, or no `/etc/keystore` at all) means no machine policy.
 *   On Windows the owner and DACL are checked by the platform's rules.
 * - `KEYSTORE_MACHINE_POLICY`: its owner is not checked (it can only tighten), but a named file that
 *   is missing fails closed.
 * - Both: anything but a regular file (a directory, a FIFO, a socket, a device, a broken symbolic
 *   link), a file over 1 MiB, invalid JSON, a key given twice, an invalid policy: all fail closed,
 *   and promptly (nothing blocks on a FIFO).
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY`, `ERR_KEYSTORE_ACCESS_DENIED`,
 * `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * const { policy, path, envPath } = await loadMachinePolicy();
 * console.log(policy ? `machine policy from ${path}` : `no machine policy at ${path}`);
 * if (envPath !== null) console.log(`and the additional ${envPath}`);
 * ```
 * @since 0.1.0
 */
export async function loadMachinePolicy(options: LoadMachinePolicyOptions = {}): Promise<MachinePolicyFiles> {
  if (typeof options !== 'object' || options === null) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'options must be an object');
  }
  rejectRemoved(options, ['env', 'platform'], 'loadMachinePolicy');
  const sources = policySourcesOf(options);
  const platform = sources?.platform ?? process.platform;
  const env = sources?.env ?? process.env;
  const { signal } = options;
  throwIfAborted(signal);
  const overrides = fileOverrides(sources);
  publishOverrides(overrides);

  let policy: KeyStorePolicy | null = null;
  let path = machinePolicyPath(platform);
  if (sources?.machinePolicy !== undefined) {
    policy = sources.machinePolicy === null ? null : parsePolicy(sources.machinePolicy, 'machine policy');
  } else {
    const fixed = await readFixedFile(sources, platform, signal);
    path = fixed.path;
    policy = fixed.text === MISSING ? null : parsePolicyText(fixed.text, fixed.path);
  }

  const envPath = envValue(env, MACHINE_POLICY_ENV, platform) ?? null;
  let envPolicy: KeyStorePolicy | null = null;
  if (envPath !== null) {
    const text = await readNamedPolicyFile(envPath, signal);
    if (text === MISSING) {
      throw invalidPolicyError([{ pointer: '', message: 'no such file' }], envPath, {
        hint: `${MACHINE_POLICY_ENV} names ${envPath}, which does not exist; create the file or unset the variable`,
      });
    }
    envPolicy = parsePolicyText(text, envPath);
  }
  return { policy, path, envPolicy, envPath, overrides };
}

/**
 * Options of {@link resolvePolicy}. Since 0.3.0 no option drops or replaces a machine policy source
 * (`machine`, `registry`, `env`, `platform` and `registryReader` are gone, and rejected when given):
 * tests use `resolveTestPolicy` from `@keystore/core/testing`.
 *
 * @since 0.1.0
 */
export interface ResolvePolicyOptions extends WithPolicySources {
  /** The app's policy (validated here); none when omitted or `null`. */
  app?: KeyStorePolicy | null;
  /** Cancels reading the machine policy. */
  signal?: AbortSignal;
}

/**
 * Throws `ERR_KEYSTORE_INVALID_ARGUMENT` when `options` still carries an option that used to drop or
 * replace a machine policy source: ignoring it would hide that it no longer does.
 *
 * @internal
 */
export function rejectRemoved(options: object, names: readonly string[], where: string): void {
  const given = names.filter((name) => (options as Record<string, unknown>)[name] !== undefined);
  if (given.length === 0) return;
  throw new KeyStoreError(
    'ERR_KEYSTORE_INVALID_ARGUMENT',
    `${where} no longer takes ${given.join(', ')}: the machine policy is a ceiling no app option can lift or replace`,
    {
      hint: 'in tests, use createTestKeyStore or resolveTestPolicy from @keystore/core/testing; in production, remove the option',
    },
  );
}

/**
 * Builds the effective policy: validates the app's policy, reads every machine policy source with
 * {@link loadMachinePolicy} (the fixed-path file and the file `KEYSTORE_MACHINE_POLICY` names) and,
 * on Windows, {@link loadRegistryPolicy}, and merges them over the defaults with
 * {@link mergePolicies}: each machine source is a ceiling, none replaces another.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY`, `ERR_KEYSTORE_ACCESS_DENIED`,
 * `ERR_KEYSTORE_CANCELLED`; `ERR_KEYSTORE_INVALID_ARGUMENT` for a removed option.
 * @example
 * ```ts
 * const effective = await resolvePolicy({ app: { minimumIsolation: 'hardware' } });
 * effective.sources['/minimumIsolation']; // 'app', or 'machine' if the machine policy asks for more
 * ```
 * @since 0.1.0
 */
export async function resolvePolicy(options: ResolvePolicyOptions = {}): Promise<EffectivePolicy> {
  if (typeof options !== 'object' || options === null) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'options must be an object');
  }
  rejectRemoved(options, ['machine', 'registry', 'env', 'platform', 'registryReader'], 'resolvePolicy');
  throwIfAborted(options.signal);
  const sources = policySourcesOf(options);
  const signal = options.signal;
  const app = options.app === undefined || options.app === null ? null : parsePolicy(options.app, 'app policy');
  const files = await loadMachinePolicy({
    ...(signal === undefined ? {} : { signal }),
    ...(sources === undefined ? {} : { [POLICY_SOURCES]: sources }),
  });
  const loaded = await loadRegistryPolicy({
    ...(signal === undefined ? {} : { signal }),
    ...(sources === undefined ? {} : { [POLICY_SOURCES]: sources }),
  });
  const registry = loaded.policy;
  const registryPolicyKey = registry === null || sources?.registryPolicy !== undefined ? null : loaded.key;
  const fileReplaced = sources?.machinePolicy !== undefined;
  return mergePolicies(app, files.policy, files.policy === null || fileReplaced ? null : files.path, {
    registry,
    registryPolicyKey,
    machineEnv: files.envPolicy,
    machineEnvPolicyPath: files.envPolicy === null ? null : files.envPath,
    overrides: [...files.overrides, ...registryOverrides(sources)],
  });
}
