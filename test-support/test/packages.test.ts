// What a registry user gets: every public package carries its licence, its changelog and links that
// work on npm; internal ranges accept compatible releases; and the version step never moves a 0.x
// package to 1.0.0 or versions the private examples.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const repoUrl = 'git+https://github.com/keystore-sdk/keystore.git';
const docsBase = 'https://github.com/keystore-sdk/keystore/';

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  keywords?: string[];
  homepage?: string;
  bugs?: { url?: string };
  repository?: { type?: string; url?: string; directory?: string };
  files?: string[];
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const workspaces = ['packages', 'examples'].flatMap((parent) =>
  readdirSync(join(root, parent))
    .filter((name) => existsSync(join(root, parent, name, 'package.json')))
    .map((name) => {
      const dir = `${parent}/${name}`;
      return { dir, manifest: readJson<Manifest>(join(root, dir, 'package.json')) };
    }),
);
const publicPackages = workspaces.filter((w) => !w.manifest.private);
const internalVersions = new Map(workspaces.map((w) => [w.manifest.name, w.manifest.version]));

describe('public package metadata', () => {
  it('finds the eight public packages', () => {
    expect(publicPackages.map((w) => w.manifest.name).sort()).toEqual([
      '@keystore/cli',
      '@keystore/core',
      '@keystore/provider-capi',
      '@keystore/provider-cng',
      '@keystore/provider-pkcs11',
      '@keystore/provider-tpm',
      '@keystore/webcrypto',
      '@keystore/x509',
    ]);
  });

  for (const { dir, manifest } of publicPackages) {
    it(`${manifest.name}: licence, repository, homepage, bugs, keywords, files, prepack`, () => {
      expect(manifest.license).toBe('MIT');
      expect(manifest.repository).toEqual({ type: 'git', url: repoUrl, directory: dir });
      expect(manifest.homepage).toBe(`${docsBase}tree/main/${dir}#readme`);
      expect(manifest.bugs?.url).toBe(`${docsBase}issues`);
      expect(manifest.keywords).toContain('keystore');
      expect(manifest.files).toEqual(expect.arrayContaining(['dist', 'README.md', 'LICENSE', 'CHANGELOG.md']));
      expect(manifest.scripts?.prepack).toBe('npm run build');
    });

    it(`${manifest.name}: LICENSE is the repository's, word for word`, () => {
      expect(readFileSync(join(root, dir, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    });

    it(`${manifest.name}: README links work on npm (absolute, into the repository's default branch)`, () => {
      const readme = readFileSync(join(root, dir, 'README.md'), 'utf8');
      const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
      for (const target of targets) {
        if (target.startsWith('#')) continue;
        expect(target, `link ${target} in ${dir}/README.md`).toMatch(/^https:\/\//);
        if (target.startsWith('https://github.com/')) expect(target.startsWith(docsBase), target).toBe(true);
      }
      expect(readme).toMatch(new RegExp(`npm install [^\\n]*${manifest.name.replace('/', '\\/')}`));
    });
  }

  it('the root LICENSE is MIT with the project copyright', () => {
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(license.startsWith('MIT License\n\nCopyright (c) 2026 the keystore authors\n')).toBe(true);
  });

  it('the TPM README names the system packages, the Windows providers the Windows version', () => {
    const tpm = readFileSync(join(root, 'packages/provider-tpm/README.md'), 'utf8');
    expect(tpm).toContain('libtss2-fapi1');
    expect(tpm).toContain('libtss2-tcti-device0');
    for (const dir of ['packages/provider-cng', 'packages/provider-capi']) {
      expect(readFileSync(join(root, dir, 'README.md'), 'utf8')).toContain('Windows 10 or later');
    }
  });

  it('every internal dependency and peer range is a caret on the current version', () => {
    const ranges: string[] = [];
    for (const { manifest } of workspaces) {
      for (const field of ['dependencies', 'peerDependencies', 'devDependencies', 'optionalDependencies'] as const) {
        for (const [name, range] of Object.entries(manifest[field] ?? {})) {
          const version = internalVersions.get(name);
          if (version === undefined) continue;
          ranges.push(name);
          expect(range, `${manifest.name} ${field} ${name}`).toBe(`^${version}`);
        }
      }
    }
    expect(ranges.length).toBeGreaterThan(10);
  });
});

describe('npm pack', () => {
  for (const { dir, manifest } of publicPackages) {
    it(`${manifest.name}: ships LICENSE, README.md, dist (and CHANGELOG.md when there is one), no tests`, async () => {
      expect(existsSync(join(root, dir, 'dist')), `${dir}/dist is missing: run npm run build first`).toBe(true);
      // --ignore-scripts: prepack would rebuild the package; the build is checked elsewhere.
      const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: join(root, dir),
        maxBuffer: 16 * 1024 * 1024,
      });
      const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
      const paths = packed.files.map((f) => f.path);
      expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
      expect(paths.some((p) => p.startsWith('dist/'))).toBe(true);
      if (existsSync(join(root, dir, 'CHANGELOG.md'))) expect(paths).toContain('CHANGELOG.md');
      expect(paths.filter((p) => /(^|\/)(test|tests|__tests__)\/|\.test\.[cm]?[jt]s$|^src\//.test(p))).toEqual([]);
    });
  }
});

describe('release plan (scripts/release-version.mjs)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'keystore-release-plan-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  interface Release {
    name: string;
    type: string;
    newVersion: string;
  }
  const plan = async (cwd: string) => {
    const { stdout } = await run(
      process.execPath,
      [join(root, 'scripts/release-version.mjs'), '--dir', cwd, '--plan-only'],
      {
        cwd: root,
      },
    );
    return JSON.parse(stdout) as { releases: Release[]; demoted: { name: string }[] };
  };
  const released = (releases: Release[]) =>
    Object.fromEntries(releases.filter((r) => r.type !== 'none').map((r) => [r.name, r.newVersion]));

  /** A small monorepo with the project's changesets config: core, a provider taking it as a peer, a private example. */
  const fixture = (name: string, changesets: Record<string, string>) => {
    const dir = join(scratch, name);
    const write = (path: string, content: unknown) => {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), typeof content === 'string' ? content : JSON.stringify(content));
    };
    write('package.json', { name: 'mono', private: true, workspaces: ['packages/*', 'examples/*'] });
    cpSync(join(root, '.changeset/config.json'), join(dir, '.changeset/config.json'), { recursive: true });
    write('packages/core/package.json', { name: '@keystore/core', version: '0.1.0' });
    write('packages/prov/package.json', {
      name: '@keystore/provider-x',
      version: '0.1.0',
      peerDependencies: { '@keystore/core': '^0.1.0' },
    });
    write('examples/ex/package.json', {
      name: '@keystore/example-x',
      version: '0.0.0',
      private: true,
      dependencies: { '@keystore/core': '^0.1.0', '@keystore/provider-x': '^0.1.0' },
    });
    for (const [file, text] of Object.entries(changesets)) write(`.changeset/${file}.md`, text);
    return dir;
  };

  it('a core minor moves a peer-dependent provider to 0.2.0, not 1.0.0, and leaves the example alone', async () => {
    const dir = fixture('minor', { a: '---\n"@keystore/core": minor\n---\n\nNew API.\n' });
    const result = await plan(dir);
    expect(released(result.releases)).toEqual({ '@keystore/core': '0.2.0', '@keystore/provider-x': '0.2.0' });
    expect(result.demoted.map((d) => d.name)).toEqual(['@keystore/provider-x']);
  });

  it('a core patch stays inside the provider range and releases the provider not at all', async () => {
    const dir = fixture('patch', { a: '---\n"@keystore/core": patch\n---\n\nFix.\n' });
    expect(released((await plan(dir)).releases)).toEqual({ '@keystore/core': '0.1.1' });
  });

  it('a major written in a changeset is kept (release:check then refuses it unless allowed)', async () => {
    const dir = fixture('major', { a: '---\n"@keystore/provider-x": major\n---\n\nStable.\n' });
    expect(released((await plan(dir)).releases)).toEqual({ '@keystore/provider-x': '1.0.0' });
  });

  it("the repository's pending changesets take no public package to 1.0.0 and no private one anywhere", async () => {
    const result = await plan(root);
    for (const r of result.releases) {
      if (r.type === 'none') continue;
      expect(r.newVersion.startsWith('0.'), `${r.name} ${r.newVersion}`).toBe(true);
      expect(publicPackages.map((w) => w.manifest.name)).toContain(r.name);
    }
  });
});
