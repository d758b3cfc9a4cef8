/**
 * FAPI configuration: TCTI strings, writing a complete config, and reading one to learn which
 * profiles (and so which algorithms) a TPM can serve.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type KeyAlgorithm, KeyStoreError } from '@keystore/core';

/**
 * The FAPI profiles {@link writeFapiConfig} can make the default.
 *
 * @since 0.1.0
 */
export type FapiProfileName = 'P_ECCP256SHA256' | 'P_ECCP384SHA384' | 'P_RSA2048SHA256';

/**
 * Options of {@link writeFapiConfig}.
 *
 * @since 0.1.0
 */
export interface WriteFapiConfigOptions {
  /** Directory that receives the config, the profiles and the user/system/log directories. */
  dir: string;
  /** The TCTI: {@link swtpmTcti} for the simulator, {@link deviceTcti} for a real TPM. */
  tcti: string;
  /** The default profile (default `P_ECCP256SHA256`); the others are written too, each with its own SRK handle. */
  profile?: FapiProfileName;
  /**
   * Whether provisioning may proceed without an endorsement-key certificate (default `true`; a
   * simulator has none).
   */
  ekCertLess?: boolean;
}

/**
 * The TCTI string of a TPM simulator (swtpm, or the reference simulator's protocol) on TCP.
 *
 * @example
 * ```ts
 * swtpmTcti('127.0.0.1', 2321); // 'swtpm:host=127.0.0.1,port=2321'
 * ```
 * @since 0.1.0
 */
export function swtpmTcti(host = '127.0.0.1', port = 2321): string {
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `invalid swtpm host ${JSON.stringify(host)}`, {
      providerId: 'tpm',
    });
  }
  if (!Number.isInteger(port) || port < 1 || port > 65534) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `invalid swtpm port ${String(port)}: 1..65534`, {
      providerId: 'tpm',
    });
  }
  return `swtpm:host=${host},port=${port}`;
}

/**
 * The TCTI string of a TPM device; `/dev/tpmrm0` (the kernel's resource manager) by default.
 *
 * @example
 * ```ts
 * deviceTcti(); // 'device:/dev/tpmrm0'
 * ```
 * @since 0.1.0
 */
export function deviceTcti(path = '/dev/tpmrm0'): string {
  if (!path.startsWith('/') || path.includes(',')) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `invalid TPM device path ${JSON.stringify(path)}`, {
      providerId: 'tpm',
    });
  }
  return `device:${path}`;
}

const PCR_SELECTION = [
  { hash: 'TPM2_ALG_SHA1', pcrSelect: [] },
  { hash: 'TPM2_ALG_SHA256', pcrSelect: Array.from({ length: 24 }, (_, i) => i) },
];
const EK_POLICY = {
  description: 'Endorsement hierarchy used for policy secret.',
  policy: [{ type: 'POLICYSECRET', objectName: '4000000b' }],
};
const SYM = { algorithm: 'TPM2_ALG_AES', keyBits: '128', mode: 'TPM2_ALG_CFB' };

const ECC_P256 = {
  type: 'TPM2_ALG_ECC',
  nameAlg: 'TPM2_ALG_SHA256',
  srk_template: 'system,restricted,decrypt,0x81000001',
  srk_description: 'Storage root key SRK',
  srk_persistent: 0,
  ek_template: 'system,restricted,decrypt',
  ek_description: 'Endorsement key EK',
  ecc_signing_scheme: { scheme: 'TPM2_ALG_ECDSA', details: { hashAlg: 'TPM2_ALG_SHA256' } },
  sym_mode: 'TPM2_ALG_CFB',
  sym_parameters: SYM,
  sym_block_size: 16,
  pcr_selection: PCR_SELECTION,
  curveID: 'TPM2_ECC_NIST_P256',
  ek_policy: EK_POLICY,
};

/**
 * The two profiles shipped with tpm2-tss, except that each has its own persistent SRK handle, and a
 * third for NIST P-384 keys (the P-256 profile with the P-384 curve and SHA-384 signatures).
 */
