/**
 * The CryptoAPI provider: legacy key containers through `advapi32.dll`, served only when a policy
 * allows it.
 *
 * @module
 */
import { createPublicKey, KeyObject } from 'node:crypto';
import {
  type KeyScope,
  KeyStoreError,
  type KeyStoreProvider,
  type OperationOptions,
  type PolicyRequest,
  type ProbeResult,
  type ProviderCapabilities,
  type ProviderCreateRequest,
  type ProviderImportRequest,
  type ProviderKeyInfo,
  type ProviderKeyRequest,
  throwIfAborted,
} from '@keystore/core';
import { checkProviderScope, checkRequest, checkSignal, explainError, unavailableProbe } from '@keystore/core/provider';
import { koffiSetupDetail } from '@keystore/provider-cng/native';
import { privateBlobFromKey, rsaAlgorithmOfBits } from './blobs.js';
import { CAPI_CAPABILITIES } from './capabilities.js';
import { CRYPT_SILENT, CRYPT_VERIFYCONTEXT, MS_ENH_RSA_AES_PROV } from './constants.js';
import { containerRegistry } from './containers.js';
import { generateInContainer, importIntoContainer } from './create.js';
import {
  MachinePolicyGate,
  type MachineVerdict,
  POLICY_SOURCES_KEY,
  refusedByMachine,
  requestRefusals,
} from './gate.js';
import type { CapiKey, CapiKeySpec, CapiThreading } from './key.js';
import {
  acquire,
  algorithmOf,
  containerNames,
  deleteContainer,
  type OpenContext,
  openContainerKey,
  openExpected,
  retireLive,
  retireStale,
} from './keysets.js';
import { LiveKeys } from './live-keys.js';
import { assertContainerName, isOpenableContainerName } from './names.js';
import { type AdvapiBindings, loadAdvapi32 } from './native/advapi32.js';
import {
  type CapiProviderOptions,
  cancelled,
  checkNewKeyRequest,
  checkProviderOptions,
  closedError,
  invalid,
  noPassword,
} from './options.js';
import { capiError } from './status.js';
import { warnLegacyUse } from './warning.js';

export type { CapiProviderOptions } from './options.js';

/** Containers whose algorithm `listKeys` looks up (one context each); names beyond it are listed without. */
const LIST_DETAIL_LIMIT = 512;

/**
 * Legacy CryptoAPI key containers (`advapi32.dll`, the "Microsoft Enhanced RSA and AES Cryptographic
 * Provider"): one container per key, container name = key name. Its keys are `in-process`: CryptoAPI
 * decrypts a container's private key into the memory of the process using it, where anyone running
 * as the same user can read it, exportable or not.
 *
 * It is marked `legacyCryptoApi`, so a key store refuses it unless the effective policy says
 * `legacyCryptoApi: "allow"` and its floor is at most `in-process`. The provider obeys the machine
 * policy itself too (the file and, on Windows, `HKLM\SOFTWARE\Policies\keystore`), also when used
 * without a key store: one that denies it disables it, and its rules for exportable keys, exports,
 * algorithms, RSA sizes and scopes refuse the requests that break them. The first use of a key in a
 * process emits a `SecurityWarning` with code `KEYSTORE_LEGACY_CRYPTOAPI`.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { capiProvider } from '@keystore/provider-capi';
 *
 * const store = await createKeyStore({
 *   providers: [capiProvider()],
 *   policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' },
 * });
 * const key = await store.openKey('old-signing-key', { provider: 'capi' });
 * ```
 * @since 0.2.0
 */
export class CapiProvider implements KeyStoreProvider {
  /** `capi`. */
  readonly id = 'capi';
  /** A human-readable name. */
  readonly displayName = 'Windows CryptoAPI (legacy, in-process)';
  /** What it can do: {@link CAPI_CAPABILITIES}. */
  readonly capabilities: ProviderCapabilities = CAPI_CAPABILITIES;
  /** The key pair new keys become. */
  readonly keySpec: CapiKeySpec;
  /** Where private-key operations run. */
  readonly threading: CapiThreading;
  readonly #options: CapiProviderOptions;
  readonly #gateKeeper: MachinePolicyGate;
  #native: AdvapiBindings | undefined;
  // Weakly: a key dropped without close() must stay collectable, so that its finalizer releases
  // the private key CryptoAPI loaded into this process (close() closes the ones still alive).
  readonly #keys = new LiveKeys<CapiKey>();
  #closed = false;

