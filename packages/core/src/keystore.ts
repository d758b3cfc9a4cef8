/**
 * The {@link KeyStore} implementation and its factory, {@link createKeyStore}.
 *
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { isKeyAlgorithm, type KeyAlgorithm, type KeyScope } from './algorithms.js';
import { type AuditAction, auditChannel, publishAudit } from './audit.js';
import { KeyStoreError, type ProviderRefusal, throwIfAborted } from './errors.js';
import { ASYNC_DISPOSE, ManagedKey, providerError } from './key.js';
import { decision, describeRefusals, flatReasons, keyEvent, refusalsOf } from './keystore-audit.js';
import {
  type CommonOptions,
  checkOptions,
  checkProviderOption,
  checkProviders,
  commonOptions,
  importAlgorithm,
  type KeyOptions,
  keyOptions,
} from './keystore-options.js';
import { verifyProviderKey } from './keystore-verify.js';
import { noProviderError } from './no-provider.js';
import { requestViolations, resolvePolicy } from './policy/index.js';
import { rejectRemoved } from './policy/load.js';
import { POLICY_SOURCES, type WithPolicySources } from './policy/sources.js';
import { ProbeCache } from './probe-cache.js';
import { checkKeyName, checkScope, checkSignal, invalidArgument as invalid } from './provider/checks.js';
import { formatKeyRef, KEY_REF_PREFIX, parseKeyRef } from './ref.js';
import {
  evaluateCandidates,
  normalizeSelectionRequest,
  probeAll,
  type SelectionCandidate,
  selectProvider,
} from './selection.js';
import type {
  CreateKeyOptions,
  EffectivePolicy,
  ImportKeyOptions,
  KeyInfo,
  KeyList,
  KeyStore,
  KeyStoreKey,
  KeyStorePolicy,
  KeyStoreProvider,
  ListKeysFailure,
  ListKeysOptions,
  OpenKeyOptions,
  OperationOptions,
  ProviderCreateRequest,
  ProviderKey,
  ProviderKeyInfo,
  ProviderKeyRequest,
  SelectionExplanation,
  SelectionRequest,
} from './types.js';

/**
 * Options of {@link createKeyStore}.
 *
 * @since 0.1.0
 */
export interface CreateKeyStoreOptions extends WithPolicySources {
  /** The providers, in registration order (the last tie-breaker of selection). Ids must be unique. */
  providers: readonly KeyStoreProvider[];
  /**
   * The app's policy. Every machine policy still caps it: the file at the fixed path, the file named
   * by `KEYSTORE_MACHINE_POLICY` and, on Windows, the registry. Since 0.3.0 no option drops or
   * replaces them (`machinePolicy`, `registryPolicy`, `env` and `registryReader` are gone and are
   * rejected when given); tests use `createTestKeyStore` from `@keystore/core/testing`.
   */
  policy?: KeyStorePolicy;
  /** Cancels reading the machine policy. */
  signal?: AbortSignal;
}

/** A key a name or reference led to: the provider that holds it, its name and scope. */
interface KeyTarget {
  readonly provider: KeyStoreProvider;
  readonly name: string;
  readonly scope: KeyScope;
}

/** One entry of a provider's list as the app sees it; `undefined` for a name no reference can carry. */
function keyInfo(provider: KeyStoreProvider, entry: ProviderKeyInfo): KeyInfo | undefined {
  let ref: string;
  try {
    ref = formatKeyRef({ providerId: provider.id, scope: entry.scope, name: entry.name });
  } catch {
    return undefined; // a name no reference can carry cannot be opened through this API either
  }
  return {
    ref,
    name: entry.name,
    providerId: provider.id,
    scope: entry.scope,
    ...(entry.algorithm === undefined ? {} : { algorithm: entry.algorithm }),
  };
}

