// KEYSTORE_REQUIRE_SWTPM=1 (set by CI) turns "the TPM tools are missing" from a skip into a failure, so
// that CI cannot stay green without having run the TPM suites. Each case runs vitest in a child
// process, on files that decide whether swtpm is here, with a PATH that holds only node and sh: the
// simulator and tpm2-tools are then missing whatever this machine has installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const sh = ['/bin/sh', '/usr/bin/sh'].find((p) => spawnSync(p, ['-c', 'true']).status === 0);
// The files that decide, each in its own way, whether the simulator is here.
const files = [
  'packages/provider-tpm/test/stall.int.test.ts',
  'packages/cli/test/tpm.int.test.ts',
  'examples/tpm-sign/test/tpm-sign.int.test.ts',
];

interface SuiteReport {
  numFailedTestSuites: number;
  numFailedTests: number;
  numPassedTests: number;
  numPendingTests: number;
  testResults: { name: string; status: string; message: string }[];
}

describe.skipIf(process.platform !== 'linux' || !sh)('KEYSTORE_REQUIRE_SWTPM (needs Linux and /bin/sh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keystore-require-swtpm-'));
  const bin = join(dir, 'bin');
  spawnSync('mkdir', [bin]);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(sh as string, join(bin, 'sh'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (name: string, env: Record<string, string>): SuiteReport => {
    const out = join(dir, `${name}.json`);
    const { KEYSTORE_REQUIRE_SWTPM: _, ...base } = process.env;
    spawnSync(
      process.execPath,
      [vitest, 'run', '--project', 'main', '--reporter=json', `--outputFile=${out}`, ...files],
      { cwd: root, env: { ...base, ...env, PATH: bin }, encoding: 'utf8', timeout: 170_000 },
    );
    return JSON.parse(readFileSync(out, 'utf8')) as SuiteReport;
  };

  it('without it, a machine without swtpm skips the TPM files and nothing fails', { timeout: 180_000 }, () => {
    const report = run('skip', {});
    expect(report.numFailedTestSuites).toBe(0);
    expect(report.numFailedTests).toBe(0);
    expect(report.numPassedTests).toBe(0);
    expect(report.numPendingTests).toBeGreaterThan(0);
  });

  it('with KEYSTORE_REQUIRE_SWTPM=1, every such file fails and says why', { timeout: 180_000 }, () => {
    const report = run('require', { KEYSTORE_REQUIRE_SWTPM: '1' });
    expect(report.testResults).toHaveLength(files.length);
    for (const result of report.testResults) {
      expect(result.status, result.name).toBe('failed');
      expect(result.message, result.name).toContain('KEYSTORE_REQUIRE_SWTPM=1');
    }
    expect(report.numPassedTests).toBe(0);
  });
});
