// `npm run release:check`: what would the next release do? Runs `changeset status` and a dry version
// step (scripts/release-version.mjs) in a temporary copy of the repository's manifests and
// changesets, and fails when it would release something unintended:
// - a public package reaching 1.0.0 or any major bump (set KEYSTORE_RELEASE_ALLOW_MAJOR=1 for the
//   release that is meant to be 1.0.0),
// - a private package (the examples, the monorepo root) getting a new version or a changelog,
// - an internal range that the new versions do not satisfy,
// - a changeset that names only private packages (no release can ever consume it).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const changesetBin = join(root, 'node_modules', '.bin', 'changeset');

/** Workspace folders, expanded from the root package.json (`dir/*` globs only). */
function workspaceDirs() {
  const dirs = [];
  for (const pattern of rootManifest.workspaces) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const entry of readdirSync(join(root, parent), { withFileTypes: true })) {
        if (entry.isDirectory() && existsSync(join(root, parent, entry.name, 'package.json'))) {
          dirs.push(`${parent}/${entry.name}`);
        }
      }
    } else {
      dirs.push(pattern);
    }
  }
  return dirs;
}

// semver comes with @changesets/cli; loaded from there so that no dependency is added for it.
const { satisfies } = createRequire(createRequire(import.meta.url).resolve('@changesets/cli'))('semver');
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const problems = [];
const dirs = workspaceDirs();

// `changeset status` fails when a package changed since the base branch without a changeset, and
// lists the plan as Changesets computes it (before the 0.x demotion of release-version.mjs; the
// versions printed by the dry run below are the ones a release gives). A clone without the base
// branch (a shallow CI checkout) is compared with HEAD instead, which checks nothing but the syntax
// of the pending changesets; it says so.
const baseBranch = readJson(join(root, '.changeset', 'config.json')).baseBranch ?? 'main';
let statusArgs = ['status', '--verbose'];
try {
  execFileSync('git', ['rev-parse', '--verify', '--quiet', baseBranch], { cwd: root, stdio: 'ignore' });
} catch {
  console.log(`release:check: no branch ${baseBranch} in this clone; changeset status compares with HEAD`);
  statusArgs = ['status', '--since', 'HEAD'];
}
console.log(`release:check: changeset ${statusArgs.join(' ')}`);
try {
  execFileSync(changesetBin, statusArgs, { cwd: root, stdio: 'inherit' });
} catch {
  problems.push('`changeset status` failed (see above): add a changeset for each changed package');
}

// A changeset is consumed when a package it names is released; private packages are never versioned
// (privatePackages.version is false), so a changeset that names only them stays pending forever.
const readChangesets = createRequire(createRequire(import.meta.url).resolve('@changesets/cli'))(
  '@changesets/read',
).default;
const publicNames = new Set(
  dirs.map((dir) => readJson(join(root, dir, 'package.json'))).flatMap((m) => (m.private ? [] : [m.name])),
);
for (const changeset of await readChangesets(root)) {
  const names = changeset.releases.map((r) => r.name);
  if (names.length > 0 && names.every((name) => !publicNames.has(name))) {
    problems.push(
      `.changeset/${changeset.id}.md names only private packages (${names.join(', ')}): no release can consume it; ` +
        'delete it, or name the public packages it changes',
    );
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'keystore-release-check-'));
try {
  cpSync(join(root, 'package.json'), join(scratch, 'package.json'));
  cpSync(join(root, '.changeset'), join(scratch, '.changeset'), { recursive: true });
  for (const dir of dirs) {
    for (const file of ['package.json', 'CHANGELOG.md']) {
      if (existsSync(join(root, dir, file))) cpSync(join(root, dir, file), join(scratch, dir, file));
    }
  }
  console.log('release:check: dry version step in', scratch);
  execFileSync(process.execPath, [join(root, 'scripts', 'release-version.mjs'), '--dir', scratch], {
    cwd: root,
    stdio: 'inherit',
  });

  const after = new Map();
  for (const dir of ['.', ...dirs]) {
    const before = readJson(join(root, dir, 'package.json'));
    const next = readJson(join(scratch, dir, 'package.json'));
    after.set(next.name, next);
    const changelogBefore = existsSync(join(root, dir, 'CHANGELOG.md'));
    const changelogAfter = existsSync(join(scratch, dir, 'CHANGELOG.md'));
    if (before.private) {
      if (next.version !== before.version || changelogAfter !== changelogBefore) {
        problems.push(`${before.name} is private but would be versioned (${before.version} -> ${next.version})`);
      }
      continue;
    }
    const [majorBefore] = before.version.split('.').map(Number);
    const [majorAfter] = next.version.split('.').map(Number);
    if (majorAfter > majorBefore && process.env.KEYSTORE_RELEASE_ALLOW_MAJOR !== '1') {
      problems.push(`${before.name} would go ${before.version} -> ${next.version} (a major release)`);
    }
  }
  // Every internal range must accept the version released with it, or npm gives ERESOLVE.
  for (const manifest of after.values()) {
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [name, range] of Object.entries(manifest[field] ?? {})) {
        const dep = after.get(name);
        if (dep && !satisfies(dep.version, range)) {
          problems.push(`${manifest.name} ${field} ${name}@${range} does not accept ${dep.version}`);
        }
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

if (problems.length > 0) {
  for (const p of problems) console.error(`release:check: ${p}`);
  process.exit(1);
}
console.log('release:check: ok');
