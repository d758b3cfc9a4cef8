/**
 * Finding, reading and resolving policy files.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { posix, win32 } from 'node:path';
import { KeyStoreError, throwIfAborted } from '../errors.js';
import type { EffectivePolicy, KeyStorePolicy } from '../types.js';
import { mergePolicies } from './merge.js';
import { loadRegistryPolicy, type RegistryReader } from './registry.js';
import { invalidPolicyError, parsePolicy } from './validate.js';

/**
 * The environment variable that names the machine policy file, replacing the platform's known path.
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

/**
 * The path of the machine policy file: `KEYSTORE_MACHINE_POLICY` when it is set and not empty; else
 * `%ProgramData%\keystore\policy.json` on Windows (`C:\ProgramData` when `ProgramData` is unset);
 * else `/etc/keystore/policy.json`.
 *
 * @param env - The environment to read (default `process.env`).
 * @param platform - The platform (default `process.platform`).
 * @example
 * ```ts
 * machinePolicyPath({}, 'linux'); // '/etc/keystore/policy.json'
 * machinePolicyPath({ ProgramData: 'D:\\Data' }, 'win32'); // 'D:\\Data\\keystore\\policy.json'
 * ```
 * @since 0.1.0
 */
export function machinePolicyPath(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  const named = envValue(env, MACHINE_POLICY_ENV, platform);
  if (named !== undefined) return named;
  if (platform === 'win32') {
    return win32.join(envValue(env, 'ProgramData', platform) ?? 'C:\\ProgramData', 'keystore', 'policy.json');
  }
  return posix.join('/etc', 'keystore', 'policy.json');
}

const MISSING = Symbol('missing');

/** Reads a policy file as text, or returns {@link MISSING} when there is no file at `path`. */
async function readPolicyText(path: string, signal: AbortSignal | undefined): Promise<string | typeof MISSING> {
  throwIfAborted(signal);
  try {
    const text = await readFile(path, { encoding: 'utf8', signal });
    // Editors on Windows like to start UTF-8 files with a byte-order mark, which JSON.parse rejects.
    return text.startsWith('\uFEFF') ? text.slice(1) : text;
  } catch (error) {
    if (signal?.aborted) {
      throw new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', { cause: signal.reason });
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return MISSING;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new KeyStoreError('ERR_KEYSTORE_ACCESS_DENIED', `${path}: cannot read the policy file (${code})`, {
        cause: error,
        hint: 'give the account running the app read access to the policy file',
      });
    }
    throw invalidPolicyError(
      [{ pointer: '', message: `cannot read the file: ${(error as Error).message ?? String(error)}` }],
      path,
      { cause: error, hint: 'a policy file must be a readable JSON file' },
    );
  }
}

/** Parses policy text read from `path`. */
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
  return parsePolicy(document, path);
}

/**
 * Reads a policy file, parses its JSON and validates it.
 *
 * @param path - The file.
 * @param options - `signal` cancels the read.
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY` when the file is missing, not JSON
 * (pointer `""`) or invalid (`issues` names each field); `ERR_KEYSTORE_ACCESS_DENIED` when it cannot
 * be read; `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * const app = await loadPolicyFile('./keystore-policy.json');
 * const effective = await resolvePolicy({ app });
 * ```
 * @since 0.1.0
 */
