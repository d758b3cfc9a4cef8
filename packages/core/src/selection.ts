/**
 * Provider selection: which registered provider serves a request under a policy, and why every other
 * one does not. Pure, apart from {@link probeAll}, which asks each provider whether it can serve here.
 *
 * @module
 */
import { isKeyAlgorithm, type KeyScope } from './algorithms.js';
import { KeyStoreError, throwIfAborted } from './errors.js';
import { isAtLeast, isIsolationLevel, isolationRank } from './isolation.js';
import { requestViolations } from './policy/index.js';
import { providerPolicyReasons, setBy } from './policy-reasons.js';
import type {
  EffectivePolicy,
  KeyStoreProvider,
  ProbeResult,
  ProviderVerdict,
  ResolvedPolicy,
  SelectionExplanation,
  SelectionRequest,
} from './types.js';

/**
 * A provider with the answer of its probe, as {@link selectProvider} takes them.
 *
 * @since 0.1.0
 */
export interface SelectionCandidate {
  /** The provider. */
  readonly provider: KeyStoreProvider;
  /** What its probe answered. */
  readonly probe: ProbeResult;
}

/**
 * How long {@link probeAll} waits for one probe before counting the provider unavailable.
 *
 * @since 0.1.0
 */
export const PROBE_TIMEOUT_MS = 5000;

function unavailable(reason: string): ProbeResult {
  return { available: false, isolation: 'none', reasons: [reason] };
}

function describeError(error: unknown): string {
  if (error instanceof Error) return KeyStoreError.is(error) ? `${error.message} (${error.code})` : error.message;
  return String(error);
}

/** Checks a probe's answer so that a faulty provider cannot confuse selection. */
function checkProbe(result: unknown): ProbeResult {
  if (typeof result !== 'object' || result === null) return unavailable('its probe returned no result');
  const probe = result as ProbeResult;
  if (typeof probe.available !== 'boolean') return unavailable('its probe returned no "available" answer');
  if (!isIsolationLevel(probe.isolation)) {
    return unavailable(`its probe returned an unknown isolation level: ${String(probe.isolation)}`);
  }
  const reasons = Array.isArray(probe.reasons) ? probe.reasons.map(String) : [];
  return { ...probe, reasons };
}

