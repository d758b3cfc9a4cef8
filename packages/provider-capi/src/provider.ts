/**
 * The CryptoAPI provider: legacy key containers through `advapi32.dll`, served only when a policy
 * allows it.
 *
 * @module
 */
import { createPublicKey, KeyObject } from 'node:crypto';
import {
  type IsolationReceipt,
  isIsolationLevel,
  isolationRank,
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
import type { TestPolicySources } from '@keystore/core/testing';
import { privateBlobFromKey, publicKeyFromBlob, rsaAlgorithmOfBits } from './blobs.js';
import { CAPI_CAPABILITIES } from './capabilities.js';
import {
  AT_KEYEXCHANGE,
  AT_SIGNATURE,
  CRYPT_DELETEKEYSET,
  CRYPT_EXPORT,
  CRYPT_EXPORTABLE,
  CRYPT_MACHINE_KEYSET,
  CRYPT_NEWKEYSET,
  CRYPT_SILENT,
  CRYPT_VERIFYCONTEXT,
  KP_KEYLEN,
  KP_PERMISSIONS,
  MS_ENH_RSA_AES_PROV,
  PROV_RSA_AES,
  PUBLICKEYBLOB,
} from './constants.js';
import { containerRegistry } from './containers.js';
import {
  MachinePolicyGate,
  type MachineVerdict,
  POLICY_SOURCES_KEY,
  refusedByMachine,
  requestRefusals,
} from './gate.js';
import { CapiKey, type CapiKeySpec, type CapiThreading } from './key.js';
import { assertContainerName, assertNewKeyName, isOpenableContainerName } from './names.js';
import { type AdvapiBindings, type CryptKeyHandle, type CryptProvHandle, loadAdvapi32 } from './native/advapi32.js';
import { capiError } from './status.js';
import { warnLegacyUse } from './warning.js';

/**
 * Options of {@link CapiProvider}.
 *
 * @since 0.2.0
 */
export interface CapiProviderOptions {
  /**
   * The key pair new keys become in their container: `keyExchange` (`AT_KEYEXCHANGE`, the default:
   * signs and decrypts) or `signature` (`AT_SIGNATURE`: signs only, the spec some older programs
   * expect for signing keys).
   */
  keySpec?: CapiKeySpec;
  /** Where private-key operations run (default `auto`); see {@link CapiThreading}. */
  threading?: CapiThreading;
  /**
   * The test hatch: machine policy sources to replace, under the key `TEST_POLICY_SOURCES` of
   * `@keystore/core/testing` (`machinePolicy`, `registryPolicy`, `registryReader`, `env`). Each
   * replacement is published as a `policy.override` audit event. Otherwise the provider obeys every
   * machine policy itself, also when used without a key store: the file at the fixed path, the file
   * `KEYSTORE_MACHINE_POLICY` names, and on Windows the registry key
   * `HKLM\SOFTWARE\Policies\keystore`. Since 0.3.0 the options `machinePolicy`, `registryPolicy`,
   * `registryReader` and `env` are gone, and rejected when given.
   *
   * @since 0.3.0
   */
  [POLICY_SOURCES_KEY]?: TestPolicySources;
  /**
   * How long, in milliseconds, one registry read is reused by the provider's later operations
   * (default 30 000; `0` reads the key for every operation). A failed read is never reused.
   *
   * @since 0.2.0
   */
  registryCacheMs?: number;
  /**
   * Whether `listKeys` reports each key's algorithm (default `false`). Reading it means opening the
   * container's key pair (`CryptGetUserKey`), which loads the private key into this process; a plain
   * listing reads container names only and opens no key.
   *
   * @since 0.2.0
   */
  listAlgorithms?: boolean;
  /**
   * A replacement for the CryptoAPI function table: for tests of the provider's logic over a double.
   * Production code leaves it unset.
   */
  native?: AdvapiBindings;
}

/** Containers whose algorithm `listKeys` looks up (one context each); names beyond it are listed without. */
const LIST_DETAIL_LIMIT = 512;

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, { providerId: 'capi' });
}

