/**
 * Finding keys that appear twice in one JSON object. `JSON.parse` keeps the last one silently, so
 * `{"minimumIsolation":"hardware","minimumIsolation":"none"}` would read as `none` while a person
 * reading the file sees `hardware` first: a policy must say one thing, so duplicates are refused.
 *
 * @module
 */
import type { PolicyIssue } from '../errors.js';
import { toPointer } from './util.js';

type Frame =
  | { kind: 'object'; path: (string | number)[]; keys: Set<string>; key: string | undefined; expectKey: boolean }
  | { kind: 'array'; path: (string | number)[]; index: number };

/**
 * The issues for every key that appears more than once in the same object of `text`, at any depth,
 * each naming the key's JSON pointer. `text` must already be valid JSON (it is scanned, not parsed
 * again): strings are skipped whole, so braces and quotes inside them do not count.
 */
export function duplicateKeyIssues(text: string): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const reported = new Set<string>();
  const stack: Frame[] = [];
  const childPath = (): (string | number)[] => {
    const top = stack.at(-1);
    if (top === undefined) return [];
    return top.kind === 'object' ? [...top.path, top.key ?? ''] : [...top.path, top.index];
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (top?.kind === 'object' && top.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) {
          const pointer = toPointer([...top.path, key]);
          if (!reported.has(pointer)) {
            reported.add(pointer);
            issues.push({
              pointer,
              message: `the key "${key}" appears more than once in the same object; JSON keeps only the last, so say it once`,
            });
          }
        }
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end + 1;
      continue;
    }
    if (c === '{') stack.push({ kind: 'object', path: childPath(), keys: new Set(), key: undefined, expectKey: true });
    else if (c === '[') stack.push({ kind: 'array', path: childPath(), index: 0 });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack.at(-1);
      if (top?.kind === 'object') top.expectKey = true;
      else if (top?.kind === 'array') top.index++;
    }
    i++;
  }
  return issues;
}
