import {
  compareIsolation,
  ISOLATION_LEVELS,
  isAtLeast,
  isIsolationLevel,
  isolationRank,
  strongerIsolation,
  weakerIsolation,
} from '@keystore/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('isolation levels', () => {
  it('are ordered none < in-process < os-isolated < os-protected < virtualization < hardware', () => {
    expect([...ISOLATION_LEVELS]).toEqual([
      'none',
      'in-process',
      'os-isolated',
      'os-protected',
      'virtualization',
      'hardware',
    ]);
    const shuffled = ['hardware', 'none', 'os-protected', 'in-process', 'virtualization', 'os-isolated'] as const;
    expect([...shuffled].sort(compareIsolation)).toEqual([...ISOLATION_LEVELS]);
  });

  it('compare, isAtLeast, stronger and weaker agree with the rank for every pair', () => {
    const level = fc.constantFrom(...ISOLATION_LEVELS);
    fc.assert(
      fc.property(level, level, (a, b) => {
        const d = isolationRank(a) - isolationRank(b);
        expect(Math.sign(compareIsolation(a, b))).toBe(Math.sign(d));
        expect(isAtLeast(a, b)).toBe(d >= 0);
        expect(strongerIsolation(a, b)).toBe(d >= 0 ? a : b);
        expect(weakerIsolation(a, b)).toBe(d <= 0 ? a : b);
      }),
    );
  });

  it('recognises only the six names', () => {
    for (const l of ISOLATION_LEVELS) expect(isIsolationLevel(l)).toBe(true);
    for (const v of ['tpm', 'HARDWARE', '', null, 3, undefined, {}]) expect(isIsolationLevel(v)).toBe(false);
    expect(() => isolationRank('tpm' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_KEYSTORE_INVALID_ARGUMENT' }),
    );
  });
});
