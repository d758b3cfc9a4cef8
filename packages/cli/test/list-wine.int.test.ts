// `keystore keys list` inside Windows Node under Wine, with the real Windows providers installed in the
// workspace. Wine's CNG cannot enumerate keys (NCryptEnumKeys is a stub: ERR_KEYSTORE_UNSUPPORTED_OPERATION);
// that must not hide the CryptoAPI containers, which are listable. The container is made by another
// CryptoAPI program (packages/provider-capi/test/interop/capi-tool.c, built here with mingw-w64).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mingw, repoRoot, runWineExe, runWineNode, wine } from '../../../test-support/wine.js';

const run = `list-${process.pid}-${randomBytes(3).toString('hex')}`;
/** Repo-relative: the Windows process runs with the repository root as its working directory. */
const workDir = `.tmp/cli-list-wine/${run}`;
const exe = `${workDir}/capi-tool.exe`;
const POLICY = `${workDir}/policy.json`;
const MACHINE_POLICY = `${workDir}/machine-policy.json`;
const CONTAINER = `${run}-c`;
const TIMEOUT = 180_000;

const ready = wine.available && mingw.available;
const why = !wine.available ? `needs Wine: ${wine.reason}` : `needs mingw-w64: ${mingw.reason}`;

interface Listing {
  keys: { ref: string; name: string; provider: string; scope: string }[];
  errors: { provider: string; code: string; message: string }[];
}

describe.skipIf(!ready)(`keystore keys list under Wine (${ready ? 'Wine and mingw-w64' : why})`, () => {
  beforeAll(async () => {
    mkdirSync(`${repoRoot}${workDir}`, { recursive: true });
    // Both providers may serve: CryptoAPI allowed, floor low enough for Wine's in-process CNG.
    writeFileSync(`${repoRoot}${POLICY}`, JSON.stringify({ legacyCryptoApi: 'allow', minimumIsolation: 'in-process' }));
    writeFileSync(`${repoRoot}${MACHINE_POLICY}`, '{}');
    const cc = spawnSync(
      mingw.gcc,
      ['-O2', '-Wall', '-o', exe, 'packages/provider-capi/test/interop/capi-tool.c', '-ladvapi32'],
      { cwd: repoRoot, encoding: 'utf8' },
    );
    if (cc.status !== 0) throw new Error(`building capi-tool failed: ${cc.stderr}`);
    const made = await runWineExe(exe, ['create', CONTAINER, '--signature', '--bits', '2048']);
    if (made.code !== 0) throw new Error(`capi-tool create: exit ${made.code}: ${made.stdout} ${made.stderr}`);
  }, TIMEOUT);

  afterAll(async () => {
    await runWineExe(exe, ['delete', CONTAINER]).catch(() => undefined);
    rmSync(`${repoRoot}${workDir}`, { recursive: true, force: true });
  }, 60_000);

  it(
    "lists the C program's CryptoAPI container while CNG cannot list, reports CNG's error, exits 5",
    async () => {
      const r = await runWineNode(['packages/cli/dist/bin.js', 'keys', 'list', '--policy', POLICY, '--json'], {
        env: { KEYSTORE_MACHINE_POLICY: MACHINE_POLICY },
        timeoutMs: TIMEOUT - 10_000,
      });
      expect(r.code, r.stderr).toBe(5);
      const listing = JSON.parse(r.stdout) as Listing;
      expect(listing.keys).toContainEqual(
        expect.objectContaining({ ref: `keystore:capi:user:${CONTAINER}`, provider: 'capi', scope: 'user' }),
      );
      expect(listing.errors).toEqual([
        expect.objectContaining({ provider: 'cng', code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION' }),
      ]);
      expect(r.stderr).toMatch(/^keystore: cng could not list its keys: .+ \(ERR_KEYSTORE_UNSUPPORTED_OPERATION\)$/m);
    },
    TIMEOUT,
  );

  it(
    "with --provider cng alone, CNG's error is the answer (exit 5, the error object)",
    async () => {
      const r = await runWineNode(
        ['packages/cli/dist/bin.js', 'keys', 'list', '--provider', 'cng', '--policy', POLICY, '--json'],
        { env: { KEYSTORE_MACHINE_POLICY: MACHINE_POLICY }, timeoutMs: TIMEOUT - 10_000 },
      );
      expect(r.code, r.stderr).toBe(5);
      expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      );
    },
    TIMEOUT,
  );
});
