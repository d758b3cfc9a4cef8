// Which provider packages the CLI runs: only those installed beside it, and never one the policy
// refuses. Each planted or refused package writes a marker file when imported, so "never imported"
// is observed, not inferred.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse, Sandbox, writePackage } from './helpers.js';

interface Row {
  id: string;
  status: string;
  available: boolean;
  package: string | null;
  packagePath: string | null;
  version: string | null;
  policyReasons: string[];
  reasons: string[];
  loadError?: string;
}
interface Doctor {
  providers: Row[];
  selected: string | null;
  warnings: string[];
}

describe('provider packages outside the CLI installation are never imported', () => {
  let box: Sandbox;
  let parent: string;
  beforeEach(() => {
    box = new Sandbox();
    // A world-writable parent of the working directory with a planted package in its node_modules.
    parent = mkdtempSync(join(tmpdir(), 'keystore-planted-'));
    mkdirSync(join(parent, 'work'));
  });
  afterEach(() => {
    box.cleanup();
    rmSync(parent, { recursive: true, force: true });
  });

  it('ignores @keystore/provider-* in node_modules of the working directory and its parents, and KEYSTORE_PROVIDERS_DIR', () => {
    const marker = join(parent, 'imported');
    writePackage(join(parent, 'node_modules', '@keystore', 'provider-planted'), 'planted', marker);
    writePackage(join(parent, 'work', 'node_modules', '@keystore', 'provider-planted2'), 'planted2', marker);
    const cwd = join(parent, 'work');
    const env = { KEYSTORE_PROVIDERS_DIR: join(parent, 'node_modules') };
    box.machinePolicy({ minimumIsolation: 'hardware' });

    const doctor = box.run(['doctor', '--json'], { cwd, env });
    const d = parse<Doctor>(doctor);
    expect(d.providers.map((p) => p.id)).not.toContain('planted');
    expect(d.providers.map((p) => p.id)).not.toContain('planted2');
    expect(d.selected).not.toBe('planted');

    // Under a hardware floor the planted package (claiming hardware) would have won the new key.
    const create = box.run(['keys', 'create', 'k', '--algorithm', 'ECDSA-P256', '--json'], { cwd, env });
    expect(create.code).not.toBe(0);
    const named = box.run(['keys', 'create', 'k', '--algorithm', 'ECDSA-P256', '--provider', 'planted', '--json'], {
      cwd,
      env,
    });
    expect(parse<{ error: { code: string } }>(named).error.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(named.code).toBe(3);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('provider packages the policy refuses are listed but never imported', () => {
  let box: Sandbox;
  beforeEach(() => {
    box = new Sandbox();
  });
  afterEach(() => box.cleanup());

  it('imports a package installed beside the CLI (the marker works)', () => {
    const marker = box.path('imported');
    const dir = box.installMarkerProvider('extra', marker);
    const d = parse<Doctor>(box.run(['doctor', '--json']));
    expect(existsSync(marker)).toBe(true);
    expect(d.providers.find((p) => p.id === 'extra')).toMatchObject({
      package: '@keystore/provider-extra',
      packagePath: dir,
      version: '6.6.6',
      available: true,
    });
    const text = box.run(['doctor']).stdout;
    expect(text).toContain(`    package:   @keystore/provider-extra@6.6.6 from ${dir}`);
  });

  it.each([
    ['the machine policy denies it', { providers: { deny: ['extra'] } }, '/providers/deny'],
    ['the machine policy allows only others', { providers: { allow: ['fake'] } }, '/providers/allow'],
  ])('%s', (_name, policy, rule) => {
    const marker = box.path('imported');
    const dir = box.installMarkerProvider('extra', marker);
    box.machinePolicy(policy);
    const r = box.run(['doctor', '--json']);
    const row = parse<Doctor>(r).providers.find((p) => p.id === 'extra');
    expect(row).toMatchObject({ status: 'disabled-by-policy', available: false, packagePath: dir, version: '6.6.6' });
    expect(row?.policyReasons.join(' ')).toContain(rule);
    expect(row?.policyReasons.join(' ')).toContain(box.machinePolicyFile);
    const named = box.run(['keys', 'list', '--provider', 'extra', '--json']);
    expect(parse<{ error: { code: string } }>(named).error.code).toBe('ERR_KEYSTORE_POLICY_VIOLATION');
    expect(existsSync(marker)).toBe(false);
  });

  it('a legacy CryptoAPI package (id capi) is not imported under the default policy; an app policy that allows it loads it', () => {
    const marker = box.path('imported');
    box.installMarkerProvider('capi', marker);
    const row = parse<Doctor>(box.run(['doctor', '--json'])).providers.find((p) => p.id === 'capi');
    expect(row).toMatchObject({ status: 'disabled-by-policy', available: false });
    expect(row?.policyReasons.join(' ')).toContain('/legacyCryptoApi');
    expect(existsSync(marker)).toBe(false);
    const allow = box.write('allow.json', { legacyCryptoApi: 'allow', minimumIsolation: 'none' });
    box.run(['doctor', '--json', '--policy', allow]);
    expect(existsSync(marker)).toBe(true);
  });

  it('a package declaring "keystore": { "legacyCryptoApi": true } is not imported under the default policy', () => {
    const marker = box.path('imported');
    box.installMarkerProvider('oldapi', marker, { keystore: { legacyCryptoApi: true } });
    const row = parse<Doctor>(box.run(['doctor', '--json'])).providers.find((p) => p.id === 'oldapi');
    expect(row?.status).toBe('disabled-by-policy');
    expect(existsSync(marker)).toBe(false);
  });

  it('the policy is judged on the id a package declares; a provider answering to another id is refused', () => {
    const marker = box.path('imported');
    // Declares "extra" (allowed) but its provider says "tpm".
    box.installMarkerProvider('tpm', marker);
    const dir = join(box.providersDir as string, '@keystore', 'provider-extra');
    writePackage(dir, 'tpm', marker, { name: '@keystore/provider-extra' });
    box.machinePolicy({ providers: { deny: ['tpm'] } });
    const d = parse<Doctor>(box.run(['doctor', '--json']));
    const extra = d.providers.find((p) => p.package === '@keystore/provider-extra');
    expect(extra?.status).toBe('unavailable');
    expect(extra?.loadError).toContain("its provider's id is 'tpm'");
    expect(d.providers.find((p) => p.id === 'tpm')?.status).toBe('disabled-by-policy');
  });
});

describe('doctor warns about TSS2_LOG levels that print TPM auth values', () => {
  let box: Sandbox;
  beforeEach(() => {
    box = new Sandbox();
  });
  afterEach(() => box.cleanup());

  it.each([
    ['all+trace', true],
    ['fapi+debug', true],
    ['esys+none,tcti+DEBUG', true],
    ['all+none', false],
    ['all+error,fapi+info', false],
  ])('TSS2_LOG=%s → warning: %s', (value, warned) => {
    const env = { TSS2_LOG: value };
    const d = parse<Doctor>(box.run(['doctor', '--provider', 'memory', '--json'], { env }));
    expect(d.warnings.some((w) => w.includes('TSS2_LOG'))).toBe(warned);
    const text = box.run(['doctor', '--provider', 'memory'], { env }).stdout;
    expect(/^Warning: TSS2_LOG=/m.test(text)).toBe(warned);
  });

  it('no warning without TSS2_LOG', () => {
    expect(parse<Doctor>(box.run(['doctor', '--provider', 'memory', '--json'])).warnings).toEqual([]);
  });
});
