/**
 * What `Fapi_GetInfo` says about the TPM: manufacturer, firmware, and whether it is a simulator.
 *
 * @module
 */
import type { IsolationLevel } from '@keystore/core';
import { assessTcti, type TctiAssessment, type TctiFileChecks } from './tcti.js';

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
  /**
   * What the TCTI allows a receipt to claim: `hardware` needs the kernel's TPM device or the
   * system's tabrmd (see {@link assessTcti}).
   *
   * @since 0.3.0
   */
  readonly transport?: TctiAssessment;
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
 * The manufacturer ids of software TPMs: `IBM` is the id of libtpms (swtpm) and of IBM's simulator
 * (IBM makes no discrete TPM chip); a vendor string starting `SW` says software too.
 */
function simulatedVendor(manufacturer: string, vendor: string): boolean {
  return manufacturer.trim() === 'IBM' || /^SW(\s|TPM|$)/i.test(vendor);
}

/**
 * Parses `Fapi_GetInfo`'s JSON. Unknown shapes give empty strings, never an exception. The TCTI
 * judged is the one the context reports in `fapi_config.tcti` (what FAPI actually used) and
 * `tcti`, the config's: when both are given and differ, the weaker of the two counts.
 */
export function parseDeviceInfo(json: string, tcti: string, files?: TctiFileChecks): TpmDeviceInfo {
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
  // The context's own account of its TCTI wins when it differs: it is what FAPI connected through.
  const usedTcti = configTcti || tcti;
  const assessments = [usedTcti, ...(tcti && configTcti && tcti !== configTcti ? [tcti] : [])].map((t) =>
    assessTcti(t, files),
  );
  const transport = assessments.find((a) => !a.kernelOrSystem) ?? (assessments[0] as TctiAssessment);
  return {
    manufacturer,
    vendor,
    firmware,
    simulator: assessments.some((a) => a.simulator) || simulatedVendor(manufacturer, vendor),
    virtual: virtualTpmVendor(manufacturer) !== undefined,
    tcti: usedTcti,
    transport,
    tssVersion: typeof doc.version === 'string' ? doc.version : '',
  };
}

/**
 * The isolation a key in this TPM gets, and why, one sentence each. `hardware` only when the TCTI is
 * the kernel's TPM device or the system's tabrmd ({@link assessTcti}) and the manufacturer is known
 * and neither a simulator's nor a virtual TPM's; `virtualization` on a virtual TPM (known by its
 * manufacturer id) reached that way; `in-process` for everything else.
 */
export function deviceIsolation(
  device: Pick<TpmDeviceInfo, 'manufacturer' | 'vendor' | 'firmware' | 'simulator' | 'tcti' | 'transport'>,
): { level: IsolationLevel; reasons: string[] } {
  const who = `manufacturer ${device.manufacturer || 'unknown'}${device.vendor ? `, vendor "${device.vendor}"` : ''}, firmware ${device.firmware}`;
  const transport = device.transport ?? assessTcti(device.tcti);
  if (device.simulator || transport.simulator || simulatedVendor(device.manufacturer, device.vendor)) {
    return {
      level: 'in-process',
      reasons: [
        `simulated TPM (${who}) on tcti "${device.tcti}": it is software, not a chip`,
        transport.reason,
        'a simulated TPM keeps key material in the memory and state files of an ordinary process that any process of the same user can read, so its keys get in-process isolation, not hardware',
      ],
    };
  }
  if (!transport.kernelOrSystem) {
    return {
      level: 'in-process',
      reasons: [
        `TPM (${who}) reached through a transport that is not known to be a chip: ${transport.reason}`,
        'only the kernel TPM device (device:/dev/tpmrm<N> or /dev/tpm<N>) or tabrmd on the system bus is taken as a chip; any other transport may be a program that any process of the same user can reach, so keys get in-process isolation, not hardware',
      ],
    };
  }
  if (device.manufacturer.trim() === '') {
    return {
      level: 'in-process',
      reasons: [
        `TPM on tcti "${device.tcti}" did not report its manufacturer`,
        'without a manufacturer id a simulator or virtual TPM cannot be ruled out, so keys get in-process isolation, not hardware',
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
      transport.reason,
      'keys are generated inside the TPM and stored outside it only wrapped by the TPM; the private part never leaves the device',
    ],
  };
}