const PROFILES: Readonly<Record<FapiProfileName, Record<string, unknown>>> = {
  P_ECCP256SHA256: ECC_P256,
  P_ECCP384SHA384: {
    ...ECC_P256,
    srk_template: 'system,restricted,decrypt,0x81000003',
    ecc_signing_scheme: { scheme: 'TPM2_ALG_ECDSA', details: { hashAlg: 'TPM2_ALG_SHA384' } },
    curveID: 'TPM2_ECC_NIST_P384',
  },
  P_RSA2048SHA256: {
    type: 'TPM2_ALG_RSA',
    nameAlg: 'TPM2_ALG_SHA256',
    srk_template: 'system,restricted,decrypt,0x81000002',
    srk_description: 'Storage root key SRK',
    srk_persistent: 1,
    ek_template: 'system,restricted,decrypt',
    ek_description: 'Endorsement key EK',
    rsa_signing_scheme: { scheme: 'TPM2_ALG_RSAPSS', details: { hashAlg: 'TPM2_ALG_SHA256' } },
    rsa_decrypt_scheme: { scheme: 'TPM2_ALG_OAEP', details: { hashAlg: 'TPM2_ALG_SHA256' } },
    sym_mode: 'TPM2_ALG_CFB',
    sym_parameters: SYM,
    sym_block_size: 16,
    pcr_selection: PCR_SELECTION,
    exponent: 0,
    keyBits: 2048,
    session_hash_alg: 'TPM2_ALG_SHA256',
    session_symmetric: SYM,
    ek_policy: EK_POLICY,
  },
};

/**
 * Writes a complete FAPI configuration under `options.dir`: `fapi-config.json`, a `profiles/`
 * directory with three profiles, each with its own SRK handle so that all can be provisioned on one
 * TPM (ECC P-256 at `0x81000001`, RSA-2048 at `0x81000002`, ECC P-384 at `0x81000003`), and the
 * `user/`, `system/` and `log/` directories. Returns the config file's path, for `TSS2_FAPICONF` or the `configFile` option.
 *
 * @example
 * ```ts
 * const configFile = await writeFapiConfig({ dir: '/tmp/tpm', tcti: swtpmTcti('127.0.0.1', 2321) });
 * const provider = tpmProvider({ configFile });
 * ```
 * @since 0.1.0
 */
export async function writeFapiConfig(options: WriteFapiConfigOptions): Promise<string> {
  const dir = resolve(options.dir);
  const profile = options.profile ?? 'P_ECCP256SHA256';
  if (!Object.hasOwn(PROFILES, profile)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `unknown FAPI profile ${JSON.stringify(profile)}`, {
      providerId: 'tpm',
      hint: `use one of ${Object.keys(PROFILES).join(', ')}`,
    });
  }
  if (typeof options.tcti !== 'string' || options.tcti.length === 0) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      'a TCTI string is required (swtpmTcti() or deviceTcti())',
      {
        providerId: 'tpm',
      },
    );
  }
  // node:fs/promises is loaded here, not when the package is imported.
  const { mkdir, writeFile } = await import('node:fs/promises');
  const profileDir = join(dir, 'profiles');
  for (const sub of ['profiles', 'user', 'system', 'log'])
    await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
  for (const [name, body] of Object.entries(PROFILES)) {
    await writeFile(join(profileDir, `${name}.json`), `${JSON.stringify(body, null, 2)}\n`, { mode: 0o644 });
  }
  const config = {
    profile_name: profile,
    profile_dir: `${profileDir}/`,
    user_dir: join(dir, 'user'),
    system_dir: join(dir, 'system'),
    log_dir: join(dir, 'log'),
    tcti: options.tcti,
    system_pcrs: [],
    ek_cert_less: options.ekCertLess === false ? 'no' : 'yes',
  };
  const file = join(dir, 'fapi-config.json');
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** One FAPI profile as this provider uses it. */
export interface ProfileInfo {
  readonly name: string;
  readonly family: 'ec' | 'rsa';
  readonly algorithm: KeyAlgorithm | undefined;
  readonly srkHandle: number;
}

/** What a FAPI config file says, with the profiles this provider can serve keys from. */
export interface FapiSetup {
  readonly configFile: string;
  readonly tcti: string;
  readonly userDir: string;
  readonly systemDir: string;
  readonly defaultProfile: ProfileInfo;
  /** Profiles keys can be created in, by algorithm (the default one, plus others with a distinct SRK handle). */
  readonly profileFor: ReadonlyMap<KeyAlgorithm, ProfileInfo>;
  /** Every usable profile, the default first. */
  readonly profiles: readonly ProfileInfo[];
  /** The raw config (to derive one per profile for provisioning). */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Parses the lenient JSON tpm2-tss ships (trailing commas allowed). */
export function parseLenientJson(text: string): unknown {
  return JSON.parse(text.replace(/,(\s*[}\]])/g, '$1'));
}

function expandHome(path: string): string {
  if (path === '~' || path.startsWith('~/')) return join(process.env.HOME ?? homedir(), path.slice(1));
  return path;
}

