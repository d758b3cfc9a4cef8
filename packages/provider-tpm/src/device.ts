/**
 * What `Fapi_GetInfo` says about the TPM: manufacturer, firmware, and whether it is a simulator.
 *
 * @module
 */
import type { IsolationLevel } from '@keystore/core';

/**
 * Facts about the TPM that answered, as the provider reports them in `probe()` details and key
 * receipts.
 *
 * @since 0.1.0
 */
export interface TpmDeviceInfo {
  /** The manufacturer's four-letter TCG vendor id (`IBM` for swtpm, `IFX`, `STM`, `INTC`, `AMD`, `MSFT` …). */
  readonly manufacturer: string;
  /** The vendor strings, joined (`SW   TPM` for swtpm). */
  readonly vendor: string;
  /**
   * Firmware version as `tpm2_getcap properties-fixed` shows it: the raw values of
   * `TPM2_PT_FIRMWARE_VERSION_1` and `_2` in hexadecimal, joined by a dot (`0x20191023.0x163636` on swtpm).
   */
  readonly firmware: string;
  /** Whether the TPM is a simulator (swtpm or the reference simulator), not a chip. */
  readonly simulator: boolean;
  /** Whether the manufacturer id is one of a virtual TPM's ({@link VIRTUAL_TPM_MANUFACTURERS}). */
  readonly virtual: boolean;
  /** The TCTI in use (`device:/dev/tpmrm0`, `swtpm:host=…,port=…`). */
  readonly tcti: string;
  /** The tpm2-tss version FAPI reports. */
  readonly tssVersion: string;
}

function fourChars(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes.toString('latin1').replace(/\0+$/g, '');
}

/**
 * Manufacturer ids (TPM2_PT_MANUFACTURER) of virtual TPMs, which a hypervisor provides to a virtual
 * machine, with who makes them. Such a TPM is software in the host: its keys are protected by the
 * hypervisor, not by a chip. The list is what is known; a virtual TPM with another id is not
 * recognised (and is reported `hardware`). Microsoft's Pluton security processor also reports
 * `MSFT`: it is reported `virtualization` too, which under-reports it rather than over-reporting a VM.
 *
 * @since 0.1.0
 */
export const VIRTUAL_TPM_MANUFACTURERS: Readonly<Record<string, string>> = {
  MSFT: 'Microsoft: the Hyper-V and Azure virtual TPM',
  GOOG: 'Google: the Google Cloud (Shielded VM) virtual TPM',
  AMZN: 'Amazon: AWS NitroTPM',
  VMW: 'VMware: the VMware virtual TPM',
};

/** Who makes the virtual TPM with this manufacturer id, or `undefined` when it is not a known virtual TPM's. */
export function virtualTpmVendor(manufacturer: string): string | undefined {
  const id = manufacturer.trim();
  return Object.hasOwn(VIRTUAL_TPM_MANUFACTURERS, id) ? VIRTUAL_TPM_MANUFACTURERS[id] : undefined;
}

/** A 32-bit property value as `tpm2_getcap` prints it: `0x` and upper-case hex without leading zeros. */
function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).toUpperCase()}`;
}

/**
 * Parses `Fapi_GetInfo`'s JSON. Unknown shapes give empty strings, never an exception.
 */
export function parseDeviceInfo(json: string, tcti: string): TpmDeviceInfo {
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(json) as Record<string, unknown>;
  } catch {
    doc = {};
  }
  const props = new Map<string, number>();
  const caps = Array.isArray(doc.capabilities) ? (doc.capabilities as Array<Record<string, unknown>>) : [];
  for (const cap of caps) {
    if (cap?.description !== 'properties-fixed') continue;
    const data = (cap.info as { data?: unknown } | undefined)?.data;
    if (!Array.isArray(data)) continue;
    for (const entry of data as Array<{ property?: unknown; value?: unknown }>) {
      if (typeof entry?.property === 'string' && typeof entry.value === 'number')
        props.set(entry.property, entry.value);
    }
  }
  const manufacturer = props.has('MANUFACTURER') ? fourChars(props.get('MANUFACTURER') ?? 0) : '';
  const vendor = ['VENDOR_STRING_1', 'VENDOR_STRING_2', 'VENDOR_STRING_3', 'VENDOR_STRING_4']
    .map((k) => (props.has(k) ? fourChars(props.get(k) ?? 0) : ''))
    .join('')
    .trim();
  const fw1 = props.get('FIRMWARE_VERSION_1') ?? 0;
  const fw2 = props.get('FIRMWARE_VERSION_2') ?? 0;
  const firmware = `${hex32(fw1)}.${hex32(fw2)}`;
  const configTcti =
    typeof (doc.fapi_config as { tcti?: unknown } | undefined)?.tcti === 'string'
      ? ((doc.fapi_config as { tcti: string }).tcti as string)
      : '';
  const usedTcti = tcti || configTcti;
  const simulatedTcti = /^(swtpm|mssim)(:|$)/.test(usedTcti);
  const simulatedVendor = manufacturer === 'IBM' && /^SW\s*TPM/i.test(vendor);
  return {
    manufacturer,
    vendor,
    firmware,
    simulator: simulatedTcti || simulatedVendor,
    virtual: virtualTpmVendor(manufacturer) !== undefined,
    tcti: usedTcti,
    tssVersion: typeof doc.version === 'string' ? doc.version : '',
  };
}

/**
 * The isolation a key in this TPM gets, and why, one sentence each: `in-process` on a simulator,
 * `virtualization` on a virtual TPM (known by its manufacturer id), else `hardware`.
 */
export function deviceIsolation(
  device: Pick<TpmDeviceInfo, 'manufacturer' | 'vendor' | 'firmware' | 'simulator' | 'tcti'>,
): { level: IsolationLevel; reasons: string[] } {
  const who = `manufacturer ${device.manufacturer || 'unknown'}${device.vendor ? `, vendor "${device.vendor}"` : ''}, firmware ${device.firmware}`;
  if (device.simulator) {
    return {
      level: 'in-process',
      reasons: [
        `simulated TPM (${who}) on tcti "${device.tcti}": it is software, not a chip`,
        'a simulated TPM keeps key material in the memory and state files of an ordinary process that any process of the same user can read, so its keys get in-process isolation, not hardware',
      ],
    };
  }
  const virtualVendor = virtualTpmVendor(device.manufacturer);
  if (virtualVendor !== undefined) {
    return {
      level: 'virtualization',
      reasons: [
        `virtual TPM (${who}) on tcti "${device.tcti}": manufacturer id ${device.manufacturer.trim()} is ${virtualVendor}`,
        "a virtual TPM is software in the host, provided by the hypervisor: its keys are protected by the hypervisor from the virtual machine's own OS, not by a separate chip, so they get virtualization isolation, not hardware",
        "detected by the TPM's manufacturer id, which the app cannot change; the list of virtual-TPM ids is not complete",
      ],
    };
  }
  return {
    level: 'hardware',
    reasons: [
      `TPM 2.0 (${who}) on tcti "${device.tcti}"`,
      'keys are generated inside the TPM and stored outside it only wrapped by the TPM; the private part never leaves the device',
    ],
  };
}
