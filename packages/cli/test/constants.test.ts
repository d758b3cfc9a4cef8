import { KEY_ALGORITHMS } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../src/commands.js';

describe('CLI constants', () => {
  it('offers exactly the SDK algorithm identifiers (copied so that --help does not load the SDK)', () => {
    expect([...ALGORITHMS]).toEqual([...KEY_ALGORITHMS]);
  });
});