  constructor(options: CapiProviderOptions = {}) {
    const { keySpec, threading } = checkProviderOptions(options);
    this.keySpec = keySpec;
    this.threading = threading;
    this.#options = { ...options };
    this.#gateKeeper = new MachinePolicyGate({
      sources: options[POLICY_SOURCES_KEY],
      registryCacheMs: options.registryCacheMs,
    });
  }

  #bindings(): AdvapiBindings {
    if (this.#closed) throw closedError();
    this.#native ??= this.#options.native ?? loadAdvapi32();
    return this.#native;
  }

  #judge(signal?: AbortSignal): Promise<MachineVerdict> {
    return this.#gateKeeper.judge(signal);
  }

  /**
   * Throws when the machine policy refuses the provider, or `request` (its exportable, algorithm,
   * RSA size and scope rules); returns the bindings otherwise. The provider may have been closed
   * while the policy was read: that is checked after the wait, so no key outlives `close()`.
   */
  async #gate(signal: AbortSignal | undefined, request?: PolicyRequest): Promise<AdvapiBindings> {
    return (await this.#gateWithVerdict(signal, request)).native;
  }

  /**
   * `readOnly`: the call leaves nothing open (a listing), so a `close()` that came while the policy
   * was read does not refuse it: it answers what it started to, instead of failing half-way.
   */
  async #gateWithVerdict(
    signal: AbortSignal | undefined,
    request?: PolicyRequest,
    readOnly = false,
  ): Promise<{ native: AdvapiBindings; verdict: MachineVerdict }> {
    const native = this.#bindings();
    const verdict = await this.#judge(signal);
    if (verdict.reasons.length > 0) throw refusedByMachine(verdict.reasons, 'provider');
    if (request !== undefined) {
      const reasons = requestRefusals(verdict, request);
      if (reasons.length > 0) throw refusedByMachine(reasons, 'request');
    }
    throwIfAborted(signal);
    if (this.#closed && !readOnly) throw closedError();
    return { native, verdict };
  }

  /** The machine policy judged again before a key's private part leaves CryptoAPI. */
  async #gateExport(signal: AbortSignal | undefined): Promise<void> {
    await this.#gate(signal, { exportPrivateKey: true });
  }

  /** What opening a key needs of this provider: its threading, export gate and set of open keys. */
  #openContext(): OpenContext {
    return { threading: this.threading, beforeExport: (signal) => this.#gateExport(signal), keys: this.#keys };
  }

  /**
   * Answers whether CryptoAPI can serve here: off Windows never; on Windows (or Wine) when the CSP
   * loads and the machine policy does not refuse the provider. Isolation is always `in-process`.
   * Never throws.
   */
  async probe(options?: OperationOptions): Promise<ProbeResult> {
    const details: Record<string, string | number | boolean> = {
      platform: process.platform,
      csp: MS_ENH_RSA_AES_PROV,
      keySpec: this.keySpec,
    };
    const down = (reasons: string[]): ProbeResult => unavailableProbe(reasons, details);
    if (this.#closed) return down(['the CryptoAPI provider was closed']);
    if (process.platform !== 'win32' && this.#options.native === undefined) {
      return down([`CryptoAPI (advapi32.dll) exists only on Windows; this is ${process.platform}`]);
    }
    let native: AdvapiBindings;
    try {
      native = this.#bindings();
    } catch (err) {
      return down(explainError(err));
    }
    if (native.wineVersion !== undefined) details.wine = native.wineVersion;
    const stack = koffiSetupDetail();
    if (stack !== undefined) details.koffiAsyncStack = stack;
    try {
      const verdict = await this.#judge(options?.signal);
      if (verdict.source !== null) details.machinePolicy = verdict.source;
      if (verdict.reasons.length > 0) return down([...verdict.reasons]);
    } catch (err) {
      return down(explainError(err));
    }
    if (this.#closed) return down(['the CryptoAPI provider was closed']);
    try {
      const prov = acquire(native, null, CRYPT_VERIFYCONTEXT | CRYPT_SILENT, `load the CSP ${MS_ENH_RSA_AES_PROV}`);
      native.CryptReleaseContext(prov);
    } catch (err) {
      return down(explainError(err));
    }
    return {
      available: true,
      isolation: 'in-process',
      reasons: [
        "CryptoAPI loads a key's private part into this process's memory, where any process running as the same user can read it, exportable or not",
        'legacy: keys should move to CNG (keystore migrate --from capi:NAME --to cng)',
      ],
      details,
    };
  }

  /**
   * Creates a key: a new container (`CRYPT_NEWKEYSET`, plus `CRYPT_MACHINE_KEYSET` in the machine
   * scope) with an RSA key pair of the provider's key spec, `CRYPT_EXPORTABLE` only when asked.
   * Generation runs on a worker thread; the handles are released at once so that the container is
   * stored, then it is opened again. Cancelled, or the provider closed, once generation started, the
   * new container is deleted. The machine policy's rules for the algorithm, RSA size, scope and
   * exportable keys are checked before any CryptoAPI call.
   */
  async createKey(request: ProviderCreateRequest): Promise<CapiKey> {
    checkRequest(request, 'createKey', 'capi');
    const signal = checkSignal(request.signal, 'capi');
    throwIfAborted(signal);
    const { scope, exportable } = checkNewKeyRequest(request);
    const algorithm = request.algorithm;
    if (!this.capabilities.algorithms.includes(algorithm)) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the CryptoAPI provider creates RSA-2048, RSA-3072 and RSA-4096 keys, not ${String(algorithm)}`,
        { providerId: 'capi' },
      );
    }
    const bits = Number(algorithm.slice(4));
    const native = await this.#gate(signal, { algorithm, scope, exportable });
    const { name } = request;
    return containerRegistry(native).exclusive(name, scope, async () => {
      this.#stillWanted(signal);
      warnLegacyUse(name, scope);
      await retireStale(native, name, scope);
      const generated = await generateInContainer(native, name, scope, this.keySpec, algorithm, bits, exportable);
      if (signal?.aborted) {
        deleteContainer(native, name, scope);
        throw cancelled(signal, 'the operation was cancelled; the new key was deleted');
      }
      if (this.#closed) {
        deleteContainer(native, name, scope);
        throw closedError(
          'the CryptoAPI provider was closed while the key was being generated; the new key was deleted',
        );
      }
      return openExpected(native, name, scope, generated, this.#openContext());
    });
  }

  /**
   * Imports an RSA private key (2048, 3072 or 4096 bits) into a new container as a
   * `PRIVATEKEYBLOB` of the provider's key spec, exportable only when asked. The key is checked, and
   * then the machine policy's rules for its algorithm, RSA size, scope and exportable keys, before any
   * CryptoAPI call.
   */
  async importKey(request: ProviderImportRequest): Promise<CapiKey> {
    checkRequest(request, 'importKey', 'capi');
    const signal = checkSignal(request.signal, 'capi');
    throwIfAborted(signal);
    const { scope, exportable } = checkNewKeyRequest(request);
    if (!(request.privateKey instanceof KeyObject)) throw invalid('privateKey must be a private KeyObject');
    // Checked (and turned into a blob) before anything else: a key CryptoAPI cannot hold is refused first.
    const blob = privateBlobFromKey(request.privateKey, this.keySpec);
    const { name } = request;
    const expected = createPublicKey(request.privateKey);
    try {
      const algorithm = rsaAlgorithmOfBits(request.privateKey.asymmetricKeyDetails?.modulusLength ?? 0);
      const native = await this.#gate(signal, {
        ...(algorithm === undefined ? {} : { algorithm }),
        scope,
        exportable,
      });
      return await containerRegistry(native).exclusive(name, scope, async () => {
        this.#stillWanted(signal);
        warnLegacyUse(name, scope);
        await retireStale(native, name, scope);
        importIntoContainer(native, name, scope, blob, exportable);
        return openExpected(native, name, scope, expected, this.#openContext());
      });
    } finally {
      blob.fill(0);
    }
  }

  /**
   * Opens a container by name: any container whose name follows {@link CONTAINER_NAME_RULE}, made by
   * this provider or by another CryptoAPI program. The container's `AT_KEYEXCHANGE` key is used, else
   * its `AT_SIGNATURE` key. The context is acquired with `CRYPT_SILENT`: a key that would prompt
   * (`CRYPT_USER_PROTECTED`) fails with `ERR_KEYSTORE_ACCESS_DENIED` instead. The machine policy's
   * `allowedScopes` is checked before opening, its `allowedAlgorithms` and `minimumRsaBits` once the
   * key's size is read (the key is closed again when they refuse it).
   */
  async openKey(request: ProviderKeyRequest): Promise<CapiKey> {
    checkRequest(request, 'openKey', 'capi');
    const signal = checkSignal(request.signal, 'capi');
    throwIfAborted(signal);
    assertContainerName(request.name);
    const scope = checkProviderScope(request.scope, 'capi');
    noPassword(request.password);
    const { native, verdict } = await this.#gateWithVerdict(signal, { scope });
    const key = await containerRegistry(native).exclusive(request.name, scope, async () => {
      this.#stillWanted(signal);
      warnLegacyUse(request.name, scope);
      return openContainerKey(native, request.name, scope, this.#openContext());
    });
    // A key made before the machine policy tightened is held to its algorithm and RSA size rules
    // too, as the key store holds the keys it opens to the effective policy.
    const reasons = requestRefusals(verdict, { algorithm: key.algorithm });
    if (reasons.length > 0) {
      await key.close();
      throw refusedByMachine(reasons, 'request');
    }
    return key;
  }

  /**
   * Lists the containers of one scope or both (`PP_ENUMCONTAINERS`), with the algorithm of the key
   * each holds when it can be read. Containers whose names break {@link CONTAINER_NAME_RULE} are left
   * out, since they cannot be opened by name.
   */
  async listKeys(options?: OperationOptions & { scope?: KeyScope }): Promise<ProviderKeyInfo[]> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw invalid('listKeys options must be an object');
    }
    const signal = checkSignal(options?.signal, 'capi');
    throwIfAborted(signal);
    const scopes: KeyScope[] =
      options?.scope === undefined ? ['user', 'machine'] : [checkProviderScope(options.scope, 'capi')];
    const { native } = await this.#gateWithVerdict(signal, undefined, true);
    const out: ProviderKeyInfo[] = [];
    let detailed = 0;
    for (const scope of scopes) {
      const names = containerNames(native, scope);
      for (const name of [...new Set(names)].filter(isOpenableContainerName).sort()) {
        throwIfAborted(signal);
        const algorithm =
          this.#options.listAlgorithms === true && detailed++ < LIST_DETAIL_LIMIT
            ? algorithmOf(native, name, scope)
            : undefined;
        out.push({ name, scope, ...(algorithm === undefined ? {} : { algorithm }) });
      }
    }
    return out;
  }

  /**
   * Deletes a container (`CRYPT_DELETEKEYSET`) and both key pairs in it. Keys of it open in this
   * process are closed first (rsaenh under Wine writes a container back when its handles are
   * released): an operation running on one ends first, later ones reject with
   * `ERR_KEYSTORE_KEY_NOT_FOUND`.
   */
  async deleteKey(request: ProviderKeyRequest): Promise<void> {
    checkRequest(request, 'deleteKey', 'capi');
    const signal = checkSignal(request.signal, 'capi');
    throwIfAborted(signal);
    assertContainerName(request.name);
    const scope = checkProviderScope(request.scope, 'capi');
    noPassword(request.password);
    const native = await this.#gate(signal);
    const { name } = request;
    await containerRegistry(native).exclusive(name, scope, async () => {
      this.#stillWanted(signal);
      await retireLive(native, name, scope, `the CryptoAPI key "${name}" (${scope} scope) was deleted`);
      const status = deleteContainer(native, name, scope);
      if (status !== 0) throw capiError(status, `delete key container "${name}" (${scope} scope)`);
    });
  }

  /** After waiting for a container: the request was not cancelled, and the provider is still open. */
  #stillWanted(signal: AbortSignal | undefined): void {
    throwIfAborted(signal);
    if (this.#closed) throw closedError();
  }

  /**
   * Closes every key it opened. Idempotent; later calls reject with `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`,
   * and so do calls still waiting when it was called (no key is returned after `close()`).
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#keys.values().map((key) => key.close()));
  }

  /** Same as {@link CapiProvider.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Creates a {@link CapiProvider}.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { capiProvider } from '@keystore/provider-capi';
 * const store = await createKeyStore({
 *   providers: [capiProvider()],
 *   policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' },
 * });
 * ```
 * @since 0.2.0
 */
export function capiProvider(options?: CapiProviderOptions): CapiProvider {
  return new CapiProvider(options);
}

/**
 * The entry point the `keystore` CLI calls on every installed `@keystore/provider-*` package. Off
 * Windows its `probe()` says unavailable and why; on Windows the policy decides whether it serves.
 *
 * @since 0.2.0
 */
export function createProvider(options?: CapiProviderOptions): CapiProvider {
  return new CapiProvider(options);
}
