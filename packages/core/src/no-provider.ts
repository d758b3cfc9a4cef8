/**
 * The `ERR_KEYSTORE_NO_PROVIDER` error: which one reason matters, every provider's reasons on a line
 * of their own, and a hint that fits the cause. Its `refusals` carry the same reasons as data.
 *
 * @module
 */
import { KeyStoreError, type ProviderRefusal } from './errors.js';
import {
  candidateRefusal,
  type NormalizedRequest,
  type RefusalKind,
  type SelectionCandidate,
  type TaggedReason,
} from './selection.js';
import type { EffectivePolicy, ResolvedPolicy } from './types.js';

/**
 * The order in which a cause is told first, when several providers each miss by one check: what the
 * request could change while keeping its isolation (the algorithm, the scope, another capability)
 * comes before the floor, which is a deliberate security setting and the last thing to lower.
 */
const PRIORITY: readonly RefusalKind[] = [
  'request',
  'algorithm',
  'scope',
  'capability',
  'floor',
  'unavailable',
  'policy',
  'other-provider',
];

interface Assessed {
  readonly candidate: SelectionCandidate;
  readonly reasons: readonly TaggedReason[];
  readonly kinds: ReadonlySet<RefusalKind>;
}

/** One line of text from what a provider said about itself: no line breaks or control characters. */
function clean(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
}

