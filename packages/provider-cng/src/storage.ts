/**
 * The engine of every provider that keeps keys in an NCrypt key storage provider: the Microsoft
 * Software Key Storage Provider (the `cng` provider) and the Microsoft Platform Crypto Provider (the
 * TPM provider's Windows backend, `pcpProvider()`). It is parameterized by the storage provider's
 * name, the provider id, the capability limits and the isolation measurement. Its errors and isolation
 * plan live in `storage-errors.ts`, what it reads from key handles in `storage-keys.ts`.
 *
 * @module
 */
import { KeyObject } from 'node:crypto';
import {
  algorithmInfo,
  isIsolationLevel,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  type KeyStoreErrorCode,
  type KeyStoreProvider,
  type OperationOptions,
  type ProbeResult,
  type ProviderCapabilities,
  type ProviderCreateRequest,
  type ProviderImportRequest,
  type ProviderKeyInfo,
  type ProviderKeyRequest,
  publicKeyMatchesAlgorithm,
  throwIfAborted,
  type UserPromptOptions,
} from '@keystore/core';
import {
  checkNoPassword,
  checkProviderScope,
  checkRequest,
  checkSignal,
  checkUserPrompt,
  explainError,
  unavailableProbe,
} from '@keystore/core/provider';
import { NCryptKey } from './key.js';
import { assertKeyName, isValidKeyName, keyAlgorithmOf } from './names.js';
import { eccPrivateBlobFromKeyObject, rsaFullPrivateBlobFromKeyObject } from './native/blobs.js';
import {
  BCRYPT_ECCPRIVATE_BLOB,
  BCRYPT_RSAFULLPRIVATE_BLOB,
  NCRYPT_LENGTH_PROPERTY,
  NCRYPT_MACHINE_KEY_FLAG,
  NCRYPT_SILENT_FLAG,
  NTE_BAD_KEYSET,
  NTE_NOT_FOUND,
} from './native/constants.js';
import { HandleTracker } from './native/handles.js';
import { koffiSetupDetail } from './native/koffi.js';
import { loadNCrypt } from './native/ncrypt.js';
import { loadWindowsSystem } from './native/system.js';
import type { NCryptBindings, NCryptKeyHandle, NCryptProvHandle, WindowsSystemBindings } from './native/types.js';
import type { IsolationMeasurement, IsolationPosture } from './posture.js';
import type { NCryptBindingSources, NCryptKeyStorageConfig } from './storage-config.js';
import {
  type CheckedCreate,
  mapKeyError,
  NO_ERROR,
  notFoundError,
  type Pending,
  planIsolation,
  releaseHandles,
  statusOf,
  storageError,
} from './storage-errors.js';
import { describeOpenedKey, type KeyFacts, receiptOf } from './storage-keys.js';
import { type Make, makeKey } from './storage-make.js';

/**
 * A {@link KeyStoreProvider} over one NCrypt key storage provider. Keys are persisted under their
 * name, in the user's or the machine's key store (`NCRYPT_MACHINE_KEY_FLAG`); a name that exists is
 * never overwritten; the export policy is set before the key is finalized (non-exportable unless
 * asked); each key's receipt is measured when it is created or opened.
 *
 * @since 0.2.0
 */
export class NCryptKeyStorage implements KeyStoreProvider {
  /** The provider id. */
  readonly id: string;
  /** A human-readable name. */
  readonly displayName: string;
  /** What it can do. */
  readonly capabilities: ProviderCapabilities;
  /** The key storage provider's name. */
  readonly storageProvider: string;
  readonly #measure: IsolationMeasurement;
  readonly #virtualIsolation: boolean;
  readonly #pssSaltMustEqualDigest: boolean;
  readonly #sources: NCryptBindingSources;
  readonly #tracker: HandleTracker;
  #ncrypt: NCryptBindings | undefined;
  #system: WindowsSystemBindings | undefined;
  #closed = false;

