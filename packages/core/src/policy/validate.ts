/**
 * Validation of policy documents against {@link POLICY_SCHEMA}, written out by hand.
 *
 * @module
 */
import { KEY_ALGORITHMS, KEY_SCOPES, type KeyAlgorithm, type KeyScope } from '../algorithms.js';
import { KeyStoreError, type PolicyIssue } from '../errors.js';
import { ISOLATION_LEVELS, type IsolationLevel } from '../isolation.js';
import type { KeyStorePolicy } from '../types.js';
import { MINIMUM_RSA_BITS_LOWER_BOUND, PKCS11_PATH_PATTERN, PROVIDER_ID_PATTERN } from './schema.js';
import { describeType, isPlainObject, toPointer } from './util.js';

const PROVIDER_ID = new RegExp(PROVIDER_ID_PATTERN);
const LEGACY_VALUES = ['allow', 'deny'] as const;
const TOP_LEVEL = [
  '$schema',
  'minimumIsolation',
  'providers',
  'legacyCryptoApi',
  'exportable',
  'allowedAlgorithms',
  'minimumRsaBits',
  'allowedScopes',
  'pkcs11',
] as const;
const PKCS11_SECTION = ['modules'] as const;
const PKCS11_MODULE = ['path', 'tokenLabel', 'isolation'] as const;
const PKCS11_PATH = new RegExp(PKCS11_PATH_PATTERN);
const PROVIDER_LISTS = ['allow', 'deny', 'prefer'] as const;
const EXPORTABLE_FLAGS = ['create', 'export'] as const;

type Path = readonly (string | number)[];

const list = (values: readonly string[]) => values.join(', ');

class Collector {
  readonly issues: PolicyIssue[] = [];
  add(path: Path, message: string): void {
    this.issues.push({ pointer: toPointer(path), message });
  }
}

function checkObject(out: Collector, path: Path, value: unknown, what: string): value is Record<string, unknown> {
  if (isPlainObject(value)) return true;
  out.add(path, `${what} must be an object, not ${describeType(value)}`);
  return false;
}

/**
 * Calls `check` for each property of `object` in document order, reporting unknown ones. A property
 * set to `undefined` (possible in a JavaScript object, never in JSON) counts as absent.
 */
function eachProperty<K extends string>(
  out: Collector,
  path: Path,
  object: Record<string, unknown>,
  known: readonly K[],
  what: string,
  check: (key: K, value: unknown, path: Path) => void,
): void {
  for (const [key, value] of Object.entries(object)) {
    if (value === undefined) continue;
    if ((known as readonly string[]).includes(key)) check(key as K, value, [...path, key]);
    else out.add([...path, key], `unknown property ${JSON.stringify(key)}; ${what} allows only: ${list(known)}`);
  }
}

function checkEnum(out: Collector, path: Path, value: unknown, allowed: readonly string[], what: string): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    const got = typeof value === 'string' ? JSON.stringify(value) : describeType(value);
    out.add(path, `${what} must be one of: ${list(allowed)} (got ${got})`);
  }
}

function checkArray(
  out: Collector,
  path: Path,
  value: unknown,
  what: string,
  checkItem: (item: unknown, itemPath: Path) => void,
): void {
  if (!Array.isArray(value)) {
    out.add(path, `${what} must be an array, not ${describeType(value)}`);
    return;
  }
  const seen = new Map<string, number>();
  value.forEach((item, index) => {
    const itemPath = [...path, index];
    checkItem(item, itemPath);
    if (typeof item !== 'string') return;
    const first = seen.get(item);
    if (first === undefined) seen.set(item, index);
    else out.add(itemPath, `${JSON.stringify(item)} repeats item ${first}; each entry may appear once in ${what}`);
  });
}

function checkProviderId(out: Collector, path: Path, value: unknown): void {
  if (typeof value !== 'string') {
    out.add(path, `a provider id must be a string, not ${describeType(value)}`);
  } else if (!PROVIDER_ID.test(value)) {
    out.add(
      path,
      `${JSON.stringify(value)} is not a provider id: use letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. cng, tpm)`,
    );
  }
}

