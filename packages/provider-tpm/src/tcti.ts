/**
 * TCTI strings: which transport FAPI talks to the TPM through, parsed as tpm2-tss's TCTI loader
 * (tctildr) parses them, and whether that transport can be a chip at all. A receipt says `hardware`
 * only when the transport is the kernel's TPM device or the system's resource manager; a simulator,
 * a command pipe, a library named by path or anything unknown is software that any process of the
 * same user may be talking to, so its keys are reported `in-process` at most.
 *
 * @module
 */
import { lstatSync, realpathSync } from 'node:fs';

/**
 * A TCTI string split as tctildr splits it (at the first `:`), with the module it names.
 *
 * @since 0.3.0
 */
export interface ParsedTcti {
  /** The string as given. */
  readonly raw: string;
  /** The library part as written (`''` when the string names none: tctildr's default search). */
  readonly name: string;
  /** The configuration part (after the first `:`), or `undefined` when there is none or it is empty. */
  readonly config: string | undefined;
  /**
   * The TCTI module the name designates, lower-case, without tctildr's `libtss2-tcti-` / `libtss2-` /
   * `tcti-` prefixes and `.so…` suffixes (`swtpm` for `libtss2-tcti-swtpm.so.0`), `default` when the
   * name is empty, `none` for FAPI's no-TPM mode.
   */
  readonly module: string;
  /**
   * How the library is named: `short` (`device`, `tcti-device`), `soname` (`libtss2-tcti-device.so.0`,
   * found on the system's library path), `path` (contains a `/`: whatever file it names is loaded),
   * `default` (empty: tctildr tries its default list), or `odd` (a spelling tctildr would not load as
   * the system's module: other case, white space, control characters).
   */
  readonly spelling: 'short' | 'soname' | 'path' | 'default' | 'odd';
}

/**
 * What a TCTI allows a receipt to claim, and why, in one sentence.
 *
 * @since 0.3.0
 */
export interface TctiAssessment {
  /** The parsed TCTI. */
  readonly tcti: ParsedTcti;
  /** True only for the kernel TPM device (`/dev/tpmrm*`, `/dev/tpm*`) or `tabrmd` on the system bus. */
  readonly kernelOrSystem: boolean;
  /** True when the module is a known simulator's (`swtpm`, `mssim`, `libtpms`). */
  readonly simulator: boolean;
  /** Why, for the receipt's evidence. */
  readonly reason: string;
}

/** The file checks {@link assessTcti} makes; replaceable in tests. */
export interface TctiFileChecks {
  /** `lstat` of the path: whether it exists, is a character device, is a symbolic link. */
  lstat(path: string): { isCharacterDevice(): boolean; isSymbolicLink(): boolean } | undefined;
  /** `realpath` of the path, or `undefined` when it cannot be resolved. */
  realpath(path: string): string | undefined;
}

const REAL_FILES: TctiFileChecks = {
  lstat(path) {
    try {
      return lstatSync(path);
    } catch {
      return undefined;
    }
  },
  realpath(path) {
    try {
      return realpathSync(path);
    } catch {
      return undefined;
    }
  },
};

const SIMULATORS = new Set(['swtpm', 'mssim', 'libtpms']);
/** tcti-device's own default, when the TCTI names the device module without a path. */
const DEFAULT_DEVICES = ['/dev/tpmrm0', '/dev/tpm0'];
const KERNEL_DEVICE = /^\/dev\/tpm(rm)?\d+$/;
const TABRMD_BUS_NAME = 'com.intel.tss2.Tabrmd';

/** The module a library name designates: prefixes and `.so` suffixes off, lower-case. */
function moduleOf(name: string): string {
  let base = name.trim().toLowerCase();
  const slash = base.lastIndexOf('/');
  if (slash >= 0) base = base.slice(slash + 1);
  base = base.replace(/\.so(\.[0-9]+)*$/, '');
  for (const prefix of ['libtss2-tcti-', 'libtss2-', 'tcti-']) {
    if (base.startsWith(prefix)) {
      base = base.slice(prefix.length);
      break;
    }
  }
  return base;
}

/**
 * Splits a TCTI string as tctildr does (`name:conf`, `name`, `:conf`, `''`) and names its module,
 * whatever the spelling: `swtpm`, `tcti-swtpm`, `libtss2-tcti-swtpm.so.0`,
 * `/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0`, `SWTPM`, ` swtpm `, with or without `:conf`.
 * Never throws.
 *
 * @example
 * ```ts
 * parseTcti('libtss2-tcti-swtpm.so.0:host=127.0.0.1,port=2321');
 * // { module: 'swtpm', spelling: 'soname', config: 'host=127.0.0.1,port=2321', … }
 * ```
 * @since 0.3.0
 */
