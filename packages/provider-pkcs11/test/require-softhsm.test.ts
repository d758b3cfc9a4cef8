// KEYSTORE_REQUIRE_SOFTHSM=1 (set by CI) turns "SoftHSM2 or the interop tools are missing" from a skip
// into a failure, so that CI cannot stay green without having run the PKCS#11 suites. Each case runs
// vitest in a child process on the files that decide whether SoftHSM2 is here, with a PATH that holds
// only node and sh: softhsm2-util, pkcs11-tool and openssl are then missing whatever this machine has.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const sh = ['/bin/sh', '/usr/bin/sh'].find((p) => spawnSync(p, ['-c', 'true']).status === 0);
const files = [
  'packages/provider-pkcs11/test/conformance.int.test.ts',
  'packages/provider-pkcs11/test/interop.int.test.ts',
  'packages/provider-pkcs11/test/provider.int.test.ts',
];

interface SuiteReport {
  numFailedTestSuites: number;
  numFailedTests: number;
  numPassedTests: number;
  numPendingTests: number;
  testResults: { name: string; status: string; message: string }[];
}

describe.skipIf(process.platform !== 'linux' || !sh)('KEYSTORE_REQUIRE_SOFTHSM (needs Linux and /bin/sh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keystore-require-softhsm-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(sh as string, join(bin, 'sh'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (name: string, env: Record<string, string>): SuiteReport => {
    const out = join(dir, `${name}.json`);
    const { KEYSTORE_REQUIRE_SOFTHSM: _, ...base } = process.env;
    spawnSync(
      process.execPath,
      [vitest, 'run', '--project', 'main', '--reporter=json', `--outputFile=${out}`, ...files],
      { cwd: root, env: { ...base, ...env, PATH: bin }, encoding: 'utf8', timeout: 170_000 },
    );
    return JSON.parse(readFileSync(out, 'utf8')) as SuiteReport;
  };

  it('without it, a machine without SoftHSM2 skips the PKCS#11 files and nothing fails', { timeout: 180_000 }, () => {
    const report = run('skip', {});
    expect(report.numFailedTestSuites).toBe(0);
    expect(report.numFailedTests).toBe(0);
    expect(report.numPassedTests).toBe(0);
    expect(report.numPendingTests).toBeGreaterThan(0);
  });

  it('with KEYSTORE_REQUIRE_SOFTHSM=1, every such file fails and says why', { timeout: 180_000 }, () => {
    const report = run('require', { KEYSTORE_REQUIRE_SOFTHSM: '1' });
    expect(report.testResults).toHaveLength(files.length);
    for (const result of report.testResults) {
      expect(result.status, result.name).toBe('failed');
      expect(result.message, result.name).toContain('KEYSTORE_REQUIRE_SOFTHSM=1');
    }
    expect(report.numPassedTests).toBe(0);
  });
});
