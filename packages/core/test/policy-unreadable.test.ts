// An unreadable policy file is ERR_KEYSTORE_ACCESS_DENIED. Root reads anything, so when the suite
// runs as root (as CI does), the check runs in a child process dropped to an unprivileged user
// with setpriv, against the built package.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const testingDist = fileURLToPath(new URL('../dist/testing/index.js', import.meta.url));
const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

describe.runIf(isRoot && process.platform === 'linux')('unreadable policy files, as an unprivileged user', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keystore-unreadable-'));
  chmodSync(dir, 0o755);
  const file = join(dir, 'policy.json');
  writeFileSync(file, '{}');
  chmodSync(file, 0o000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!hasSetpriv)(
    'loadPolicyFile and loadMachinePolicy reject with ERR_KEYSTORE_ACCESS_DENIED (needs setpriv)',
    () => {
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
      const out = execFileSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
        { encoding: 'utf8' },
      );
      expect(JSON.parse(out)).toEqual(['ERR_KEYSTORE_ACCESS_DENIED', 'ERR_KEYSTORE_ACCESS_DENIED']);
    },
  );
});
