/**
 * TCTI strings and what they let a receipt claim: parsed as tctildr parses them, whatever the
 * spelling, and `hardware` only for the kernel's TPM device or the system's tabrmd.
 */
import { describe, expect, it } from 'vitest';
import { deviceIsolation, parseDeviceInfo } from '../src/device.js';
import { assessTcti, parseTcti, type TctiFileChecks } from '../src/tcti.js';

/**
 * A /dev with the given nodes: 'char' (a character device), 'link' (a symlink to one), 'file', or
 * 'moved' (a character device reached through a symlinked directory: it resolves elsewhere).
 */
function fakeDev(nodes: Record<string, 'char' | 'link' | 'file' | 'moved'>): TctiFileChecks {
  return {
    lstat(path) {
      const kind = nodes[path];
      if (kind === undefined) return undefined;
      return { isCharacterDevice: () => kind === 'char' || kind === 'moved', isSymbolicLink: () => kind === 'link' };
    },
    realpath(path) {
      const kind = nodes[path];
      if (kind === undefined) return undefined;
      if (kind === 'moved') return `/tmp/attacker${path}`;
      return kind === 'link' ? '/dev/tpmrm0' : path;
    },
  };
}
const chip = fakeDev({ '/dev/tpmrm0': 'char', '/dev/tpm0': 'char' });

const SIMULATOR_SPELLINGS = [
  'swtpm',
  'swtpm:',
  'swtpm:host=127.0.0.1,port=2321',
  'swtpm:port=2321',
  'tcti-swtpm:port=2321',
  'libtss2-tcti-swtpm.so.0:host=127.0.0.1,port=2321',
  'libtss2-tcti-swtpm.so:port=2321',
  'libtss2-tcti-swtpm.so.0.0.0',
  '/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0',
  '/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0:host=localhost',
  'SWTPM:port=2321',
  ' swtpm :port=2321',
  'LibTSS2-TCTI-SWTPM.so.0',
  'mssim:host=localhost,port=2321',
  'libtss2-tcti-mssim.so.0',
  'tcti-mssim',
  'libtpms',
];

describe('parseTcti follows tctildr: name and configuration split at the first ":"', () => {
  it.each([
    ['device:/dev/tpmrm0', 'device', '/dev/tpmrm0', 'device', 'short'],
    ['device', 'device', undefined, 'device', 'short'],
    ['device:', 'device', undefined, 'device', 'short'],
    ['tcti-device:/dev/tpm0', 'tcti-device', '/dev/tpm0', 'device', 'short'],
    ['libtss2-tcti-device.so.0:/dev/tpmrm0', 'libtss2-tcti-device.so.0', '/dev/tpmrm0', 'device', 'soname'],
    ['/opt/x/libtss2-tcti-device.so.0:/dev/tpmrm0', '/opt/x/libtss2-tcti-device.so.0', '/dev/tpmrm0', 'device', 'path'],
    ['swtpm:host=h:1,port=2', 'swtpm', 'host=h:1,port=2', 'swtpm', 'short'],
    ['libtss2-tcti-swtpm.so.0:port=1', 'libtss2-tcti-swtpm.so.0', 'port=1', 'swtpm', 'soname'],
    ['Device:/dev/tpmrm0', 'Device', '/dev/tpmrm0', 'device', 'odd'],
    [' device:/dev/tpmrm0', ' device', '/dev/tpmrm0', 'device', 'odd'],
    ['', '', undefined, 'default', 'default'],
    [':/dev/tpmrm0', '', '/dev/tpmrm0', 'default', 'default'],
    ['tabrmd:bus_type=system', 'tabrmd', 'bus_type=system', 'tabrmd', 'short'],
    ['cmd:tpm2_send', 'cmd', 'tpm2_send', 'cmd', 'short'],
  ])('%j', (raw, name, config, module, spelling) => {
    expect(parseTcti(raw)).toEqual({ raw, name, config, module, spelling });
  });
  it('never throws on what is not a string', () => {
    expect(parseTcti(undefined).module).toBe('default');
    expect(parseTcti(42).module).toBe('default');
  });
});