function checkBoolean(out: Collector, path: Path, value: unknown, what: string): void {
  if (typeof value !== 'boolean') out.add(path, `${what} must be true or false, not ${describeType(value)}`);
}

/** One entry of `pkcs11.modules`. */
function checkPkcs11Module(out: Collector, path: Path, value: unknown): void {
  if (!checkObject(out, path, value, 'a PKCS#11 module declaration')) return;
  for (const required of ['path', 'isolation'] as const) {
    if (value[required] === undefined) out.add([...path, required], `a PKCS#11 module declaration needs ${required}`);
  }
  eachProperty(out, path, value, PKCS11_MODULE, 'a PKCS#11 module declaration', (key, member, memberPath) => {
    if (key === 'isolation') {
      checkEnum(out, memberPath, member, ISOLATION_LEVELS, 'isolation');
    } else if (key === 'path') {
      if (typeof member !== 'string' || !PKCS11_PATH.test(member) || member.includes('\0')) {
        out.add(memberPath, 'path must be the absolute path of the module (/usr/lib/…/module.so or C:\\…\\module.dll)');
      }
    } else if (typeof member !== 'string' || member.length === 0 || member.length > 32) {
      out.add(memberPath, 'tokenLabel must be a string of 1 to 32 characters');
    }
  });
}

/**
 * Checks a policy document against {@link POLICY_SCHEMA} and returns every problem found, each with
 * the RFC 6901 JSON pointer of the bad field (`""` when the document itself is not an object) and a
 * message that says what is allowed. An empty array means the document is valid.
 *
 * @example
 * ```ts
 * validatePolicy({ minimumIsolation: 'tpm', providers: { allow: ['cng', 7] } });
 * // [{ pointer: '/minimumIsolation', message: 'minimumIsolation must be one of: none, …' },
 * //  { pointer: '/providers/allow/1', message: 'a provider id must be a string, not a number' }]
 * ```
 * @since 0.1.0
 */
export function validatePolicy(document: unknown): PolicyIssue[] {
  const out = new Collector();
  if (!checkObject(out, [], document, 'a policy')) return out.issues;
  eachProperty(out, [], document, TOP_LEVEL, 'a policy', (key, value, path) => {
    switch (key) {
      case '$schema':
        if (typeof value !== 'string') out.add(path, `$schema must be a string, not ${describeType(value)}`);
        break;
      case 'minimumIsolation':
        checkEnum(out, path, value, ISOLATION_LEVELS, 'minimumIsolation');
        break;
      case 'providers':
        if (checkObject(out, path, value, 'providers')) {
          eachProperty(out, path, value, PROVIDER_LISTS, 'providers', (name, member, memberPath) =>
            checkArray(out, memberPath, member, `providers.${name}`, (item, itemPath) =>
              checkProviderId(out, itemPath, item),
            ),
          );
        }
        break;
      case 'legacyCryptoApi':
        checkEnum(out, path, value, LEGACY_VALUES, 'legacyCryptoApi');
        break;
      case 'exportable':
        if (checkObject(out, path, value, 'exportable')) {
          eachProperty(out, path, value, EXPORTABLE_FLAGS, 'exportable', (name, member, memberPath) =>
            checkBoolean(out, memberPath, member, `exportable.${name}`),
          );
        }
        break;
      case 'allowedAlgorithms':
        checkArray(out, path, value, 'allowedAlgorithms', (item, itemPath) =>
          checkEnum(out, itemPath, item, KEY_ALGORITHMS, 'an algorithm'),
        );
        break;
      case 'minimumRsaBits':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < MINIMUM_RSA_BITS_LOWER_BOUND) {
          const got = typeof value === 'number' ? String(value) : describeType(value);
          out.add(
            path,
            `minimumRsaBits must be an integer of at least ${MINIMUM_RSA_BITS_LOWER_BOUND}, such as 2048, 3072 or 4096 (got ${got})`,
          );
        }
        break;
      case 'allowedScopes':
        checkArray(out, path, value, 'allowedScopes', (item, itemPath) =>
          checkEnum(out, itemPath, item, KEY_SCOPES, 'a scope'),
        );
        break;
      case 'pkcs11':
        if (checkObject(out, path, value, 'pkcs11')) {
          eachProperty(out, path, value, PKCS11_SECTION, 'pkcs11', (_name, member, memberPath) =>
            checkArray(out, memberPath, member, 'pkcs11.modules', (item, itemPath) =>
              checkPkcs11Module(out, itemPath, item),
            ),
          );
        }
        break;
    }
  });
  return out.issues;
}

