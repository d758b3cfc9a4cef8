/**
 * The TPM provider: keys in a TPM 2.0 through tpm2-tss FAPI. The class is the provider's face and
 * lifecycle; its operations live beside it: `create.ts` (create and roll back), `open.ts` (open,
 * list, delete, sign, decrypt), `probe.ts` (probe and the device facts of receipts) and `runtime.ts`
 * (config, pool, native calls, provisioning).
 *
 * @module
 */

import type {
  KeyAlgorithm,
  KeyScope,
  KeyStoreProvider,
  OperationOptions,
  ProbeResult,
  ProviderCapabilities,
  ProviderCreateRequest,
  ProviderKeyInfo,
  ProviderKeyRequest,
} from '@keystore/core';
import type { NCryptKeyStorage } from '@keystore/provider-cng';
import { createTpmKey } from './create.js';
import type { TpmKey } from './key.js';
import { deleteTpmKey, listTpmKeys, openTpmKey } from './open.js';
import {
  checkLoadedKeys,
  checkPoolSize,
  checkTimeouts,
  closedError,
  SCOPES,
  type TpmProviderOptions,
} from './options.js';
import { probeTpm } from './probe.js';
import { FapiRuntime } from './runtime.js';
import { pcpProvider } from './windows.js';

const DEFAULT_ALGORITHMS: readonly KeyAlgorithm[] = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048'];

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
  /** Config, pool and native calls; the keys this provider opens hold it too. */
  private readonly runtime: FapiRuntime;
  /** Creates in flight (their rollback included), which close() waits for. */
  private readonly creating = new Set<Promise<unknown>>();

  constructor(options: TpmProviderOptions = {}) {
    const copy = { ...options };
    const poolSize = checkPoolSize(options);
    checkLoadedKeys(options);
    this.runtime = new FapiRuntime(copy, poolSize, checkTimeouts(options));
  }

  /** The FAPI config file in use (the option, else `TSS2_FAPICONF`), or `undefined`. */
  get configFile(): string | undefined {
    return this.runtime.configFile;
  }

  /**
   * What it can do. Algorithms come from the FAPI profiles the config makes usable (ECDSA-P256,
   * ECDSA-P384 and RSA-2048 with a config from {@link writeFapiConfig}), less any the TPM could not
   * provision; before a config is readable, those three.
   */
  get capabilities(): ProviderCapabilities {
    let algorithms = DEFAULT_ALGORITHMS;
    try {
      algorithms = [...this.runtime.profileFor().keys()];
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

  /** Answers whether a TPM answers here, and what isolation its keys get. Never throws. */
  probe(options?: OperationOptions): Promise<ProbeResult> {
    return probeTpm(this.runtime, options);
  }

  /**
   * Creates a key. ECDSA keys are FAPI type `sign,noDa`; RSA keys `sign,decrypt,noDa` (they sign and
   * decrypt); `machine` scope adds `system` (the FAPI system keystore).
   */
  async createKey(request: ProviderCreateRequest): Promise<TpmKey> {
    if (this.runtime.closed) throw closedError();
    const run = createTpmKey(this.runtime, request);
    this.creating.add(run);
    try {
      return await run;
    } finally {
      this.creating.delete(run);
    }
  }

  /** Opens a key by name; `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none in that scope. */
  openKey(request: ProviderKeyRequest): Promise<TpmKey> {
    return openTpmKey(this.runtime, request);
  }

  /** Lists keys directly under the SRK (through `Fapi_List`), in one scope or both. */
  listKeys(options?: OperationOptions & { scope?: KeyScope }): Promise<ProviderKeyInfo[]> {
    return listTpmKeys(this.runtime, options);
  }

  /** Deletes a key; `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none in that scope. */
  deleteKey(request: ProviderKeyRequest): Promise<void> {
    return deleteTpmKey(this.runtime, request);
  }

  /** Finalizes every FAPI context. Idempotent; later calls reject with `ERR_KEYSTORE_PROVIDER_UNAVAILABLE`. */
  async close(): Promise<void> {
    const finalized = this.runtime.close();
    // A create in flight finishes its native call, then deletes the key it made: wait for that, so
    // that when close() resolves no key of an interrupted create is left behind.
    await Promise.allSettled([...this.creating, finalized]);
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
