/**
 * The engine of every provider that keeps keys in an NCrypt key storage provider: the Microsoft
 * Software Key Storage Provider (the `cng` provider), and later the Microsoft Platform Crypto
 * Provider (the TPM provider's Windows backend). It is parameterized by the storage provider's name,
 * the provider id, the capability limits and the isolation measurement.
 *
 * @module
 */
import { createPublicKey, KeyObject } from 'node:crypto';
import {
  algorithmInfo,
  type IsolationLevel,
  type IsolationReceipt,
  isAtLeast,
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
import { NCryptKey } from './key.js';
import { assertKeyName, isValidKeyName, keyAlgorithmOf, ncryptAlgorithmId } from './names.js';
import {
  type BlobCurve,
  blobCurve,
  eccPrivateBlobFromKeyObject,
  publicKeyFromBlob,
  rsaFullPrivateBlobFromKeyObject,
} from './native/blobs.js';
import {
  BCRYPT_ECCPRIVATE_BLOB,
  BCRYPT_ECCPUBLIC_BLOB,
  BCRYPT_RSAFULLPRIVATE_BLOB,
  BCRYPT_RSAPUBLIC_BLOB,
  NCRYPT_ALGORITHM_GROUP_PROPERTY,
  NCRYPT_ALGORITHM_PROPERTY,
  NCRYPT_ALLOW_DECRYPT_FLAG,
  NCRYPT_ALLOW_EXPORT_FLAG,
  NCRYPT_ALLOW_KEY_AGREEMENT_FLAG,
  NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG,
  NCRYPT_ALLOW_SIGNING_FLAG,
  NCRYPT_DO_NOT_FINALIZE_FLAG,
  NCRYPT_ECC_CURVE_NAME_PROPERTY,
  NCRYPT_EXPORT_POLICY_PROPERTY,
  NCRYPT_KEY_USAGE_PROPERTY,
  NCRYPT_LENGTH_PROPERTY,
  NCRYPT_MACHINE_KEY_FLAG,
  NCRYPT_PERSIST_FLAG,
  NCRYPT_SILENT_FLAG,
  NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG,
  NCRYPT_UI_PROTECT_KEY_FLAG,
  NCRYPT_USE_VIRTUAL_ISOLATION_FLAG,
  NCRYPT_VIRTUAL_ISO_PROPERTY,
  NTE_BAD_ALGID,
  NTE_BAD_FLAGS,
  NTE_BAD_KEYSET,
  NTE_EXISTS,
  NTE_INVALID_PARAMETER,
  NTE_NOT_FOUND,
  NTE_NOT_SUPPORTED,
  NTE_PERM,
} from './native/constants.js';
import { HandleTracker } from './native/handles.js';
import { koffiSetupDetail } from './native/koffi.js';
import { loadNCrypt } from './native/ncrypt.js';
import { loadWindowsSystem } from './native/system.js';
import type {
  NCryptBindings,
  NCryptHandle,
  NCryptKeyHandle,
  NCryptProvHandle,
  WindowsSystemBindings,
} from './native/types.js';
import type { IsolationMeasurement, IsolationPosture } from './posture.js';

/** The longest text accepted in a user prompt (friendly name, description). */
const MAX_PROMPT_TEXT = 1024;

/**
 * Where an NCrypt-based provider gets its native bindings: the real ones (loaded on first use), or a
 * test's double of the same interfaces.
 *
 * @since 0.2.0
 */
export interface NCryptBindingSources {
  /** Returns the ncrypt.dll bindings; throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` where there are none. */
  readonly ncrypt: () => NCryptBindings;
  /** Returns the posture bindings (kernel32, advapi32, ntdll, tbs). */
  readonly system: () => WindowsSystemBindings;
}

/**
 * What makes one NCrypt-based provider: its id and name, the key storage provider it opens, what it
 * can do, and how its isolation is measured.
 *
 * @example
 * ```ts
 * // The TPM provider's Windows backend, built on the same engine:
 * const pcp = new NCryptKeyStorage({
 *   id: 'tpm',
 *   displayName: 'TPM 2.0 (Microsoft Platform Crypto Provider)',
 *   storageProvider: 'Microsoft Platform Crypto Provider',
 *   capabilities: { ...CNG_CAPABILITIES, algorithms: ['RSA-2048', 'ECDSA-P256'], operations: ['sign', 'decrypt'], exportableKeys: false },
 *   // Its own measurement: unavailable unless Tbsi_GetDeviceInfo finds a TPM 2.0; level hardware.
 *   measure: (system) => {
 *     const tpm = system.tpmDeviceInfo();
 *     const present = tpm.ok && tpm.value.tpmVersion === 2;
 *     return {
 *       available: present,
 *       level: 'hardware',
 *       best: 'hardware',
 *       virtualization: 'unavailable',
 *       reasons: present ? [] : ['no TPM 2.0 on this machine'],
 *       evidence: ['the key was generated inside the TPM and never leaves it'],
 *       details: {},
 *     };
 *   },
 *   virtualIsolation: false,
 *   // The PCP's TPM makes one RSA-PSS salt length (its keys' "PSS Salt Size").
 *   pssSaltMustEqualDigest: true,
 * });
 * ```
 * @since 0.2.0
 */
export interface NCryptKeyStorageConfig {
  /** The provider id (`cng`, `tpm`). */
  readonly id: string;
  /** A human-readable name. */
  readonly displayName: string;
  /** The key storage provider's name, as `NCryptOpenStorageProvider` takes it. */
  readonly storageProvider: string;
  /** What it can do; `algorithms` is also the limit of what it creates and imports. */
  readonly capabilities: ProviderCapabilities;
  /** Measures the isolation now (and whether the storage provider can serve at all). */
  readonly measure: IsolationMeasurement;
  /**
   * Whether the storage provider can make keys protected by virtualization-based security
   * (`NCRYPT_USE_VIRTUAL_ISOLATION_FLAG`). When it can, a request whose floor is above the level an
   * ordinary key gets now (`measure().level`) and at most `virtualization` gets a VBS key, checked
   * after it is made.
   */
  readonly virtualIsolation: boolean;
  /**
   * Whether RSA-PSS follows the Microsoft Platform Crypto Provider's salt rules (the name is older
   * than the rule): the key's TPM makes one salt length, which its "PSS Salt Size" property names
   * (the digest length on TPMs built to spec 1.16 and later, the maximum before). When the property
   * names it, another `saltLength` is refused with `ERR_KEYSTORE_UNSUPPORTED_OPERATION` before the
   * signature is asked, and the signature is asked with `NCRYPT_TPM_PAD_PSS_IGNORE_SALT`; when it
   * does not, the TPM answers (`TPM_E_PCP_UNSUPPORTED_PSS_SALT` for a salt it cannot make).
   * Default false.
   *
   * @since 0.2.0
   */
  readonly pssSaltMustEqualDigest?: boolean;
  /** The native bindings; the real ones by default. */
  readonly bindings?: NCryptBindingSources;
}

/** A checked create (or import) request. */
interface CheckedCreate {
  readonly name: string;
  readonly algorithm: KeyAlgorithm;
  readonly scope: KeyScope;
  readonly exportable: boolean;
  readonly minimumIsolation: IsolationLevel | undefined;
  readonly userPrompt: UserPromptOptions | undefined;
  readonly signal: AbortSignal | undefined;
}

/** The way one new key is made: generated, or imported from a blob. */
type Make =
  | { readonly kind: 'generate' }
  | { readonly kind: 'import'; readonly blobType: string; readonly blob: Buffer };

function nativeOf(err: unknown): { nativeStatus?: number; nativeName?: string } {
  return KeyStoreError.is(err) && err.nativeStatus !== undefined
    ? { nativeStatus: err.nativeStatus, ...(err.nativeName === undefined ? {} : { nativeName: err.nativeName }) }
    : {};
}

function statusOf(err: unknown): number | undefined {
  return KeyStoreError.is(err) ? err.nativeStatus : undefined;
}

/** Marks "no error in flight" for {@link NCryptKeyStorage}'s handle release. */
const NO_ERROR: unique symbol = Symbol('no error');
type Pending = unknown;

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
    return new KeyStoreError(code, message, {
      providerId: this.id,
      ...(extra.hint === undefined ? {} : { hint: extra.hint }),
      ...(extra.cause === undefined ? {} : { cause: extra.cause }),
      ...nativeOf(extra.cause),
    });
  }

  /**
   * Frees `handles` (skipping undefined ones) when an operation ends. Every handle is tried. A failing
   * free never hides the operation's own error (`pending`): that error comes out with its code, hint
   * and status, as the cause of an error whose message also names the cleanup failure. With no error
   * in flight, the first cleanup failure is thrown.
   */
  #release(ncrypt: NCryptBindings, handles: readonly (NCryptHandle | undefined)[], pending: Pending): void {
    const failures: unknown[] = [];
    for (const handle of handles) {
      if (handle === undefined) continue;
      try {
        ncrypt.freeObject(handle);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length === 0) return;
    if (pending === NO_ERROR) throw failures[0];
    const said = failures
      .map((f) => (KeyStoreError.is(f) ? `${f.message}${f.nativeName ? ` (${f.nativeName})` : ''}` : String(f)))
      .join('; ');
    const original = KeyStoreError.is(pending) ? pending : undefined;
    const message = original?.message ?? (pending instanceof Error ? pending.message : String(pending));
    throw new KeyStoreError(
      original?.code ?? 'ERR_KEYSTORE_NATIVE_FAILURE',
      `${message}; freeing its handles afterwards failed too: ${said}`,
      {
        providerId: this.id,
        cause: pending,
        ...nativeOf(pending),
        ...(original?.hint === undefined ? {} : { hint: original.hint }),
      },
    );
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

  #checkRequest<T>(request: T, what: string): NonNullable<T> {
    if (typeof request !== 'object' || request === null) throw this.#invalid(`${what} needs a request object`);
    return request as NonNullable<T>;
  }

  #checkScope(scope: unknown): KeyScope {
    if (scope === undefined) return 'user';
    if (scope !== 'user' && scope !== 'machine') {
      throw this.#invalid(`invalid scope ${JSON.stringify(scope)}: user or machine`);
    }
    if (!this.capabilities.scopes.includes(scope)) {
      throw this.#error('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `the ${this.id} provider has no ${scope} scope`);
    }
    return scope;
  }

  #checkNoPassword(password: unknown): void {
    if (password === undefined || password === null || password === '') return;
    throw this.#error('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `${this.storageProvider} keys take no password here`, {
      hint: 'ask for a user prompt (userPrompt with forceHighProtection) to have Windows protect the key with a password it asks for',
    });
  }

  #checkSignal(signal: unknown): AbortSignal | undefined {
    if (signal === undefined) return undefined;
    if (!(signal instanceof AbortSignal)) throw this.#invalid('signal must be an AbortSignal');
    return signal;
  }

  #checkPrompt(prompt: unknown): UserPromptOptions | undefined {
    if (prompt === undefined) return undefined;
    if (typeof prompt !== 'object' || prompt === null) throw this.#invalid('userPrompt must be an object');
    if (this.capabilities.userPrompt !== true) {
      throw this.#error(
        'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        `the ${this.id} provider cannot protect keys by a prompt`,
      );
    }
    const p = prompt as Record<string, unknown>;
    for (const field of ['friendlyName', 'description'] as const) {
      const value = p[field];
      if (value === undefined) continue;
      if (typeof value !== 'string' || value.includes('\0') || value.length > MAX_PROMPT_TEXT) {
        throw this.#invalid(
          `userPrompt.${field} must be a string of at most ${MAX_PROMPT_TEXT} characters without NUL`,
        );
      }
    }
    if (p.forceHighProtection !== undefined && typeof p.forceHighProtection !== 'boolean') {
      throw this.#invalid('userPrompt.forceHighProtection must be a boolean');
    }
    return prompt as UserPromptOptions;
  }

  #checkCreate(request: ProviderCreateRequest, what: string): CheckedCreate {
    const r = this.#checkRequest(request, what);
    const signal = this.#checkSignal(r.signal);
    assertKeyName(r.name, this.id);
    const scope = this.#checkScope(r.scope);
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
    this.#checkNoPassword(r.password);
    if (r.minimumIsolation !== undefined && !isIsolationLevel(r.minimumIsolation)) {
      throw this.#invalid(`invalid minimumIsolation ${JSON.stringify(r.minimumIsolation)}`);
    }
    const userPrompt = this.#checkPrompt(r.userPrompt);
    return {
      name: r.name,
      algorithm: r.algorithm,
      scope,
      exportable,
      minimumIsolation: r.minimumIsolation,
      userPrompt,
      signal,
    };
  }

  /**
   * Decides whether the new key must be a VBS key, or refuses. A floor the posture meets needs
   * nothing. A floor above it and at most `virtualization` is met only by a VBS key (on a storage
   * provider that makes them; checked after it is made), never by hoping; an import cannot be one.
   * Anything else is `ERR_KEYSTORE_POLICY_VIOLATION` before any key is made.
   */
  #planIsolation(posture: IsolationPosture, floor: IsolationLevel | undefined, importing: boolean): boolean {
    if (floor === undefined || isAtLeast(posture.level, floor)) return false;
    const refuse = (message: string, hint: string) => this.#error('ERR_KEYSTORE_POLICY_VIOLATION', message, { hint });
    const now = `${this.storageProvider} keys get ${posture.level} isolation here now`;
    const vbsHint =
      'VBS keys need Windows 11 24H2 or Windows Server 2025 (build 26100+) with virtualization-based security running (TPM 2.0, UEFI Secure Boot)';
    const lsaHint = 'turn on LSA protection (RunAsPPL) and reboot, so that LSASS runs as a protected process';
    if (this.#virtualIsolation && isAtLeast('virtualization', floor)) {
      if (importing) {
        throw refuse(
          `the floor is ${floor}, ${now}, and only a virtualization-based key would meet it; ${this.storageProvider} imports keys with ${posture.level} isolation only`,
          'create the key instead: a key generated with virtualization-based security never existed outside the isolated LSA',
        );
      }
      if (posture.virtualization === 'unavailable') {
        throw refuse(
          `the floor is ${floor}, ${now}, and virtualization-based keys cannot be made here: ${posture.virtualizationReason ?? 'VBS is not available'}`,
          floor === 'os-protected' ? `${lsaHint}; or: ${vbsHint}` : vbsHint,
        );
      }
      return true;
    }
    const hint =
      floor === 'hardware'
        ? `hardware isolation is the TPM provider's job (${this.storageProvider} keeps keys in software)`
        : floor === 'virtualization'
          ? `${this.storageProvider} cannot make virtualization-based keys`
          : floor === 'os-protected'
            ? lsaHint
            : `keys in ${this.storageProvider} get ${posture.level} isolation here`;
    throw refuse(
      `the floor is ${floor}, and ${now}: ${posture.reasons.join('; ') || 'no stronger isolation is available'}`,
      hint,
    );
  }

  #receipt(level: IsolationLevel, evidence: readonly string[]): IsolationReceipt {
    return { level, providerId: this.id, measuredAt: new Date().toISOString(), evidence: [...evidence] };
  }

  #notFound(name: string, scope: KeyScope, cause: unknown, other: boolean | undefined): KeyStoreError {
    const otherScope = scope === 'user' ? 'machine' : 'user';
    const hint =
      other === true
        ? `a key by that name exists in the ${otherScope} scope: open it with scope "${otherScope}"`
        : other === false
          ? `no key by that name in the ${otherScope} scope either; list keys to see which exist`
          : `no key by that name in the ${scope} scope; was it created for the ${otherScope}?`;
    return this.#error(
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      `no key "${name}" in the ${scope} scope of ${this.storageProvider}`,
      {
        hint,
        cause,
      },
    );
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
      if (status !== NTE_BAD_KEYSET && status !== NTE_NOT_FOUND) throw this.#mapKeyError(err, 'open');
      let other: boolean | undefined;
      if (this.capabilities.scopes.length > 1) {
        try {
          const handle = await ncrypt.openKey(
            prov,
            name,
            0,
            (scope === 'machine' ? 0 : NCRYPT_MACHINE_KEY_FLAG) | NCRYPT_SILENT_FLAG,
          );
          ncrypt.freeObject(handle);
          other = true;
        } catch (e) {
          const s = statusOf(e);
          other = s === NTE_BAD_KEYSET || s === NTE_NOT_FOUND ? false : undefined;
        }
      }
      throw this.#notFound(name, scope, err, other);
    }
  }

  /** Maps a status of open/delete/use that means something to the caller. */
  #mapKeyError(err: unknown, what: string): unknown {
    const status = statusOf(err);
    if (status === NTE_PERM) {
      return this.#error('ERR_KEYSTORE_ACCESS_DENIED', `${this.storageProvider} refused to ${what} the key`, {
        hint: 'machine-scope keys need administrator rights to create and delete, and a key file readable by this account',
        cause: err,
      });
    }
    if (status === NTE_NOT_SUPPORTED) {
      return this.#error('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `${this.storageProvider} cannot ${what} keys here`, {
        hint: 'this ncrypt.dll does not implement the call (Wine implements only part of CNG)',
        cause: err,
      });
    }
    return err;
  }

  /** Maps a status of a create or import step. */
  #mapCreateError(err: unknown, req: CheckedCreate, vbs: boolean, step: string): unknown {
    const status = statusOf(err);
    if (status === NTE_EXISTS) {
      return this.#error(
        'ERR_KEYSTORE_KEY_EXISTS',
        `a key "${req.name}" exists in the ${req.scope} scope of ${this.storageProvider}`,
        { hint: 'keys are never overwritten: open it, or delete it first', cause: err },
      );
    }
    if (vbs && (status === NTE_NOT_SUPPORTED || status === NTE_INVALID_PARAMETER || status === NTE_BAD_FLAGS)) {
      return this.#error(
        'ERR_KEYSTORE_POLICY_VIOLATION',
        `the floor is ${req.minimumIsolation ?? 'virtualization'}, which only a virtualization-based key meets here, and ${this.storageProvider} refused NCRYPT_USE_VIRTUAL_ISOLATION_FLAG (${step})`,
        {
          hint: 'VBS keys need Windows 11 24H2 or Windows Server 2025 (build 26100+) with virtualization-based security running (TPM 2.0, UEFI Secure Boot)',
          cause: err,
        },
      );
    }
    if (status === NTE_PERM) return this.#mapKeyError(err, 'create');
    const generating = step === 'NCryptCreatePersistedKey' || step === 'Length' || step === 'NCryptFinalizeKey';
    if (
      status === NTE_BAD_ALGID ||
      (generating && (status === NTE_NOT_SUPPORTED || status === NTE_INVALID_PARAMETER))
    ) {
      return this.#error(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `${this.storageProvider} refused ${req.algorithm} (${step})`,
        { cause: err, hint: 'this key storage provider does not implement the algorithm or key size' },
      );
    }
    if (status === NTE_NOT_SUPPORTED || status === NTE_BAD_FLAGS) {
      const what = step === 'NCryptImportKey' ? `import a ${req.algorithm} key under a name` : `set ${step}`;
      return this.#error('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `${this.storageProvider} cannot ${what} here`, {
        cause: err,
        hint:
          step === 'NCryptImportKey'
            ? 'this ncrypt.dll does not implement named, unfinalized imports (Wine does not)'
            : 'this key storage provider does not implement the property',
      });
    }
    return err;
  }

  /** Answers whether the storage provider can serve here, and the isolation its keys would get. Never throws. */
  async probe(options?: OperationOptions): Promise<ProbeResult> {
    const down = (reasons: string[], details: Record<string, string | number | boolean> = {}): ProbeResult => ({
      available: false,
      isolation: 'none',
      reasons,
      details: { platform: process.platform, storageProvider: this.storageProvider, ...details },
    });
    const explain = (err: unknown): string[] =>
      KeyStoreError.is(err)
        ? [err.message, ...(err.hint ? [err.hint] : [])]
        : [`unexpected failure: ${err instanceof Error ? err.message : String(err)}`];
    try {
      throwIfAborted(options?.signal);
      const { ncrypt, system } = this.#native();
      let posture: IsolationPosture;
      try {
        posture = this.#measure(system);
      } catch (err) {
        return down([`measuring the isolation failed: ${explain(err).join(' ')}`]);
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
        return down([`${this.storageProvider} does not open: ${explain(err).join(' ')}`], details);
      }
      return { available: true, isolation: posture.best, reasons: [...posture.reasons], details };
    } catch (err) {
      return down(explain(err));
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
    const vbs = this.#planIsolation(posture, req.minimumIsolation, make.kind === 'import');
    const info = algorithmInfo(req.algorithm);
    const signal = req.signal;
    const scopeFlag = req.scope === 'machine' ? NCRYPT_MACHINE_KEY_FLAG : 0;
    let prov: NCryptProvHandle | undefined;
    let key: NCryptKeyHandle | undefined;
    let finalized = false;
    let handedOver = false;
    let pending: Pending = NO_ERROR;
    const step = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
      throwIfAborted(signal);
      try {
        return await fn();
      } catch (err) {
        throw this.#mapCreateError(err, req, vbs, name);
      }
    };
    try {
      prov = await step('NCryptOpenStorageProvider', () => ncrypt.openStorageProvider(this.storageProvider));
      const p = prov;
      if (make.kind === 'generate') {
        const flags = scopeFlag | (vbs ? NCRYPT_USE_VIRTUAL_ISOLATION_FLAG : 0);
        key = await step('NCryptCreatePersistedKey', () =>
          ncrypt.createPersistedKey(p, ncryptAlgorithmId(req.algorithm), req.name, 0, flags),
        );
      } else {
        key = await step('NCryptImportKey', () =>
          ncrypt.importKey(p, make.blobType, make.blob, req.name, scopeFlag | NCRYPT_DO_NOT_FINALIZE_FLAG),
        );
      }
      const k = key;
      if (info.family === 'rsa' && make.kind === 'generate') {
        await step('Length', () => ncrypt.setProperty(k, NCRYPT_LENGTH_PROPERTY, info.bits));
      }
      const exportPolicy = req.exportable ? NCRYPT_ALLOW_EXPORT_FLAG | NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG : 0;
      // Stored with the key material (NCRYPT_PERSIST_FLAG), as .NET's CngKey does: the policy must
      // hold for every later open, not only for this handle. `Length` is a generation parameter.
      await step('Export Policy', () =>
        ncrypt.setProperty(k, NCRYPT_EXPORT_POLICY_PROPERTY, exportPolicy, NCRYPT_PERSIST_FLAG),
      );
      await step('Key Usage', () =>
        ncrypt.setProperty(k, NCRYPT_KEY_USAGE_PROPERTY, keyUsage(req.algorithm), NCRYPT_PERSIST_FLAG),
      );
      const prompt = req.userPrompt;
      if (prompt !== undefined) {
        await step('UI Policy', () =>
          ncrypt.setUiPolicy(k, {
            flags: NCRYPT_UI_PROTECT_KEY_FLAG | (prompt.forceHighProtection ? NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG : 0),
            ...(prompt.friendlyName === undefined ? {} : { friendlyName: prompt.friendlyName }),
            ...(prompt.description === undefined ? {} : { description: prompt.description }),
          }),
        );
      }
      // The last point where a cancellation leaves nothing behind: the key is persisted at finalize.
      await step('NCryptFinalizeKey', () => ncrypt.finalizeKey(k, 0));
      finalized = true;
      throwIfAborted(signal);
      let receipt: IsolationReceipt;
      if (vbs) {
        receipt = this.#receipt('virtualization', [this.#checkVirtualIsolation(ncrypt, k, req), ...posture.evidence]);
      } else {
        const made =
          make.kind === 'generate'
            ? `the key was generated by ${this.storageProvider}`
            : `the key was imported into ${this.storageProvider} from this process: copies made before the import are outside its protection`;
        receipt = this.#receipt(posture.level, [...posture.evidence, made]);
      }
      const publicKey = this.#publicKey(ncrypt, k, req.algorithm);
      throwIfAborted(signal);
      const result = new NCryptKey({
        name: req.name,
        algorithm: req.algorithm,
        scope: req.scope,
        exportable: req.exportable,
        isolation: receipt,
        publicKey,
        providerId: this.id,
        storageProvider: this.storageProvider,
        capabilities: this.capabilities,
        pssSaltMustEqualDigest: this.#pssSaltMustEqualDigest,
        ncrypt,
        keyHandle: k,
        provHandle: p,
        tracker: this.#tracker,
      });
      handedOver = true;
      return result;
    } catch (err) {
      pending = err;
      let cleanup: unknown;
      if (finalized && key !== undefined) {
        try {
          await ncrypt.deleteKey(key, 0);
          key = undefined; // NCryptDeleteKey freed the handle.
        } catch (e) {
          cleanup = e;
        }
      }
      const removed = !finalized
        ? 'no key was made'
        : cleanup === undefined
          ? 'the new key was deleted'
          : `deleting the new key failed (${cleanup instanceof Error ? cleanup.message : String(cleanup)}), so it may remain`;
      // What is thrown is also what the release in `finally` keeps if a free fails.
      if (signal?.aborted) {
        pending = this.#error('ERR_KEYSTORE_CANCELLED', `the operation was cancelled; ${removed}`, {
          cause: KeyStoreError.is(err, 'ERR_KEYSTORE_CANCELLED') ? signal.reason : err,
        });
      } else if (finalized && KeyStoreError.is(err)) {
        pending = new KeyStoreError(err.code, `${err.message}; ${removed}`, {
          providerId: this.id,
          cause: err,
          ...nativeOf(err),
          ...(err.hint === undefined ? {} : { hint: err.hint }),
        });
      }
      throw pending;
    } finally {
      if (!handedOver) this.#release(ncrypt, [key, prov], pending);
    }
  }

  /**
   * Checks that a key created with `NCRYPT_USE_VIRTUAL_ISOLATION_FLAG` carries it: its own
   * `Virtual Iso` property is present with a first byte other than 0 (what `openKey` checks too).
   * `Impl Type` is not taken as proof: it is documented as a property of the storage provider, and
   * says nothing about this key. Returns the evidence sentence; throws `ERR_KEYSTORE_POLICY_VIOLATION`
   * otherwise (the caller deletes the key).
   */
  #checkVirtualIsolation(ncrypt: NCryptBindings, key: NCryptKeyHandle, req: CheckedCreate): string {
    let seen: string;
    try {
      const value = ncrypt.getProperty(key, NCRYPT_VIRTUAL_ISO_PROPERTY);
      if (value.length > 0 && value[0] !== 0) {
        return `the key was created with NCRYPT_USE_VIRTUAL_ISOLATION_FLAG and its "Virtual Iso" property reads ${value.toString('hex')}: it is used only inside the isolated LSA (LsaIso, VTL1), behind the hypervisor`;
      }
      seen = `"Virtual Iso" reads ${value.length === 0 ? 'empty' : value.toString('hex')}`;
    } catch (err) {
      seen = `"Virtual Iso" is unreadable (${KeyStoreError.is(err) ? (err.nativeName ?? err.message) : String(err)})`;
    }
    throw this.#error(
      'ERR_KEYSTORE_POLICY_VIOLATION',
      `the floor is ${req.minimumIsolation ?? 'virtualization'}, which only a virtualization-based key meets here, and the key "${req.name}" was created with NCRYPT_USE_VIRTUAL_ISOLATION_FLAG but does not carry virtualization-based protection (${seen})`,
      {
        hint: 'VBS keys need Windows 11 24H2 or Windows Server 2025 (build 26100+) with virtualization-based security running (TPM 2.0, UEFI Secure Boot)',
      },
    );
  }

  /** The public key of `key`, from `RSAPUBLICBLOB` or `ECCPUBLICBLOB`, checked against the algorithm. */
  #publicKey(ncrypt: NCryptBindings, key: NCryptKeyHandle, algorithm: KeyAlgorithm): KeyObject {
    const info = algorithmInfo(algorithm);
    const blob = ncrypt.exportKey(key, info.family === 'rsa' ? BCRYPT_RSAPUBLIC_BLOB : BCRYPT_ECCPUBLIC_BLOB);
    const publicKey = toPublic(publicKeyFromBlob(blob, info.curve));
    if (!publicKeyMatchesAlgorithm(publicKey, algorithm)) {
      throw this.#error(
        'ERR_KEYSTORE_NATIVE_FAILURE',
        `${this.storageProvider} returned a public key that does not fit ${algorithm}`,
      );
    }
    return publicKey;
  }

  /** Opens a key and measures its receipt. */
  async openKey(request: ProviderKeyRequest): Promise<NCryptKey> {
    const r = this.#checkRequest(request, 'openKey');
    const signal = this.#checkSignal(r.signal);
    assertKeyName(r.name, this.id);
    const scope = this.#checkScope(r.scope);
    this.#checkNoPassword(r.password);
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
      key = await this.#openNamed(ncrypt, prov, r.name, scope);
      throwIfAborted(signal);
      const described = this.#describe(ncrypt, key, r.name);
      let receipt: IsolationReceipt;
      if (described.virtualIsolation) {
        receipt = this.#receipt('virtualization', [
          `the key's "Virtual Iso" property is set: it is used only inside the isolated LSA (LsaIso, VTL1), behind the hypervisor`,
          ...posture.evidence,
        ]);
      } else {
        receipt = this.#receipt(posture.level, [
          ...posture.evidence,
          `the key was opened by name in the ${scope} scope`,
        ]);
      }
      const result = new NCryptKey({
        name: r.name,
        algorithm: described.algorithm,
        scope,
        exportable: described.exportable,
        isolation: receipt,
        publicKey: described.publicKey,
        providerId: this.id,
        storageProvider: this.storageProvider,
        capabilities: this.capabilities,
        pssSaltMustEqualDigest: this.#pssSaltMustEqualDigest,
        ncrypt,
        keyHandle: key,
        provHandle: prov,
        tracker: this.#tracker,
      });
      handedOver = true;
      return result;
    } catch (err) {
      pending = err;
      throw err;
    } finally {
      if (!handedOver) this.#release(ncrypt, [key, prov], pending);
    }
  }

  /** Reads an opened key's algorithm, public key, export policy and VBS mark. */
  #describe(
    ncrypt: NCryptBindings,
    key: NCryptKeyHandle,
    name: string,
  ): { algorithm: KeyAlgorithm; publicKey: KeyObject; exportable: boolean; virtualIsolation: boolean } {
    const tryRead = <T>(fn: () => T): T | undefined => {
      try {
        return fn();
      } catch {
        return undefined;
      }
    };
    const ncryptId =
      tryRead(() => ncrypt.getStringProperty(key, NCRYPT_ALGORITHM_PROPERTY)) ??
      tryRead(() => ncrypt.getStringProperty(key, NCRYPT_ALGORITHM_GROUP_PROPERTY));
    const unsupported = (what: string) =>
      this.#error(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the key "${name}" is ${what}, which this SDK does not support`,
      );
    if (ncryptId === undefined) throw unsupported('of an algorithm that could not be read');
    const rsa = ncryptId.toUpperCase() === 'RSA';
    const ec = /^(ECDSA|ECDH)/i.exec(ncryptId);
    if (!rsa && !ec) throw unsupported(`an ${ncryptId} key`);
    const blob = ncrypt.exportKey(key, rsa ? BCRYPT_RSAPUBLIC_BLOB : BCRYPT_ECCPUBLIC_BLOB);
    let curveHint: BlobCurve | undefined;
    if (!rsa && blobCurve(blob) === undefined) {
      // A generic magic (the Platform Crypto Provider's P-256 keys): the curve is a property.
      const named = tryRead(() => ncrypt.getStringProperty(key, NCRYPT_ECC_CURVE_NAME_PROPERTY)) ?? '';
      const size = /(256|384|521)/.exec(named)?.[1];
      curveHint = size === undefined ? undefined : (`P-${size}` as BlobCurve);
    }
    const publicKey = toPublic(publicKeyFromBlob(blob, curveHint));
    let algorithm: KeyAlgorithm | undefined;
    if (rsa) {
      algorithm = keyAlgorithmOf('RSA', { bits: publicKey.asymmetricKeyDetails?.modulusLength ?? 0 });
    } else {
      const kind = (ec?.[1] ?? 'ECDSA').toUpperCase();
      const size = { prime256v1: '256', secp384r1: '384', secp521r1: '521' }[
        publicKey.asymmetricKeyDetails?.namedCurve ?? ''
      ];
      algorithm = size === undefined ? undefined : keyAlgorithmOf(`${kind}_P${size}`);
    }
    if (algorithm === undefined || !publicKeyMatchesAlgorithm(publicKey, algorithm)) {
      throw unsupported(`an ${ncryptId} key (${describeKey(publicKey)})`);
    }
    const policy = tryRead(() => ncrypt.getDwordProperty(key, NCRYPT_EXPORT_POLICY_PROPERTY)) ?? 0;
    const iso = tryRead(() => ncrypt.getProperty(key, NCRYPT_VIRTUAL_ISO_PROPERTY));
    return {
      algorithm,
      publicKey,
      exportable: (policy & NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG) !== 0,
      virtualIsolation: iso !== undefined && iso.length > 0 && iso[0] !== 0,
    };
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
    const signal = this.#checkSignal(options?.signal);
    const scopes = options?.scope === undefined ? this.capabilities.scopes : [this.#checkScope(options.scope)];
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
          throw this.#mapKeyError(err, 'list');
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
        this.#release(ncrypt, [prov], pending);
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.scope < b.scope ? -1 : 1));
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
        this.#release(ncrypt, [key], NO_ERROR);
      } catch {}
    }
  }

  /** Deletes a key (`NCryptOpenKey`, with the machine flag for the machine scope, then `NCryptDeleteKey`). */
  async deleteKey(request: ProviderKeyRequest): Promise<void> {
    const r = this.#checkRequest(request, 'deleteKey');
    const signal = this.#checkSignal(r.signal);
    assertKeyName(r.name, this.id);
    const scope = this.#checkScope(r.scope);
    this.#checkNoPassword(r.password);
    throwIfAborted(signal);
    const { ncrypt } = this.#native();
    const prov = ncrypt.openStorageProvider(this.storageProvider);
    let key: NCryptKeyHandle | undefined;
    let pending: Pending = NO_ERROR;
    try {
      throwIfAborted(signal);
      key = await this.#openNamed(ncrypt, prov, r.name, scope);
      throwIfAborted(signal);
      try {
        await ncrypt.deleteKey(key, 0);
      } catch (err) {
        throw this.#mapKeyError(err, 'delete');
      }
      key = undefined; // NCryptDeleteKey freed the handle.
    } catch (err) {
      pending = err;
      throw err;
    } finally {
      this.#release(ncrypt, [key, prov], pending);
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

/**
 * The `Key Usage` property a new key gets: `NCRYPT_ALLOW_SIGNING_FLAG` for ECDSA,
 * `NCRYPT_ALLOW_SIGNING_FLAG | NCRYPT_ALLOW_DECRYPT_FLAG` for RSA, `NCRYPT_ALLOW_KEY_AGREEMENT_FLAG`
 * for ECDH.
 *
 * @since 0.2.0
 */
export function keyUsage(algorithm: KeyAlgorithm): number {
  const info = algorithmInfo(algorithm);
  if (info.family === 'rsa') return NCRYPT_ALLOW_SIGNING_FLAG | NCRYPT_ALLOW_DECRYPT_FLAG;
  return info.operations.includes('derive') ? NCRYPT_ALLOW_KEY_AGREEMENT_FLAG : NCRYPT_ALLOW_SIGNING_FLAG;
}

function toPublic(key: KeyObject): KeyObject {
  return key.type === 'public' ? key : createPublicKey(key);
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  return key.asymmetricKeyType === 'rsa' ? `${d?.modulusLength} bits` : `curve ${String(d?.namedCurve)}`;
}

/** The real bindings, loaded lazily on first use. */
function defaultBindingSources(): NCryptBindingSources {
  return {
    ncrypt: () => loadNCrypt(),
    system: () => loadWindowsSystem(),
  };
}
