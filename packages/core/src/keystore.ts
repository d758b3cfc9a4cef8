/**
 * The {@link KeyStore} implementation and its factory, {@link createKeyStore}.
 *
 * @module
 */
import { createPublicKey, KeyObject } from 'node:crypto';
import { isKeyAlgorithm, type KeyAlgorithm, type KeyScope } from './algorithms.js';
import { type AuditAction, auditChannel, publishAudit } from './audit.js';
import { KeyStoreError, type ProviderRefusal, throwIfAborted } from './errors.js';
import { algorithmOfPublicKey, publicKeyMatchesAlgorithm } from './formats.js';
import { type IsolationLevel, isAtLeast, isIsolationLevel } from './isolation.js';
import { ASYNC_DISPOSE, ManagedKey, providerError } from './key.js';
import { noProviderError } from './no-provider.js';
import { requestViolations, resolvePolicy } from './policy/index.js';
import { rejectRemoved } from './policy/load.js';
import { POLICY_SOURCES, type WithPolicySources } from './policy/sources.js';
import { ProbeCache } from './probe-cache.js';
import { formatKeyRef, isProviderId, KEY_REF_PREFIX, parseKeyRef } from './ref.js';
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
  ProviderVerdict,
  SelectionExplanation,
  SelectionRequest,
  UserPromptOptions,
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

const MAX_NAME_LENGTH = 255;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message);
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_NAME', 'a key name must be a non-empty string');
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_NAME',
      `a key name is at most ${MAX_NAME_LENGTH} characters long, not ${name.length}`,
    );
  }
  if (CONTROL_CHARACTERS.test(name)) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_NAME', 'a key name may not contain NUL or other control characters');
  }
  if (name.startsWith(KEY_REF_PREFIX)) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_INVALID_NAME',
      `a key name may not start with "${KEY_REF_PREFIX}", which marks a key reference`,
    );
  }
  try {
    encodeURIComponent(name);
  } catch {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_NAME', 'a key name must be well-formed Unicode (no lone surrogates)');
  }
  return name;
}

function checkOptions<T extends object>(options: T | undefined, what: string): Partial<T> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw invalid(`${what} must be an object`);
  return options;
}

function checkScope(scope: unknown): KeyScope | undefined {
  if (scope === undefined) return undefined;
  if (scope !== 'user' && scope !== 'machine') throw invalid(`unknown scope: ${String(scope)} (user or machine)`);
  return scope;
}

function checkProviderOption(provider: unknown): string | undefined {
  if (provider === undefined) return undefined;
  if (typeof provider !== 'string' || provider.length === 0) throw invalid('provider must be a non-empty string');
  return provider;
}

function checkPassword(password: unknown): string | undefined {
  if (password === undefined) return undefined;
  if (typeof password !== 'string') throw invalid('password must be a string');
  return password;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal');
  return signal;
}

const MAX_PROMPT_TEXT = 1024;

/** Validates `userPrompt` and copies its known members into a fresh frozen object. */
function checkUserPrompt(value: unknown): UserPromptOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid('userPrompt must be an object');
  const prompt = value as Record<string, unknown>;
  const out: { friendlyName?: string; description?: string; forceHighProtection?: boolean } = {};
  for (const [key, member] of Object.entries(prompt)) {
    if (member === undefined) continue;
    if (key === 'friendlyName' || key === 'description') {
      if (typeof member !== 'string') throw invalid(`userPrompt.${key} must be a string`);
      if (member.length > MAX_PROMPT_TEXT) {
        throw invalid(`userPrompt.${key} is at most ${MAX_PROMPT_TEXT} characters long, not ${member.length}`);
      }
      if (member.includes('\0')) throw invalid(`userPrompt.${key} may not contain NUL characters`);
      out[key] = member;
    } else if (key === 'forceHighProtection') {
      if (typeof member !== 'boolean') throw invalid('userPrompt.forceHighProtection must be a boolean');
      out.forceHighProtection = member;
    } else {
      throw invalid(
        `unknown userPrompt member ${JSON.stringify(key)} (friendlyName, description, forceHighProtection)`,
      );
    }
  }
  return Object.freeze(out);
}

/**
 * The algorithm of a private key to import: derived from the key (RSA by modulus size, EC by curve),
 * `wanted` choosing ECDH over the default ECDSA for an EC key.
 */