  constructor(config: NCryptKeyStorageConfig) {
    if (typeof config !== 'object' || config === null) {
      throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'NCryptKeyStorage needs a config object');
    }
    this.id = config.id;
    this.displayName = config.displayName;
    this.capabilities = config.capabilities;
    this.storageProvider = config.storageProvider;
    this.#measure = config.measure;
    this.#virtualIsolation = config.virtualIsolation;
    if (config.pssSaltMustEqualDigest !== undefined && typeof config.pssSaltMustEqualDigest !== 'boolean') {
      throw this.#invalid('pssSaltMustEqualDigest must be a boolean');
    }
    this.#pssSaltMustEqualDigest = config.pssSaltMustEqualDigest === true;
    const sources = config.bindings;
    if (
      sources !== undefined &&
      (typeof sources !== 'object' ||
        sources === null ||
        typeof sources.ncrypt !== 'function' ||
        typeof sources.system !== 'function')
    ) {
      throw this.#error(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
        'bindings must be { ncrypt: () => NCryptBindings, system: () => WindowsSystemBindings }',
      );
    }
    this.#sources = sources ?? defaultBindingSources();
    this.#tracker = new HandleTracker((handle) => this.#ncrypt?.freeObject(handle));
  }

  #error(code: KeyStoreErrorCode, message: string, extra: { hint?: string; cause?: unknown } = {}): KeyStoreError {
    return storageError(this, code, message, extra);
  }

  #invalid(message: string): KeyStoreError {
    return this.#error('ERR_KEYSTORE_INVALID_ARGUMENT', message);
  }

  /** The bindings, loaded on first use; `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` where there are none. */
  #native(): { ncrypt: NCryptBindings; system: WindowsSystemBindings } {
    if (this.#closed) {
      throw this.#error('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `the ${this.id} provider was closed`);
    }
    this.#ncrypt ??= this.#sources.ncrypt();
    this.#system ??= this.#sources.system();
    return { ncrypt: this.#ncrypt, system: this.#system };
  }

  /** Measures the posture now; `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` when the storage provider cannot serve. */
  #posture(system: WindowsSystemBindings): IsolationPosture {
    const posture = this.#measure(system);
    if (!posture.available) {
      throw this.#error(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `${this.storageProvider} cannot serve here: ${posture.reasons.join('; ')}`,
      );
    }
    return posture;
  }

  /** The checks of a request that names a key: the request, its signal, name, scope and (no) password. */
  #checkKeyRequest(request: ProviderKeyRequest, what: string): { name: string; scope: KeyScope; signal?: AbortSignal } {
    const r = checkRequest(request, what, this.id);
    const signal = checkSignal(r.signal, this.id);
    assertKeyName(r.name, this.id);
    const scope = checkProviderScope(r.scope, this.id, this.capabilities.scopes);
    checkNoPassword(r.password, this.id, {
      message: `${this.storageProvider} keys take no password here`,
      hint: 'ask for a user prompt (userPrompt with forceHighProtection) to have Windows protect the key with a password it asks for',
    });
    return { name: r.name, scope, ...(signal === undefined ? {} : { signal }) };
  }

  #checkPrompt(prompt: unknown): UserPromptOptions | undefined {
    if (typeof prompt === 'object' && prompt !== null && this.capabilities.userPrompt !== true) {
      throw this.#error(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `the ${this.id} provider cannot protect keys by a prompt`,
      );
    }
    return checkUserPrompt(prompt, this.id);
  }

  #checkCreate(request: ProviderCreateRequest, what: string): CheckedCreate {
    const { name, scope, signal } = this.#checkKeyRequest(request, what);
    const r = request;
    if (!this.capabilities.algorithms.includes(r.algorithm)) {
      throw this.#error(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the ${this.id} provider cannot ${what === 'importKey' ? 'import' : 'create'} ${String(r.algorithm)} keys; supported: ${this.capabilities.algorithms.join(', ')}`,
      );
    }
    if (r.exportable !== undefined && typeof r.exportable !== 'boolean')
      throw this.#invalid('exportable must be a boolean');
    const exportable = r.exportable === true;
    if (exportable && !this.capabilities.exportableKeys) {
      throw this.#error(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `${this.storageProvider} keys cannot be created exportable`,
      );
    }
    if (r.minimumIsolation !== undefined && !isIsolationLevel(r.minimumIsolation)) {
      throw this.#invalid(`invalid minimumIsolation ${JSON.stringify(r.minimumIsolation)}`);
    }
    const userPrompt = this.#checkPrompt(r.userPrompt);
    return {
      name,
      algorithm: r.algorithm,
      scope,
      exportable,
      minimumIsolation: r.minimumIsolation,
      userPrompt,
      signal,
    };
  }

  /** The key object over `key` and `prov`, which it then owns (and frees when it is closed). */
  #handOut(ncrypt: NCryptBindings, facts: KeyFacts, key: NCryptKeyHandle, prov: NCryptProvHandle): NCryptKey {
    return new NCryptKey({
      ...facts,
      providerId: this.id,
      storageProvider: this.storageProvider,
      capabilities: this.capabilities,
      pssSaltMustEqualDigest: this.#pssSaltMustEqualDigest,
      ncrypt,
      keyHandle: key,
      provHandle: prov,
      tracker: this.#tracker,
    });
  }

  /** Opens the named key; `ERR_KEYSTORE_KEY_NOT_FOUND` (with a hint about the other scope) when there is none. */
  async #openNamed(
    ncrypt: NCryptBindings,
    prov: NCryptProvHandle,
    name: string,
    scope: KeyScope,
  ): Promise<NCryptKeyHandle> {
    try {
      return await ncrypt.openKey(prov, name, 0, scope === 'machine' ? NCRYPT_MACHINE_KEY_FLAG : 0);
    } catch (err) {
      const status = statusOf(err);
      if (status !== NTE_BAD_KEYSET && status !== NTE_NOT_FOUND) throw mapKeyError(this, err, 'open');
      const other =
        this.capabilities.scopes.length > 1 ? await this.#inOtherScope(ncrypt, prov, name, scope) : undefined;
      throw notFoundError(this, name, scope, err, other);
    }
  }

  /** Whether a key by that name is in the other scope (`undefined` when that cannot be told). */
  async #inOtherScope(
    ncrypt: NCryptBindings,
    prov: NCryptProvHandle,
    name: string,
    scope: KeyScope,
  ): Promise<boolean | undefined> {
    try {
      const handle = await ncrypt.openKey(
        prov,
        name,
        0,
        (scope === 'machine' ? 0 : NCRYPT_MACHINE_KEY_FLAG) | NCRYPT_SILENT_FLAG,
      );
      ncrypt.freeObject(handle);
      return true;
    } catch (e) {
      const s = statusOf(e);
      return s === NTE_BAD_KEYSET || s === NTE_NOT_FOUND ? false : undefined;
    }
  }

  /** Answers whether the storage provider can serve here, and the isolation its keys would get. Never throws. */
  async probe(options?: OperationOptions): Promise<ProbeResult> {
    const down = (reasons: string[], details: Record<string, string | number | boolean> = {}): ProbeResult =>
      unavailableProbe(reasons, { platform: process.platform, storageProvider: this.storageProvider, ...details });
    try {
      throwIfAborted(options?.signal);
      const { ncrypt, system } = this.#native();
      let posture: IsolationPosture;
      try {
        posture = this.#measure(system);
      } catch (err) {
        return down([`measuring the isolation failed: ${explainError(err).join(' ')}`]);
      }
      const stack = koffiSetupDetail();
      const details = {
        storageProvider: this.storageProvider,
        ...posture.details,
        ...(stack === undefined ? {} : { koffiAsyncStack: stack }),
      };
      if (!posture.available) return down([...posture.reasons], details);
      try {
        ncrypt.freeObject(ncrypt.openStorageProvider(this.storageProvider));
      } catch (err) {
        return down([`${this.storageProvider} does not open: ${explainError(err).join(' ')}`], details);
      }
      return { available: true, isolation: posture.best, reasons: [...posture.reasons], details };
    } catch (err) {
      return down(explainError(err));
    }
  }

  /**
   * Creates a key: `NCryptCreatePersistedKey` (no overwrite flag; `NCRYPT_MACHINE_KEY_FLAG` for the
   * machine scope; `NCRYPT_USE_VIRTUAL_ISOLATION_FLAG` only when the floor is above what an ordinary
   * key gets now and at most `virtualization`), then `Length` (RSA), `Export Policy` and `Key Usage`
   * (with `NCRYPT_PERSIST_FLAG`) and the UI policy, then `NCryptFinalizeKey`.
   */
  async createKey(request: ProviderCreateRequest): Promise<NCryptKey> {
    const req = this.#checkCreate(request, 'createKey');
    throwIfAborted(req.signal);
    return this.#make(req, { kind: 'generate' });
  }

  /**
   * Imports an existing private key under a name (RSA as `RSAFULLPRIVATEBLOB`, EC as
   * `ECCPRIVATEBLOB`), unfinalized, sets its export policy (non-exportable unless asked), usage and
   * UI policy, and finalizes it. A name that exists is `ERR_KEYSTORE_KEY_EXISTS`.
   */
  async importKey(request: ProviderImportRequest): Promise<NCryptKey> {
    // Before anything else: a provider that says it cannot import (the Platform Crypto Provider)
    // must never be handed a plaintext private blob.
    if (this.capabilities.importKeys !== true) {
      throw this.#error('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `the ${this.id} provider cannot import keys`, {
        hint: `${this.storageProvider} keys are generated where they live; create the key with createKey, or import it with the cng provider`,
      });
    }
    const req = this.#checkCreate(request, 'importKey');
    const privateKey = (request as { privateKey?: unknown }).privateKey;
    if (!(privateKey instanceof KeyObject) || privateKey.type !== 'private') {
      throw this.#invalid('importKey needs privateKey, a private KeyObject');
    }
    if (!publicKeyMatchesAlgorithm(privateKey, req.algorithm)) {
      throw this.#invalid(`the private key does not fit ${req.algorithm}`);
    }
    throwIfAborted(req.signal);
    const info = algorithmInfo(req.algorithm);
    const blob =
      info.family === 'rsa'
        ? rsaFullPrivateBlobFromKeyObject(privateKey)
        : eccPrivateBlobFromKeyObject(privateKey, req.algorithm.startsWith('ECDH-') ? 'ECDH' : 'ECDSA');
    try {
      return await this.#make(req, {
        kind: 'import',
        blobType: info.family === 'rsa' ? BCRYPT_RSAFULLPRIVATE_BLOB : BCRYPT_ECCPRIVATE_BLOB,
        blob,
      });
    } finally {
      blob.fill(0);
    }
  }

  async #make(req: CheckedCreate, make: Make): Promise<NCryptKey> {
    const { ncrypt, system } = this.#native();
    const posture = this.#posture(system);
    const vbs = planIsolation(this, this.#virtualIsolation, posture, req.minimumIsolation, make.kind === 'import');
    return makeKey(
      {
        who: this,
        ncrypt,
        posture,
        vbs,
        handOut: (facts, key, prov) => this.#handOut(ncrypt, facts, key, prov),
      },
      req,
      make,
    );
  }

  /** Opens a key and measures its receipt. */
  async openKey(request: ProviderKeyRequest): Promise<NCryptKey> {
    const { name, scope, signal } = this.#checkKeyRequest(request, 'openKey');
    throwIfAborted(signal);
    const { ncrypt, system } = this.#native();
    const posture = this.#posture(system);
    let prov: NCryptProvHandle | undefined;
    let key: NCryptKeyHandle | undefined;
    let handedOver = false;
    let pending: Pending = NO_ERROR;
    try {
      prov = ncrypt.openStorageProvider(this.storageProvider);
      throwIfAborted(signal);
      key = await this.#openNamed(ncrypt, prov, name, scope);
      throwIfAborted(signal);
      const described = describeOpenedKey(this, ncrypt, key, name);
      const isolation = described.virtualIsolation
        ? receiptOf(this, 'virtualization', [
            `the key's "Virtual Iso" property is set: it is used only inside the isolated LSA (LsaIso, VTL1), behind the hypervisor`,
            ...posture.evidence,
          ])
        : receiptOf(this, posture.level, [...posture.evidence, `the key was opened by name in the ${scope} scope`]);
      const { algorithm, exportable, publicKey } = described;
      const result = this.#handOut(ncrypt, { name, algorithm, scope, exportable, isolation, publicKey }, key, prov);
      handedOver = true;
      return result;
    } catch (err) {
      pending = err;
      throw err;
    } finally {
      if (!handedOver) releaseHandles(this, ncrypt, [key, prov], pending);
    }
  }

  /**
   * Lists keys with valid names (`NCryptEnumKeys`), in one scope or both. RSA keys are opened
   * silently to read their size; a key whose algorithm the SDK does not know is listed without one.
   * Entries with a legacy key spec (CryptoAPI containers the storage provider surfaces) are left
   * out: use the capi provider, or `keystore migrate --scan`, for those.
   */
  async listKeys(options?: OperationOptions & { scope?: KeyScope }): Promise<ProviderKeyInfo[]> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw this.#invalid('listKeys options must be an object');
    }
    const signal = checkSignal(options?.signal, this.id);
    const scopes =
      options?.scope === undefined
        ? this.capabilities.scopes
        : [checkProviderScope(options.scope, this.id, this.capabilities.scopes)];
    throwIfAborted(signal);
    const { ncrypt } = this.#native();
    const out: ProviderKeyInfo[] = [];
    for (const scope of scopes) {
      throwIfAborted(signal);
      const prov = ncrypt.openStorageProvider(this.storageProvider);
      let pending: Pending = NO_ERROR;
      try {
        const flags = scope === 'machine' ? NCRYPT_MACHINE_KEY_FLAG : 0;
        let entries: Awaited<ReturnType<NCryptBindings['enumKeys']>>;
        try {
          entries = await ncrypt.enumKeys(prov, flags | NCRYPT_SILENT_FLAG);
        } catch (err) {
          throw mapKeyError(this, err, 'list');
        }
        const seen = new Set<string>();
        for (const entry of entries) {
          // A legacy key spec (AT_KEYEXCHANGE, AT_SIGNATURE) marks a CryptoAPI container the storage
          // provider surfaces: a key that was used in-process before. It is the capi provider's.
          if (entry.legacyKeySpec !== 0) continue;
          if (!isValidKeyName(entry.name) || seen.has(entry.name)) continue;
          seen.add(entry.name);
          let algorithm = keyAlgorithmOf(entry.algorithm);
          if (algorithm === undefined && entry.algorithm.toUpperCase() === 'RSA') {
            throwIfAborted(signal);
            algorithm = await this.#rsaAlgorithm(ncrypt, prov, entry.name, flags);
          }
          out.push({ name: entry.name, scope, ...(algorithm === undefined ? {} : { algorithm }) });
        }
      } catch (err) {
        pending = err;
        throw err;
      } finally {
        releaseHandles(this, ncrypt, [prov], pending);
      }
    }
    return out.sort(byNameThenScope);
  }

  async #rsaAlgorithm(
    ncrypt: NCryptBindings,
    prov: NCryptProvHandle,
    name: string,
    flags: number,
  ): Promise<KeyAlgorithm | undefined> {
    let key: NCryptKeyHandle | undefined;
    try {
      key = await ncrypt.openKey(prov, name, 0, flags | NCRYPT_SILENT_FLAG);
      return keyAlgorithmOf('RSA', { bits: ncrypt.getDwordProperty(key, NCRYPT_LENGTH_PROPERTY) });
    } catch {
      return undefined;
    } finally {
      // Only a size is read here: a failing free is not worth failing the listing for.
      try {
        releaseHandles(this, ncrypt, [key], NO_ERROR);
      } catch {}
    }
  }

  /** Deletes a key (`NCryptOpenKey`, with the machine flag for the machine scope, then `NCryptDeleteKey`). */
  async deleteKey(request: ProviderKeyRequest): Promise<void> {
    const { name, scope, signal } = this.#checkKeyRequest(request, 'deleteKey');
    throwIfAborted(signal);
    const { ncrypt } = this.#native();
    const prov = ncrypt.openStorageProvider(this.storageProvider);
    let key: NCryptKeyHandle | undefined;
    let pending: Pending = NO_ERROR;
    try {
      throwIfAborted(signal);
      key = await this.#openNamed(ncrypt, prov, name, scope);
      throwIfAborted(signal);
      try {
        await ncrypt.deleteKey(key, 0);
      } catch (err) {
        throw mapKeyError(this, err, 'delete');
      }
      key = undefined; // NCryptDeleteKey freed the handle.
    } catch (err) {
      pending = err;
      throw err;
    } finally {
      releaseHandles(this, ncrypt, [key, prov], pending);
    }
  }

  /** Marks the provider closed: later calls reject with `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`. Keys stay usable until closed. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Same as {@link NCryptKeyStorage.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Orders listed keys by name, then scope. */
function byNameThenScope(a: ProviderKeyInfo, b: ProviderKeyInfo): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.scope < b.scope ? -1 : 1;
}

export type { NCryptBindingSources, NCryptKeyStorageConfig } from './storage-config.js';
export { keyUsage } from './storage-keys.js';

/** The real bindings, loaded lazily on first use. */
function defaultBindingSources(): NCryptBindingSources {
  return {
    ncrypt: () => loadNCrypt(),
    system: () => loadWindowsSystem(),
  };
}
