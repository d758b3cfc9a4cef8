/**
 * What the TPM provider says about the TPM it talks to: the probe's answer, and the device facts a
 * key's receipt is made from.
 *
 * @module
 */

import type { OperationOptions, ProbeResult } from '@keystore/core';
import { explainError, unavailableProbe } from '@keystore/core/provider';
import { processBudget } from './budget.js';
import { cngNative } from './cng.js';
import type { FapiSetup } from './config.js';
import { deviceIsolation, parseDeviceInfo, type TpmDeviceInfo } from './device.js';
import { tss2Error } from './rc.js';
import { callOnOwnContext, type FapiRuntime } from './runtime.js';

/** The TPM's properties, read once through the pool (`Fapi_GetInfo`) unless a probe read them already. */
export async function deviceInfo(runtime: FapiRuntime, signal?: AbortSignal): Promise<TpmDeviceInfo> {
  if (runtime.device) return runtime.device;
  const json = await runtime.call<string>('reading TPM properties (Fapi_GetInfo)', (n, c) => n.getInfo(c.handle), {
    signal,
  });
  runtime.device = parseDeviceInfo(json, runtime.setup().tcti);
  return runtime.device;
}

/**
 * Reads the TPM's properties on a context of its own, outside the pool, so that a probe neither
 * waits behind queued operations nor takes longer than `timeouts.probe` in all.
 */
async function probeDevice(runtime: FapiRuntime, signal?: AbortSignal): Promise<TpmDeviceInfo> {
  const native = runtime.bindings();
  const setup = runtime.setup();
  const deadline = Date.now() + runtime.timeouts.probe;
  const context = await runtime.openOwnContext(runtime.timeouts.probe);
  const result = await callOnOwnContext(context, () => native.getInfo(context.handle), {
    timeoutMs: Math.max(1, deadline - Date.now()),
    signal,
    what: 'reading TPM properties (Fapi_GetInfo)',
  });
  if (result.rc !== 0 || result.value === undefined) {
    throw tss2Error(result.rc, 'reading TPM properties (Fapi_GetInfo)', native.decode(result.rc));
  }
  runtime.device = parseDeviceInfo(result.value, setup.tcti);
  return runtime.device;
}

/** koffi's async stack, as `keystore doctor` shows it (absent before koffi was loaded). */
function koffiStack(): { koffiAsyncStack?: string } {
  const stack = cngNative().koffiSetupDetail();
  return stack === undefined ? {} : { koffiAsyncStack: stack };
}

/** Answers whether a TPM answers here, and what isolation its keys get. Never throws. */
export async function probeTpm(runtime: FapiRuntime, options?: OperationOptions): Promise<ProbeResult> {
  if (process.platform === 'win32' && !runtime.hasNativeDouble) {
    return unavailableProbe(
      [
        'this is the FAPI (tpm2-tss) backend; on Windows, tpmProvider() and createProvider() return the Platform Crypto Provider backend (pcpProvider())',
      ],
      { platform: 'win32' },
    );
  }
  try {
    runtime.bindings();
  } catch (err) {
    return unavailableProbe(explainError(err), { platform: process.platform });
  }
  let setup: FapiSetup;
  try {
    setup = runtime.setup();
  } catch (err) {
    return unavailableProbe(explainError(err), { platform: process.platform });
  }
  try {
    const device = await probeDevice(runtime, options?.signal);
    const { level, reasons } = deviceIsolation(device);
    return {
      available: true,
      isolation: level,
      reasons: [...reasons, ...runtime.unusable.values()],
      details: {
        platform: process.platform,
        manufacturer: device.manufacturer,
        vendor: device.vendor,
        firmware: device.firmware,
        simulator: device.simulator,
        virtual: device.virtual,
        tcti: device.tcti,
        tss: device.tssVersion,
        configFile: setup.configFile,
        profiles: setup.profiles.map((p) => p.name).join(','),
        poolSize: runtime.effectivePoolSize(setup.tcti),
        ...koffiStack(),
        algorithms: [...runtime.profileFor().keys()].join(','),
        nativeCallBudget: processBudget().limit,
        stuckNativeCalls: processBudget().stuck,
      },
    };
  } catch (err) {
    return unavailableProbe(explainError(err), {
      platform: process.platform,
      tcti: setup.tcti,
      configFile: setup.configFile,
    });
  }
}
