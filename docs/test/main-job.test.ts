// The README's first command ends in `npm start`: a sentence saying what it will show, a quiet build,
// `keystore doctor`, then the basic example. It must succeed on a machine with no OS key store and no
// TPM configured, say plainly what it did, and show the build's output only when the build fails.
//
// The build step runs `npm run build` through npm_execpath (the npm that started `npm start`); these
// tests point npm_execpath at a stand-in script, so that they do not rebuild the workspace (the test
// run has built it already) and can make the build fail on purpose.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm start (scripts/main.mjs, after `npm run build`)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keystore-main-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A stand-in for npm's CLI: prints `lines` lines of noise (as a build does) and exits with `code`. */
  function fakeNpm(name: string, lines: number, code: number): string {
    const file = join(dir, `${name}.cjs`);
    writeFileSync(
      file,
      `const args = process.argv.slice(2).join(' ');
for (let i = 0; i < ${lines}; i++) console.log('BUILD-NOISE ' + i + ' (' + args + ')');
console.error('BUILD-STDERR');
process.exit(${code});
`,
    );
    return file;
  }

  function start(npmCli: string) {
    const machinePolicy = join(dir, 'machine-policy.json');
    writeFileSync(machinePolicy, '{}');
    const env: NodeJS.ProcessEnv = { ...process.env, KEYSTORE_MACHINE_POLICY: machinePolicy, npm_execpath: npmCli };
    delete env.TSS2_FAPICONF; // as on a machine with no TPM configured
    return spawnSync(process.execPath, ['scripts/main.mjs'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  }

  it('says what it will show, keeps the build quiet, runs keystore doctor, then the basic example, and exits 0', () => {
    const run = start(fakeNpm('quiet-build', 280, 0));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // The first line is a sentence about what follows, not build output.
    expect(run.stdout.split('\n')[0]).toMatch(/^This builds the keystore packages, then shows/);
    expect(run.stdout).not.toMatch(/BUILD-NOISE|BUILD-STDERR/);
    expect(run.stdout).toMatch(
      /^Building the packages \(this can take a few minutes; output shown only if the build fails\)… done\.$/m,
    );
    expect(run.stdout).toMatch(/^\$ keystore doctor$/m);
    expect(run.stdout).toMatch(/^Providers:$/m);
    expect(run.stdout).toMatch(/^Effective policy/m);
    // Under the default floor nothing here qualifies, and the job says why the example then uses a
    // development policy.
    expect(run.stdout).toMatch(/doctor exit 3: no installed provider meets the default isolation floor/);
    expect(run.stdout).toMatch(/^Verified with node:crypto: valid$/m);
    expect(run.stdout).toMatch(/lived in JavaScript memory/);
  });

  it('when the build fails: prints its whole output and the failing command, runs nothing else, exits non-zero', () => {
    const run = start(fakeNpm('failing-build', 50, 2));
    expect(run.status).toBe(2);
    expect(run.stdout).toMatch(/… failed\.$/m);
    expect(run.stderr).toMatch(/^BUILD-NOISE 0 \(run build\)$/m);
    expect(run.stderr).toMatch(/^BUILD-NOISE 49 \(run build\)$/m);
    expect(run.stderr).toMatch(/^BUILD-STDERR$/m);
    expect(run.stderr).toMatch(/`npm run build` failed \(exit code 2\); its output is above/);
    expect(run.stdout).not.toMatch(/^\$ keystore doctor$/m);
  });
});
