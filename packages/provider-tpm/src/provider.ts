/**
 * The TPM provider: keys in a TPM 2.0 through tpm2-tss FAPI.
 *
 * @module
 */

import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  type KeyStoreProvider,
  type OperationOptions,
  type ProbeResult,
  type ProviderCapabilities,
  type ProviderCreateRequest,
  type ProviderKeyInfo,
  type ProviderKeyRequest,
  throwIfAborted,
} from '@keystore/core';
import type { NCryptKeyStorage } from '@keystore/provider-cng';
import { type GuardedOutcome, type GuardOptions, guardNativeCall, processBudget } from './budget.js';
import { type FapiSetup, type ProfileInfo, readFapiSetup } from './config.js';
import { deviceIsolation, parseDeviceInfo, type TpmDeviceInfo } from './device.js';
import {
  type KeyBackend,
  keyPassword,
  keyReceipt,
  parseExportedKey,
  replacedKeyError,
  samePublicKey,
  TpmKey,
} from './key.js';
import { assertKeyName, parseFapiKeyPath } from './names.js';
import { type FapiBindings, loadFapi } from './native/fapi.js';
import {
  ambientFapiConf,
  ContextPool,
  NativeCallFailure,
  openContext,
  type PoolContext,
  restoreFapiConf,
} from './pool.js';
import { tss2Error } from './rc.js';
import { Secret } from './secret.js';
import { parseTcti } from './tcti.js';
import { pcpProvider } from './windows.js';

/**
 * Time limits, in milliseconds.
 *
 * @since 0.1.0
 */
export interface TpmTimeouts {
  /** `Fapi_Initialize` (connecting to the TPM); default 5,000. */
  connect?: number;
  /** One sign, decrypt, export, list or delete once it runs; default 10,000. */
  operation?: number;
  /** Key creation (RSA key generation takes seconds on some chips); default 60,000. */
  create?: number;
  /** The whole of `probe()`; default 3,000. */
  probe?: number;
}

/**
 * Options of {@link TpmProvider}.
 *
 * @since 0.1.0
 */
export interface TpmProviderOptions {
  /** A FAPI config file; default: the file named by env `TSS2_FAPICONF`. */
  configFile?: string;
  /** FAPI contexts used in parallel (default 2, at most 8). Each serves one call at a time. */
  poolSize?: number;
  /** Time limits. */
  timeouts?: TpmTimeouts;
  /** The FAPI shared library (default `libtss2-fapi.so.1`). */
  libraryPath?: string;
  /**
   * A replacement for the FAPI function table: for tests of the provider's logic over a double.
   * Production code leaves it unset.
   */
  native?: FapiBindings;
}

const DEFAULT_ALGORITHMS: readonly KeyAlgorithm[] = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048'];
const SCOPES: readonly KeyScope[] = ['user', 'machine'];
const MAX_PASSWORD_BYTES = 32;
/** TPM warnings worth a retry on a fresh context: OBJECT_MEMORY, SESSION_MEMORY, MEMORY, RETRY, YIELDED, TESTING. */
const RETRYABLE = new Set([0x902, 0x903, 0x904, 0x922, 0x908, 0x90a]);
/** Contexts that can share a TPM without a resource manager (it has three transient object slots). */
const POOL_WITHOUT_RESOURCE_MANAGER = 2;

function providerError(
  code: 'ERR_KEYSTORE_INVALID_ARGUMENT' | 'ERR_KEYSTORE_KEY_NOT_FOUND',
  message: string,
  hint?: string,
) {
  return new KeyStoreError(code, message, { providerId: 'tpm', hint });
}

function checkRequest<T>(request: T, what: string): NonNullable<T> {
  if (typeof request !== 'object' || request === null) {
    throw providerError('ERR_KEYSTORE_INVALID_ARGUMENT', `${what} needs a request object`);
  }
  return request as NonNullable<T>;
}

function checkScope(scope: unknown): KeyScope {
  if (scope === undefined) return 'user';
  if (scope !== 'user' && scope !== 'machine') {
    throw providerError('ERR_KEYSTORE_INVALID_ARGUMENT', `invalid scope ${JSON.stringify(scope)}: user or machine`);
  }
  return scope;
}