describe('assessTcti: only the kernel device or tabrmd on the system bus may carry a hardware receipt', () => {
  it.each(SIMULATOR_SPELLINGS)('simulator %j is not kernel-or-system and is named a simulator', (tcti) => {
    const a = assessTcti(tcti, chip);
    expect(a.kernelOrSystem).toBe(false);
    expect(a.simulator).toBe(true);
    expect(a.reason).toMatch(/simulator|not a spelling|by path/);
  });

  it.each([
    'device:/dev/tpmrm0',
    'device:/dev/tpm0',
    'device',
    'tcti-device:/dev/tpmrm0',
    'libtss2-tcti-device.so.0:/dev/tpmrm0',
    'libtss2-tcti-device.so:/dev/tpmrm0',
    'tabrmd',
    'tabrmd:',
    'tabrmd:bus_type=system',
    'libtss2-tcti-tabrmd.so.0:bus_name=com.intel.tss2.Tabrmd,bus_type=system',
  ])('%j on a machine with a TPM chip is kernel-or-system', (tcti) => {
    expect(assessTcti(tcti, chip)).toMatchObject({ kernelOrSystem: true, simulator: false });
  });

  it.each([
    ['', /default search/],
    [':/dev/tpmrm0', /default search/],
    ['none', /neither/],
    ['cmd:tpm2-abrmd', /neither/],
    ['pcap:device:/dev/tpmrm0', /neither/],
    ['spi-helper', /neither/],
    ['unknown-thing:x', /neither/],
    ['/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0:/dev/tpmrm0', /by path/],
    ['/tmp/libtss2-tcti-device.so.0:/dev/tpmrm0', /by path/],
    ['./device:/dev/tpmrm0', /by path/],
    ['DEVICE:/dev/tpmrm0', /not a spelling/],
    ['device :/dev/tpmrm0', /not a spelling/],
    ['device:/dev/tpmrm0 ', /not \/dev\/tpmrm/],
    ['device:/tmp/tpmrm0', /not \/dev\/tpmrm/],
    ['device:/dev/../tmp/tpm0', /not \/dev\/tpmrm/],
    ['device:/dev/tpmrm9', /does not exist|no TPM device/],
    ['device:/dev/null', /not \/dev\/tpmrm/],
    ['tabrmd:bus_type=session', /not the system bus/],
    ['tabrmd:bus_name=org.example.Fake', /not the system bus/],
    ['tabrmd:bus_type=system,bus_name=org.example.Fake', /not the system bus/],
  ])('%j is not kernel-or-system (%s)', (tcti, why) => {
    const a = assessTcti(tcti, chip);
    expect(a.kernelOrSystem).toBe(false);
    expect(a.reason).toMatch(why);
  });

  it('checks the device node: a symlink, a plain file or a missing node is refused', () => {
    expect(assessTcti('device:/dev/tpmrm0', fakeDev({ '/dev/tpmrm0': 'link' })).reason).toMatch(/symbolic link/);
    expect(assessTcti('device:/dev/tpmrm0', fakeDev({ '/dev/tpmrm0': 'file' })).reason).toMatch(/not a character/);
    const moved = assessTcti('device:/dev/tpmrm0', fakeDev({ '/dev/tpmrm0': 'moved' }));
    expect(moved.kernelOrSystem).toBe(false);
    expect(moved.reason).toMatch(/does not resolve to itself/);
    expect(assessTcti('device:/dev/tpmrm0', fakeDev({})).kernelOrSystem).toBe(false);
    // tcti-device's default path: every candidate present must be a real device node
    expect(assessTcti('device', fakeDev({ '/dev/tpm0': 'char' })).kernelOrSystem).toBe(true);
    expect(assessTcti('device', fakeDev({ '/dev/tpmrm0': 'file', '/dev/tpm0': 'char' })).kernelOrSystem).toBe(false);
    expect(assessTcti('device', fakeDev({})).kernelOrSystem).toBe(false);
  });

  it('checks the real file system by default (no TPM device node here named /dev/null)', () => {
    expect(assessTcti('device:/dev/null').kernelOrSystem).toBe(false);
    expect(assessTcti('device:/dev/tpmrm4242').kernelOrSystem).toBe(false);
  });
});