function list(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function highest(kinds: ReadonlySet<RefusalKind>): RefusalKind {
  return PRIORITY.find((k) => kinds.has(k)) ?? 'unavailable';
}

/** Whether the machine policy (file, KEYSTORE_MACHINE_POLICY file or registry) set the floor. */
function machineSetFloor(policy: ResolvedPolicy): boolean {
  const source = (policy as Partial<EffectivePolicy>).sources?.['/minimumIsolation'];
  return source === 'machine' || source === 'machine-env' || source === 'registry';
}

/**
 * The cause told first, and the providers it is told about: a policy rule that refuses the request
 * itself; else what keeps an available provider from serving when that is one check only; else the
 * algorithm when no available provider supports it (lowering the floor would not help then); else
 * what keeps any provider from serving when that is one check only; else the most telling reason of
 * the provider refused for the fewest.
 */
function mainCause(
  relevant: readonly Assessed[],
  request: NormalizedRequest,
): { kind: RefusalKind; about: Assessed[]; nearMiss: boolean } {
  const pick = (group: readonly Assessed[]) => {
    const kind = PRIORITY.find((k) => group.some((a) => a.kinds.has(k))) ?? 'unavailable';
    return { kind, about: group.filter((a) => a.kinds.has(kind)) };
  };
  const refusedRequest = relevant.filter((a) => a.kinds.has('request'));
  if (refusedRequest.length > 0) return { kind: 'request', about: refusedRequest, nearMiss: false };
  const available = relevant.filter((a) => a.candidate.probe.available);
  const nearAvailable = available.filter((a) => a.kinds.size === 1);
  if (nearAvailable.length > 0) return { ...pick(nearAvailable), nearMiss: true };
  if (request.algorithm !== undefined && available.length > 0 && available.every((a) => a.kinds.has('algorithm'))) {
    return { kind: 'algorithm', about: available, nearMiss: false };
  }
  const near = relevant.filter((a) => a.kinds.size === 1);
  if (near.length > 0) return { ...pick(near), nearMiss: true };
  const fewest = Math.min(...relevant.map((a) => a.kinds.size));
  const first = relevant.find((a) => a.kinds.size === fewest) as Assessed;
  const kind = highest(first.kinds);
  return { kind, about: relevant.filter((a) => a.kinds.has(kind)), nearMiss: false };
}

function leadAndHint(
  kind: RefusalKind,
  about: readonly Assessed[],
  nearMiss: boolean,
  all: readonly Assessed[],
  policy: ResolvedPolicy,
  request: NormalizedRequest,
): { lead: string; hint: string } {
  const ids = about.map((a) => a.candidate.provider.id);
  const names = list(ids);
  const otherwise = nearMiss ? `, which otherwise ${ids.length === 1 ? 'qualifies' : 'qualify'},` : '';
  const doctor = "'keystore doctor' shows every provider and why it was refused";
  const texts = (k: RefusalKind) => about.flatMap((a) => a.reasons.filter((r) => r.kind === k).map((r) => r.text));
  switch (kind) {
    case 'algorithm': {
      const algorithm = request.algorithm as string;
      const supporters = all.filter((a) => !a.kinds.has('algorithm')).map((a) => a.candidate.provider.id);
      const theirs = about.map(
        (a) => `${a.candidate.provider.id} supports ${a.candidate.provider.capabilities.algorithms.join(', ')}`,
      );
      return {
        lead: nearMiss
          ? `the algorithm: ${names}${otherwise} ${ids.length === 1 ? 'does' : 'do'} not support ${algorithm}`
          : `the algorithm: no available provider supports ${algorithm} (${names} ${ids.length === 1 ? 'does' : 'do'} not)`,
        hint:
          (supporters.length === 0
            ? `no registered provider supports ${algorithm}`
            : `${algorithm} is supported by ${list(supporters)} (see the reasons above for why ${supporters.length === 1 ? 'it does' : 'they do'} not serve)`) +
          `; choose an algorithm the provider supports (${theirs.join('; ')})`,
      };
    }
    case 'floor': {
      const achieved = about.map((a) => `${a.candidate.provider.id} achieves ${a.candidate.probe.isolation}`);
      return {
        lead: `the isolation floor: no available provider reaches ${policy.minimumIsolation} (${achieved.join(', ')})`,
        hint: machineSetFloor(policy)
          ? `the machine policy sets this floor and only the machine's owners can lower it; ${doctor}`
          : `for real keys, make a provider that reaches the floor available (${doctor}); for development or tests only, an app policy may lower the floor (minimumIsolation)`,
      };
    }
    case 'unavailable':
      return {
        lead: `not available here: ${names}${nearMiss ? ` (${ids.length === 1 ? 'the provider that would otherwise qualify' : 'the providers that would otherwise qualify'})` : ''}`,
        hint: `${doctor} and what it needs`,
      };
    case 'policy':
      return {
        lead: `disabled by policy: ${names}`,
        hint: `the policy's provider rules (/providers, /legacyCryptoApi) refuse ${ids.length === 1 ? 'it' : 'them'}; ${doctor}`,
      };
    case 'scope':
      return {
        lead: `the scope: ${names}${otherwise} ${ids.length === 1 ? 'does' : 'do'} not support the ${request.scope} scope`,
        hint: `use a scope the provider supports, or a provider that supports the ${request.scope} scope; ${doctor}`,
      };
    case 'capability':
      return {
        lead: `a capability the request needs: ${about.map((a) => `${a.candidate.provider.id} ${texts('capability').join(', ')}`).join('; ')}`,
        hint: `leave out the option that needs it, or use a provider that has it; ${doctor}`,
      };
    case 'request':
      return { lead: `the policy refuses the request: ${clean(texts('request')[0] ?? '')}`, hint: doctor };
    default:
      return { lead: 'no provider was asked for', hint: doctor };
  }
}

/**
 * Builds `ERR_KEYSTORE_NO_PROVIDER` for a request no provider may serve: `head` (what was asked,
 * e.g. "no provider can create a RSA-4096 key in the user scope under the policy (floor os-isolated)"),
 * then the one cause that matters, then one line per provider with its reasons. Every candidate is
 * one the selection refused; `requestReasons` are the policy's refusals of the request itself.
 */
export function noProviderError(
  head: string,
  candidates: readonly SelectionCandidate[],
  policy: ResolvedPolicy,
  request: NormalizedRequest,
  refusals: ProviderRefusal[],
  options: { providerId?: string; requestReasons?: readonly string[] } = {},
): KeyStoreError {
  const requestReasons = options.requestReasons ?? [];
  const assessed: Assessed[] = candidates.map((candidate) => {
    const reasons: TaggedReason[] = [
      ...requestReasons.map((text) => ({ kind: 'request' as const, text })),
      ...candidateRefusal(candidate, policy, request),
    ];
    return { candidate, reasons, kinds: new Set(reasons.map((r) => r.kind)) };
  });
  const relevant = assessed.filter((a) => !a.kinds.has('other-provider'));
  const extra = options.providerId === undefined ? {} : { providerId: options.providerId };
  if (relevant.length === 0) {
    return new KeyStoreError('ERR_KEYSTORE_NO_PROVIDER', `${head}: no providers are registered`, {
      ...extra,
      refusals,
      hint: 'install a provider package (@keystore/provider-*) or pass providers to createKeyStore',
    });
  }
  const { kind, about, nearMiss } = mainCause(relevant, request);
  const { lead, hint } = leadAndHint(kind, about, nearMiss, relevant, policy, request);
  const lines = relevant.map((a) => `  ${a.candidate.provider.id}: ${a.reasons.map((r) => clean(r.text)).join('; ')}`);
  const others = assessed.filter((a) => a.kinds.has('other-provider')).map((a) => a.candidate.provider.id);
  if (others.length > 0) lines.push(`  (not asked for: ${others.join(', ')})`);
  return new KeyStoreError('ERR_KEYSTORE_NO_PROVIDER', `${head}: ${lead}\n${lines.join('\n')}`, {
    ...extra,
    refusals,
    hint,
  });
}
