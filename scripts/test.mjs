// `npm test` (after the build): the parallel test project, then the serial one (timing-sensitive
// tests, run alone), then one summary line. Extra arguments go to both vitest runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const reports = `${root}.tmp/test-results`;
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const totals = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
for (const project of ['main', 'serial']) {
  const out = `${reports}/${project}.json`;
  const run = spawnSync(
    process.execPath,
    [
      vitest,
      'run',
      '--project',
      project,
      '--reporter=default',
      '--reporter=json',
      `--outputFile=${out}`,
      ...process.argv.slice(2),
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (run.status !== 0) status = run.status ?? 1;
  try {
    const r = JSON.parse(readFileSync(out, 'utf8'));
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
    // Everything that neither passed nor failed did not run: skipped, todo, and the tests of a
    // skipped group that vitest leaves pending.
    totals.skipped += r.numTotalTests - r.numPassedTests - r.numFailedTests;
  } catch {
    if (status === 0) status = 1; // no report: the run did not complete
  }
}
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(status);
