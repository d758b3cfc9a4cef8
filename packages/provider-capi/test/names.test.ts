// Name rules: which names new keys may have, and which existing containers can be opened by name.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isOpenableContainerName,
  isValidKeyName,
  MAX_CONTAINER_NAME_LENGTH,
  MAX_KEY_NAME_LENGTH,
} from '../src/index.js';

describe('new key names', () => {
  it('accept 1–64 characters of A-Z a-z 0-9 . _ -', () => {
    for (const name of ['a', 'signing-key.v2', 'A_B', 'x'.repeat(MAX_KEY_NAME_LENGTH), '..', '-']) {
      expect([name, isValidKeyName(name)]).toEqual([name, true]);
    }
    for (const name of ['', 'x'.repeat(65), 'has space', '{guid}', 'a/b', 'a\\b', 'é', 'a:b', 42, null]) {
      expect([name, isValidKeyName(name)]).toEqual([name, false]);
    }
  });

  it('every valid new key name can also be opened', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), (name) => {
        expect(isValidKeyName(name)).toBe(true);
        expect(isOpenableContainerName(name)).toBe(true);
      }),
    );
  });
});

describe('existing container names', () => {
  it('accept the names other programs use, and refuse what cannot be opened by name', () => {
    for (const name of ['{0F3A5C1E-8B2D-4E7F-9A10-3C4D5E6F7A8B}', 'le-1234-abcd', 'my key', 'a/b', 'a:b']) {
      expect([name, isOpenableContainerName(name)]).toEqual([name, true]);
    }
    for (const name of ['', ' a', 'a ', 'a\\b', 'tab\t', 'ünï', 'x'.repeat(MAX_CONTAINER_NAME_LENGTH + 1)]) {
      expect([name, isOpenableContainerName(name)]).toEqual([name, false]);
    }
  });

  it('never accept a control character, a backslash or a non-ASCII character', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: 'binary' }), (name) => {
        if (isOpenableContainerName(name)) {
          expect(/^[\x20-\x7e]+$/.test(name)).toBe(true);
          expect(name.includes('\\')).toBe(false);
          expect(name.length).toBeLessThanOrEqual(MAX_CONTAINER_NAME_LENGTH);
        }
      }),
    );
  });
});