/** The keys of one provider, in `scope` when one is given. */
async function listOne(
  provider: KeyStoreProvider,
  scope: KeyScope | undefined,
  signal: AbortSignal | undefined,
): Promise<KeyInfo[]> {
  const entries = await provider.listKeys({
    ...(scope === undefined ? {} : { scope }),
    ...(signal === undefined ? {} : { signal }),
  });
  const out: KeyInfo[] = [];
  for (const entry of entries) {
    if (scope !== undefined && entry.scope !== scope) continue;
    const info = keyInfo(provider, entry);
    if (info !== undefined) out.push(info);
  }
  return out;
}

class DefaultKeyStore implements KeyStore {
  readonly policy: EffectivePolicy;
  readonly providers: readonly KeyStoreProvider[];
  readonly #byId: ReadonlyMap<string, KeyStoreProvider>;
  readonly #probes = new ProbeCache();
  #closed: Promise<void> | undefined;

  constructor(providers: readonly KeyStoreProvider[], policy: EffectivePolicy) {
    this.providers = Object.freeze([...providers]);
    this.policy = policy;
    this.#byId = new Map(providers.map((p) => [p.id, p]));
  }

  #checkOpen(): void {
    if (this.#closed !== undefined) {
      throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', 'this key store was closed');
    }
  }

  async #candidates(fresh: boolean, signal: AbortSignal | undefined): Promise<SelectionCandidate[]> {
    const cached = fresh ? undefined : this.#probes.all();
    if (cached !== undefined) return cached;
    const candidates = await probeAll(this.providers, signal);
    this.#probes.store(candidates);
    return candidates;
  }

  #provider(id: string): KeyStoreProvider {
    const provider = this.#byId.get(id);
    if (provider === undefined) {
      const known = this.providers.length === 0 ? 'none' : this.providers.map((p) => p.id).join(', ');
      throw new KeyStoreError(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `no provider ${id} is registered with this key store (registered: ${known})`,
        { providerId: id },
      );
    }
    return provider;
  }

  /**
   * The policy checks and provider selection shared by createKey and importKey: refuses what the
   * policy forbids, then picks the provider (with an audit decision either way).
   */
  async #select(
    action: 'create' | 'import',
    algorithm: KeyAlgorithm,
    common: CommonOptions,
  ): Promise<KeyStoreProvider> {
    const { scope, exportable, providerId, signal } = common;
    const violations = requestViolations(this.policy, { algorithm, scope, exportable });
    if (violations.length > 0) {
      decision(action, 'refused', null, violations, { algorithm });
      throw new KeyStoreError('ERR_KEYSTORE_POLICY_VIOLATION', `the policy refuses this key: ${violations.join('; ')}`);
    }
    if (providerId !== undefined) this.#provider(providerId);
    throwIfAborted(signal);

    const candidates = await this.#candidates(true, signal);
    const request = normalizeSelectionRequest({
      algorithm,
      scope,
      exportable,
      password: common.password !== undefined,
      userPrompt: common.userPrompt !== undefined,
      importKey: action === 'import',
      ...(providerId === undefined ? {} : { provider: providerId }),
    });
    const explanation = selectProvider(candidates, this.policy, request);
    const provider = explanation.selected === null ? undefined : this.#byId.get(explanation.selected);
    if (provider === undefined) {
      const refusals = refusalsOf(explanation.providers);
      decision(action, 'refused', null, flatReasons(refusals), { algorithm });
      throw noProviderError(
        `no provider can ${action} a ${algorithm} key in the ${scope} scope under the policy ` +
          `(floor ${this.policy.minimumIsolation})`,
        candidates,
        this.policy,
        request,
        refusals,
      );
    }
    decision(action, 'allowed', provider.id, explanation.providers[0]?.reasons ?? [], { algorithm });
    return provider;
  }

  /** The request a provider receives, with the effective floor. */
  #providerRequest(name: string, algorithm: KeyAlgorithm, common: CommonOptions): ProviderCreateRequest {
    const { scope, exportable, password, signal, userPrompt } = common;
    return {
      name,
      algorithm,
      scope,
      exportable,
      minimumIsolation: this.policy.minimumIsolation,
      ...(password === undefined ? {} : { password }),
      ...(userPrompt === undefined ? {} : { userPrompt }),
      ...(signal === undefined ? {} : { signal }),
    };
  }

  async createKey(name: string, options: CreateKeyOptions): Promise<KeyStoreKey> {
    this.#checkOpen();
    checkKeyName(name);
    if (typeof options !== 'object' || options === null) throw invalid('options with an algorithm are required');
    const { algorithm } = options;
    if (!isKeyAlgorithm(algorithm)) throw invalid(`unknown key algorithm: ${String(algorithm)}`);
    const common = commonOptions(options);
    const { scope, signal } = common;
    const provider = await this.#select('create', algorithm, common);

    throwIfAborted(signal);
    let inner: ProviderKey;
    try {
      inner = await provider.createKey(this.#providerRequest(name, algorithm, common));
    } catch (error) {
      throw providerError(error, provider.id, 'create', signal);
    }
    await verifyProviderKey(this.policy.minimumIsolation, inner, provider, { name, scope, algorithm }, 'create');
    const key = new ManagedKey(inner, provider, this.policy);
    keyEvent('key.created', key);
    return key;
  }

  async importKey(name: string, privateKey: KeyObject, options?: ImportKeyOptions): Promise<KeyStoreKey> {
    this.#checkOpen();
    checkKeyName(name);
    const o = checkOptions(options, 'options');
    const algorithm = importAlgorithm(privateKey, o.algorithm);
    const common = commonOptions(o);
    const { scope, signal } = common;
    const provider = await this.#select('import', algorithm, common);
    const importKey = provider.importKey;
    if (typeof importKey !== 'function') {
      // selectProvider only picks providers that have it; a provider that lost it since is a fault.
      throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', `the ${provider.id} provider cannot import keys`, {
        providerId: provider.id,
      });
    }

    throwIfAborted(signal);
    let inner: ProviderKey;
    try {
      inner = await importKey.call(provider, { ...this.#providerRequest(name, algorithm, common), privateKey });
    } catch (error) {
      throw providerError(error, provider.id, 'import', signal);
    }
    await verifyProviderKey(
      this.policy.minimumIsolation,
      inner,
      provider,
      { name, scope, algorithm, publicKey: createPublicKey(privateKey) },
      'import',
    );
    const key = new ManagedKey(inner, provider, this.policy);
    keyEvent('key.imported', key);
    return key;
  }

  /** The providers that may serve keys (policy, availability, floor, scope), in rank order. */
  async #eligible(
    action: AuditAction,
    scope: KeyScope | undefined,
    providerId: string | undefined,
    password: boolean,
    signal: AbortSignal | undefined,
  ): Promise<{ eligible: KeyStoreProvider[]; refusals: ProviderRefusal[] }> {
    if (providerId !== undefined) this.#provider(providerId);
    const candidates = await this.#candidates(false, signal);
    const request = normalizeSelectionRequest({ ...(providerId === undefined ? {} : { provider: providerId }) });
    const normalized = { ...request, scope, password };
    const verdicts = evaluateCandidates(candidates, this.policy, normalized);
    const eligible = verdicts.filter((v) => v.eligible).map((v) => this.#provider(v.providerId));
    const refusals = refusalsOf(verdicts);
    if (eligible.length === 0) {
      decision(action, 'refused', null, flatReasons(refusals));
      throw noProviderError(
        `no provider may serve keys under the policy (floor ${this.policy.minimumIsolation})`,
        candidates,
        this.policy,
        normalized,
        refusals,
      );
    }
    return { eligible, refusals };
  }

  /** The probe answer of one provider: from the cache when it is fresh, else probing that provider alone. */
  async #candidate(provider: KeyStoreProvider, signal: AbortSignal | undefined): Promise<SelectionCandidate> {
    const hit = this.#probes.find(provider);
    if (hit !== undefined) return hit;
    const [candidate] = await probeAll([provider], signal);
    return candidate!;
  }

  /**
   * The provider of a key reference, if it may serve keys: the checks that decide which providers a
   * name is looked up in (policy rules, availability, the isolation floor, scope, passwords), applied
   * to that one provider before it is called. Refused the same way: `ERR_KEYSTORE_NO_PROVIDER` with
   * its `refusals`.
   */
  async #refProvider(
    action: AuditAction,
    ref: string,
    options: { scope: KeyScope | undefined; providerId: string | undefined; password: boolean },
    signal: AbortSignal | undefined,
  ) {
    const parts = parseKeyRef(ref);
    const { scope, providerId } = options;
    if (providerId !== undefined && providerId !== parts.providerId) {
      throw invalid(`the reference names provider ${parts.providerId}, but options.provider is ${providerId}`);
    }
    if (scope !== undefined && scope !== parts.scope) {
      throw invalid(`the reference names the ${parts.scope} scope, but options.scope is ${scope}`);
    }
    const provider = this.#provider(parts.providerId);
    throwIfAborted(signal);
    const candidate = await this.#candidate(provider, signal);
    const normalized = {
      ...normalizeSelectionRequest({ provider: provider.id }),
      scope: parts.scope,
      password: options.password,
    };
    const verdicts = evaluateCandidates([candidate], this.policy, normalized);
    const refusals = refusalsOf(verdicts);
    if (refusals.length > 0) {
      decision(action, 'refused', null, flatReasons(refusals), { ref });
      throw noProviderError(
        `no provider may serve ${ref} under the policy (floor ${this.policy.minimumIsolation})`,
        [candidate],
        this.policy,
        normalized,
        refusals,
        { providerId: provider.id },
      );
    }
    return { provider, name: parts.name, scope: parts.scope };
  }

  /**
   * Runs `act` (open or delete) on the key `nameOrRef` leads to. A reference names its provider, which
   * is checked against the policy ({@link DefaultKeyStore.#refProvider}) and asked alone. A name is
   * looked for in each eligible provider in rank order: one that has no such key, or cannot answer,
   * is passed over; the first that has it answers; any other failure stops the search.
   */
  async #onKey<T>(
    action: 'open' | 'delete',
    nameOrRef: string,
    o: KeyOptions,
    act: (provider: KeyStoreProvider, request: ProviderKeyRequest) => Promise<T>,
  ): Promise<{ value: T; target: KeyTarget }> {
    const { scope, providerId, password, signal, extra } = o;
    if (typeof nameOrRef === 'string' && nameOrRef.startsWith(KEY_REF_PREFIX)) {
      const target = await this.#refProvider(
        action,
        nameOrRef,
        { scope, providerId, password: password !== undefined },
        signal,
      );
      throwIfAborted(signal);
      try {
        return { value: await act(target.provider, { name: target.name, scope: target.scope, ...extra }), target };
      } catch (error) {
        throw providerError(error, target.provider.id, action, signal);
      }
    }
    const name = checkKeyName(nameOrRef);
    const s = scope ?? 'user';
    throwIfAborted(signal);
    const { eligible, refusals } = await this.#eligible(action, s, providerId, password !== undefined, signal);
    const unavailable: KeyStoreError[] = [];
    for (const provider of eligible) {
      throwIfAborted(signal);
      try {
        return { value: await act(provider, { name, scope: s, ...extra }), target: { provider, name, scope: s } };
      } catch (error) {
        const e = providerError(error, provider.id, action, signal);
        if (e.code === 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE') unavailable.push(e);
        else if (e.code !== 'ERR_KEYSTORE_KEY_NOT_FOUND') throw e;
      }
    }
    throw this.#notFound(name, s, eligible, refusals, unavailable);
  }

  async openKey(nameOrRef: string, options?: OpenKeyOptions): Promise<KeyStoreKey> {
    this.#checkOpen();
    const { value: inner, target } = await this.#onKey('open', nameOrRef, keyOptions(options), (provider, request) =>
      provider.openKey(request),
    );
    return this.#opened(inner, target.provider, target);
  }

  #notFound(
    name: string,
    scope: KeyScope,
    searched: readonly KeyStoreProvider[],
    refusals: readonly ProviderRefusal[],
    unavailable: readonly KeyStoreError[],
  ): KeyStoreError {
    const skipped = refusals.length === 0 ? '' : ` (not searched: ${describeRefusals(refusals)})`;
    if (unavailable.length > 0) {
      // The key may be in a provider that could not answer: "not found" would invite creating a duplicate.
      return new KeyStoreError(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `no key named ${JSON.stringify(name)} was found in the ${scope} scope, but ` +
          `${unavailable.map((e) => e.providerId ?? '?').join(', ')} could not be searched: ` +
          `${unavailable.map((e) => e.message).join('; ')}`,
        { cause: unavailable[0] },
      );
    }
    return new KeyStoreError(
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      `no key named ${JSON.stringify(name)} in the ${scope} scope of ${searched.map((p) => p.id).join(', ')}${skipped}`,
    );
  }

  async #opened(
    inner: ProviderKey,
    provider: KeyStoreProvider,
    target: { name: string; scope: KeyScope },
  ): Promise<KeyStoreKey> {
    await verifyProviderKey(this.policy.minimumIsolation, inner, provider, target, 'open');
    // A key made before the policy tightened (or by another tool) is still held to the policy's
    // algorithm, RSA size and scope rules before it may be used.
    const violations = requestViolations(this.policy, { algorithm: inner.algorithm, scope: target.scope });
    if (violations.length > 0) {
      const ref = formatKeyRef({ providerId: provider.id, scope: target.scope, name: target.name });
      try {
        await inner.close();
      } catch {
        // The refusal below is what the caller needs to see.
      }
      decision('open', 'refused', null, violations, { ref, algorithm: inner.algorithm });
      throw new KeyStoreError('ERR_KEYSTORE_POLICY_VIOLATION', `the policy refuses ${ref}: ${violations.join('; ')}`, {
        providerId: provider.id,
      });
    }
    const key = new ManagedKey(inner, provider, this.policy);
    decision('open', 'allowed', provider.id, [], { ref: key.ref });
    keyEvent('key.opened', key);
    return key;
  }

  async listKeys(options?: ListKeysOptions): Promise<KeyList> {
    this.#checkOpen();
    const o = checkOptions(options, 'options');
    const scope = checkScope(o.scope);
    const providerId = checkProviderOption(o.provider);
    const signal = checkSignal(o.signal);
    throwIfAborted(signal);
    const { eligible } = await this.#eligible('list', scope, providerId, false, signal);
    // Each provider answers on its own: one that cannot list (Wine's CNG, a TPM that went away)
    // is reported beside the others' keys instead of hiding them.
    const lists = await Promise.all(
      eligible.map(async (provider): Promise<KeyInfo[] | ListKeysFailure> => {
        try {
          return await listOne(provider, scope, signal);
        } catch (error) {
          const e = providerError(error, provider.id, 'list', signal);
          // Asked for by name, its failure is the answer; cancellation ends the whole listing.
          if (providerId !== undefined || e.code === 'ERR_KEYSTORE_CANCELLED') throw e;
          return { provider: provider.id, code: e.code, message: e.message, error: e };
        }
      }),
    );
    throwIfAborted(signal);
    const keys: KeyInfo[] = [];
    const errors: ListKeysFailure[] = [];
    for (const item of lists) {
      if (Array.isArray(item)) keys.push(...item);
      else errors.push(item);
    }
    return { keys, errors };
  }

  async deleteKey(nameOrRef: string, options?: OpenKeyOptions): Promise<void> {
    this.#checkOpen();
    const { target } = await this.#onKey('delete', nameOrRef, keyOptions(options), (provider, request) =>
      provider.deleteKey(request),
    );
    const isRef = typeof nameOrRef === 'string' && nameOrRef.startsWith(KEY_REF_PREFIX);
    const ref = isRef
      ? nameOrRef
      : formatKeyRef({ providerId: target.provider.id, scope: target.scope, name: target.name });
    this.#deleted(target.provider.id, ref);
  }

  #deleted(providerId: string, ref: string): void {
    if (!auditChannel.hasSubscribers) return;
    decision('delete', 'allowed', providerId, [], { ref });
    publishAudit(() => ({ type: 'key.deleted', time: new Date().toISOString(), providerId, ref }));
  }

  async explain(request?: SelectionRequest, options?: OperationOptions): Promise<SelectionExplanation> {
    this.#checkOpen();
    normalizeSelectionRequest(request);
    const o = checkOptions(options, 'options');
    const signal = checkSignal(o.signal);
    const candidates = await this.#candidates(true, signal);
    return selectProvider(candidates, this.policy, request ?? {});
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      const results = await Promise.allSettled(this.providers.map(async (p) => p.close?.()));
      const failures = results.flatMap((r, i) =>
        r.status === 'rejected' ? [providerError(r.reason, this.providers[i]?.id ?? '?', 'close')] : [],
      );
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) {
        throw new KeyStoreError(
          'ERR_KEYSTORE_NATIVE_FAILURE',
          `${failures.length} providers failed to close: ${failures.map((f) => f.providerId).join(', ')}`,
          { cause: new AggregateError(failures) },
        );
      }
    })();
    return this.#closed;
  }

  [ASYNC_DISPOSE](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a {@link KeyStore} over `providers` under the effective policy: the built-in defaults,
 * replaced field by field by the app's `policy`, capped by every machine policy: the file at the
 * fixed path, the additional file named by `KEYSTORE_MACHINE_POLICY` and, on Windows, the registry.
 * Async because it reads them.
 *
 * Selection never falls back below the isolation floor: when no provider qualifies, `createKey`
 * rejects with `ERR_KEYSTORE_NO_PROVIDER`, whose `refusals` say why for every provider.
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_ARGUMENT` (not a provider, a bad or duplicate
 *   provider id, an option removed in 0.3.0), `ERR_KEYSTORE_INVALID_POLICY`, `ERR_KEYSTORE_ACCESS_DENIED` (the machine policy file
 *   or registry key cannot be read), `ERR_KEYSTORE_TIMEOUT` and `ERR_KEYSTORE_NATIVE_FAILURE` (the
 *   registry could not be read), `ERR_KEYSTORE_CANCELLED`.
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { createMemoryProvider } from '@keystore/core/testing';
 *
 * const store = await createKeyStore({
 *   providers: [createMemoryProvider()],
 *   policy: { minimumIsolation: 'none' }, // development only: the memory provider keeps keys in JS memory
 * });
 * await using key = await store.createKey('signing', { algorithm: 'ECDSA-P256' });
 * const signature = await key.sign(Buffer.from('hello'));
 * ```
 * @since 0.1.0
 */
export async function createKeyStore(options: CreateKeyStoreOptions): Promise<KeyStore> {
  if (typeof options !== 'object' || options === null) throw invalid('options with providers are required');
  const providers = checkProviders(options.providers);
  const signal = checkSignal(options.signal);
  rejectRemoved(options, ['machinePolicy', 'registryPolicy', 'env', 'registryReader'], 'createKeyStore');
  const sources = options[POLICY_SOURCES];
  const policy = await resolvePolicy({
    app: options.policy ?? null,
    ...(sources === undefined ? {} : { [POLICY_SOURCES]: sources }),
    ...(signal === undefined ? {} : { signal }),
  });
  return new DefaultKeyStore(providers, policy);
}