/** Renders issues as one line: `/minimumIsolation: …; /providers/allow/2: …`. */
function formatIssues(issues: readonly PolicyIssue[]): string {
  return issues.map((issue) => `${issue.pointer === '' ? '(document)' : issue.pointer}: ${issue.message}`).join('; ');
}

/** The `ERR_KEYSTORE_INVALID_POLICY` error for `issues` found in the policy from `origin`. */
export function invalidPolicyError(
  issues: readonly PolicyIssue[],
  origin: string | undefined,
  extra: { hint?: string; cause?: unknown } = {},
): KeyStoreError {
  const where = origin === undefined ? '' : `${origin}: `;
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return new KeyStoreError(
    'ERR_KEYSTORE_INVALID_POLICY',
    `${where}invalid policy (${count}): ${formatIssues(issues)}`,
    {
      issues,
      hint: extra.hint ?? 'fix each field named by its JSON pointer; the schema is @keystore/core/policy.schema.json',
      cause: extra.cause,
    },
  );
}

/** Copies a validated document into a fresh object holding only the known fields. */
function copyPolicy(document: Record<string, unknown>): KeyStorePolicy {
  const source = document as KeyStorePolicy;
  const policy: KeyStorePolicy = {};
  if (source.$schema !== undefined) policy.$schema = source.$schema;
  if (source.minimumIsolation !== undefined) policy.minimumIsolation = source.minimumIsolation as IsolationLevel;
  if (source.providers !== undefined) {
    const providers: NonNullable<KeyStorePolicy['providers']> = {};
    for (const name of PROVIDER_LISTS) {
      const value = source.providers[name];
      if (value !== undefined) providers[name] = [...value];
    }
    policy.providers = providers;
  }
  if (source.legacyCryptoApi !== undefined) policy.legacyCryptoApi = source.legacyCryptoApi;
  if (source.exportable !== undefined) {
    const exportable: NonNullable<KeyStorePolicy['exportable']> = {};
    for (const name of EXPORTABLE_FLAGS) {
      const value = source.exportable[name];
      if (value !== undefined) exportable[name] = value;
    }
    policy.exportable = exportable;
  }
  if (source.allowedAlgorithms !== undefined)
    policy.allowedAlgorithms = [...source.allowedAlgorithms] as KeyAlgorithm[];
  if (source.minimumRsaBits !== undefined) policy.minimumRsaBits = source.minimumRsaBits;
  if (source.allowedScopes !== undefined) policy.allowedScopes = [...source.allowedScopes] as KeyScope[];
  if (source.pkcs11 !== undefined) {
    policy.pkcs11 = {};
    if (source.pkcs11.modules !== undefined) {
      policy.pkcs11.modules = source.pkcs11.modules.map((m) => ({
        path: m.path,
        ...(m.tokenLabel === undefined ? {} : { tokenLabel: m.tokenLabel }),
        isolation: m.isolation,
      }));
    }
  }
  return policy;
}

/**
 * Validates a policy document and returns a typed copy of it (sharing nothing with the input), or
 * throws `ERR_KEYSTORE_INVALID_POLICY` whose `issues` lists every bad field and whose message names
 * each JSON pointer and `origin`.
 *
 * @param document - The parsed JSON document.
 * @param origin - Where it came from (a file name, `app policy` …), for the error message.
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_POLICY`.
 * @example
 * ```ts
 * const policy = parsePolicy(JSON.parse(text), 'policy.json');
 * ```
 * @since 0.1.0
 */
export function parsePolicy(document: unknown, origin?: string): KeyStorePolicy {
  const issues = validatePolicy(document);
  if (issues.length > 0) throw invalidPolicyError(issues, origin);
  return copyPolicy(document as Record<string, unknown>);
}
