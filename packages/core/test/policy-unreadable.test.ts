// An unreadable policy file is ERR_KEYSTORE_ACCESS_DENIED. Root reads anything, so when the suite
// runs as root (as CI does), the check runs in a child process dropped to an unprivileged user
// with setpriv, against the built package. That user may not be able to reach the clone (it can
// live under a mode-700 home directory), so the built package is copied into a fresh directory
// that every user can traverse, next to the policy file.
// Run as another user, the two tests in policy.test.ts that make a file unreadable run directly and
// this file has nothing to add. As root without setpriv (util-linux) its test says why it skips; CI
// sets KEYSTORE_REQUIRE_SETPRIV=1 (.ci/run installs util-linux), and there it fails instead.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const builtDist = fileURLToPath(new URL('../dist', import.meta.url));
const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

const required = process.env.KEYSTORE_REQUIRE_SETPRIV === '1';

describe.runIf(isRoot && process.platform === 'linux')('unreadable policy files, as an unprivileged user', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keystore-unreadable-'));
  chmodSync(dir, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.json');
  writeFileSync(file, '{}');
  chmodSync(file, 0o000);
  const copy = join(dir, 'core');
  const dist = join(copy, 'dist/index.js');
  const testingDist = join(copy, 'dist/testing/index.js');
  mkdirSync(copy);
  if (existsSync(builtDist)) {
    // The built package needs only Node's own modules; its package.json says the .js files are ESM.
    cpSync(builtDist, join(copy, 'dist'), { recursive: true });
    writeFileSync(join(copy, 'package.json'), '{"type":"module"}');
  }
  // The unprivileged user must reach the copy and run this Node: only a temporary directory that
  // every user can traverse (TMPDIR) makes that possible.
  const reachable =
    hasSetpriv &&
    spawnSync('setpriv', [...NOBODY, process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(copy)})`])
      .status === 0;

  const missing = hasSetpriv
    ? `a TMPDIR and a Node that uid 65534 can reach: ${dir}, ${process.execPath}`
    : 'setpriv on PATH (Debian package util-linux)';
  it.skipIf(!reachable && !required)(
    `loadPolicyFile and loadMachinePolicy reject with ERR_KEYSTORE_ACCESS_DENIED (${
      reachable ? 'setpriv found' : `needs ${missing}`
    })`,
    () => {
      if (!reachable) {
        throw new Error(
          `KEYSTORE_REQUIRE_SETPRIV=1 but this test cannot run as an unprivileged user: needs ${missing}`,
        );
      }
      expect(existsSync(dist), 'packages/core/dist is missing: run `npm run build` first').toBe(true);
      const script = `
      const { loadPolicyFile, loadMachinePolicy } = await import(${JSON.stringify(dist)});
      const { TEST_POLICY_SOURCES } = await import(${JSON.stringify(testingDist)});
      const codes = [];
      for (const f of [
        () => loadPolicyFile(${JSON.stringify(file)}),
        () => loadMachinePolicy({
          [TEST_POLICY_SOURCES]: { machinePolicy: null, env: { KEYSTORE_MACHINE_POLICY: ${JSON.stringify(file)} } },
        }),
      ]) {
        try { await f(); codes.push('resolved'); } catch (e) { codes.push(e.code); }
      }
      console.log(JSON.stringify(codes));`;
      const out = execFileSync('setpriv', [...NOBODY, process.execPath, '--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      expect(JSON.parse(out)).toEqual(['ERR_KEYSTORE_ACCESS_DENIED', 'ERR_KEYSTORE_ACCESS_DENIED']);
    },
  );
});