export async function loadPolicyFile(path: string, options: { signal?: AbortSignal } = {}): Promise<KeyStorePolicy> {
  const text = await readPolicyText(path, options.signal);
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
export interface LoadMachinePolicyOptions {
  /** The environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The platform (default `process.platform`). */
  platform?: NodeJS.Platform;
  /** Cancels the read. */
  signal?: AbortSignal;
}

/**
 * Reads the machine policy from {@link machinePolicyPath}. No file at the known path means no machine
 * policy (`policy: null`). Everything else fails closed: a file named by `KEYSTORE_MACHINE_POLICY`
 * that does not exist, a file that is not valid JSON or not a valid policy, and a file that cannot be
 * read all throw, because the machine's owners expect their policy to apply.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY`, `ERR_KEYSTORE_ACCESS_DENIED`,
 * `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * const { policy, path } = await loadMachinePolicy();
 * console.log(policy ? `machine policy from ${path}` : `no machine policy at ${path}`);
 * ```
 * @since 0.1.0
 */
export async function loadMachinePolicy(
  options: LoadMachinePolicyOptions = {},
): Promise<{ policy: KeyStorePolicy | null; path: string }> {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const path = machinePolicyPath(env, platform);
  const text = await readPolicyText(path, options.signal);
  if (text === MISSING) {
    if (envValue(env, MACHINE_POLICY_ENV, platform) !== undefined) {
      throw invalidPolicyError([{ pointer: '', message: 'no such file' }], path, {
        hint: `${MACHINE_POLICY_ENV} names ${path}, which does not exist; create the file or unset the variable`,
      });
    }
    return { policy: null, path };
  }
  return { policy: parsePolicyText(text, path), path };
}

/**
 * Options of {@link resolvePolicy}.
 *
 * @since 0.1.0
 */
export interface ResolvePolicyOptions {
  /** The app's policy (validated here); none when omitted or `null`. */
  app?: KeyStorePolicy | null;
  /**
   * The machine policy: when omitted, read with {@link loadMachinePolicy}; `null` for none; a policy
   * object to use that one (validated here; tests and tools that read it themselves).
   */
  machine?: KeyStorePolicy | null;
  /** The environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The platform (default `process.platform`). */
  platform?: NodeJS.Platform;
  /**
   * The machine policy in the Windows registry: when omitted, read with {@link loadRegistryPolicy}
   * (on Windows only); `null` for none; a policy object to use that one.
   *
   * @since 0.2.0
   */
  registry?: KeyStorePolicy | null;
  /** How to read the registry key (default: `reg.exe`, see `readRegistryKey`). @since 0.2.0 */
  registryReader?: RegistryReader;
  /** Cancels reading the machine policy. */
  signal?: AbortSignal;
}

/**
 * Builds the effective policy: validates the app's policy, reads the machine policy file and, on
 * Windows, the registry policy (unless given), and merges them over the defaults with
 * {@link mergePolicies}. `machinePolicyPath` in the result is the file the machine policy was read
 * from, or `null`; `registryPolicyKey` the registry key, or `null`.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY`, `ERR_KEYSTORE_ACCESS_DENIED`,
 * `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * const effective = await resolvePolicy({ app: { minimumIsolation: 'hardware' } });
 * effective.sources['/minimumIsolation']; // 'app', or 'machine' if the machine policy asks for more
 * ```
 * @since 0.1.0
 */
export async function resolvePolicy(options: ResolvePolicyOptions = {}): Promise<EffectivePolicy> {
  throwIfAborted(options.signal);
  const app = options.app === undefined || options.app === null ? null : parsePolicy(options.app, 'app policy');
  let machine: KeyStorePolicy | null = null;
  let path: string | null = null;
  if (options.machine === undefined) {
    const loaded = await loadMachinePolicy({ env: options.env, platform: options.platform, signal: options.signal });
    machine = loaded.policy;
    path = loaded.policy === null ? null : loaded.path;
  } else if (options.machine !== null) {
    machine = parsePolicy(options.machine, 'machine policy');
  }
  let registry: KeyStorePolicy | null = null;
  let registryPolicyKey: string | null = null;
  if (options.registry === undefined) {
    const loaded = await loadRegistryPolicy({
      ...(options.platform === undefined ? {} : { platform: options.platform }),
      ...(options.registryReader === undefined ? {} : { reader: options.registryReader }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    registry = loaded.policy;
    registryPolicyKey = loaded.policy === null ? null : loaded.key;
  } else if (options.registry !== null) {
    registry = parsePolicy(options.registry, 'registry policy');
  }
  return mergePolicies(app, machine, path, { registry, registryPolicyKey });
}
