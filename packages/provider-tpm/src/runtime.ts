/**
 * What every operation of the TPM provider stands on: the FAPI config, the bindings, the pool of
 * contexts and its native calls (with retries), the provisioning of profiles, and where a key's blob
 * lives in the FAPI keystore. {@link TpmProvider} owns one {@link FapiRuntime}; its keys keep it alive.
 *
 * @module
 */

import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KeyAlgorithm, type KeyScope, KeyStoreError, throwIfAborted } from '@keystore/core';
import { type GuardedOutcome, type GuardOptions, guardNativeCall, processBudget } from './budget.js';
import { type FapiSetup, type ProfileInfo, readFapiSetup, TPM_SETUP_HINT } from './config.js';
import type { TpmDeviceInfo } from './device.js';
import type { TpmKey } from './key.js';
import { type EsysBindings, loadEsys } from './native/esys.js';
import { FAPI_LIBRARY, type FapiBindings, loadFapi } from './native/fapi.js';
import { closedError, SCOPES, type TpmProviderOptions, type TpmTimeouts, tpmError } from './options.js';
import {
  ambientFapiConf,
  ContextPool,
  NativeCallFailure,
  openContext,
  type PoolContext,
  restoreFapiConf,
} from './pool.js';
import { tss2Error } from './rc.js';
import { parseTcti } from './tcti.js';

/** TPM warnings worth a retry on a fresh context: OBJECT_MEMORY, SESSION_MEMORY, MEMORY, RETRY, YIELDED, TESTING. */
const RETRYABLE = new Set([0x902, 0x903, 0x904, 0x922, 0x908, 0x90a]);
/** Contexts that can share a TPM without a resource manager (it has three transient object slots). */
const POOL_WITHOUT_RESOURCE_MANAGER = 2;
/**
 * Keys each context keeps loaded by default: through a resource manager (which swaps objects out
 * and gives each connection its own view), 4; straight to a TPM or simulator, none, because a loaded
 * key holds one of its three transient object slots between calls, which every other process using
 * that TPM then lacks (`loadedKeys: 1` opts in where this process is the TPM's only user).
 */
const LOADED_KEYS_MANAGED = 4;
const LOADED_KEYS_UNMANAGED = 0;

/**
 * Closes the pool of a runtime that was dropped without `close()`. The runtime is held by its
 * provider and by every key it opened, so this runs once the provider and all its keys are gone.
 */
const dropped = new FinalizationRegistry<ContextPool>((pool) => void pool.close());

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

/** A native call through the pool: its return code, and its value when it has one. */
type NativeCall<T> = (native: FapiBindings, context: PoolContext) => Promise<{ rc: number; value?: T } | number>;

/** Where a key was found. */
export interface Located {
  readonly profile: ProfileInfo;
  readonly scope: KeyScope;
  readonly path: string;
  readonly objectFile: string;
}

/**
 * Runs one guarded native call on a context of its own (outside the pool) and releases the context:
 * at once when the call settles, or when an abandoned call finally returns.
 */
