// `keystore doctor` inside Windows Node under Wine, with the real Windows providers installed in the
// workspace: the posture section is measured by real calls (wine_get_version, RtlGetVersion,
// Tbsi_GetDeviceInfo, the LSASS lookup, RegGetValueW, NtQuerySystemInformation), and each provider
// says what it can reach there. Wine's answers are not Windows' answers: this shows the command
// reading and reporting them, not what a Windows machine would say.
import { describe, expect, it } from 'vitest';
import { runWineNode, wine } from '../../../test-support/wine.js';
import { doctorSchemaErrors } from './doctor-schema.js';

interface Fact {
  key: string;
  label: string;
  text: string;
  providerId: string;
}
interface Doctor {
  platform: string;
  providers: {
    id: string;
    status: string;
    isolation: string;
    reasons?: string[];
    policyReasons?: string[];
    packagePath: string | null;
    version: string | null;
  }[];
  posture: { facts: Fact[]; isolation: { id: string; status: string; isolation: string }[] };
}

describe.skipIf(!wine.available)(`keystore doctor in Windows Node (needs Wine: ${wine.reason})`, () => {
  it('reports the posture and every Windows provider, with CryptoAPI disabled by the default policy', async () => {
    const run = await runWineNode(['packages/cli/dist/bin.js', 'doctor', '--json']);
    // No provider can serve a default request there (floor os-isolated): exit 3, output still complete.
    expect(run.code, run.stderr).toBe(3);
    const doctor = JSON.parse(run.stdout) as Doctor;
    expect(doctor.platform).toBe('win32');
    expect(doctorSchemaErrors(doctor)).toEqual([]);

    const byId = new Map(doctor.providers.map((p) => [p.id, p]));
    // Refused by the default policy before its package is imported: nothing of it ran here.
    expect(byId.get('capi')).toMatchObject({ status: 'disabled-by-policy', isolation: 'none', available: false });
    expect(byId.get('capi')?.packagePath).toMatch(/provider-capi$/);
    expect(byId.get('cng')?.packagePath).toMatch(/provider-cng$/);
    expect(byId.get('cng')?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(byId.get('capi')?.policyReasons?.join(' ')).toMatch(/legacy CryptoAPI is denied by policy/);
    expect(byId.get('cng')).toMatchObject({ isolation: 'in-process' });
    expect(byId.get('tpm')).toMatchObject({ status: 'unavailable', isolation: 'none' });
    // Not configured (no KEYSTORE_PKCS11_MODULE): unavailable, saying what to set.
    expect(byId.get('pkcs11')).toMatchObject({ status: 'unavailable', isolation: 'none' });

    const fact = (label: string) => doctor.posture.facts.find((f) => f.label === label);
    expect(fact('Running under Wine')?.text).toMatch(/^\d+\.\d+/);
    expect(fact('TPM')?.text).toMatch(/TBS_E_TPM_NOT_FOUND/);
    expect(fact('LSA protection')?.text).toMatch(/^configured: .*; running: /);
    expect(doctor.posture.isolation.map((i) => i.id).sort()).toEqual(['capi', 'cng', 'pkcs11', 'tpm']);
  });

  it('prints the same as text, with the posture section', async () => {
    const run = await runWineNode(['packages/cli/dist/bin.js', 'doctor']);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toMatch(/^Platform: win32 x64/m);
    expect(run.stdout).toMatch(/installed, disabled by policy: legacy CryptoAPI is denied/);
    expect(run.stdout).toMatch(/^Posture:$/m);
    expect(run.stdout).toMatch(/LSA protection: +configured: /);
  });
});
