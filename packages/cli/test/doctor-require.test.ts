// `keystore doctor --require LEVEL` with the in-memory provider (isolation none): the exit code says
// whether the provider a default request would get reaches the level, and the text says so too.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse, Sandbox } from './helpers.js';

let box: Sandbox;
beforeEach(() => {
  box = new Sandbox();
});
afterEach(() => box.cleanup());

describe('keystore doctor --require', () => {
  it('a level the selected provider reaches: exit 0, met', () => {
    const policy = box.write('dev.json', { minimumIsolation: 'none' });
    const r = box.run(['doctor', '--provider', 'memory', '--policy', policy, '--require', 'none', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parse<{ require: unknown }>(r).require).toEqual({
      level: 'none',
      met: true,
      isolation: 'none',
      provider: 'memory',
    });
  });

  it('a level above it: exit 8 (below required), not met, in JSON and in text', () => {
    const policy = box.write('dev.json', { minimumIsolation: 'none' });
    const args = ['doctor', '--provider', 'memory', '--policy', policy, '--require', 'hardware'];
    const r = box.run([...args, '--json']);
    expect(r.code).toBe(8);
    expect(parse<{ require: { met: boolean } }>(r).require.met).toBe(false);
    const text = box.run(args);
    expect(text.code).toBe(8);
    expect(text.stdout).toContain('Required isolation hardware: NOT met (memory gives none)');
  });
});