function checkPassword(password: unknown): string | undefined {
  if (password === undefined || password === null || password === '') return undefined;
  if (typeof password !== 'string')
    throw providerError('ERR_KEYSTORE_INVALID_ARGUMENT', 'a key password must be a string');
  if (password.includes('\0')) {
    throw providerError('ERR_KEYSTORE_INVALID_ARGUMENT', 'a key password cannot contain NUL characters');
  }
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw providerError(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
      `a TPM key password is at most ${MAX_PASSWORD_BYTES} bytes in UTF-8 (the size of a SHA-256 digest)`,
    );
  }
  return password;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw providerError('ERR_KEYSTORE_INVALID_ARGUMENT', `${name} must be a positive number of milliseconds`);
  }
  return value;
}

/** The error of a call on (or interrupted by) a closed provider. */
function closedError(when?: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
    `the TPM provider was closed${when ? ` ${when}` : ''}`,
    {
      providerId: 'tpm',
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/** Closes the pool of a provider that was dropped without `close()`. */
const dropped = new FinalizationRegistry<ContextPool>((pool) => pool.close());

/** Options of one native call through the pool. */
interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  /** Once the native call has started, the signal no longer abandons it. */
  letFinish?: boolean;
  password?: string | undefined;
  /** The FAPI path the password is for. */
  keyPath?: string | undefined;
}

/** Where a key was found. */
interface Located {
  readonly profile: ProfileInfo;
  readonly scope: KeyScope;
  readonly path: string;
  readonly objectFile: string;
}

/**
 * Runs one guarded native call on a context of its own (outside the pool) and releases the context:
 * at once when the call settles, or when an abandoned call finally returns.
 */
async function callOnOwnContext<T>(
  context: PoolContext,
  call: () => Promise<T>,
  options: Omit<GuardOptions<T>, 'afterAbandoned'>,
): Promise<T> {
  let outcome: GuardedOutcome<T>;
  try {
    outcome = await guardNativeCall(processBudget(), call, { ...options, afterAbandoned: () => context.release() });
  } catch (err) {
    context.release();
    throw err;
  }
  if (outcome.kind === 'abandoned') throw outcome.error;
  context.release();
  if (outcome.kind === 'failed') throw outcome.error;
  return outcome.value;
}

/**
 * Keys in a TPM 2.0 through tpm2-tss FAPI (Linux). A key named `N` lives at FAPI path `HS/SRK/N`
 * (RSA keys beside an ECC default profile at `/P_RSA2048SHA256/HS/SRK/N`), so the tpm2-tools FAPI
 * commands (`tss2_sign --keyPath HS/SRK/N`) use the same keys.
 *
 * > [!NOTE]
 * > On a simulator (swtpm) keys are reported with `in-process` isolation, not `hardware`: the
 * > simulator is an ordinary process whose state any process of the same user can read.
 *
 * @example
 * ```ts
 * import { TpmProvider } from '@keystore/provider-tpm';
 * const provider = new TpmProvider({ configFile: process.env.TSS2_FAPICONF });
 * console.log(await provider.probe());
 * ```
 * @since 0.1.0
 */
export class TpmProvider implements KeyStoreProvider {
  /** `tpm`. */
  readonly id = 'tpm';
  /** A human-readable name. */
  readonly displayName = 'TPM 2.0 (tpm2-tss FAPI)';
  private readonly options: TpmProviderOptions;
  private readonly poolSize: number;
  private readonly timeouts: Required<TpmTimeouts>;
  private setupCache: FapiSetup | undefined;
  private native: FapiBindings | undefined;
  private poolInstance: ContextPool | undefined;
  private provisioned: Promise<void> | undefined;
  private device: TpmDeviceInfo | undefined;
  /** Profiles that could not be provisioned on this TPM, with the reason. */
  private readonly unusable = new Map<string, string>();
  private closed = false;
  /** Fires on close(): a create in flight then rolls back as if its caller had cancelled it. */
  private readonly closing = new AbortController();
  /** Creates in flight (their rollback included), which close() waits for. */
  private readonly creating = new Set<Promise<unknown>>();

  constructor(options: TpmProviderOptions = {}) {
    this.options = { ...options };
    const size = options.poolSize ?? 2;
    if (!Number.isInteger(size) || size < 1 || size > 8) {
      throw providerError(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        `poolSize must be an integer from 1 to 8, not ${String(size)}`,
      );
    }
    this.poolSize = size;
    const t = options.timeouts ?? {};
    this.timeouts = {
      connect: positive(t.connect, 5_000, 'timeouts.connect'),
      operation: positive(t.operation, 10_000, 'timeouts.operation'),
      create: positive(t.create, 60_000, 'timeouts.create'),
      probe: positive(t.probe, 3_000, 'timeouts.probe'),
    };
  }

  /** The FAPI config file in use (the option, else `TSS2_FAPICONF`), or `undefined`. */
  get configFile(): string | undefined {
    return this.options.configFile ?? (ambientFapiConf() || undefined);
  }

  /**
   * What it can do. Algorithms come from the FAPI profiles the config makes usable (ECDSA-P256,
   * ECDSA-P384 and RSA-2048 with a config from {@link writeFapiConfig}), less any the TPM could not
   * provision; before a config is readable, those three.
   */
  get capabilities(): ProviderCapabilities {
    let algorithms = DEFAULT_ALGORITHMS;
    try {
      algorithms = [...this.profileFor().keys()];
    } catch {
      // No readable config yet: report what a config written by writeFapiConfig offers.
    }
    const rsa = algorithms.some((a) => a.startsWith('RSA-'));
    return {
      algorithms,
      operations: rsa ? ['sign', 'decrypt'] : ['sign'],
      scopes: SCOPES,
      exportableKeys: false,
      passwords: true,
      legacyCryptoApi: false,
      rsaSignaturePaddings: rsa ? ['pkcs1', 'pss'] : [],
      oaepHashes: rsa ? ['sha256'] : [],
    };
  }

  /** Reads (once) the FAPI config. */
  private setup(): FapiSetup {
    if (this.setupCache) return this.setupCache;
    const file = this.configFile;
    if (!file) {
      throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'no FAPI config: TSS2_FAPICONF is not set', {
        providerId: 'tpm',
        hint: 'set TSS2_FAPICONF to a FAPI config file (scripts/swtpm.sh start prints one for a simulator; writeFapiConfig() writes one for device:/dev/tpmrm0), or pass the configFile option',
      });
    }
    this.setupCache = readFapiSetup(file);
    return this.setupCache;
  }

  private bindings(): FapiBindings {
    if (!this.native) this.native = this.options.native ?? loadFapi(this.options.libraryPath);
    return this.native;
  }

  private pool(): ContextPool {
    if (this.closed) throw closedError();
    if (!this.poolInstance) {
      const setup = this.setup();
      this.poolInstance = new ContextPool(this.bindings(), {
        size: this.effectivePoolSize(setup.tcti),
        configFile: setup.configFile,
        connectTimeoutMs: this.timeouts.connect,
        tcti: setup.tcti,
        defaultProfile: setup.defaultProfile.name,
        expectTcti: setup.tcti,
      });
      dropped.register(this, this.poolInstance, this);
    }
    return this.poolInstance;
  }

  /**
   * The pool size used with this TCTI: as asked through a resource manager (`device:/dev/tpmrm0`,
   * `tabrmd`), at most 2 straight to a TPM or simulator, whose three object slots the contexts share.
   */
  private effectivePoolSize(tcti: string): number {
    const parsed = parseTcti(tcti);
    const managed =
      (parsed.module === 'device' && /^\/dev\/tpmrm\d+$/.test(parsed.config ?? '')) || parsed.module === 'tabrmd';
    return managed ? this.poolSize : Math.min(this.poolSize, POOL_WITHOUT_RESOURCE_MANAGER);
  }

  /** Runs one native call; a non-zero return code becomes a typed error and retires the context. */
  private async call<T>(
    what: string,
    fn: (native: FapiBindings, context: PoolContext) => Promise<{ rc: number; value?: T } | number>,
    options: CallOptions = {},
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce(what, fn, options);
      } catch (err) {
        // The TPM's transient warnings (out of object or session slots, retry): the failed context
        // was already replaced; try again a few times, a little later.
        const status = KeyStoreError.is(err) ? err.nativeStatus : undefined;
        if (status === undefined || !RETRYABLE.has(status & 0xfff) || attempt >= 6 || status >>> 16 !== 0) throw err;
        throwIfAborted(options.signal);
        await new Promise((resolve) => setTimeout(resolve, (5 << attempt) * (0.5 + Math.random())));
      }
    }
  }

  private callOnce<T>(
    what: string,
    fn: (native: FapiBindings, context: PoolContext) => Promise<{ rc: number; value?: T } | number>,
    options: CallOptions,
  ): Promise<T> {
    const native = this.bindings();
    return this.pool().run(
      async (context) => {
        const result = await fn(native, context);
        const rc = typeof result === 'number' ? result : result.rc;
        if (rc !== 0) throw new NativeCallFailure(tss2Error(rc, what, native.decode(rc)));
        return (typeof result === 'number' ? undefined : result.value) as T;
      },
      {
        timeoutMs: options.timeoutMs ?? this.timeouts.operation,
        signal: options.signal,
        letFinish: options.letFinish,
        password: options.password,
        keyPath: options.keyPath,
        what,
      },
    );
  }

  /**
   * Provisions every usable profile once ("already provisioned" counts as success). A profile other
   * than the config's default is provisioned through a derived config naming it as the default.
   */
  private ensureProvisioned(signal?: AbortSignal): Promise<void> {
    if (!this.provisioned) {
      this.provisioned = this.provisionAll(signal).catch((err: unknown) => {
        this.provisioned = undefined;
        throw err;
      });
    }
    return this.provisioned;
  }

  private async provisionAll(signal?: AbortSignal): Promise<void> {
    const setup = this.setup();
    for (const profile of setup.profiles) {
      if (this.unusable.has(profile.name)) continue;
      if (existsSync(join(setup.systemDir, profile.name, 'HS', 'SRK', 'object.json'))) continue;
      const provision = async (native: FapiBindings, context: PoolContext) => {
        const rc = await native.provision(context.handle);
        return rc === 0x60035 ? 0 : rc; // TSS2_FAPI_RC_ALREADY_PROVISIONED
      };
      if (profile === setup.defaultProfile) {
        await this.call(`provisioning profile ${profile.name}`, provision, { timeoutMs: this.timeouts.create, signal });
        continue;
      }
      try {
        await this.provisionOther(profile, provision);
      } catch (err) {
        // The TPM may lack what this extra profile needs (a curve, a key size): serve without it.
        // A TPM that stopped answering is another matter: fail, and try again next time.
        if (
          !KeyStoreError.is(err) ||
          err.code === 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' ||
          err.code === 'ERR_KEYSTORE_TIMEOUT'
        ) {
          throw err;
        }
        this.unusable.set(profile.name, `profile ${profile.name} could not be provisioned on this TPM: ${err.message}`);
      }
    }
  }

  /** Provisions a profile other than the default through a derived config that names it the default. */
  private async provisionOther(
    profile: ProfileInfo,
    provision: (native: FapiBindings, context: PoolContext) => Promise<number>,
  ): Promise<void> {
    const setup = this.setup();
    const native = this.bindings();
    const dir = await mkdtemp(join(tmpdir(), 'keystore-tpm-'));
    try {
      const derived = join(dir, 'fapi-config.json');
      await writeFile(derived, JSON.stringify({ ...setup.raw, profile_name: profile.name }), { mode: 0o600 });
      let context: PoolContext;
      try {
        context = await openContext(native, derived, this.timeouts.connect, {
          tcti: setup.tcti,
          defaultProfile: profile.name,
          expectTcti: setup.tcti,
        });
      } finally {
        // FAPI read the derived config; name the provider's own again for later contexts and tools.
        await restoreFapiConf(setup.configFile);
      }
      const rc = await callOnOwnContext(context, () => provision(native, context), {
        timeoutMs: this.timeouts.create,
        what: `provisioning profile ${profile.name}`,
      });
      if (rc !== 0) throw tss2Error(rc, `provisioning profile ${profile.name}`, native.decode(rc));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Algorithms this provider can create keys for, and the profile of each. */
  private profileFor(): ReadonlyMap<KeyAlgorithm, ProfileInfo> {
    const setup = this.setup();
    if (this.unusable.size === 0) return setup.profileFor;
    return new Map([...setup.profileFor].filter(([, p]) => !this.unusable.has(p.name)));
  }

  private async deviceInfo(signal?: AbortSignal): Promise<TpmDeviceInfo> {
    if (this.device) return this.device;
    const json = await this.call<string>('reading TPM properties (Fapi_GetInfo)', (n, c) => n.getInfo(c.handle), {
      signal,
    });
    this.device = parseDeviceInfo(json, this.setup().tcti);
    return this.device;
  }

  /**
   * Reads the TPM's properties on a context of its own, outside the pool, so that a probe neither
   * waits behind queued operations nor takes longer than `timeouts.probe` in all.
   */
  private async probeDevice(signal?: AbortSignal): Promise<TpmDeviceInfo> {
    const native = this.bindings();
    const setup = this.setup();
    const deadline = Date.now() + this.timeouts.probe;
    const context = await openContext(native, setup.configFile, this.timeouts.probe, {
      tcti: setup.tcti,
      defaultProfile: setup.defaultProfile.name,
      expectTcti: setup.tcti,
    });
    const result = await callOnOwnContext(context, () => native.getInfo(context.handle), {
      timeoutMs: Math.max(1, deadline - Date.now()),
      signal,
      what: 'reading TPM properties (Fapi_GetInfo)',
    });
    if (result.rc !== 0 || result.value === undefined) {
      throw tss2Error(result.rc, 'reading TPM properties (Fapi_GetInfo)', native.decode(result.rc));
    }
    this.device = parseDeviceInfo(result.value, setup.tcti);
    return this.device;
  }

  /** Answers whether a TPM answers here, and what isolation its keys get. Never throws. */
  async probe(options?: OperationOptions): Promise<ProbeResult> {
    const down = (reasons: string[], details?: Record<string, string | number | boolean>): ProbeResult => ({
      available: false,
      isolation: 'none',
      reasons,
      ...(details ? { details } : {}),
    });
    if (process.platform === 'win32' && !this.options.native) {
      return down(
        [
          'this is the FAPI (tpm2-tss) backend; on Windows, tpmProvider() and createProvider() return the Platform Crypto Provider backend (pcpProvider())',
        ],
        { platform: 'win32' },
      );
    }
    const explain = (err: unknown): string[] =>
      KeyStoreError.is(err)
        ? [err.message, ...(err.hint ? [err.hint] : [])]
        : [`unexpected failure: ${err instanceof Error ? err.message : String(err)}`];
    try {
      this.bindings();
    } catch (err) {
      return down(explain(err), { platform: process.platform });
    }
    let setup: FapiSetup;
    try {
      setup = this.setup();
    } catch (err) {
      return down(explain(err), { platform: process.platform });
    }
    try {
      const device = await this.probeDevice(options?.signal);
      const { level, reasons } = deviceIsolation(device);
      return {
        available: true,
        isolation: level,
        reasons: [...reasons, ...this.unusable.values()],
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
          poolSize: this.effectivePoolSize(setup.tcti),
          algorithms: [...this.profileFor().keys()].join(','),
          nativeCallBudget: processBudget().limit,
          stuckNativeCalls: processBudget().stuck,
        },
      };
    } catch (err) {
      return down(explain(err), { platform: process.platform, tcti: setup.tcti, configFile: setup.configFile });
    }
  }

  /** Finds the key's blob in the FAPI keystore directories, without a native call. */
  private locate(name: string, scope?: KeyScope): Located | undefined {
    const setup = this.setup();
    for (const s of scope ? [scope] : SCOPES) {
      const root = s === 'machine' ? setup.systemDir : setup.userDir;
      for (const profile of setup.profiles) {
        const objectFile = join(root, profile.name, 'HS', 'SRK', name, 'object.json');
        if (existsSync(objectFile)) {
          const path = profile === setup.defaultProfile ? `HS/SRK/${name}` : `/${profile.name}/HS/SRK/${name}`;
          return { profile, scope: s, path, objectFile };
        }
      }
    }
    return undefined;
  }

  private notFound(name: string, scope: KeyScope): KeyStoreError {
    const other = this.locate(name, scope === 'user' ? 'machine' : 'user');
    return providerError(
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      `no TPM key "${name}" in the ${scope} scope`,
      other ? `a key by that name exists in the ${other.scope} scope` : 'list keys to see which exist',
    );
  }

  private backend(): KeyBackend {
    return {
      sign: async (key, padding, digest, options) => {
        if (!existsSync(this.objectFileOf(key))) throw this.notFound(key.name, key.scope);
        const sig = await this.call(
          `sign with key "${key.name}"`,
          (n, c) => n.sign(c.handle, key.fapiPath, padding, digest),
          { signal: options?.signal, password: keyPassword(key), keyPath: key.fapiPath },
        );
        // Fapi_Sign names the key by path, and the key at that path may have been deleted and made
        // again (by another store or process) since this handle was opened: the signature is only
        // returned when it was made by the key this handle stands for.
        if (!samePublicKey(sig.publicKeyPem, key.publicKey)) {
          sig.signature.fill(0);
          throw replacedKeyError(key);
        }
        return sig.signature;
      },
      decrypt: async (key, ciphertext, options) => {
        if (!existsSync(this.objectFileOf(key))) throw this.notFound(key.name, key.scope);
        // Fapi_Decrypt does not say which key decrypted: read the public key at the path first, on
        // the same context, and decrypt only when it is this handle's key. Another process can still
        // replace the key between the two calls; that window is documented.
        return this.call(
          `decrypt with key "${key.name}"`,
          async (n, c) => {
            const current = await n.exportKey(c.handle, key.fapiPath);
            if (current.rc !== 0) return current.rc;
            let pem = '';
            try {
              pem = parseExportedKey(current.value ?? '').publicKeyPem;
            } catch {
              pem = '';
            }
            if (!samePublicKey(pem, key.publicKey)) throw replacedKeyError(key);
            return n.decrypt(c.handle, key.fapiPath, ciphertext);
          },
          { signal: options?.signal, password: keyPassword(key), keyPath: key.fapiPath },
        );
      },
    };
  }

  private objectFileOf(key: TpmKey): string {
    const setup = this.setup();
    return join(
      key.scope === 'machine' ? setup.systemDir : setup.userDir,
      key.profile,
      'HS',
      'SRK',
      key.name,
      'object.json',
    );
  }

  private async loadKey(located: Located, name: string, password: string | undefined, signal?: AbortSignal) {
    const json = await this.call<string>(
      `export the public key of "${name}"`,
      (n, c) => n.exportKey(c.handle, located.path),
      {
        signal,
      },
    );
    const exported = parseExportedKey(json);
    if (!exported.algorithm || !exported.publicKeyPem) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the TPM key "${name}" has an algorithm this SDK does not support`,
        { providerId: 'tpm' },
      );
    }
    const device = await this.deviceInfo(signal);
    return new TpmKey(
      name,
      exported.algorithm,
      located.scope,
      located.path,
      located.profile.name,
      keyReceipt(device, exported, located.path),
      exported,
      password,
      this.backend(),
    );
  }

  /**
   * Creates a key. ECDSA keys are FAPI type `sign,noDa`; RSA keys `sign,decrypt,noDa` (they sign and
   * decrypt); `machine` scope adds `system` (the FAPI system keystore).
   */
  async createKey(request: ProviderCreateRequest): Promise<TpmKey> {
    if (this.closed) throw closedError();
    const run = this.createKeyOnce(request);
    this.creating.add(run);
    try {
      return await run;
    } finally {
      this.creating.delete(run);
    }
  }

  private async createKeyOnce(request: ProviderCreateRequest): Promise<TpmKey> {
    checkRequest(request, 'createKey');
    throwIfAborted(request.signal);
    assertKeyName(request.name);
    const scope = checkScope(request.scope);
    const password = checkPassword(request.password);
    const setup = this.setup();
    const unsupported = () => {
      const profileName = setup.profileFor.get(request.algorithm)?.name;
      const why = profileName ? this.unusable.get(profileName) : undefined;
      return new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the TPM provider cannot create ${String(request.algorithm)} keys ${why ? 'on this TPM' : 'with this FAPI config'}; supported: ${[
          ...this.profileFor().keys(),
        ].join(', ')}`,
        {
          providerId: 'tpm',
          hint:
            why ??
            'a config written by writeFapiConfig() offers ECDSA-P256, ECDSA-P384 and RSA-2048 (one profile each, with distinct SRK handles)',
        },
      );
    };
    if (!this.profileFor().has(request.algorithm)) throw unsupported();
    if (request.exportable) {
      throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'TPM keys cannot be created exportable', {
        providerId: 'tpm',
        hint: 'the private part of a TPM key never leaves the TPM; create it non-exportable',
      });
    }
    await this.ensureProvisioned(request.signal);
    // Provisioning may have found that this TPM cannot serve the algorithm's profile.
    const profile = this.profileFor().get(request.algorithm);
    if (!profile) throw unsupported();
    const existing = this.locate(request.name);
    if (existing) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_KEY_EXISTS',
        `a TPM key "${request.name}" exists (${existing.scope} scope)`,
        {
          providerId: 'tpm',
          hint: 'key names are unique across scopes and algorithms in one FAPI keystore; open it, or delete it first',
        },
      );
    }
    const located: Located = {
      profile,
      scope,
      path: profile === setup.defaultProfile ? `HS/SRK/${request.name}` : `/${profile.name}/HS/SRK/${request.name}`,
      objectFile: '',
    };
    const type = [
      profile.family === 'rsa' ? 'sign,decrypt' : 'sign',
      'noDa',
      ...(scope === 'machine' ? ['system'] : []),
    ].join(',');
    // The signal cancels the create until Fapi_CreateKey starts; from then on the key is being made
    // and the call runs to its end: when the signal fired meanwhile, the new key is deleted again and
    // the create rejects with ERR_KEYSTORE_CANCELLED, so that a cancelled create leaves no key.
    // close() does the same (the create then rejects with ERR_KEYSTORE_PROVIDER_UNAVAILABLE).
    const signal = request.signal ? AbortSignal.any([request.signal, this.closing.signal]) : this.closing.signal;
    const stopped = (cause: unknown, deleted: boolean) =>
      request.signal?.aborted
        ? new KeyStoreError(
            'ERR_KEYSTORE_CANCELLED',
            `the operation was cancelled${deleted ? '; the new key was deleted' : ''}`,
            { providerId: 'tpm', cause },
          )
        : closedError(deleted ? 'during the create; the new key was deleted' : 'during the create', cause);
    try {
      await this.call(
        `create key "${request.name}" (${request.algorithm})`,
        (n, c) => n.createKey(c.handle, located.path, type, null, password ?? ''),
        { timeoutMs: this.timeouts.create, signal, letFinish: true },
      );
    } catch (err) {
      // The create failed after the abort or close: no key was made; report why it stopped.
      if (signal.aborted) throw stopped(err, false);
      throw err;
    }
    let key: TpmKey | undefined;
    let failure: unknown;
    if (!signal.aborted) {
      try {
        key = await this.loadKey(located, request.name, password);
      } catch (err) {
        failure = err;
      }
    }
    if (signal.aborted) {
      await key?.close();
      await this.discardCreated(located, password);
      throw stopped(signal.reason, true);
    }
    if (key === undefined) throw failure;
    return key;
  }

  /**
   * Deletes a key made by a create that was cancelled meanwhile (best effort). After close() the pool
   * is gone: the delete then runs on a context of its own, opened for it and finalized after it.
   */
  private async discardCreated(located: Located, password: string | undefined): Promise<void> {
    if (this.closed) {
      try {
        const native = this.bindings();
        const setup = this.setup();
        const context = await openContext(native, setup.configFile, this.timeouts.connect, {
          tcti: setup.tcti,
          defaultProfile: setup.defaultProfile.name,
          expectTcti: setup.tcti,
        });
        context.password = password === undefined ? undefined : new Secret(password);
        context.authPath = password === undefined ? undefined : located.path;
        await callOnOwnContext(context, () => native.delete(context.handle, located.path), {
          timeoutMs: this.timeouts.operation,
          what: `delete the key at ${located.path} made by a create that close() interrupted`,
        });
      } catch {
        // Best effort, as below.
      }
      return;
    }
    try {
      await this.call(
        `delete the key at ${located.path} made by a cancelled create`,
        (n, c) => n.delete(c.handle, located.path),
        { password, keyPath: located.path },
      );
    } catch {
      // Best effort: a key left behind shows in listKeys() and can be deleted by name.
    }
  }

  /** Opens a key by name; `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none in that scope. */
  async openKey(request: ProviderKeyRequest): Promise<TpmKey> {
    checkRequest(request, 'openKey');
    throwIfAborted(request.signal);
    assertKeyName(request.name);
    const scope = checkScope(request.scope);
    const password = checkPassword(request.password);
    const located = this.locate(request.name, scope);
    if (!located) throw this.notFound(request.name, scope);
    return this.loadKey(located, request.name, password, request.signal);
  }

  /** Lists keys directly under the SRK (through `Fapi_List`), in one scope or both. */
  async listKeys(options?: OperationOptions & { scope?: KeyScope }): Promise<ProviderKeyInfo[]> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw providerError('ERR_KEYSTORE_INVALID_ARGUMENT', 'listKeys options must be an object');
    }
    throwIfAborted(options?.signal);
    const wanted = options?.scope === undefined ? undefined : checkScope(options.scope);
    const setup = this.setup();
    await this.ensureProvisioned(options?.signal);
    const list = await this.call<string>('list keys (Fapi_List)', (n, c) => n.list(c.handle, '/'), {
      signal: options?.signal,
    });
    const seen = new Set<string>();
    const out: ProviderKeyInfo[] = [];
    for (const entry of list.split(':')) {
      const parsed = parseFapiKeyPath(entry);
      if (!parsed || seen.has(parsed.name)) continue;
      const profile = setup.profiles.find((p) => p.name === (parsed.profile ?? setup.defaultProfile.name));
      const located = this.locate(parsed.name);
      if (!located) continue;
      if (wanted && located.scope !== wanted) continue;
      seen.add(parsed.name);
      out.push({
        name: parsed.name,
        scope: located.scope,
        ...(profile?.algorithm ? { algorithm: profile.algorithm } : {}),
      });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Deletes a key; `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none in that scope. */
  async deleteKey(request: ProviderKeyRequest): Promise<void> {
    checkRequest(request, 'deleteKey');
    throwIfAborted(request.signal);
    assertKeyName(request.name);
    const scope = checkScope(request.scope);
    const located = this.locate(request.name, scope);
    if (!located) throw this.notFound(request.name, scope);
    await this.call(`delete key "${request.name}"`, (n, c) => n.delete(c.handle, located.path), {
      signal: request.signal,
      password: checkPassword(request.password),
      keyPath: located.path,
    });
  }

  /** Finalizes every FAPI context. Idempotent; later calls reject with `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`. */
  async close(): Promise<void> {
    this.closed = true;
    dropped.unregister(this);
    this.closing.abort();
    this.poolInstance?.close();
    // A create in flight finishes its native call, then deletes the key it made: wait for that, so
    // that when close() resolves no key of an interrupted create is left behind.
    await Promise.allSettled([...this.creating]);
  }

  /** Same as {@link TpmProvider.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Creates the TPM provider for this platform: on Linux a {@link TpmProvider} (tpm2-tss FAPI); on
 * Windows the Platform Crypto Provider backend ({@link pcpProvider}), unless `options.native`
 * supplies FAPI bindings.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { tpmProvider } from '@keystore/provider-tpm';
 * const store = await createKeyStore({ providers: [tpmProvider()], policy: { minimumIsolation: 'hardware' } });
 * ```
 * @since 0.1.0
 */
export function tpmProvider(options?: TpmProviderOptions): TpmProvider | NCryptKeyStorage {
  return process.platform === 'win32' && !options?.native ? pcpProvider() : new TpmProvider(options);
}

/**
 * The entry point the `keystore` CLI calls on every installed `@keystore/provider-*` package: the
 * same as {@link tpmProvider}. On Linux, with no options, the FAPI config comes from env
 * `TSS2_FAPICONF`; without it, `probe()` says unavailable and why. On Windows it is the Platform
 * Crypto Provider backend.
 *
 * @since 0.1.0
 */
export function createProvider(options?: TpmProviderOptions): TpmProvider | NCryptKeyStorage {
  return tpmProvider(options);
}
