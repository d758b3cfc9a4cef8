// The Group Policy template end to end under Wine: for every policy of the generated ADMX, the test
// writes the registry values that enabling it writes (reg.exe in the Wine prefix, under
// HKLM\SOFTWARE\Policies\keystore), and `keystore policy effective --json` in Windows Node reads
// them back with source `registry`; disabling (Group Policy deletes the values) or never configuring
// (no key) leaves every field to the other layers. One Windows Node process runs every round, spawning
// the CLI once per round.
//
// It runs in the serial project (alone, after the main suite): it writes the real policy key, which
// other Wine tests read. Needs Wine and the built CLI (npm run build).
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, runWineExe, runWineScript, wine } from '../../../test-support/wine.js';
import { policyTemplates } from '../src/admx.js';
import { type AdmxPolicy, checkTemplates } from './admx-xml.js';

const KEY = 'HKLM\\SOFTWARE\\Policies\\keystore';
const BIN = 'packages/cli/dist/bin.js';

/** What one round writes: a value per enabled policy (`null`: delete it, as disabling does). */
type Round = Record<string, { type: string; data: string } | null>;

interface Effective {
  policy: Record<string, unknown>;
  sources: Record<string, string>;
  registryPolicyKey: string | null;
}

const pointerOf = (name: string) => policyTemplates().policies.find((p) => p.name === name)?.pointer as string;

function valueAt(policy: Record<string, unknown>, pointer: string): unknown {
  let value: unknown = policy;
  for (const segment of pointer.slice(1).split('/')) value = (value as Record<string, unknown> | undefined)?.[segment];
  return value;
}

/**
 * The registry value enabling `policy` writes, as the ADMX says, with the value the field should then
 * have: the strictest choice, since a machine policy only tightens the defaults (a looser one would
 * show the default winning, not the registry being read).
 */
function enabled(policy: AdmxPolicy, checked: boolean): { type: string; data: string; expected: unknown } {
  const { element } = policy;
  switch (element.kind) {
    case 'enum': {
      const item = element.items[element.items.length - 1] as string;
      const strict = policy.name === 'LegacyCryptoApi' ? 'deny' : item;
      expect(element.items).toContain(strict);
      return { type: 'REG_SZ', data: strict, expected: strict };
    }
    case 'multiText': {
      const lists: Record<string, string[]> = {
        ProvidersAllow: ['cng', 'tpm'],
        ProvidersDeny: ['capi', 'memory'],
        ProvidersPrefer: ['tpm'],
        AllowedAlgorithms: ['RSA-3072', 'ECDSA-P256'], // in the order keystore lists algorithms
        AllowedScopes: ['machine'],
      };
      const list = lists[policy.name];
      if (list === undefined) throw new Error(`no test list for the new multiText policy ${policy.name}`);
      return { type: 'REG_MULTI_SZ', data: list.join('\\0'), expected: list };
    }
    case 'decimal': {
      const bits = (element.minValue ?? 0) * 3;
      return { type: 'REG_DWORD', data: String(bits), expected: bits };
    }
    case 'boolean':
      // The check box cleared writes falseValue 0; set, trueValue 1 (which the default false caps).
      return { type: 'REG_DWORD', data: checked ? '1' : '0', expected: false };
    default:
      throw new Error(`${policy.name}: element ${element.kind} is not covered by this test`);
  }
}

describe.skipIf(!wine.available)(`the ADMX policies under Wine (needs Wine: ${wine.reason})`, () => {
  let cleaned = false;
  afterAll(async () => {
    if (!cleaned) await runWineExe('reg', ['delete', KEY, '/f']).catch(() => undefined);
  }, 60_000);

  it('every policy, enabled, reaches keystore policy effective with source registry; disabled or not configured, none does', async () => {
    if (!existsSync(`${repoRoot}${BIN}`)) throw new Error(`${BIN} is missing: run npm run build first`);
    const { admx, adml } = policyTemplates();
    const { problems, policies } = checkTemplates(admx, adml);
    expect(problems).toEqual([]);
    const strict: Round = {};
    const checked: Round = {};
    const disabled: Round = {};
    for (const p of policies) {
      expect(p.key).toBe(KEY.replace(/^HKLM\\/, ''));
      const { type, data } = enabled(p, false);
      strict[p.element.valueName] = { type, data };
      checked[p.element.valueName] = { type, data: enabled(p, true).data };
      disabled[p.element.valueName] = null;
    }
    const rounds: (Round | 'no key')[] = [strict, checked, disabled, 'no key'];
    const started = Date.now();
    const result = await runWineScript(
      `
const { execFileSync, spawnSync } = require('child_process');
const key = ${JSON.stringify(KEY)};
const reg = (...args) => execFileSync('reg', args, { stdio: 'ignore' });
const rounds = ${JSON.stringify(rounds)};
const out = [];
try {
  for (const round of rounds) {
    if (round === 'no key') { try { reg('delete', key, '/f'); } catch {} }
    else for (const [name, value] of Object.entries(round)) {
      if (value === null) { try { reg('delete', key, '/v', name, '/f'); } catch {} }
      else reg('add', key, '/v', name, '/t', value.type, '/d', value.data, '/f');
    }
    const run = spawnSync(process.execPath, [${JSON.stringify(BIN)}, 'policy', 'effective', '--json'], { encoding: 'utf8' });
    out.push({ code: run.status, stdout: run.stdout, stderr: run.stderr });
  }
} finally {
  try { reg('delete', key, '/f'); } catch {}
}
console.log(JSON.stringify(out));
`,
      { timeoutMs: 180_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    cleaned = true;
    const runs = result.json as { code: number; stdout: string; stderr: string }[];
    expect(runs).toHaveLength(rounds.length);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const [onStrict, onChecked, onDisabled, onNoKey] = runs.map((r) => JSON.parse(r.stdout) as Effective);

    for (const p of policies) {
      const pointer = pointerOf(p.name);
      expect(onStrict?.sources[pointer], `${p.name} enabled`).toBe('registry');
      expect(valueAt(onStrict?.policy ?? {}, pointer), `${p.name} enabled`).toEqual(enabled(p, false).expected);
      if (p.element.kind === 'boolean') {
        // Accepted (exit 0, not an invalid policy), and capped by the default false.
        expect(onChecked?.sources[pointer], `${p.name} checked`).toBe('default');
        expect(valueAt(onChecked?.policy ?? {}, pointer)).toBe(false);
      }
      expect(onDisabled?.sources[pointer], `${p.name} disabled`).toBe('default');
      expect(onNoKey?.sources[pointer], `${p.name} not configured`).toBe('default');
    }
    expect(onStrict?.registryPolicyKey).toBe(KEY);
    expect(onNoKey?.registryPolicyKey).toBeNull();
    console.info(
      `ADMX round trip under Wine: ${policies.length} policies, ${rounds.length} rounds, ${Date.now() - started} ms`,
    );
  }, 240_000);
});