const CURVES: Readonly<Record<string, KeyAlgorithm>> = {
  TPM2_ECC_NIST_P256: 'ECDSA-P256',
  TPM2_ECC_NIST_P384: 'ECDSA-P384',
  TPM2_ECC_NIST_P521: 'ECDSA-P521',
};

function profileInfo(name: string, body: Record<string, unknown>): ProfileInfo | undefined {
  const template = typeof body.srk_template === 'string' ? body.srk_template : '';
  const handleText = template.split(',').find((part) => /^0x81[0-9a-f]{6}$/i.test(part.trim()));
  const srkHandle = handleText ? Number.parseInt(handleText.trim(), 16) : 0x81000001;
  if (body.type === 'TPM2_ALG_ECC') {
    return { name, family: 'ec', algorithm: CURVES[String(body.curveID)], srkHandle };
  }
  if (body.type === 'TPM2_ALG_RSA') {
    const bits = Number(body.keyBits);
    const algorithm = bits === 2048 || bits === 3072 || bits === 4096 ? (`RSA-${bits}` as KeyAlgorithm) : undefined;
    return { name, family: 'rsa', algorithm, srkHandle };
  }
  return undefined;
}

/**
 * How a user of the published package gets a FAPI config: what the hints of a missing or bad config
 * say. (The repository's own scripts are not in the package, so they are not named.)
 */
const FAPI_CONFIG_HOWTO =
  'writeFapiConfig() writes one, for a TPM (deviceTcti(): /dev/tpmrm0) or for the swtpm simulator (swtpmTcti()); ' +
  'starting swtpm and writing its config, step by step: https://github.com/keystore-sdk/keystore/blob/main/docs/getting-started.md';

/** The hint when no FAPI config is named at all. */
export const TPM_SETUP_HINT = `set TSS2_FAPICONF to a FAPI config file, or pass the configFile option; ${FAPI_CONFIG_HOWTO}`;

function configError(configFile: string, message: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `FAPI config ${configFile}: ${message}`, {
    providerId: 'tpm',
    hint: `point TSS2_FAPICONF (or the configFile option) at a valid FAPI config; ${FAPI_CONFIG_HOWTO}`,
    cause,
  });
}

/**
 * Reads a FAPI config file and its profile directory. The default profile always serves; another
 * profile serves too when its SRK handle differs from every profile already chosen (two profiles
 * with the same handle cannot both be provisioned on one TPM).
 */
export function readFapiSetup(configFile: string): FapiSetup {
  let raw: Record<string, unknown>;
  try {
    raw = parseLenientJson(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw configError(configFile, 'cannot be read or is not JSON', cause);
  }
  if (typeof raw !== 'object' || raw === null) throw configError(configFile, 'is not a JSON object');
  const need = (key: string): string => {
    const value = raw[key];
    if (typeof value !== 'string') throw configError(configFile, `"${key}" is missing`);
    return value;
  };
  const profileDir = expandHome(need('profile_dir'));
  const defaultName = need('profile_name');
  const userDir = expandHome(need('user_dir'));
  const systemDir = expandHome(need('system_dir'));
  const tcti = typeof raw.tcti === 'string' ? raw.tcti : '';
  const load = (name: string): ProfileInfo | undefined => {
    try {
      const body = parseLenientJson(readFileSync(join(profileDir, `${name}.json`), 'utf8')) as Record<string, unknown>;
      return profileInfo(name, body);
    } catch {
      return undefined;
    }
  };
  const defaultProfile = load(defaultName);
  if (!defaultProfile)
    throw configError(configFile, `profile ${defaultName} not found or not readable in ${profileDir}`);
  const profiles: ProfileInfo[] = [defaultProfile];
  let others: string[] = [];
  try {
    others = existsSync(profileDir)
      ? readdirSync(profileDir)
          .filter((f) => f.endsWith('.json'))
          .map((f) => f.slice(0, -5))
          .filter((n) => n !== defaultName)
          .sort()
      : [];
  } catch {
    others = [];
  }
  for (const name of others) {
    const info = load(name);
    if (!info?.algorithm) continue;
    if (profiles.some((p) => p.srkHandle === info.srkHandle || p.algorithm === info.algorithm)) continue;
    profiles.push(info);
  }
  const profileFor = new Map<KeyAlgorithm, ProfileInfo>();
  for (const p of profiles) if (p.algorithm && !profileFor.has(p.algorithm)) profileFor.set(p.algorithm, p);
  return { configFile, tcti, userDir, systemDir, defaultProfile, profileFor, profiles, raw };
}