function importAlgorithm(privateKey: unknown, wanted: unknown): KeyAlgorithm {
  if (!(privateKey instanceof KeyObject)) throw invalid('privateKey must be a KeyObject (crypto.createPrivateKey)');
  if (privateKey.type !== 'private') {
    throw invalid(`privateKey must be a private key, not a ${privateKey.type} key`);
  }
  if (wanted !== undefined && !isKeyAlgorithm(wanted)) throw invalid(`unknown key algorithm: ${String(wanted)}`);
  const type = privateKey.asymmetricKeyType;
  const details = privateKey.asymmetricKeyDetails;
  if (type !== 'rsa' && type !== 'ec') {
    throw invalid(
      `a ${String(type)} key cannot be imported: only RSA (2048, 3072, 4096 bits) and EC (P-256, P-384, P-521) keys`,
    );
  }
  const derived = algorithmOfPublicKey(privateKey);
  if (derived === null) {
    const size = type === 'rsa' ? `${details?.modulusLength ?? '?'}-bit RSA` : `EC ${details?.namedCurve ?? '?'}`;
    throw invalid(
      `a ${size} key cannot be imported: only RSA (2048, 3072, 4096 bits) and EC (P-256, P-384, P-521) keys`,
    );
  }
  if (wanted === undefined) return derived;
  if (!publicKeyMatchesAlgorithm(privateKey, wanted)) {
    throw invalid(`the key does not fit ${wanted}: it is a ${derived.replace(/^ECDSA-/, 'EC ')} key`);
  }
  return wanted;
}

/** What createKey and importKey share, validated. */
interface CommonOptions {
  readonly scope: KeyScope;
  readonly exportable: boolean;
  readonly providerId: string | undefined;
  readonly password: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly userPrompt: UserPromptOptions | undefined;
}

/** Validates what createKey and importKey share: scope, exportable, provider, password, signal, prompt. */
function commonOptions(options: Partial<CreateKeyOptions | ImportKeyOptions>): CommonOptions {
  const scope = checkScope(options.scope) ?? 'user';
  if (options.exportable !== undefined && typeof options.exportable !== 'boolean') {
    throw invalid('exportable must be a boolean');
  }
  const exportable = options.exportable ?? false;
  const providerId = checkProviderOption(options.provider);
  const password = checkPassword(options.password);
  const signal = checkSignal(options.signal);
  const userPrompt = checkUserPrompt(options.userPrompt);
  return { scope, exportable, providerId, password, signal, userPrompt };
}

function refusalsOf(verdicts: readonly ProviderVerdict[]): ProviderRefusal[] {
  return verdicts.filter((v) => !v.eligible).map((v) => ({ providerId: v.providerId, reasons: v.reasons }));
}

function describeRefusals(refusals: readonly ProviderRefusal[]): string {
  if (refusals.length === 0) return 'no providers are registered';
  return refusals.map((r) => `${r.providerId}: ${r.reasons.join('; ')}`).join('. ');
}

function flatReasons(refusals: readonly ProviderRefusal[]): string[] {
  return refusals.flatMap((r) => r.reasons.map((reason) => `${r.providerId}: ${reason}`));
}

function receiptLevel(key: ProviderKey): IsolationLevel | null {
  const level = key.isolation?.level;
  return isIsolationLevel(level) ? level : null;
}

/** Validates the options of openKey and deleteKey, and the part of them passed on to a provider. */
function keyOptions(options: OpenKeyOptions | undefined) {
  const o = checkOptions(options, 'options');
  const scope = checkScope(o.scope);
  const providerId = checkProviderOption(o.provider);
  const password = checkPassword(o.password);
  const signal = checkSignal(o.signal);
  const extra = {
    ...(password === undefined ? {} : { password }),
    ...(signal === undefined ? {} : { signal }),
  };
  return { scope, providerId, password, signal, extra };
}

function decision(
  action: AuditAction,
  outcome: 'allowed' | 'refused',
  selected: string | null,
  reasons: readonly string[],
  extra: { ref?: string; algorithm?: KeyAlgorithm } = {},
): void {
  publishAudit(() => ({
    type: 'policy.decision',
    time: new Date().toISOString(),
    action,
    outcome,
    selected,
    reasons: [...reasons],
    ...extra,
  }));
}

