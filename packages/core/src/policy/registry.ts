/**
 * The machine policy in the Windows registry (`HKLM\SOFTWARE\Policies\keystore`, where Group Policy
 * writes): turning the key's values into a policy document. Reading the key is in `reg-query.ts`.
 *
 * @module
 */
import { KeyStoreError, type PolicyIssue, throwIfAborted } from '../errors.js';
import type { KeyStorePolicy } from '../types.js';
import { type RegistryKeyContents, type RegistryReader, type RegistryValue, readRegistryKey } from './reg-query.js';
import { policySourcesOf, publishOverrides, registryOverrides, type WithPolicySources } from './sources.js';
import { deepFreeze, isPlainObject } from './util.js';
import { invalidPolicyError, parsePolicy, validatePolicy } from './validate.js';

export {
  parseRegQueryOutput,
  REGISTRY_TIMEOUT_MS,
  type RegistryKeyContents,
  type RegistryReader,
  type RegistryValue,
  readRegistryKey,
  type WindowsDirectorySources,
  windowsDirectory,
} from './reg-query.js';

/**
 * The registry key keystore reads its machine policy from on Windows. Its values mirror the fields of
 * a policy document (`MinimumIsolation`, `ProvidersDeny` …), or one `Policy` value holds a whole JSON
 * policy document; see the policy guide.
 *
 * @since 0.2.0
 */
export const REGISTRY_POLICY_KEY = 'HKLM\\SOFTWARE\\Policies\\keystore';

type ValueKind = 'string' | 'list' | 'integer' | 'flag';

/** The registry values keystore reads, each with the policy field it sets. */
const REGISTRY_FIELDS: readonly { readonly name: string; readonly pointer: string; readonly kind: ValueKind }[] = [
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

const EXPECTED_TYPE_OF = {
  string: 'REG_SZ',
  list: 'REG_MULTI_SZ',
  integer: 'REG_DWORD',
  flag: 'REG_DWORD',
} as const satisfies Record<ValueKind, RegistryPolicyValue['type']>;

/**
 * One registry value keystore reads under {@link REGISTRY_POLICY_KEY}: its name, the JSON pointer of
 * the policy field it sets, and the registry type it must have (`REG_DWORD` values of boolean fields
 * hold 0 or 1).
 *
 * @since 0.3.0
 */
export interface RegistryPolicyValue {
  readonly name: string;
  readonly pointer: string;
  readonly type: 'REG_SZ' | 'REG_MULTI_SZ' | 'REG_DWORD';
}

/**
 * Every registry value keystore reads under {@link REGISTRY_POLICY_KEY} besides `Policy`, in the
 * policy schema's order: the table the core reads with, so tools built on it (the CLI's Group Policy
 * template) cannot drift from it. Deeply frozen.
 *
 * @example
 * ```ts
 * import { REGISTRY_POLICY_VALUES } from '@keystore/core';
 * REGISTRY_POLICY_VALUES.find((v) => v.pointer === '/minimumRsaBits'); // { name: 'MinimumRsaBits', …, type: 'REG_DWORD' }
 * ```
 * @since 0.3.0
 */
export const REGISTRY_POLICY_VALUES: readonly RegistryPolicyValue[] = deepFreeze(
  REGISTRY_FIELDS.map(({ name, pointer, kind }) => ({ name, pointer, type: EXPECTED_TYPE_OF[kind] })),
);

/** The name of the value that holds a whole JSON policy document instead. */
const DOCUMENT_VALUE = 'Policy';

const EXPECTED_TYPE: Readonly<Record<ValueKind, string>> = EXPECTED_TYPE_OF;

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

type RegistryField = (typeof REGISTRY_FIELDS)[number];

/** Checks one value of a known field and sets it in `document`, or adds an issue. */
function readField(
  value: RegistryValue,
  field: RegistryField,
  document: Record<string, unknown>,
  issues: PolicyIssue[],
) {
  const expected = EXPECTED_TYPE[field.kind];
  const wrongType = (what = expected) =>
    issues.push({
      pointer: field.pointer,
      message: `registry value ${field.name} must be ${what}, not ${value.type} ${JSON.stringify(value.data)}`,
    });
  if (value.type !== expected) {
    wrongType();
    return;
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

/**
 * The policy document in the registry value `DOCUMENT_VALUE` names, when it is valid and nothing else is wrong;
 * otherwise its issues are added and `undefined` is returned.
 */
function documentValue(
  json: RegistryValue,
  fieldValues: readonly string[],
  issues: PolicyIssue[],
  key: string,
): KeyStorePolicy | undefined {
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
  return undefined;
}

/** The issues of the document the field values make, each named after its registry value. */
function fieldIssues(document: Record<string, unknown>, issues: PolicyIssue[]): void {
  // Every value of the right type is checked too, so one run reports every problem.
  for (const issue of validatePolicy(document)) {
    const field = REGISTRY_FIELDS.find((f) => issue.pointer === f.pointer || issue.pointer.startsWith(`${f.pointer}/`));
    const index =
      field && issue.pointer !== field.pointer ? ` (item ${issue.pointer.slice(field.pointer.length + 1)})` : '';
    issues.push({
      pointer: issue.pointer,
      message: field ? `registry value ${field.name}${index}: ${issue.message}` : issue.message,
    });
  }
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
    readField(value, field, document, issues);
  }
  if (json !== undefined) {
    const policy = documentValue(json, fieldValues, issues, key);
    if (policy !== undefined) return policy;
  } else {
    fieldIssues(document, issues);
  }
  if (issues.length > 0) {
    throw invalidPolicyError(issues, key, {
      hint: `fix or delete each named value under ${key}; the policy guide lists the value names and types`,
    });
  }
  return parsePolicy(document, key);
}

/**
 * Options of {@link loadRegistryPolicy}. `platform` and `reader` only change what this function reads
 * and returns; the key store never takes them from an app. The `TEST_POLICY_SOURCES` option of
 * `@keystore/core/testing` (since 0.3.0) replaces the registry policy, and is published as a
 * `policy.override` audit event.
 *
 * @since 0.2.0
 */
export interface LoadRegistryPolicyOptions extends WithPolicySources {
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
  const sources = policySourcesOf(options);
  const overrides = registryOverrides(sources);
  publishOverrides(overrides);
  throwIfAborted(options.signal);
  if (sources?.registryPolicy !== undefined) {
    return {
      policy: sources.registryPolicy === null ? null : parsePolicy(sources.registryPolicy, 'registry policy'),
      key,
    };
  }
  const platform = sources?.platform ?? options.platform ?? process.platform;
  if (platform !== 'win32') return { policy: null, key };
  const reader = sources?.registryReader ?? options.reader ?? readRegistryKey;
  const contents = await reader(key, options.signal === undefined ? {} : { signal: options.signal });
  if (contents === null) return { policy: null, key };
  if (typeof contents !== 'object' || !Array.isArray(contents.values)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'the registry reader returned no values array');
  }
  return { policy: registryPolicyFromContents(contents, key), key };
}
