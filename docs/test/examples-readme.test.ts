// Every example folder has a README that says what it shows, how to run it and what it needs, and the
// files it names exist: the entry it runs (after `npm run build`) and the test that runs it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const examples = readdirSync(join(root, 'examples'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(root, 'examples', e.name, 'package.json')))
  .map((e) => e.name);

describe('examples/*/README.md', () => {
  it('finds the examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['basic', 'tpm-sign', 'windows-keys']));
  });

  it.each(examples)('examples/%s has a README: what it shows, how to run it, what it needs', (name) => {
    const file = join(root, 'examples', name, 'README.md');
    expect(existsSync(file), `${file} is missing`).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(new RegExp(`^# Example: ${name}$`, 'm'));
    expect(text).toMatch(/^What it shows: /m);
    expect(text).toMatch(/^## Run it$/m);
    expect(text).toMatch(/^## What it needs$/m);
    // The entry it runs is the one the build makes.
    expect(text).toContain(`examples/${name}/dist/main.js`);
    expect(existsSync(join(root, 'examples', name, 'dist', 'main.js'))).toBe(true);
    // Every repository path it names exists.
    for (const [, path] of text.matchAll(/`((?:examples|scripts)\/[^`\s]+)`/g)) {
      if (path === undefined || path.includes('dist/')) continue;
      expect(existsSync(join(root, path)), `${name}/README.md names ${path}`).toBe(true);
    }
    for (const [, path] of text.matchAll(/`(src\/[^`\s]+)`/g)) {
      expect(existsSync(join(root, 'examples', name, path as string)), `${name}/README.md names ${path}`).toBe(true);
    }
  });
});