describe('receipts from Fapi_GetInfo never over-claim', () => {
  const info = (manufacturer: number, vendor1: number, tcti?: string) =>
    JSON.stringify({
      version: 'tpm2-tss 3.2.1',
      ...(tcti === undefined ? {} : { fapi_config: { tcti } }),
      capabilities: [
        {
          description: 'properties-fixed',
          info: {
            data: [
              { property: 'MANUFACTURER', value: manufacturer },
              { property: 'VENDOR_STRING_1', value: vendor1 },
              { property: 'FIRMWARE_VERSION_1', value: 0x20191023 },
              { property: 'FIRMWARE_VERSION_2', value: 0x163636 },
            ],
          },
        },
      ],
    });
  const IFX = 0x49465800;
  const SLB9 = 0x534c4239;

  it.each(SIMULATOR_SPELLINGS)('a TPM reporting Infineon on %j is in-process, with the reason', (tcti) => {
    const d = parseDeviceInfo(info(IFX, SLB9), tcti, chip);
    const { level, reasons } = deviceIsolation(d);
    expect(level).toBe('in-process');
    expect(reasons.join(' ')).toContain(JSON.stringify(tcti));
  });

  it('a chip on the kernel device is hardware; its receipt names the device', () => {
    const { level, reasons } = deviceIsolation(parseDeviceInfo(info(IFX, SLB9), 'device:/dev/tpmrm0', chip));
    expect(level).toBe('hardware');
    expect(reasons.join(' ')).toMatch(/kernel's TPM device/);
  });

  it('the TCTI the context reports (fapi_config.tcti) counts, and the weaker of it and the config wins', () => {
    // config says the device, the context connected to a simulator
    expect(
      deviceIsolation(parseDeviceInfo(info(IFX, SLB9, 'libtss2-tcti-swtpm.so.0:port=2321'), 'device:/dev/tpmrm0', chip))
        .level,
    ).toBe('in-process');
    // and the other way round
    expect(deviceIsolation(parseDeviceInfo(info(IFX, SLB9, 'device:/dev/tpmrm0'), 'swtpm:port=2321', chip)).level).toBe(
      'in-process',
    );
    expect(
      deviceIsolation(parseDeviceInfo(info(IFX, SLB9, 'device:/dev/tpmrm0'), 'device:/dev/tpmrm0', chip)).level,
    ).toBe('hardware');
  });

  it('IBM (libtpms, IBM simulator) or an SW vendor string, or no manufacturer, is never hardware', () => {
    expect(deviceIsolation(parseDeviceInfo(info(0x49424d00, SLB9), 'device:/dev/tpmrm0', chip)).level).toBe(
      'in-process',
    );
    expect(deviceIsolation(parseDeviceInfo(info(IFX, 0x53572020), 'device:/dev/tpmrm0', chip)).level).toBe(
      'in-process',
    );
    expect(deviceIsolation(parseDeviceInfo('{}', 'device:/dev/tpmrm0', chip)).level).toBe('in-process');
  });

  it('a virtual TPM is virtualization only on the kernel device', () => {
    const MSFT = 0x4d534654;
    expect(deviceIsolation(parseDeviceInfo(info(MSFT, 0x20202020), 'device:/dev/tpmrm0', chip)).level).toBe(
      'virtualization',
    );
    expect(deviceIsolation(parseDeviceInfo(info(MSFT, 0x20202020), 'cmd:vtpm', chip)).level).toBe('in-process');
  });
});
