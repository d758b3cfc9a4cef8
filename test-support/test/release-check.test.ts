// `npm run release:check` (scripts/release-check.mjs) on a small repository of its own: one public and
// one private package, a git history, the repository's Changesets config. The script finds the
// repository from its own location, so it runs here from a copy, with the workspace's node_modules.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('release:check (scripts/release-check.mjs)', () => {
  let repo: string;

  beforeAll(() => {
    repo = mkdtempSync(join(tmpdir(), 'keystore-release-check-test-'));
    const write = (path: string, text: string) => {
      mkdirSync(join(repo, path, '..'), { recursive: true });
      writeFileSync(join(repo, path), text);
    };
    const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
    write('package.json', json({ name: 'fixture-root', private: true, workspaces: ['packages/*'] }));
    write('packages/lib/package.json', json({ name: '@fixture/lib', version: '0.1.0' }));
    write('packages/example/package.json', json({ name: '@fixture/example', version: '0.0.0', private: true }));
    mkdirSync(join(repo, 'scripts'));
    for (const script of ['release-check.mjs', 'release-version.mjs']) {
      cpSync(join(root, 'scripts', script), join(repo, 'scripts', script));
    }
    cpSync(join(root, '.changeset', 'config.json'), join(repo, '.changeset', 'config.json'));
    symlinkSync(join(root, 'node_modules'), join(repo, 'node_modules'), 'dir');
    writeFileSync(join(repo, '.gitignore'), 'node_modules\n');
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd: repo });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'fixture');
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  const check = () =>
    spawnSync(process.execPath, ['scripts/release-check.mjs'], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  const changeset = (name: string, packages: string[]) =>
    writeFileSync(
      join(repo, '.changeset', `${name}.md`),
      `---\n${packages.map((p) => `"${p}": patch`).join('\n')}\n---\n\nA change.\n`,
    );

  it('passes with a changeset that names a public package', () => {
    changeset('lib-fix', ['@fixture/lib']);
    const run = check();
    expect(run.stderr).not.toMatch(/names only private packages/);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/release:check: ok/);
  });

  it('fails on a changeset that names only private packages, saying which and why', () => {
    changeset('example-only', ['@fixture/example']);
    const run = check();
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /^release:check: \.changeset\/example-only\.md names only private packages \(@fixture\/example\): no release can consume it/m,
    );
    // The public package's own changeset is not blamed.
    expect(run.stderr).not.toMatch(/lib-fix/);
  });
});
