// The probe cache on a clock the test moves: answers are fresh for PROBE_CACHE_MS and no longer,
// per provider, and a clock that goes backwards does not keep them fresh.
import { describe, expect, it } from 'vitest';
import { PROBE_CACHE_MS, ProbeCache } from '../src/probe-cache.js';
import type { KeyStoreProvider } from '../src/provider-types.js';
import type { SelectionCandidate } from '../src/selection.js';

function candidate(id: string): SelectionCandidate {
  const provider = { id } as KeyStoreProvider;
  return { provider, probe: { available: true, isolation: 'none', reasons: [`${id} answered`] } };
}

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('ProbeCache', () => {
  it('is empty until answers are stored', () => {
    const cache = new ProbeCache(clock().now);
    expect(cache.all()).toBeUndefined();
    expect(cache.find(candidate('a').provider)).toBeUndefined();
  });

  it('keeps answers for 1.5 s by default, and not a millisecond longer', () => {
    expect(PROBE_CACHE_MS).toBe(1500);
    const time = clock();
    const cache = new ProbeCache(time.now);
    const answers = [candidate('a'), candidate('b')];
    cache.store(answers);
    expect(cache.all()).toBe(answers);
    time.advance(1499);
    expect(cache.all()).toBe(answers);
    expect(cache.find(answers[1]!.provider)).toBe(answers[1]);
    time.advance(1);
    expect(cache.all()).toBeUndefined();
    expect(cache.find(answers[1]!.provider)).toBeUndefined();
  });

  it('a new store starts the time to live again', () => {
    const time = clock();
    const cache = new ProbeCache(time.now, 100);
    cache.store([candidate('a')]);
    time.advance(150);
    expect(cache.all()).toBeUndefined();
    const again = [candidate('a')];
    cache.store(again);
    time.advance(99);
    expect(cache.all()).toBe(again);
  });

  it('finds only the provider asked for, by identity', () => {
    const time = clock();
    const cache = new ProbeCache(time.now);
    const a = candidate('a');
    cache.store([a]);
    expect(cache.find(a.provider)).toBe(a);
    expect(cache.find(candidate('a').provider)).toBeUndefined();
  });

  it('a clock that went backwards makes the answers stale', () => {
    const time = clock();
    const cache = new ProbeCache(time.now);
    cache.store([candidate('a')]);
    time.advance(-1);
    expect(cache.all()).toBeUndefined();
  });
});
