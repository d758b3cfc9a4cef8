/**
 * The isolation measurement and probe() over a double of the posture bindings
 * (test/helpers/ncrypt-double.ts): Wine, Windows with and without LSA protection, protection that
 * cannot be read, RunAsPPL configured but not running, VBS on new and old builds.
 */
import { isAtLeast } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { CngProvider, describeProtection, measureSoftwareKspPosture, VBS_KEYS_MIN_BUILD } from '../src/index.js';
import { createSystemDouble, POSTURES, SCM, type SystemState } from './helpers/ncrypt-double.js';
import { overDouble } from './helpers/setup.js';

const RUN_AS_PPL = 'SYSTEM\\CurrentControlSet\\Control\\Lsa\\RunAsPPL';
const measure = (state: Partial<SystemState>) => measureSoftwareKspPosture(createSystemDouble(state));

describe('measureSoftwareKspPosture', () => {
  it('under Wine: in-process, with the reason, whatever else the machine reports', () => {
    const posture = measure({ ...POSTURES.wine(), ...POSTURES.vbs(), wine: '8.0' });
    expect(posture).toMatchObject({
      available: true,
      level: 'in-process',
      best: 'in-process',
      virtualization: 'unavailable',
    });
    expect(posture.reasons[0]).toMatch(/Wine's ncrypt runs inside this process/);
    expect(posture.details).toMatchObject({ platform: 'wine', wineVersion: '8.0' });
    expect(posture.evidence.join(' ')).toMatch(/Wine 8\.0/);
  });

  it('under Wine the posture facts are still read, for keystore doctor, and never raise the level', () => {
    const posture = measure({
      ...POSTURES.wine(),
      lsass: { ok: false, status: 1168, reason: 'no lsass.exe' },
      iso: { ok: false, status: 0xc0000003, reason: 'STATUS_INVALID_INFO_CLASS' },
    });
    expect(posture.level).toBe('in-process');
    expect(posture.details.lsaProtection).toMatch(/^configured: not configured; running: unknown/);
    expect(String(posture.details.secureKernelRunning)).toMatch(/^unknown/);
    expect(posture.details.vbsKeys).toBe('unavailable');
    // Even a protected LSASS reading under Wine leaves Wine's in-process ncrypt in-process.
    const protectedReading = measure({ ...POSTURES.wine(), ...POSTURES.ppl() });
    expect(protectedReading.level).toBe('in-process');
    expect(protectedReading.details.lsaProtection).toMatch(/running: 0x41/);
  });

  it('Windows without LSA protection: os-isolated, and the reason says how to get more', () => {
    const posture = measure(POSTURES.windows());
    expect(posture).toMatchObject({ level: 'os-isolated', best: 'os-isolated', virtualization: 'unavailable' });
    expect(posture.details).toMatchObject({
      platform: 'windows',
      windowsBuild: 26100,
      lsassProtection: describeProtection(0),
      runAsPPL: 'not configured',
      secureKernelRunning: false,
      tpm: 'TPM 2.0 (interface hardware)',
    });
    expect(posture.details.lsaProtection).toBe(`configured: not configured; running: no, ${describeProtection(0)}`);
    expect(posture.reasons.some((r) => r.includes('RunAsPPL'))).toBe(true);
  });

  it('LSASS protected now (PS_PROTECTION 0x41): os-protected, with the reading as evidence', () => {
    const posture = measure(POSTURES.ppl());
    expect(posture.level).toBe('os-protected');
    expect(describeProtection(0x41)).toBe('0x41 (light, signer Lsa)');
    expect(posture.evidence.some((e) => e.includes('0x41 (light, signer Lsa)'))).toBe(true);
    expect(posture.details).toMatchObject({ lsassPid: 812, runAsPPL: 2 });
    expect(posture.details.lsaProtection).toMatch(/^configured: 2 .*; running: yes/);
    // Full protection (type 2) counts too; any signer.
    expect(measure({ lsass: { ok: true, value: { pid: 4, protection: 0x62, identifiedBy: SCM } } }).level).toBe(
      'os-protected',
    );
  });

  it('the evidence and details say how LSASS was identified (service control manager, or the session-0 process)', () => {
    const bySCM = measure(POSTURES.ppl());
    expect(bySCM.evidence.some((e) => e.includes('identified through: service control manager (KeyIso)'))).toBe(true);
    expect(bySCM.details.lsassIdentifiedBy).toBe(SCM);
    const how = 'session-0 process at C:\\Windows\\System32\\lsass.exe';
    const bySession = measure({ lsass: { ok: true, value: { pid: 640, protection: 0, identifiedBy: how } } });
    expect(bySession.level).toBe('os-isolated');
    expect(bySession.evidence.some((e) => e.includes(`identified through: ${how}`))).toBe(true);
  });

  it('a protected reading whose bindings do not say how the process was identified does not raise the level', () => {
    const posture = measure({ lsass: { ok: true, value: { pid: 4242, protection: 0x41 } } });
    expect(posture.level).toBe('os-isolated');
    expect(posture.best).toBe('os-isolated');
    expect(posture.details.lsassIdentifiedBy).toBe('not said by the system bindings');
    expect(posture.reasons.some((r) => r.includes('did not say how that process was identified'))).toBe(true);
    expect(posture.evidence.some((e) => e.includes('runs as a protected process now'))).toBe(false);
  });

  it('protection that cannot be read: os-isolated, saying it could not be read', () => {
    const posture = measure(POSTURES.pplUnreadable());
    expect(posture.level).toBe('os-isolated');
    expect(posture.evidence.some((e) => e.startsWith('LSA protection could not be read'))).toBe(true);
    expect(posture.reasons.some((r) => r.startsWith('LSA protection could not be read'))).toBe(true);
    expect(String(posture.details.lsassProtection)).toMatch(/^unreadable/);
    expect(posture.details.runAsPPL).toBe(1);
  });

  it('no LSASS found (not found, or no such service): in-process, since the key isolation service cannot be confirmed', () => {
    const notFound = measure(POSTURES.noLsass());
    expect(notFound).toMatchObject({ available: true, level: 'in-process', best: 'in-process' });
    expect(notFound.reasons.some((r) => r.startsWith('no LSASS process was found'))).toBe(true);
    expect(notFound.evidence.some((e) => e.startsWith('no LSASS process was found'))).toBe(true);
    // The evidence does not claim that LSASS keeps the key.
    expect(notFound.evidence.some((e) => e.includes('keeps the private key in LSASS'))).toBe(false);
    expect(String(notFound.details.lsassProtection)).toMatch(/^no LSASS found/);
    const noService = measure({ lsass: { ok: false, status: 1060, reason: 'ERROR_SERVICE_DOES_NOT_EXIST' } });
    expect(noService.level).toBe('in-process');
    // Access denied is not "not found": the protection is unreadable, the level os-isolated.
    const denied = measure({ lsass: { ok: false, status: 5, reason: 'ERROR_ACCESS_DENIED' } });
    expect(denied.level).toBe('os-isolated');
  });

  it('RunAsPPL configured but LSASS not protected: os-isolated (configured is not running)', () => {
    const posture = measure({ registry: { [RUN_AS_PPL]: { ok: true, value: 1 } } });
    expect(posture.level).toBe('os-isolated');
    expect(posture.reasons.some((r) => r.includes('after a reboot'))).toBe(true);
    expect(posture.details.lsaProtection).toMatch(/^configured: 1 .*; running: no/);
  });

  it('VBS: virtualization is the best level only with the secure kernel running on build 26100 or later', () => {
    const vbs = measure(POSTURES.vbs());
    expect(vbs).toMatchObject({ level: 'os-protected', best: 'virtualization', virtualization: 'available' });
    const old = measure({ ...POSTURES.vbs(), version: { major: 10, minor: 0, build: VBS_KEYS_MIN_BUILD - 1 } });
    expect(old).toMatchObject({ best: 'os-protected', virtualization: 'unavailable' });
    expect(old.virtualizationReason).toMatch(/26100/);
    const off = measure({
      iso: { ok: true, value: { secureKernelRunning: false, hvciEnabled: true, trustletRunning: false } },
    });
    expect(off).toMatchObject({ best: 'os-isolated', virtualization: 'unavailable' });
    const unknown = measure({ iso: { ok: false, status: 0xc0000003, reason: 'STATUS_INVALID_INFO_CLASS' } });
    expect(unknown).toMatchObject({ best: 'os-isolated', virtualization: 'unknown' });
    expect(String(unknown.details.secureKernelRunning)).toMatch(/^unknown/);
  });

  it('never throws, even when every reading throws', () => {
    const system = createSystemDouble();
    const boom = () => {
      throw new Error('boom');
    };
    Object.assign(system, {
      wineVersion: boom,
      windowsVersion: boom,
      tpmDeviceInfo: boom,
      lsassProtection: boom,
      isolatedUserMode: boom,
      registryValue: boom,
    });
    const posture = measureSoftwareKspPosture(system);
    expect(posture).toMatchObject({ available: true, level: 'os-isolated', virtualization: 'unknown' });
    expect(String(posture.details.tpm)).toMatch(/^not found/);
  });
});

describe('probe()', () => {
  const cases: Array<[string, Partial<SystemState>, string]> = [
    ['Wine', POSTURES.wine(), 'in-process'],
    ['Windows', POSTURES.windows(), 'os-isolated'],
    ['Windows with LSA protection', POSTURES.ppl(), 'os-protected'],
    ['Windows, protection unreadable', POSTURES.pplUnreadable(), 'os-isolated'],
    ['Windows, no LSASS found', POSTURES.noLsass(), 'in-process'],
    ['Windows with VBS, LSASS unprotected', POSTURES.vbsNoPpl(), 'virtualization'],
    ['Windows with VBS', POSTURES.vbs(), 'virtualization'],
  ];
  for (const [label, posture, isolation] of cases) {
    it(`${label}: available, isolation ${isolation}; every key's receipt is within it`, async () => {
      const { provider, ncrypt } = overDouble(posture);
      const probe = await provider.probe();
      expect(probe).toMatchObject({ available: true, isolation });
      expect(probe.details).toMatchObject({ storageProvider: 'Microsoft Software Key Storage Provider' });
      const key = await provider.createKey({ name: 'k', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
      expect(isAtLeast(probe.isolation, key.isolation.level)).toBe(true);
      expect(key.isolation.providerId).toBe('cng');
      expect(key.isolation.evidence.length).toBeGreaterThan(0);
      await key.close();
      expect(ncrypt.liveHandles()).toEqual([]);
    });
  }

  it('Wine: the reasons say that ncrypt runs in this process', async () => {
    const { provider } = overDouble(POSTURES.wine());
    const probe = await provider.probe();
    expect(probe.reasons.some((r) => r.includes('Wine'))).toBe(true);
    expect(probe.details).toMatchObject({ platform: 'wine' });
  });

  it('a storage provider that does not open makes it unavailable, without throwing', async () => {
    const { provider, ncrypt } = overDouble();
    ncrypt.fail('openStorageProvider', 0x80090013);
    const probe = await provider.probe();
    expect(probe).toMatchObject({ available: false, isolation: 'none' });
    expect(probe.reasons.length).toBeGreaterThan(0);
  });

  it.skipIf(process.platform === 'win32')(
    'off Windows, with the real bindings: unavailable, with a reason',
    async () => {
      const probe = await new CngProvider().probe();
      expect(probe.available).toBe(false);
      expect(probe.isolation).toBe('none');
      expect(probe.reasons.length).toBeGreaterThan(0);
    },
  );
});