async function probeOne(provider: KeyStoreProvider, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve(unavailable(`its probe did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    timer.unref?.();
  });
  const probing = (async () => {
    try {
      return checkProbe(await provider.probe(signal === undefined ? undefined : { signal }));
    } catch (error) {
      return unavailable(`its probe failed: ${describeError(error)}`);
    }
  })();
  try {
    return await Promise.race([probing, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Probes every provider at once. A probe that throws, answers nonsense, or takes longer than
 * `timeoutMs` (default {@link PROBE_TIMEOUT_MS}) counts as unavailable, with that as its reason;
 * `probeAll` itself only rejects when `signal` fires.
 *
 * @param providers - The providers, in registration order.
 * @param signal - Cancels the probing (`ERR_KEYSTORE_CANCELLED`).
 * @param timeoutMs - How long to wait for each probe.
 * @returns One candidate per provider, in the same order, for {@link selectProvider}.
 * @example
 * ```ts
 * const candidates = await probeAll([tpm, memory]);
 * const explanation = selectProvider(candidates, policy, { algorithm: 'ECDSA-P256' });
 * ```
 * @since 0.1.0
 */
export async function probeAll(
  providers: readonly KeyStoreProvider[],
  signal?: AbortSignal,
  timeoutMs: number = PROBE_TIMEOUT_MS,
): Promise<SelectionCandidate[]> {
  throwIfAborted(signal);
  const all = Promise.all(
    providers.map(async (provider) => ({ provider, probe: await probeOne(provider, timeoutMs, signal) })),
  );
  if (signal === undefined) return all;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () =>
      reject(new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'probing was cancelled', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([all, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** A selection request with defaults applied; `scope` undefined means any scope. */
export interface NormalizedRequest {
  readonly algorithm?: SelectionRequest['algorithm'];
  readonly scope?: KeyScope;
  readonly exportable: boolean;
  readonly provider?: string;
  readonly password: boolean;
  readonly userPrompt: boolean;
  readonly importKey: boolean;
}

/**
 * Checks a selection request and applies defaults (`scope` `user`; `exportable`, `password`,
 * `userPrompt` and `importKey` false).
 *
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_ARGUMENT`.
 */
export function normalizeSelectionRequest(request: SelectionRequest | undefined): NormalizedRequest & {
  scope: KeyScope;
} {
  const r = request ?? {};
  if (typeof r !== 'object' || r === null) throw invalid('a selection request must be an object');
  if (r.algorithm !== undefined && !isKeyAlgorithm(r.algorithm)) {
    throw invalid(`unknown key algorithm: ${String(r.algorithm)}`);
  }
  const scope = r.scope ?? 'user';
  if (scope !== 'user' && scope !== 'machine') throw invalid(`unknown scope: ${String(scope)} (user or machine)`);
  if (r.exportable !== undefined && typeof r.exportable !== 'boolean') throw invalid('exportable must be a boolean');
  if (r.password !== undefined && typeof r.password !== 'boolean') throw invalid('password must be a boolean');
  if (r.userPrompt !== undefined && typeof r.userPrompt !== 'boolean') throw invalid('userPrompt must be a boolean');
  if (r.importKey !== undefined && typeof r.importKey !== 'boolean') throw invalid('importKey must be a boolean');
  if (r.provider !== undefined && (typeof r.provider !== 'string' || r.provider.length === 0)) {
    throw invalid('provider must be a non-empty string');
  }
  const out: NormalizedRequest & { scope: KeyScope } = {
    scope,
    exportable: r.exportable ?? false,
    password: r.password ?? false,
    userPrompt: r.userPrompt ?? false,
    importKey: r.importKey ?? false,
    ...(r.algorithm === undefined ? {} : { algorithm: r.algorithm }),
    ...(r.provider === undefined ? {} : { provider: r.provider }),
  };
  return out;
}

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message);
}

/**
 * What kind of check refused a provider: its provider rules in the policy (`policy`), a request that
 * names another provider (`other-provider`), its probe (`unavailable`), the isolation floor (`floor`),
 * the algorithm (`algorithm`), the scope (`scope`), another capability the request needs
 * (`capability`: exportable keys, passwords, user prompts, key import), or a policy rule that refuses
 * the request itself whatever the provider (`request`).
 */
export type RefusalKind =
  | 'policy'
  | 'other-provider'
  | 'unavailable'
  | 'floor'
  | 'algorithm'
  | 'scope'
  | 'capability'
  | 'request';

/** One reason a provider cannot serve a request, with the kind of check that gave it. */
export interface TaggedReason {
  readonly kind: RefusalKind;
  readonly text: string;
}

/**
 * The reasons `candidate` cannot serve `request`, provider-specific checks only, in filter order,
 * each tagged with its kind. Exported for the key store's `ERR_KEYSTORE_NO_PROVIDER` message.
 */
export function candidateRefusal(
  candidate: SelectionCandidate,
  policy: ResolvedPolicy,
  request: NormalizedRequest,
): TaggedReason[] {
  const { provider, probe } = candidate;
  const caps = provider.capabilities;
  const reasons: TaggedReason[] = providerPolicyReasons(provider, policy).map((text) => ({ kind: 'policy', text }));
  const add = (kind: RefusalKind, text: string) => reasons.push({ kind, text });
  if (request.provider !== undefined && request.provider !== provider.id) {
    add('other-provider', `the request asks for provider ${request.provider}`);
  }
  if (!probe.available) {
    if (probe.reasons.length === 0) add('unavailable', 'not available here (its probe gave no reason)');
    else for (const reason of probe.reasons) add('unavailable', `not available here: ${reason}`);
  } else if (!isAtLeast(probe.isolation, policy.minimumIsolation)) {
    add(
      'floor',
      `achieves ${probe.isolation}, below the floor ${policy.minimumIsolation} (/minimumIsolation)${setBy(policy, '/minimumIsolation')}`,
    );
  }
  if (request.algorithm !== undefined && !caps.algorithms.includes(request.algorithm)) {
    add('algorithm', `does not support ${request.algorithm}`);
  }
  if (request.scope !== undefined && !caps.scopes.includes(request.scope)) {
    add('scope', `does not support the ${request.scope} scope`);
  }
  if (request.exportable && !caps.exportableKeys) add('capability', 'cannot create exportable keys');
  if (request.password && !caps.passwords) add('capability', 'does not support key passwords');
  if (request.userPrompt && caps.userPrompt !== true) {
    add('capability', 'cannot protect keys with a user prompt (capabilities.userPrompt)');
  }
  if (request.importKey && (caps.importKeys !== true || typeof provider.importKey !== 'function')) {
    add('capability', 'cannot import existing private keys (capabilities.importKeys)');
  }
  return reasons;
}

/**
 * Ranks qualifying candidates and builds every verdict. `requestReasons` refuse every provider.
 * Exported for the key store; apps use {@link selectProvider}.
 */
export function evaluateCandidates(
  candidates: readonly SelectionCandidate[],
  policy: ResolvedPolicy,
  request: NormalizedRequest,
  requestReasons: readonly string[] = [],
): ProviderVerdict[] {
  const qualifying: { candidate: SelectionCandidate; index: number }[] = [];
  const refused: { candidate: SelectionCandidate; reasons: string[] }[] = [];
  candidates.forEach((candidate, index) => {
    const reasons = [...requestReasons, ...candidateRefusal(candidate, policy, request).map((r) => r.text)];
    if (reasons.length === 0) qualifying.push({ candidate, index });
    else refused.push({ candidate, reasons });
  });

  const prefer = policy.providers.prefer;
  const preferIndex = (id: string): number => {
    const i = prefer.indexOf(id);
    return i < 0 ? prefer.length : i;
  };
  qualifying.sort(
    (a, b) =>
      preferIndex(a.candidate.provider.id) - preferIndex(b.candidate.provider.id) ||
      isolationRank(b.candidate.probe.isolation) - isolationRank(a.candidate.probe.isolation) ||
      a.index - b.index,
  );

  const verdicts: ProviderVerdict[] = [];
  const first = qualifying[0];
  const strongest = qualifying.reduce((best, q) => Math.max(best, isolationRank(q.candidate.probe.isolation)), -1);
  qualifying.forEach(({ candidate }, rank) => {
    const { provider, probe } = candidate;
    const reasons: string[] = [];
    if (rank === 0) {
      if (prefer.includes(provider.id)) reasons.push('preferred by policy (/providers/prefer)');
      if (isolationRank(probe.isolation) === strongest) {
        reasons.push(`strongest isolation available: ${probe.isolation}`);
      }
      if (qualifying.length === 1) reasons.push('the only provider that qualifies');
      else if (!prefer.includes(provider.id) && isolationRank(probe.isolation) === strongest) {
        // Tied on preference and isolation with others: registration order decided.
        const tied = qualifying.filter((q) => q.candidate.probe.isolation === probe.isolation).length;
        if (tied > 1) reasons.push('registered before the others with the same isolation');
      }
    } else if (first) {
      const leader = first.candidate;
      reasons.push(`qualifies; ranked ${rank + 1} of ${qualifying.length}`);
      const myPrefer = preferIndex(provider.id);
      const leaderPrefer = preferIndex(leader.provider.id);
      if (leaderPrefer < myPrefer) {
        reasons.push(`${leader.provider.id} is preferred by policy (/providers/prefer)`);
      } else if (isolationRank(leader.probe.isolation) > isolationRank(probe.isolation)) {
        reasons.push(
          `${leader.provider.id} achieves stronger isolation (${leader.probe.isolation} > ${probe.isolation})`,
        );
      } else {
        reasons.push(`${leader.provider.id} was registered first`);
      }
    }
    reasons.push(`achieves ${probe.isolation}, meeting the floor ${policy.minimumIsolation} (/minimumIsolation)`);
    verdicts.push(verdict(candidate, rank, reasons));
  });
  for (const { candidate, reasons } of refused) verdicts.push(verdict(candidate, null, reasons));
  return verdicts;
}

function verdict(candidate: SelectionCandidate, rank: number | null, reasons: string[]): ProviderVerdict {
  const { provider, probe } = candidate;
  return {
    providerId: provider.id,
    selected: rank === 0,
    eligible: rank !== null,
    available: probe.available,
    isolation: probe.isolation,
    rank,
    reasons,
    ...(probe.details === undefined ? {} : { details: probe.details }),
  };
}

/**
 * Chooses the provider that serves `request` under `policy`, and says for every provider why it was
 * chosen or refused. Pure: it works from the probes' answers (see {@link probeAll}).
 *
 * A provider is refused, with one sentence per failed check naming the policy field (as a JSON
 * pointer) or the fact, when: it is in `providers.deny` or not in `providers.allow`; it is a legacy
 * CryptoAPI provider and `legacyCryptoApi` is `deny`; the request names another provider; its probe
 * says it is unavailable; the isolation it achieves is below `minimumIsolation`; it lacks the
 * algorithm, the scope, exportable keys, passwords, user prompts or key import the request needs. Rules of the policy that
 * refuse the request itself (allowed algorithms, RSA size, scopes, exportable keys) refuse every provider.
 *
 * The qualifying providers are ranked by `providers.prefer` order, then by stronger isolation, then
 * by registration order; the first is `selected`. There is no fallback below the floor: a provider
 * whose isolation is below `minimumIsolation` is never eligible, whatever else is available.
 *
 * @param candidates - Providers and their probes, in registration order.
 * @param policy - The effective policy.
 * @param request - What is asked (defaults: scope `user`, not exportable, no password, any algorithm).
 * @returns Verdicts for every provider: qualifying ones first in rank order, then refused ones in
 *   registration order (rank `null`).
 * @throws {@link KeyStoreError} `ERR_KEYSTORE_INVALID_ARGUMENT` for a malformed request.
 * @example
 * ```ts
 * const explanation = selectProvider(await probeAll(providers), policy, { algorithm: 'ECDSA-P256' });
 * explanation.selected; // 'tpm', or null
 * for (const v of explanation.providers) console.log(v.providerId, v.reasons.join('; '));
 * ```
 * @since 0.1.0
 */
export function selectProvider(
  candidates: readonly SelectionCandidate[],
  policy: ResolvedPolicy,
  request: SelectionRequest = {},
): SelectionExplanation {
  const normalized = normalizeSelectionRequest(request);
  const requestReasons = requestViolations(policy, {
    ...(normalized.algorithm === undefined ? {} : { algorithm: normalized.algorithm }),
    scope: normalized.scope,
    exportable: normalized.exportable,
  });
  const providers = evaluateCandidates(candidates, policy, normalized, requestReasons);
  const selected = providers[0]?.selected ? providers[0].providerId : null;
  const policyOverrides = (policy as Partial<EffectivePolicy>).overrides ?? [];
  return { request: normalized, selected, minimumIsolation: policy.minimumIsolation, providers, policyOverrides };
}
