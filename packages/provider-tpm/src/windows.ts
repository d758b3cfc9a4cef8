/**
 * The TPM provider's Windows backend: keys in the TPM through the Microsoft Platform Crypto Provider
 * (PCP), spoken to through NCrypt with the same engine as the CNG provider. The TPM's presence comes
 * from the TPM Base Services (`Tbsi_GetDeviceInfo`), never from `NCryptOpenStorageProvider`
 * succeeding (some implementations open any provider name).
 *
 * @module
 */
import type { IsolationLevel, ProviderCapabilities } from '@keystore/core';
import type { IsolationPosture, NCryptBindingSources, NCryptKeyStorage } from '@keystore/provider-cng';
import type { WindowsSystemBindings } from '@keystore/provider-cng/native';
import { cngEngine, cngNative } from './cng.js';
import { virtualTpmVendor } from './device.js';

/**
 * What the Platform Crypto Provider backend can do. TPM 2.0 chips make RSA keys up to 2048 bits and
 * ECDSA keys on P-256 (P-384 on many, not all: a TPM without it answers `NTE_NOT_SUPPORTED`, which
 * becomes `ERR_KEYSTORE_UNSUPPORTED_ALGORITHM`). No ECDH, no P-521, no exportable keys, no imports.
 * RSA-PSS signs with SHA-256 only: the PCP answers `NTE_NOT_SUPPORTED` to PSS with SHA-384/512
 * digests. ECDSA signs with SHA-256 only too: SHA-384/512 digests are not known to work on the PCP
 * (no known test covers them), so they are refused with a reason rather than left to fail in the TPM.
 *
 * @since 0.2.0
 */
export const PCP_CAPABILITIES: ProviderCapabilities = Object.freeze({
  algorithms: Object.freeze(['RSA-2048', 'ECDSA-P256', 'ECDSA-P384'] as const),
  operations: Object.freeze(['sign', 'decrypt'] as const),
  scopes: Object.freeze(['user', 'machine'] as const),
  exportableKeys: false,
  passwords: false,
  legacyCryptoApi: false,
  rsaSignaturePaddings: Object.freeze(['pkcs1', 'pss'] as const),
  oaepHashes: Object.freeze(['sha1', 'sha256'] as const),
  importKeys: false,
  userPrompt: false,
  signatureHashes: Object.freeze({
    pss: Object.freeze(['sha256'] as const),
    ecdsa: Object.freeze(['sha256'] as const),
  }),
});

const INTERFACES = ['unknown', 'TIS (FIFO)', 'TrustZone (firmware)', 'hardware', 'emulator', 'SPB'];

function hex(status: number): string {
  return `0x${(status >>> 0).toString(16).padStart(8, '0')}`;
}

/** Firmware vendor strings (SMBIOS, as Windows copies them to the registry) of hypervisors with virtual TPMs. */
const VIRTUAL_MACHINES: readonly { readonly match: RegExp; readonly name: string }[] = [
  { match: /^Microsoft Corporation\b.*\bVirtual Machine\b/i, name: 'Hyper-V / Azure' },
  { match: /^Google\b/i, name: 'Google Compute Engine' },
  { match: /^Amazon EC2\b/i, name: 'AWS' },
  { match: /^VMware\b/i, name: 'VMware' },
  { match: /^QEMU\b/i, name: 'QEMU' },
  { match: /^innotek GmbH\b|VirtualBox/i, name: 'VirtualBox' },
];

/** The hypervisor this machine runs under, from `HKLM\HARDWARE\DESCRIPTION\System\BIOS`, if any. */
function virtualMachine(system: WindowsSystemBindings): string | undefined {
  const read = (name: string): string => {
    try {
      const r = system.registryValue('HARDWARE\\DESCRIPTION\\System\\BIOS', name);
      return r.ok && typeof r.value === 'string' ? r.value : '';
    } catch {
      return '';
    }
  };
  const text = `${read('SystemManufacturer')} ${read('SystemProductName')}`.trim();
  return VIRTUAL_MACHINES.find((vm) => vm.match.test(text))?.name;
}

type Details = Record<string, string | number | boolean>;

/** A posture of a provider that cannot serve here now, for `reason`. */
function unavailable(reason: string, details: Details): IsolationPosture {
  return {
    available: false,
    level: 'none',
    virtualization: 'unavailable',
    virtualizationReason: 'the TPM provider does not make virtualization-based keys',
    best: 'none',
    reasons: [reason],
    evidence: [],
    details,
  };
}