export async function callOnOwnContext<T>(
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

/** The state of one TPM provider and the native calls its operations are made of. */
export class FapiRuntime {
  private setupCache: FapiSetup | undefined;
  private native: FapiBindings | undefined;
  private esys: EsysBindings | null | undefined;
  private poolInstance: ContextPool | undefined;
  private provisioned: Promise<void> | undefined;
  /** The TPM's properties, once read (by a probe or for a key's receipt). */
  device: TpmDeviceInfo | undefined;
  /** Profiles that could not be provisioned on this TPM, with the reason. */
  readonly unusable = new Map<string, string>();
  private isClosed = false;
  /** Fires on close(): a create in flight then rolls back as if its caller had cancelled it. */
  readonly closing = new AbortController();

  constructor(
    private readonly options: TpmProviderOptions,
    private readonly poolSize: number,
    readonly timeouts: Required<TpmTimeouts>,
  ) {}

  /** Whether {@link FapiRuntime.close} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** The FAPI config file in use (the option, else `TSS2_FAPICONF`), or `undefined`. */
  get configFile(): string | undefined {
    return this.options.configFile ?? (ambientFapiConf() || undefined);
  }

  /** Whether the FAPI backend was asked for with a double of the bindings. */
  get hasNativeDouble(): boolean {
    return this.options.native !== undefined;
  }

  /** Reads (once) the FAPI config. */
  setup(): FapiSetup {
    if (this.setupCache) return this.setupCache;
    const file = this.configFile;
    if (!file) {
      throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'no FAPI config: TSS2_FAPICONF is not set', {
        providerId: 'tpm',
        hint: TPM_SETUP_HINT,
      });
    }
    this.setupCache = readFapiSetup(file);
    return this.setupCache;
  }

  /** Loads (once) the FAPI bindings, or takes the double of the options. */
  bindings(): FapiBindings {
    if (!this.native) this.native = this.options.native ?? loadFapi(this.options.libraryPath);
    return this.native;
  }

  /**
   * The loaded-key bindings (ESYS and libtss2-mu), or `undefined` when keys sign through FAPI only:
   * with a double of the FAPI bindings, with `loadedKeys: 0`, or without libtss2-esys.
   */
  loadedKeyBindings(): EsysBindings | undefined {
    if (this.esys === undefined) {
      this.esys =
        this.options.native !== undefined || this.loadedKeysPerContext() === 0
          ? null
          : (loadEsys(this.options.libraryPath ?? FAPI_LIBRARY) ?? null);
    }
    return this.esys ?? undefined;
  }

  /** How many keys each context keeps loaded (0: every signature through `Fapi_Sign`). */
  loadedKeysPerContext(): number {
    if (this.options.loadedKeys !== undefined) return this.options.loadedKeys;
    return this.managed(this.setup().tcti) ? LOADED_KEYS_MANAGED : LOADED_KEYS_UNMANAGED;
  }

  private managed(tcti: string): boolean {
    const parsed = parseTcti(tcti);
    return (parsed.module === 'device' && /^\/dev\/tpmrm\d+$/.test(parsed.config ?? '')) || parsed.module === 'tabrmd';
  }

  private pool(): ContextPool {
    if (this.isClosed) throw closedError();
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
  effectivePoolSize(tcti: string): number {
    return this.managed(tcti) ? this.poolSize : Math.min(this.poolSize, POOL_WITHOUT_RESOURCE_MANAGER);
  }

  /** Runs one native call; a non-zero return code becomes a typed error and retires the context. */
  async call<T>(what: string, fn: NativeCall<T>, options: CallOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce(what, fn, options);
      } catch (err) {
        // The TPM's transient warnings (out of object or session slots, retry): the failed context
        // was already replaced; try again a few times, a little later.
        const status = KeyStoreError.is(err) ? err.nativeStatus : undefined;
        if (status === undefined || !RETRYABLE.has(status & 0xfff) || attempt >= 6 || status >>> 16 !== 0) throw err;
        throwIfAborted(options.signal);
        // Out of slots: the keys this provider's idle contexts keep loaded give theirs back first.
        await this.poolInstance?.releaseLoaded();
        await new Promise((resolve) => setTimeout(resolve, (5 << attempt) * (0.5 + Math.random())));
      }
    }
  }

  private callOnce<T>(what: string, fn: NativeCall<T>, options: CallOptions): Promise<T> {
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
   * Opens a context of its own (outside the pool) from the provider's config, for a call that must
   * neither wait behind the pool's queue nor need the pool at all.
   */
  openOwnContext(connectTimeoutMs: number): Promise<PoolContext> {
    const native = this.bindings();
    const setup = this.setup();
    return openContext(native, setup.configFile, connectTimeoutMs, {
      tcti: setup.tcti,
      defaultProfile: setup.defaultProfile.name,
      expectTcti: setup.tcti,
    });
  }

  /**
   * Provisions every usable profile once ("already provisioned" counts as success). A profile other
   * than the config's default is provisioned through a derived config naming it as the default.
   */
  ensureProvisioned(signal?: AbortSignal): Promise<void> {
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
        // TSS2_FAPI_RC_ALREADY_PROVISIONED; TSS2_FAPI_RC_PATH_ALREADY_EXISTS when another context
        // (another store or process) provisioned the profile meanwhile and wrote its SRK first.
        return rc === 0x60035 || rc === 0x6001f ? 0 : rc;
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
    // node:fs/promises is loaded here, not when the package is imported.
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
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
  profileFor(): ReadonlyMap<KeyAlgorithm, ProfileInfo> {
    const setup = this.setup();
    if (this.unusable.size === 0) return setup.profileFor;
    return new Map([...setup.profileFor].filter(([, p]) => !this.unusable.has(p.name)));
  }

  /** Finds the key's blob in the FAPI keystore directories, without a native call. */
  locate(name: string, scope?: KeyScope): Located | undefined {
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

  /** `ERR_KEYSTORE_KEY_NOT_FOUND` for a name, saying whether the other scope has a key by that name. */
  notFound(name: string, scope: KeyScope): KeyStoreError {
    const other = this.locate(name, scope === 'user' ? 'machine' : 'user');
    return tpmError(
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      `no TPM key "${name}" in the ${scope} scope`,
      other ? `a key by that name exists in the ${other.scope} scope` : 'list keys to see which exist',
    );
  }

  /** The blob of an opened key in the FAPI keystore directories. */
  objectFileOf(key: TpmKey): string {
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

  /**
   * Marks the runtime closed, stops creates in flight and finalizes every pooled context; resolves
   * once the idle ones are finalized (their loaded keys flushed from the TPM first).
   */
  close(): Promise<void> {
    this.isClosed = true;
    dropped.unregister(this);
    this.closing.abort();
    return this.poolInstance?.close() ?? Promise.resolve();
  }
}