function keyEvent(type: 'key.created' | 'key.imported' | 'key.opened', key: KeyStoreKey): void {
  publishAudit(() => ({
    type,
    time: new Date().toISOString(),
    providerId: key.providerId,
    ref: key.ref,
    algorithm: key.algorithm,
    isolation: key.isolation.level,
  }));
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
   * Checks what a provider handed back: a well-formed key (the algorithm asked for, when creating or
   * importing; the public key of the key given, when importing) whose receipt meets the floor.
   * Otherwise closes it, deletes it when it was just created or imported, and throws:
   * `ERR_KEYSTORE_POLICY_VIOLATION` below the floor, `ERR_KEYSTORE_NATIVE_FAILURE` when malformed.
   */
  async #verifyKey(
    inner: ProviderKey,
    provider: KeyStoreProvider,
    target: { name: string; scope: KeyScope; algorithm?: KeyAlgorithm; publicKey?: KeyObject },
    action: 'create' | 'import' | 'open',
  ): Promise<void> {
    const floor = this.policy.minimumIsolation;
    const made = action !== 'open';
    const verb = action === 'create' ? 'created' : action === 'import' ? 'imported' : 'opened';
    let problem: string | undefined;
    let malformed = false;
    if (
      typeof inner !== 'object' ||
      inner === null ||
      !isKeyAlgorithm(inner.algorithm) ||
      (target.algorithm !== undefined && inner.algorithm !== target.algorithm) ||
      !(inner.publicKey instanceof KeyObject) ||
      inner.publicKey.type !== 'public' ||
      typeof inner.signDigest !== 'function' ||
      typeof inner.close !== 'function'
    ) {
      malformed = true;
      problem = `the ${provider.id} provider returned a key object that does not match the request`;
    } else if (target.publicKey !== undefined && !inner.publicKey.equals(target.publicKey)) {
      malformed = true;
      problem = `the ${provider.id} provider imported a key whose public key is not the one of the key given`;
    } else {
      const level = receiptLevel(inner);
      if (level !== null && isAtLeast(level, floor)) return;
      problem =
        `the ${provider.id} provider ${verb} the key with isolation ` +
        `${level ?? 'an unknown level'}, below the floor ${floor} (/minimumIsolation)`;
    }
    const ref = formatKeyRef({ providerId: provider.id, scope: target.scope, name: target.name });
    let cleanup: unknown;
    try {
      if (typeof inner?.close === 'function') await inner.close();
    } catch (error) {
      cleanup = error;
    }
    if (made) {
      try {
        await provider.deleteKey({ name: target.name, scope: target.scope });
      } catch (error) {
        cleanup ??= error;
      }
    }
    if (!malformed) decision(action, 'refused', null, [`${provider.id}: ${problem}`], { ref });
    const message = made
      ? cleanup === undefined
        ? `${problem}; the key was deleted`
        : `${problem}; deleting it failed, so it may remain in the provider`
      : `${problem}; it may not be used${malformed ? '' : ' under this policy'}`;
    throw new KeyStoreError(malformed ? 'ERR_KEYSTORE_NATIVE_FAILURE' : 'ERR_KEYSTORE_POLICY_VIOLATION', message, {
      providerId: provider.id,
      ...(cleanup === undefined ? {} : { cause: cleanup }),
    });
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
    checkName(name);
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
    await this.#verifyKey(inner, provider, { name, scope, algorithm }, 'create');
    const key = new ManagedKey(inner, provider, this.policy);
    keyEvent('key.created', key);
    return key;
  }

  async importKey(name: string, privateKey: KeyObject, options?: ImportKeyOptions): Promise<KeyStoreKey> {
    this.#checkOpen();
    checkName(name);
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
    await this.#verifyKey(
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

  async openKey(nameOrRef: string, options?: OpenKeyOptions): Promise<KeyStoreKey> {
    this.#checkOpen();
    const { scope, providerId, password, signal, extra } = keyOptions(options);

    if (typeof nameOrRef === 'string' && nameOrRef.startsWith(KEY_REF_PREFIX)) {
      const target = await this.#refProvider(
        'open',
        nameOrRef,
        { scope, providerId, password: password !== undefined },
        signal,
      );
      throwIfAborted(signal);
      let inner: ProviderKey;
      try {
        inner = await target.provider.openKey({ name: target.name, scope: target.scope, ...extra });
      } catch (error) {
        throw providerError(error, target.provider.id, 'open', signal);
      }
      return this.#opened(inner, target.provider, target);
    }

    const name = checkName(nameOrRef);
    const s = scope ?? 'user';
    throwIfAborted(signal);
    const { eligible, refusals } = await this.#eligible('open', s, providerId, password !== undefined, signal);
    const unavailable: KeyStoreError[] = [];
    for (const provider of eligible) {
      throwIfAborted(signal);
      let inner: ProviderKey;
      try {
        inner = await provider.openKey({ name, scope: s, ...extra });
      } catch (error) {
        const e = providerError(error, provider.id, 'open', signal);
        if (e.code === 'ERR_KEYSTORE_KEY_NOT_FOUND') continue;
        if (e.code === 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE') {
          unavailable.push(e);
          continue;
        }
        throw e;
      }
      return this.#opened(inner, provider, { name, scope: s });
    }
    throw this.#notFound(name, s, eligible, refusals, unavailable);
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
    await this.#verifyKey(inner, provider, target, 'open');
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
          const entries = await provider.listKeys({
            ...(scope === undefined ? {} : { scope }),
            ...(signal === undefined ? {} : { signal }),
          });
          const out: KeyInfo[] = [];
          for (const entry of entries) {
            if (scope !== undefined && entry.scope !== scope) continue;
            let ref: string;
            try {
              ref = formatKeyRef({ providerId: provider.id, scope: entry.scope, name: entry.name });
            } catch {
              continue; // a name no reference can carry cannot be opened through this API either
            }
            out.push({
              ref,
              name: entry.name,
              providerId: provider.id,
              scope: entry.scope,
              ...(entry.algorithm === undefined ? {} : { algorithm: entry.algorithm }),
            });
          }
          return out;
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
    const { scope, providerId, password, signal, extra } = keyOptions(options);

    if (typeof nameOrRef === 'string' && nameOrRef.startsWith(KEY_REF_PREFIX)) {
      const target = await this.#refProvider(
        'delete',
        nameOrRef,
        { scope, providerId, password: password !== undefined },
        signal,
      );
      throwIfAborted(signal);
      try {
        await target.provider.deleteKey({ name: target.name, scope: target.scope, ...extra });
      } catch (error) {
        throw providerError(error, target.provider.id, 'delete', signal);
      }
      this.#deleted(target.provider.id, nameOrRef);
      return;
    }

    const name = checkName(nameOrRef);
    const s = scope ?? 'user';
    throwIfAborted(signal);
    const { eligible, refusals } = await this.#eligible('delete', s, providerId, password !== undefined, signal);
    const unavailable: KeyStoreError[] = [];
    for (const provider of eligible) {
      throwIfAborted(signal);
      try {
        await provider.deleteKey({ name, scope: s, ...extra });
      } catch (error) {
        const e = providerError(error, provider.id, 'delete', signal);
        if (e.code === 'ERR_KEYSTORE_KEY_NOT_FOUND') continue;
        if (e.code === 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE') {
          unavailable.push(e);
          continue;
        }
        throw e;
      }
      this.#deleted(provider.id, formatKeyRef({ providerId: provider.id, scope: s, name }));
      return;
    }
    throw this.#notFound(name, s, eligible, refusals, unavailable);
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
  const { providers } = options;
  if (!Array.isArray(providers)) throw invalid('providers must be an array of KeyStoreProvider');
  const seen = new Set<string>();
  providers.forEach((provider: unknown, index) => {
    const p = provider as Partial<KeyStoreProvider> | null;
    if (
      typeof p !== 'object' ||
      p === null ||
      typeof p.probe !== 'function' ||
      typeof p.createKey !== 'function' ||
      typeof p.openKey !== 'function' ||
      typeof p.listKeys !== 'function' ||
      typeof p.deleteKey !== 'function' ||
      typeof p.capabilities !== 'object' ||
      p.capabilities === null ||
      !Array.isArray(p.capabilities.algorithms) ||
      !Array.isArray(p.capabilities.operations) ||
      !Array.isArray(p.capabilities.scopes) ||
      !Array.isArray(p.capabilities.rsaSignaturePaddings) ||
      !Array.isArray(p.capabilities.oaepHashes)
    ) {
      throw invalid(`providers[${index}] is not a KeyStoreProvider`);
    }
    if (!isProviderId(p.id)) {
      throw invalid(`providers[${index}] has a bad id ${JSON.stringify(p.id)} (letters, digits, ".", "_", "-")`);
    }
    if (seen.has(p.id)) throw invalid(`two providers have the id ${p.id}`);
    seen.add(p.id);
  });
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
