// The Windows example, run as a process: inside Windows Node under Wine with the workspace's built
// packages (Wine's CNG is in-process and Wine has no TPM, so the key lands in CNG only when the floor
// is lowered to in-process, and the example says why and what Wine cannot do), and with this
// machine's Node for what does not depend on Windows (a bad flag, packages that are not built).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runWineNode, wine } from '../../../test-support/wine.js';
import { floorFrom, UsageError } from '../src/example.js';

const dist = fileURLToPath(new URL('../dist', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** stderr's lines, without the empty one after the last newline. */
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('floorFrom', () => {
  it('defaults to os-isolated, takes a level, and answers anything else with a UsageError', () => {
    expect(floorFrom([])).toBe('os-isolated');
    expect(floorFrom(['--floor', 'in-process'])).toBe('in-process');
    expect(() => floorFrom(['--floor', 'ultra'])).toThrow(UsageError);
    expect(() => floorFrom(['--floor', 'ultra'])).toThrow(/--floor takes one of none, in-process, .* \(got 'ultra'\)/);
    expect(() => floorFrom(['--floor'])).toThrow(UsageError);
    expect(() => floorFrom(['--flor', 'none'])).toThrow(/unknown argument '--flor'/);
  });
});

describe("examples/windows-keys with this machine's Node (after `npm run build`)", () => {
  it('a bad flag: one usage line on stderr, exit 2', () => {
    const run = spawnSync(process.execPath, [join(dist, 'main.js'), '--floor', 'ultra'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(lines(run.stderr)).toEqual([
      "windows-keys: --floor takes one of none, in-process, os-isolated, os-protected, virtualization, hardware (got 'ultra'); usage: node examples/windows-keys/dist/main.js [--floor LEVEL]",
    ]);
    expect(run.stdout).toBe('');
  });

  it('packages that are not built (here: not found at all): one line saying to build, exit 3', () => {
    // The example's own build, copied where no @keystore package can be found.
    const dir = mkdtempSync(join(tmpdir(), 'keystore-windows-keys-'));
    try {
      cpSync(dist, join(dir, 'dist'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
      const run = spawnSync(process.execPath, [join(dir, 'dist', 'main.js')], { cwd: dir, encoding: 'utf8' });
      expect(run.status).toBe(3);
      const [only, ...more] = lines(run.stderr);
      expect(more).toEqual([]);
      expect(only).toMatch(
        /^windows-keys: the keystore packages are not built \(.*@keystore\/.*\); run `npm run build` at the repository root first$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!wine.available)(`examples/windows-keys in Windows Node (needs Wine: ${wine.reason})`, () => {
  it('with the default floor: says it runs under Wine and what that means, every provider refused with its reason, no key, exit 1', async () => {
    const run = await runWineNode(['examples/windows-keys/dist/main.js']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(
      /^NOTE: running under Wine \S+, not Windows\. Wine has no TPM, and its CNG runs inside this process/m,
    );
    expect(run.stdout).toMatch(/^tpm: refused: .*TBS_E_TPM_NOT_FOUND/m);
    expect(run.stdout).toMatch(/^cng: refused: .*achieves in-process, below the floor os-isolated/m);
    expect(run.stdout).toMatch(/^capi: refused: legacy CryptoAPI is denied by policy/m);
    expect(run.stdout).toMatch(/nothing was created/);
  });

  it('with --floor in-process: CNG selected, a key receipted in-process because of Wine, signs and verifies; why it is not deleted is explained', async () => {
    const run = await runWineNode(['examples/windows-keys/dist/main.js', '--floor', 'in-process']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/NOTE: the isolation floor is lowered to in-process/);
    expect(run.stdout).toMatch(/^cng: selected: /m);
    expect(run.stdout).not.toMatch(/: eligible:/);
    expect(run.stdout).toMatch(/^capi: refused: legacy CryptoAPI is denied by policy/m);
    expect(run.stdout).toMatch(/^Created keystore:cng:user:example-windows-\d+: isolation in-process$/m);
    expect(run.stdout).toMatch(/Wine .*runs inside this process/);
    expect(run.stdout).toMatch(/Signature verified with node:crypto: valid/);
    expect(run.stdout).toMatch(
      /^Not deleted, and nothing to delete: Wine's CNG kept no key \(it ended when its handle was closed\) and has no NCryptDeleteKey \(ERR_KEYSTORE_UNSUPPORTED_OPERATION\)\.$/m,
    );
  });

  it('with --floor ultra: one usage line on stderr, exit 2, no stack trace', async () => {
    const run = await runWineNode(['examples/windows-keys/dist/main.js', '--floor', 'ultra']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toEqual([
      "windows-keys: --floor takes one of none, in-process, os-isolated, os-protected, virtualization, hardware (got 'ultra'); usage: node examples/windows-keys/dist/main.js [--floor LEVEL]",
    ]);
  });
});
