// `npm run version-packages`: `changeset version`, except that a package still at 0.x is never moved
// to 1.0.0 by a bump that no changeset asked for.
//
// Why: the providers take @keystore/core as a peer (`^0.1.0`). In 0.x a caret covers one minor only,
// so when core goes 0.1 -> 0.2 the peer range is left and Changesets bumps every peer dependent as
// *major*, which for a 0.x package means 1.0.0. A breaking change of a 0.x package is a minor bump
// (that is what the caret encodes), so such a forced major becomes a minor here; the dependents'
// ranges are still moved to the new version (`^0.2.0`). A major written in a changeset is kept, and
// `npm run release:check` refuses it unless the release is meant to be 1.0.0.
//
// Usage: node scripts/release-version.mjs [--dir <repo copy>] [--plan-only (print the plan as JSON, change nothing)]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/** Loads Changesets' own modules from where @changesets/cli resolves them (no extra dependency). */
const fromCli = createRequire(createRequire(import.meta.url).resolve('@changesets/cli'));
const { getPackages } = fromCli('@manypkg/get-packages');
const { read: readConfig } = fromCli('@changesets/config');
const readChangesets = fromCli('@changesets/read').default;
const { readPreState } = fromCli('@changesets/pre');
const assembleReleasePlan = fromCli('@changesets/assemble-release-plan').default;
const applyReleasePlan = fromCli('@changesets/apply-release-plan').default;
const semver = fromCli('semver');

/**
 * Computes the release plan of the repository at `cwd` and demotes forced 0.x majors to minors.
 * Returns the plan and the list of demotions (`{ name, from, to }`).
 */
export async function planRelease(cwd) {
  const packages = await getPackages(cwd);
  const config = await readConfig(cwd, packages);
  const [changesets, preState] = await Promise.all([readChangesets(cwd), readPreState(cwd)]);
  const plan = assembleReleasePlan(changesets, packages, config, preState, undefined);
  const asked = new Set();
  for (const changeset of changesets) {
    for (const release of changeset.releases) if (release.type === 'major') asked.add(release.name);
  }
  const demoted = [];
  for (const release of plan.releases) {
    if (release.type !== 'major' || asked.has(release.name)) continue;
    if (semver.major(release.oldVersion) !== 0) continue;
    const to = semver.inc(release.oldVersion, 'minor');
    demoted.push({ name: release.name, from: release.newVersion, to });
    release.type = 'minor';
    release.newVersion = to;
  }
  return { packages, config, changesets, plan, demoted };
}

async function main() {
  const args = process.argv.slice(2);
  const dirAt = args.indexOf('--dir');
  const cwd = resolve(dirAt >= 0 ? args[dirAt + 1] : process.cwd());
  const { packages, config, changesets, plan, demoted } = await planRelease(cwd);
  if (args.includes('--plan-only')) {
    console.log(JSON.stringify({ releases: plan.releases, demoted }, null, 2));
    return;
  }
  for (const d of demoted) {
    console.log(`release: ${d.name} ${d.to} (a minor, not ${d.from}: a 0.x peer range was left)`);
  }
  if (changesets.length === 0) {
    console.log('release: no unreleased changesets');
    return;
  }
  await applyReleasePlan(plan, packages, { ...config, commit: false }, undefined);
  for (const r of plan.releases) {
    if (r.type !== 'none') console.log(`release: ${r.name} ${r.oldVersion} -> ${r.newVersion}`);
  }
  // The new versions and ranges must reach package-lock.json too, or the next `npm ci` refuses it.
  if (existsSync(join(cwd, 'package-lock.json'))) {
    execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd,
      stdio: 'inherit',
    });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