export function parseTcti(tcti: unknown): ParsedTcti {
  const raw = typeof tcti === 'string' ? tcti : '';
  const split = raw.indexOf(':');
  const name = split < 0 ? raw : raw.slice(0, split);
  const rest = split < 0 ? '' : raw.slice(split + 1);
  const config = rest === '' ? undefined : rest;
  if (name === '') return { raw, name, config, module: 'default', spelling: 'default' };
  const module = moduleOf(name);
  let spelling: ParsedTcti['spelling'];
  // dlopen() matches names exactly and looks in the system's library directories only when the
  // name has no "/": any other spelling loads another file or none.
  if (name.includes('/')) spelling = 'path';
  else if (!/^[a-z0-9._-]+$/.test(name)) spelling = 'odd';
  else if (/^libtss2-(tcti-)?[a-z0-9_-]+\.so(\.[0-9]+)*$/.test(name)) spelling = 'soname';
  else if (name === module || name === `tcti-${module}`) spelling = 'short';
  else spelling = 'odd';
  return { raw, name, config, module, spelling };
}

/** Whether `path` is a character device under /dev named like a TPM, itself (no link). */
function isKernelTpmDevice(path: string, files: TctiFileChecks): string | undefined {
  if (!KERNEL_DEVICE.test(path)) return `${JSON.stringify(path)} is not /dev/tpmrm<N> or /dev/tpm<N>`;
  const stat = files.lstat(path);
  if (!stat) return `${path} does not exist`;
  if (stat.isSymbolicLink()) return `${path} is a symbolic link, not the kernel's device node`;
  if (!stat.isCharacterDevice()) return `${path} is not a character device`;
  if (files.realpath(path) !== path) return `${path} does not resolve to itself`;
  return undefined;
}

/** Whether a tabrmd configuration names the system bus and the standard daemon. */
function tabrmdOnSystemBus(config: string | undefined): string | undefined {
  if (config === undefined) return undefined;
  for (const part of config.split(',')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (key === 'bus_type' && value === 'system') continue;
    if (key === 'bus_name' && value === TABRMD_BUS_NAME) continue;
    return `tabrmd option ${JSON.stringify(part)} is not the system bus's ${TABRMD_BUS_NAME}`;
  }
  return undefined;
}

/**
 * Whether a TCTI reaches the TPM through the kernel (`device:` naming a character device
 * `/dev/tpmrm<N>` or `/dev/tpm<N>`, checked with lstat and realpath) or the system's resource manager
 * (`tabrmd` on the system bus): the only transports a `hardware` receipt may rest on. Every other
 * TCTI (a simulator, `cmd`, a library named by path, tctildr's default search, anything unknown) is
 * `kernelOrSystem: false`. Never throws.
 *
 * @example
 * ```ts
 * assessTcti('libtss2-tcti-swtpm.so.0:port=2321').kernelOrSystem; // false
 * assessTcti('device:/dev/tpmrm0').kernelOrSystem; // true on a machine with a TPM
 * ```
 * @since 0.3.0
 */
export function assessTcti(tcti: unknown, files: TctiFileChecks = REAL_FILES): TctiAssessment {
  const parsed = parseTcti(tcti);
  const shown = JSON.stringify(parsed.raw);
  const simulator = SIMULATORS.has(parsed.module);
  const no = (reason: string): TctiAssessment => ({ tcti: parsed, kernelOrSystem: false, simulator, reason });
  if (parsed.spelling === 'default') {
    return no(
      `tcti ${shown} leaves the choice to tctildr's default search (which ends with the simulators), so the transport is not known`,
    );
  }
  if (simulator) return no(`tcti ${shown} is the ${parsed.module} simulator's transport: software, not a chip`);
  if (parsed.module !== 'device' && parsed.module !== 'tabrmd') {
    return no(`tcti ${shown} (module ${parsed.module}) is neither the kernel's TPM device nor the system's tabrmd`);
  }
  if (parsed.spelling === 'path') {
    return no(`tcti ${shown} names its library by path: whatever file is there is loaded, not the system's module`);
  }
  if (parsed.spelling === 'odd') {
    return no(`tcti ${shown} is not a spelling tctildr loads as the system's ${parsed.module} module`);
  }
  if (parsed.module === 'tabrmd') {
    const problem = tabrmdOnSystemBus(parsed.config);
    if (problem) return no(`tcti ${shown}: ${problem}`);
    return {
      tcti: parsed,
      kernelOrSystem: true,
      simulator,
      reason: `tcti ${shown} is the system's TPM resource manager (tabrmd on the system bus)`,
    };
  }
  const paths = parsed.config === undefined ? DEFAULT_DEVICES : [parsed.config];
  // tcti-device tries its default paths in turn: every one present must be a kernel device node.
  const present = parsed.config === undefined ? paths.filter((p) => files.lstat(p) !== undefined) : paths;
  if (present.length === 0) return no(`tcti ${shown}: no TPM device at ${paths.join(' or ')}`);
  for (const path of present) {
    const problem = isKernelTpmDevice(path, files);
    if (problem) return no(`tcti ${shown}: ${problem}`);
  }
  return {
    tcti: parsed,
    kernelOrSystem: true,
    simulator,
    reason: `tcti ${shown} is the kernel's TPM device (${present.join(', ')}, a character device)`,
  };
}