function checkRequest<T>(request: T, what: string): NonNullable<T> {
  if (typeof request !== 'object' || request === null) throw invalid(`${what} needs a request object`);
  return request as NonNullable<T>;
}

function checkScope(scope: unknown): KeyScope {
  if (scope === undefined) return 'user';
  if (scope !== 'user' && scope !== 'machine') throw invalid(`invalid scope ${JSON.stringify(scope)}: user or machine`);
  return scope;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal');
  return signal;
}

function noPassword(password: unknown): void {
  if (password === undefined || password === null || password === '') return;
  throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'CryptoAPI key containers have no passwords', {
    providerId: 'capi',
    hint: 'omit the password; a CryptoAPI container is protected by the account that owns it',
  });
}

function closedError(message = 'the CryptoAPI provider was closed'): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', message, { providerId: 'capi' });
}

function cancelled(signal: AbortSignal, message = 'the operation was cancelled'): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_CANCELLED', message, { providerId: 'capi', cause: signal.reason });
}

/** Checks the parts of a create or import request that are not the key itself. */
function checkNewKeyRequest(request: ProviderCreateRequest): { scope: KeyScope; exportable: boolean } {
  assertNewKeyName(request.name);
  const scope = checkScope(request.scope);
  if (request.exportable !== undefined && typeof request.exportable !== 'boolean') {
    throw invalid('exportable must be a boolean');
  }
  noPassword(request.password);
  if (request.userPrompt !== undefined) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      'the CryptoAPI provider does not protect keys with a user prompt',
      { providerId: 'capi', hint: 'use the CNG provider for keys protected by a prompt' },
    );
  }
  const floor = request.minimumIsolation;
  if (floor !== undefined) {
    if (!isIsolationLevel(floor)) throw invalid(`unknown isolation level ${JSON.stringify(floor)}`);
    if (isolationRank(floor) > isolationRank('in-process')) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_POLICY_VIOLATION',
        `CryptoAPI keys are in-process, below the isolation floor ${floor}`,
        { providerId: 'capi', hint: 'use a provider that reaches the floor (cng, tpm)' },
      );
    }
  }
  return { scope, exportable: request.exportable === true };
}

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
  readonly #keys = new Set<CapiKey>();
  #closed = false;

  constructor(options: CapiProviderOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
    const keySpec = options.keySpec ?? 'keyExchange';
    if (keySpec !== 'keyExchange' && keySpec !== 'signature') {
      throw invalid(`keySpec must be keyExchange or signature, not ${JSON.stringify(keySpec)}`);
    }
    const threading = options.threading ?? 'auto';
    if (threading !== 'auto' && threading !== 'worker') {
      throw invalid(`threading must be auto or worker, not ${JSON.stringify(threading)}`);
    }
    const removed = ['machinePolicy', 'registryPolicy', 'registryReader', 'env'].filter(
      (name) => (options as Record<string, unknown>)[name] !== undefined,
    );
    if (removed.length > 0) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        `the capi provider no longer takes ${removed.join(', ')}: the machine policy is a ceiling no app option can lift or replace`,
        {
          providerId: 'capi',
          hint: 'in tests, pass TEST_POLICY_SOURCES from @keystore/core/testing (or use createTestKeyStore); in production, remove the option',
        },
      );
    }
    const sources: unknown = options[POLICY_SOURCES_KEY];
    if (sources !== undefined) {
      if (typeof sources !== 'object' || sources === null) throw invalid('TEST_POLICY_SOURCES must be an object');
      const s = sources as TestPolicySources;
      for (const field of ['machinePolicy', 'registryPolicy'] as const) {
        const value: unknown = s[field];
        if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
          throw invalid(`${field} must be a policy object, null or omitted`);
        }
      }
      if (s.registryReader !== undefined && typeof s.registryReader !== 'function') {
        throw invalid('registryReader must be a function');
      }
    }
    const cacheMs: unknown = options.registryCacheMs;
    if (cacheMs !== undefined && (typeof cacheMs !== 'number' || !Number.isFinite(cacheMs) || cacheMs < 0)) {
      throw invalid(`registryCacheMs must be a number of milliseconds, 0 or more, not ${String(cacheMs)}`);
    }
    if (options.listAlgorithms !== undefined && typeof options.listAlgorithms !== 'boolean') {
      throw invalid('listAlgorithms must be a boolean');
    }
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

  #acquire(native: AdvapiBindings, name: string | null, flags: number, what: string): CryptProvHandle {
    const result = native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, flags);
    if (result.status !== 0 || result.value === undefined) throw capiError(result.status, what);
    return result.value;
  }

  #deleteContainer(native: AdvapiBindings, name: string, scope: KeyScope): number {
    const flags = CRYPT_DELETEKEYSET | (scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0);
    // With CRYPT_DELETEKEYSET the returned handle is not a context: there is nothing to release.
    return native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, flags).status;
  }

  #receipt(name: string, scope: KeyScope, keySpec: CapiKeySpec, wine: string | undefined): IsolationReceipt {
    const evidence = [
      `CryptoAPI (${MS_ENH_RSA_AES_PROV}, rsaenh.dll) decrypts the private key of container "${name}" (${scope} scope, ${
        keySpec === 'signature' ? 'AT_SIGNATURE' : 'AT_KEYEXCHANGE'
      }) into this process's memory to use it`,
      "any process running as the same user can read this process's memory: the key's export flag does not protect it there",
    ];
    if (wine !== undefined) {
      evidence.push(`running under Wine ${wine}: rsaenh keeps the container in the Wine prefix's registry`);
    }
    return { level: 'in-process', providerId: 'capi', measuredAt: new Date().toISOString(), evidence };
  }

  /** Opens a container and the key in it (AT_KEYEXCHANGE first, then AT_SIGNATURE). */
  #openKey(native: AdvapiBindings, name: string, scope: KeyScope): CapiKey {
    const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
    const prov = this.#acquire(native, name, CRYPT_SILENT | machine, `open key container "${name}" (${scope} scope)`);
    let key: CryptKeyHandle | undefined;
    try {
      let keySpec: CapiKeySpec = 'keyExchange';
      let found = native.CryptGetUserKey(prov, AT_KEYEXCHANGE);
      if (found.status === 0x8009000d /* NTE_NO_KEY */) {
        keySpec = 'signature';
        found = native.CryptGetUserKey(prov, AT_SIGNATURE);
      }
      if (found.status !== 0 || found.value === undefined) {
        throw capiError(found.status, `open the key in container "${name}" (${scope} scope)`);
      }
      key = found.value;
      const blob = native.CryptExportKey(key, PUBLICKEYBLOB);
      if (blob.status !== 0 || blob.value === undefined) {
        throw capiError(blob.status, `export the public key of "${name}"`);
      }
      const info = publicKeyFromBlob(blob.value);
      const algorithm = rsaAlgorithmOfBits(info.bits);
      if (algorithm === undefined) {
        throw new KeyStoreError(
          'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
          `the key in container "${name}" is RSA-${info.bits}; the SDK supports RSA-2048, RSA-3072 and RSA-4096`,
          {
            providerId: 'capi',
            hint: 'a legacy key of that size cannot be used or moved through the SDK: issue a new key and retire it',
          },
        );
      }
      const permissions = native.CryptGetKeyParam(key, KP_PERMISSIONS, 4);
      const exportable =
        permissions.status === 0 &&
        permissions.value !== undefined &&
        permissions.value.length >= 4 &&
        (permissions.value.readUInt32LE(0) & CRYPT_EXPORT) !== 0;
      const opened = new CapiKey(
        {
          name,
          algorithm,
          scope,
          exportable,
          keySpec,
          isolation: this.#receipt(name, scope, keySpec, native.wineVersion),
          publicKey: info.publicKey,
          threading: this.threading,
          beforeExport: (signal) => this.#gateExport(signal),
        },
        native,
        prov,
        key,
        (closed) => {
          this.#keys.delete(closed);
          containerRegistry(native).remove(closed);
        },
      );
      this.#keys.add(opened);
      containerRegistry(native).add(opened);
      return opened;
    } catch (error) {
      if (key !== undefined) native.CryptDestroyKey(key);
      native.CryptReleaseContext(prov);
      throw error;
    }
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
    const down = (reasons: string[]): ProbeResult => ({ available: false, isolation: 'none', reasons, details });
    const explain = (err: unknown): string[] =>
      KeyStoreError.is(err)
        ? [err.message, ...(err.hint ? [err.hint] : [])]
        : [`unexpected failure: ${err instanceof Error ? err.message : String(err)}`];
    if (this.#closed) return down(['the CryptoAPI provider was closed']);
    if (process.platform !== 'win32' && this.#options.native === undefined) {
      return down([`CryptoAPI (advapi32.dll) exists only on Windows; this is ${process.platform}`]);
    }
    let native: AdvapiBindings;
    try {
      native = this.#bindings();
    } catch (err) {
      return down(explain(err));
    }
    if (native.wineVersion !== undefined) details.wine = native.wineVersion;
    try {
      const verdict = await this.#judge(options?.signal);
      if (verdict.source !== null) details.machinePolicy = verdict.source;
      if (verdict.reasons.length > 0) return down([...verdict.reasons]);
    } catch (err) {
      return down(explain(err));
    }
    if (this.#closed) return down(['the CryptoAPI provider was closed']);
    try {
      const prov = this.#acquire(
        native,
        null,
        CRYPT_VERIFYCONTEXT | CRYPT_SILENT,
        `load the CSP ${MS_ENH_RSA_AES_PROV}`,
      );
      native.CryptReleaseContext(prov);
    } catch (err) {
      return down(explain(err));
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
    checkRequest(request, 'createKey');
    const signal = checkSignal(request.signal);
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
      await this.#retireStale(native, name, scope);
      const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
      const prov = this.#acquire(
        native,
        name,
        CRYPT_NEWKEYSET | CRYPT_SILENT | machine,
        `create key container "${name}" (${scope} scope)`,
      );
      let generated: KeyObject | undefined;
      try {
        const spec = this.keySpec === 'signature' ? AT_SIGNATURE : AT_KEYEXCHANGE;
        const made = await native.CryptGenKeyAsync(prov, spec, (bits << 16) | (exportable ? CRYPT_EXPORTABLE : 0));
        if (made.status !== 0 || made.value === undefined) {
          throw capiError(made.status, `generate an ${algorithm} key in container "${name}"`);
        }
        try {
          // Kept to check the key opened again below is this one (the container is not locked
          // against other processes in between).
          const blob = native.CryptExportKey(made.value, PUBLICKEYBLOB);
          if (blob.status !== 0 || blob.value === undefined) {
            throw capiError(blob.status, `export the public key of the new key "${name}"`);
          }
          generated = publicKeyFromBlob(blob.value).publicKey;
        } finally {
          native.CryptDestroyKey(made.value);
        }
      } finally {
        // rsaenh stores a new key when its handles are released: release now, then open it again.
        native.CryptReleaseContext(prov);
        if (generated === undefined) this.#deleteContainer(native, name, scope);
      }
      if (signal?.aborted) {
        this.#deleteContainer(native, name, scope);
        throw cancelled(signal, 'the operation was cancelled; the new key was deleted');
      }
      if (this.#closed) {
        this.#deleteContainer(native, name, scope);
        throw closedError(
          'the CryptoAPI provider was closed while the key was being generated; the new key was deleted',
        );
      }
      return this.#openExpected(native, name, scope, generated);
    });
  }

  /**
   * Imports an RSA private key (2048, 3072 or 4096 bits) into a new container as a
   * `PRIVATEKEYBLOB` of the provider's key spec, exportable only when asked. The key is checked, and
   * then the machine policy's rules for its algorithm, RSA size, scope and exportable keys, before any
   * CryptoAPI call.
   */
  async importKey(request: ProviderImportRequest): Promise<CapiKey> {
    checkRequest(request, 'importKey');
    const signal = checkSignal(request.signal);
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
        await this.#retireStale(native, name, scope);
        const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
        const prov = this.#acquire(
          native,
          name,
          CRYPT_NEWKEYSET | CRYPT_SILENT | machine,
          `create key container "${name}" (${scope} scope)`,
        );
        let imported = false;
        try {
          const made = native.CryptImportKey(prov, blob, exportable ? CRYPT_EXPORTABLE : 0);
          if (made.status !== 0 || made.value === undefined) {
            throw capiError(made.status, `import a private key into container "${name}"`);
          }
          native.CryptDestroyKey(made.value);
          imported = true;
        } finally {
          native.CryptReleaseContext(prov);
          if (!imported) this.#deleteContainer(native, name, scope);
        }
        return this.#openExpected(native, name, scope, expected);
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
    checkRequest(request, 'openKey');
    const signal = checkSignal(request.signal);
    throwIfAborted(signal);
    assertContainerName(request.name);
    const scope = checkScope(request.scope);
    noPassword(request.password);
    const { native, verdict } = await this.#gateWithVerdict(signal, { scope });
    const key = await containerRegistry(native).exclusive(request.name, scope, async () => {
      this.#stillWanted(signal);
      warnLegacyUse(request.name, scope);
      return this.#openKey(native, request.name, scope);
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
    const signal = checkSignal(options?.signal);
    throwIfAborted(signal);
    const scopes: KeyScope[] = options?.scope === undefined ? ['user', 'machine'] : [checkScope(options.scope)];
    const { native } = await this.#gateWithVerdict(signal, undefined, true);
    const out: ProviderKeyInfo[] = [];
    let detailed = 0;
    for (const scope of scopes) {
      const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
      const prov = this.#acquire(
        native,
        null,
        CRYPT_VERIFYCONTEXT | CRYPT_SILENT | machine,
        `open the ${scope} key set for listing`,
      );
      let names: string[];
      try {
        // Wine's rsaenh enumerates the user's containers from a machine context unless the
        // enumeration call itself carries CRYPT_MACHINE_KEYSET; Windows takes the scope from the context.
        const listed = native.enumContainers(prov, native.wineVersion !== undefined ? machine : 0);
        if (listed.status !== 0 || listed.value === undefined) {
          throw capiError(listed.status, `list the ${scope} key containers`);
        }
        names = listed.value;
      } finally {
        native.CryptReleaseContext(prov);
      }
      for (const name of [...new Set(names)].filter(isOpenableContainerName).sort()) {
        throwIfAborted(signal);
        const algorithm =
          this.#options.listAlgorithms === true && detailed++ < LIST_DETAIL_LIMIT
            ? this.#algorithmOf(native, name, scope)
            : undefined;
        out.push({ name, scope, ...(algorithm === undefined ? {} : { algorithm }) });
      }
    }
    return out;
  }

  /** The algorithm of the key in a container, or `undefined` when it cannot be read or has none. */
  #algorithmOf(native: AdvapiBindings, name: string, scope: KeyScope) {
    const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
    const opened = native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, CRYPT_SILENT | machine);
    if (opened.status !== 0 || opened.value === undefined) return undefined;
    try {
      for (const spec of [AT_KEYEXCHANGE, AT_SIGNATURE]) {
        const found = native.CryptGetUserKey(opened.value, spec);
        if (found.status !== 0 || found.value === undefined) continue;
        try {
          const length = native.CryptGetKeyParam(found.value, KP_KEYLEN, 4);
          if (length.status !== 0 || length.value === undefined || length.value.length < 4) return undefined;
          return rsaAlgorithmOfBits(length.value.readUInt32LE(0));
        } finally {
          native.CryptDestroyKey(found.value);
        }
      }
      return undefined;
    } finally {
      native.CryptReleaseContext(opened.value);
    }
  }

  /**
   * Deletes a container (`CRYPT_DELETEKEYSET`) and both key pairs in it. Keys of it open in this
   * process are closed first (rsaenh under Wine writes a container back when its handles are
   * released): an operation running on one ends first, later ones reject with
   * `ERR_KEYSTORE_KEY_NOT_FOUND`.
   */
  async deleteKey(request: ProviderKeyRequest): Promise<void> {
    checkRequest(request, 'deleteKey');
    const signal = checkSignal(request.signal);
    throwIfAborted(signal);
    assertContainerName(request.name);
    const scope = checkScope(request.scope);
    noPassword(request.password);
    const native = await this.#gate(signal);
    const { name } = request;
    await containerRegistry(native).exclusive(name, scope, async () => {
      this.#stillWanted(signal);
      await this.#retireLive(native, name, scope, `the CryptoAPI key "${name}" (${scope} scope) was deleted`);
      const status = this.#deleteContainer(native, name, scope);
      if (status !== 0) throw capiError(status, `delete key container "${name}" (${scope} scope)`);
    });
  }

  /** After waiting for a container: the request was not cancelled, and the provider is still open. */
  #stillWanted(signal: AbortSignal | undefined): void {
    throwIfAborted(signal);
    if (this.#closed) throw closedError();
  }

  /**
   * Closes every key of a container open in this process (across providers over the same DLL), and
   * any opened meanwhile, waiting for an operation running on one to end.
   */
  async #retireLive(native: AdvapiBindings, name: string, scope: KeyScope, reason: string): Promise<void> {
    const registry = containerRegistry(native);
    for (let live = registry.liveKeys(name, scope); live.length > 0; live = registry.liveKeys(name, scope)) {
      await Promise.allSettled(live.map((key) => key.retire(reason)));
    }
  }

  /**
   * Before a new container is made under `name`: keys still open on an older container of that name
   * (deleted by another process) are closed, and what releasing them wrote back under Wine is
   * deleted again, so that closing them later cannot overwrite the new key. When the container
   * exists, nothing is touched: the create fails with `ERR_KEYSTORE_KEY_EXISTS` as it should.
   */
  async #retireStale(native: AdvapiBindings, name: string, scope: KeyScope): Promise<void> {
    if (containerRegistry(native).liveKeys(name, scope).length === 0) return;
    const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
    const probe = native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, CRYPT_SILENT | machine);
    if (probe.status === 0 && probe.value !== undefined) native.CryptReleaseContext(probe.value);
    if (probe.status !== 0x80090016 /* NTE_BAD_KEYSET */) return;
    await this.#retireLive(native, name, scope, `the CryptoAPI key "${name}" (${scope} scope) was deleted elsewhere`);
    // On Windows this finds nothing (NTE_BAD_KEYSET); under Wine it removes the written-back container.
    this.#deleteContainer(native, name, scope);
  }

  /**
   * Opens the key just made in a container and checks it is the one made: between the release of
   * the creating handles and this open, another process could have replaced the container.
   */
  #openExpected(native: AdvapiBindings, name: string, scope: KeyScope, expected: KeyObject): CapiKey {
    const key = this.#openKey(native, name, scope);
    if (key.publicKey.equals(expected)) return key;
    void key.close();
    throw new KeyStoreError(
      'ERR_KEYSTORE_KEY_EXISTS',
      `container "${name}" (${scope} scope) holds another key than the one just put in it: another program replaced it`,
      { providerId: 'capi', hint: 'check which program uses this container name, and choose another name' },
    );
  }

  /**
   * Closes every key it opened. Idempotent; later calls reject with `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`,
   * and so do calls still waiting when it was called (no key is returned after `close()`).
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#keys].map((key) => key.close()));
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
