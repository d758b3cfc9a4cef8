import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('examples/jwt with the in-memory provider (built example run as a process; needs `npm run build`)', () => {
  it('signs a JWT through the facade, verifies it with the public JWK, rejects a tampered one', () => {
    expect(existsSync(built), 'examples/jwt is not built: run `npm run build` first').toBe(true);
    const run = spawnSync(process.execPath, [built, '--memory'], {
      encoding: 'utf8',
      env: {
        ...process.env,
        KEYSTORE_MACHINE_POLICY: fileURLToPath(new URL('./empty-machine-policy.json', import.meta.url)),
      },
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Created keystore:memory:user:example-jwt-\S+ \(isolation: none\)$/m);
    expect(run.stdout).toMatch(/^JWT: [\w-]+\.[\w-]+\.[\w-]+$/m);
    expect(run.stdout).toMatch(/^Verified with the public JWK: sub=device-42$/m);
    expect(run.stdout).toMatch(/^Tampered token rejected: yes$/m);
    expect(run.stdout).toMatch(/^Deleted the key$/m);
  });
});
