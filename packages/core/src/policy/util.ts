/**
 * Small helpers shared by the policy modules; not exported from the package.
 *
 * @module
 */

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

/** Escapes one reference token of an RFC 6901 JSON pointer. */
function escapePointerToken(token: string | number): string {
  return String(token).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Builds an RFC 6901 JSON pointer from its tokens (`[]` gives `""`, the whole document). */
export function toPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((token) => `/${escapePointerToken(token)}`).join('');
}

/** A short description of a JSON value's type, for messages (`a string`, `null`, `an array` …). */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isFinite(value) ? 'a number' : `the number ${String(value)}`;
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return `a JavaScript ${typeof value}, which JSON cannot hold`;
  }
}

/** True for an object that came from JSON (or looks like it): not null, not an array, plain prototype. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
