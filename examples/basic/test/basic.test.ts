import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('examples/basic (built example run as a process; needs `npm run build`)', () => {
  it('creates a key, signs, verifies with node:crypto and deletes it', () => {
    expect(existsSync(built), 'examples/basic is not built: run `npm run build` first').toBe(true);
    const run = spawnSync(process.execPath, [built], {
      encoding: 'utf8',
      env: {
        ...process.env,
        KEYSTORE_MACHINE_POLICY: fileURLToPath(new URL('./empty-machine-policy.json', import.meta.url)),
      },
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Created keystore:[a-z]+:user:example-basic-/m);
    expect(run.stdout).toMatch(/^Verified with node:crypto: valid$/m);
    expect(run.stdout).toMatch(/^Deleted keystore:/m);
    const level = /^Isolation achieved: (\S+)$/m.exec(run.stdout)?.[1];
    expect(level).toBeDefined();
    // The example states plainly when the key lived in JavaScript memory.
    if (level === 'none') expect(run.stdout).toMatch(/lived in JavaScript memory/);
  });
});