/** The Wine version ntdll reports, or `null` on Windows (and when the binding throws). */
function wineVersionOf(system: WindowsSystemBindings): string | null {
  try {
    return system.wineVersion();
  } catch {
    return null;
  }
}

type TpmInfo = Extract<ReturnType<WindowsSystemBindings['tpmDeviceInfo']>, { ok: true }>['value'];

/**
 * Reads the TPM with `Tbsi_GetDeviceInfo` into `details`: its description when it is a TPM 2.0,
 * else the reason the provider cannot serve.
 */
function readTpm(
  system: WindowsSystemBindings,
  details: Details,
  wine: string | null,
): { info: TpmInfo; iface: string } | { down: string } {
  const { statusName, TBS_E_TPM_NOT_FOUND } = cngNative();
  let reading: ReturnType<WindowsSystemBindings['tpmDeviceInfo']>;
  try {
    reading = system.tpmDeviceInfo();
  } catch (err) {
    return { down: `the TPM could not be queried: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!reading.ok) {
    const name = statusName(reading.status) ?? hex(reading.status);
    details.tpm = `not found (${name})`;
    if (reading.status >>> 0 === TBS_E_TPM_NOT_FOUND) {
      return {
        down: `no TPM on this machine: Tbsi_GetDeviceInfo answered TBS_E_TPM_NOT_FOUND (${hex(reading.status)})${wine === null ? '; turn the TPM on in the firmware settings, or use the cng provider' : ' (Wine has no TPM)'}`,
      };
    }
    return { down: `the TPM Base Services refused the query: ${name} (${reading.reason})` };
  }
  const info = reading.value;
  const iface = INTERFACES[info.tpmInterfaceType] ?? `interface ${info.tpmInterfaceType}`;
  details.tpmVersion = info.tpmVersion === 2 ? '2.0' : info.tpmVersion === 1 ? '1.2' : String(info.tpmVersion);
  details.tpmInterface = iface;
  details.tpmRevision = info.tpmImpRevision;
  if (info.tpmVersion !== 2) {
    return { down: `the TPM is version ${details.tpmVersion}; the TPM provider needs TPM 2.0` };
  }
  return { info, iface };
}

type ManufacturerReading = ReturnType<NonNullable<WindowsSystemBindings['tpmManufacturer']>>;

/** The TPM's manufacturer id through TBS; a refused reading when the bindings cannot read it or throw. */
function readManufacturer(system: WindowsSystemBindings): ManufacturerReading {
  try {
    return system.tpmManufacturer
      ? system.tpmManufacturer()
      : { ok: false, status: 0, reason: 'these bindings cannot read it' };
  } catch (err) {
    return { ok: false, status: 0, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** What kind of TPM 2.0 this is: emulator, software, virtual or a chip, with the level its keys get. */
function judgeTpm(
  info: TpmInfo,
  manufacturer: ManufacturerReading,
  vm: string | undefined,
): { level: IsolationLevel; evidence: string[]; reasons: string[] } {
  const evidence: string[] = [];
  const reasons: string[] = [];
  const virtualVendor = manufacturer.ok ? virtualTpmVendor(manufacturer.value) : undefined;
  let level: IsolationLevel;
  if (info.tpmInterfaceType === 4) {
    level = 'os-isolated';
    reasons.push(
      'the TPM is an emulator: its keys live in host memory, so they are reported os-isolated, not hardware',
    );
  } else if (manufacturer.ok && manufacturer.value === 'IBM') {
    level = 'in-process';
    evidence.push('the TPM reports manufacturer IBM: a software TPM (swtpm or the reference simulator)');
    reasons.push(
      'the TPM is a software TPM (manufacturer IBM): its keys live in the memory of an ordinary process, so they are reported in-process',
    );
  } else if (virtualVendor !== undefined) {
    level = 'virtualization';
    evidence.push(
      `the TPM reports manufacturer ${manufacturer.ok ? manufacturer.value : '?'} (TPM2_GetCapability through TBS): ${virtualVendor}`,
    );
    reasons.push(
      `the TPM is a virtual TPM (${virtualVendor}): software in the host, protected by the hypervisor, so keys are reported virtualization, not hardware`,
    );
  } else if (vm !== undefined) {
    level = 'virtualization';
    evidence.push(
      `the firmware says this is a virtual machine (${vm}): its TPM is a virtual TPM provided by the hypervisor`,
    );
    reasons.push(
      `this is a virtual machine (${vm}): its TPM is software in the host, protected by the hypervisor, so keys are reported virtualization, not hardware`,
    );
  } else if (manufacturer.ok) {
    level = 'hardware';
    evidence.push(
      `the TPM reports manufacturer ${manufacturer.value} (TPM2_GetCapability through TBS), not a known virtual or software TPM, and the firmware names no hypervisor`,
    );
  } else {
    level = 'virtualization';
    evidence.push(`the TPM's manufacturer could not be read (${manufacturer.reason})`);
    reasons.push(
      `the TPM's manufacturer could not be read (${manufacturer.reason}); without it a virtual TPM cannot be told from a chip, so keys are reported virtualization, not hardware`,
    );
  }
  return { level, evidence, reasons };
}

/**
 * Measures what the Platform Crypto Provider offers now, from `Tbsi_GetDeviceInfo`:
 * - no TPM (`TBS_E_TPM_NOT_FOUND`, as under Wine) or a refused query: unavailable, with the reason;
 * - a TPM 1.2: unavailable (the provider needs TPM 2.0);
 * - a TPM 2.0 whose interface is `emulator`: `os-isolated` (a software TPM keeps keys in host memory);
 * - a TPM whose manufacturer id (`TPM2_GetCapability` through TBS) is `IBM`: a software TPM, `in-process`;
 * - a virtual TPM: the manufacturer id is a known virtual TPM's (`MSFT`, `GOOG`, `AMZN`, `VMW`), or
 *   the firmware's manufacturer and product name (`HKLM\HARDWARE\DESCRIPTION\System\BIOS`) name a
 *   hypervisor: `virtualization`;
 * - a TPM whose manufacturer could not be read: `virtualization` (a chip cannot be told from a
 *   virtual TPM without it, so the lower level is reported);
 * - any other TPM 2.0, with its manufacturer read: `hardware`.
 *
 * @since 0.2.0
 */
export function measurePlatformCryptoPosture(system: WindowsSystemBindings): IsolationPosture {
  const { MS_PLATFORM_CRYPTO_PROVIDER } = cngNative();
  const details: Details = { storageProvider: MS_PLATFORM_CRYPTO_PROVIDER };
  const wine = wineVersionOf(system);
  details.platform = wine === null ? 'windows' : 'wine';
  if (wine !== null) details.wineVersion = wine;
  const tpm = readTpm(system, details, wine);
  if ('down' in tpm) return unavailable(tpm.down, details);
  const vm = virtualMachine(system);
  if (vm !== undefined) details.virtualMachine = vm;
  const manufacturer = readManufacturer(system);
  if (manufacturer.ok) details.manufacturer = manufacturer.value;
  const { level, evidence, reasons } = judgeTpm(tpm.info, manufacturer, vm);
  evidence.unshift(
    `Tbsi_GetDeviceInfo reports a TPM 2.0 (interface: ${tpm.iface}); keys of the Microsoft Platform Crypto Provider are created and used inside it`,
  );
  return { available: true, level, virtualization: 'unavailable', best: level, reasons, evidence, details };
}

/**
 * Options of {@link pcpProvider}.
 *
 * @since 0.2.0
 */
export interface PcpProviderOptions {
  /** The native bindings; the real ones (ncrypt.dll, tbs.dll) by default. Tests pass a double. */
  readonly bindings?: NCryptBindingSources;
}

/**
 * The TPM provider on Windows: id `tpm`, keys in the Microsoft Platform Crypto Provider, isolation
 * `hardware` when a TPM 2.0 is present. {@link tpmProvider} returns it on Windows.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { pcpProvider } from '@keystore/provider-tpm';
 * const store = await createKeyStore({ providers: [pcpProvider()], policy: { minimumIsolation: 'hardware' } });
 * ```
 * @since 0.2.0
 */
export function pcpProvider(options: PcpProviderOptions = {}): NCryptKeyStorage {
  const { NCryptKeyStorage } = cngEngine();
  const { MS_PLATFORM_CRYPTO_PROVIDER } = cngNative();
  return new NCryptKeyStorage({
    id: 'tpm',
    displayName: 'TPM 2.0 (Microsoft Platform Crypto Provider)',
    storageProvider: MS_PLATFORM_CRYPTO_PROVIDER,
    capabilities: PCP_CAPABILITIES,
    measure: measurePlatformCryptoPosture,
    virtualIsolation: false,
    // The PCP's TPM makes one PSS salt length, named by each key's "PSS Salt Size" property
    // (TPM_E_PCP_UNSUPPORTED_PSS_SALT for any other).
    pssSaltMustEqualDigest: true,
    ...(options.bindings ? { bindings: options.bindings } : {}),
  });
}
