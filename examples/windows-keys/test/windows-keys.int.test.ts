// The Windows example, run as a process inside Windows Node under Wine with the workspace's built
// packages. Wine's CNG is in-process and Wine has no TPM, so the key lands in CNG only when the floor
// is lowered to in-process, and the example says that is what happened.
import { describe, expect, it } from 'vitest';
import { runWineNode, wine } from '../../../test-support/wine.js';
import { floorFrom } from '../src/main.js';

describe('floorFrom', () => {
  it('defaults to os-isolated and refuses what is not a level', () => {
    expect(floorFrom([])).toBe('os-isolated');
    expect(floorFrom(['--floor', 'in-process'])).toBe('in-process');
    expect(() => floorFrom(['--floor', 'strong'])).toThrow(/isolation level/);
  });
});

describe.skipIf(!wine.available)(`examples/windows-keys in Windows Node (needs Wine: ${wine.reason})`, () => {
  it('with the default floor: every provider refused with its reason, no key made, exit 1', async () => {
    const run = await runWineNode(['examples/windows-keys/dist/main.js']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/^tpm: refused: .*TBS_E_TPM_NOT_FOUND/m);
    expect(run.stdout).toMatch(/^cng: refused: .*achieves in-process, below the floor os-isolated/m);
    expect(run.stdout).toMatch(/^capi: refused: legacy CryptoAPI is denied by policy/m);
    expect(run.stdout).toMatch(/nothing was created/);
  });

  it('with --floor in-process: a CNG key, receipted in-process because of Wine, signs and verifies; CryptoAPI still refused', async () => {
    const run = await runWineNode(['examples/windows-keys/dist/main.js', '--floor', 'in-process']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/NOTE: the isolation floor is lowered to in-process/);
    expect(run.stdout).toMatch(/^cng: eligible/m);
    expect(run.stdout).toMatch(/^capi: refused: legacy CryptoAPI is denied by policy/m);
    expect(run.stdout).toMatch(/^Created keystore:cng:user:example-windows-\d+: isolation in-process$/m);
    expect(run.stdout).toMatch(/Wine .*runs inside this process/);
    expect(run.stdout).toMatch(/Signature verified with node:crypto: valid/);
  });
});
