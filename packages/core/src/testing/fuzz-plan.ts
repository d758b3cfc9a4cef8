/**
 * The plan of an operation fuzz run: a small seeded PRNG and the list of steps it draws. Every random
 * choice of a run is drawn here, before anything runs, so the same seed gives the same steps whatever
 * the provider's timings are.
 *
 * @module
 */
import { HASH_ALGORITHMS, type HashAlgorithm, type KeyAlgorithm, OAEP_HASHES, type OaepHash } from '../algorithms.js';
import { KeyStoreError } from '../errors.js';

/**
 * What one step of an operation fuzz run does. `closeKey` closes a key object; `closeStore` closes
 * the whole key store while other calls run, and the run goes on with a fresh store.
 *
 * @since 0.3.0
 */
export type FuzzOperationKind =
  | 'create'
  | 'import'
  | 'open'
  | 'list'
  | 'sign'
  | 'signDigest'
  | 'verify'
  | 'decrypt'
  | 'derive'
  | 'delete'
  | 'exportPublicKey'
  | 'closeKey'
  | 'closeStore';

/**
 * The default weight of each kind of step (relative; a kind of weight 0 never runs).
 *
 * @since 0.3.0
 */
export const DEFAULT_FUZZ_WEIGHTS: Readonly<Record<FuzzOperationKind, number>> = {
  create: 8,
  import: 3,
  open: 10,
  list: 4,
  sign: 16,
  signDigest: 12,
  verify: 6,
  decrypt: 6,
  derive: 6,
  delete: 7,
  exportPublicKey: 6,
  closeKey: 4,
  closeStore: 0.5,
};

/**
 * One step of a run, with every random choice it needs already drawn.
 *
 * @since 0.3.0
 */
export interface FuzzStep {
  /** Its position in the run (0 first). */
  readonly index: number;
  /** What it does. */
  readonly kind: FuzzOperationKind;
  /** Which key name of the run's pool it works on. */
  readonly name: number;
  /** Which of the open key objects of that name it uses, as a fraction in [0, 1). */
  readonly pick: number;
  /** The algorithm of a created or imported key. */
  readonly algorithm: KeyAlgorithm;
  /** The length of the data to sign, verify or encrypt, 0 B to the run's maximum. */
  readonly size: number;
  /** Where in the run's random data the data starts. */
  readonly offset: number;
  /** The signature hash. */
  readonly hash: HashAlgorithm;
  /** The OAEP hash. */
  readonly oaepHash: OaepHash;
  /** RSA padding. */
  readonly padding: 'pkcs1' | 'pss';
  /** ECDSA encoding. */
  readonly dsaEncoding: 'der' | 'ieee-p1363';
  /** For `signDigest`: bytes added to the right digest length (0: right; otherwise a wrong length). */
  readonly digestDelta: number;
  /** Whether the call gets an `AbortSignal` already aborted, aborted while it runs, or none. */
  readonly abort: 'none' | 'before' | 'during';
  /** For `abort: 'during'`: after how many milliseconds. */
  readonly abortAfterMs: number;
  /** One more choice in [0, 1): bad input, export format, wrong peer curve, keep a closed key… */
  readonly variant: number;
}

/**
 * What {@link planFuzzSteps} needs.
 *
 * @since 0.3.0
 */
export interface FuzzPlanOptions {
  /** The seed (an unsigned 32-bit integer). */
  seed: number;
  /** How many steps. */
  operations: number;
  /** Algorithms of created and imported keys, drawn uniformly (repeat one to draw it more often). */
  algorithms: readonly KeyAlgorithm[];
  /** How many key names the steps share. */
  names: number;
  /** The largest data size in bytes. */
  maxDataBytes: number;
  /** Weights of the kinds of step (missing kinds take {@link DEFAULT_FUZZ_WEIGHTS}). */
  weights?: Partial<Record<FuzzOperationKind, number>>;
  /** The share of calls that get an `AbortSignal` that fires (default 0.15). */
  abortRate?: number;
  /** The longest delay before an abort fires while a call runs, in milliseconds (default 20). */
  abortDelayMaxMs?: number;
  /** RSA paddings to sign with (default both). */
  paddings?: readonly ('pkcs1' | 'pss')[];
}

/**
 * mulberry32: a tiny PRNG of 32 bits of state, plenty for picking test steps (not for keys).
 *
 * @since 0.3.0
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message);
}

/** A data size: mostly small, some up to 64 KiB, a few up to the maximum, and both ends exactly. */
function drawSize(r: number, s: number, max: number): number {
  if (r < 0.05) return 0;
  if (r < 0.08) return max;
  if (r < 0.6) return Math.floor(s * Math.min(1024, max + 1));
  if (r < 0.9) return Math.floor(s * Math.min(65536, max + 1));
  return Math.floor(s * (max + 1));
}

/**
 * Draws the steps of a run from its seed. The same options give the same steps.
 *
 * @example
 * ```ts
 * const steps = planFuzzSteps({ seed: 7, operations: 10, algorithms: ['ECDSA-P256'], names: 4, maxDataBytes: 1024 });
 * steps.map(describeFuzzStep); // ['#0 sign k2 …', …]
 * ```
 * @since 0.3.0
 */
export function planFuzzSteps(options: FuzzPlanOptions): FuzzStep[] {
  const { seed, operations, algorithms, names, maxDataBytes } = options;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw invalid(`the seed must be an integer from 0 to 2^32-1, not ${String(seed)}`);
  }
  if (!Number.isInteger(operations) || operations < 0) throw invalid('operations must be a non-negative integer');
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw invalid('algorithms must list at least one');
  if (!Number.isInteger(names) || names < 1) throw invalid('names must be a positive integer');
  if (!Number.isInteger(maxDataBytes) || maxDataBytes < 0) throw invalid('maxDataBytes must be a non-negative integer');
  const weights = { ...DEFAULT_FUZZ_WEIGHTS, ...options.weights };
  const kinds = Object.keys(weights) as FuzzOperationKind[];
  const total = kinds.reduce((sum, k) => sum + Math.max(0, weights[k]), 0);
  if (!(total > 0)) throw invalid('at least one kind of step needs a positive weight');
  const abortRate = options.abortRate ?? 0.15;
  const abortDelayMax = options.abortDelayMaxMs ?? 20;
  const paddings = options.paddings ?? ['pkcs1', 'pss'];
  const random = seededRandom(seed);
  const pickOf = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const steps: FuzzStep[] = [];
  for (let index = 0; index < operations; index++) {
    // Every step draws the same number of values, so one step's choices never shift the next one's.
    let w = random() * total;
    let kind = kinds[kinds.length - 1]!;
    for (const k of kinds) {
      w -= Math.max(0, weights[k]);
      if (w < 0) {
        kind = k;
        break;
      }
    }
    const name = Math.floor(random() * names);
    const pick = random();
    const algorithm = pickOf(algorithms);
    const size = drawSize(random(), random(), maxDataBytes);
    const offset = Math.floor(random() * 64);
    const hash = pickOf(HASH_ALGORITHMS);
    const oaepHash = pickOf(OAEP_HASHES);
    const padding = pickOf(paddings);
    const dsaEncoding = random() < 0.5 ? 'der' : 'ieee-p1363';
    const d = random();
    const digestDelta = d < 0.75 ? 0 : d < 0.85 ? -1 : d < 0.9 ? 1 : Math.floor(random() * 129) - 64 || 7;
    const a = random();
    const abort = a < abortRate * 0.25 ? 'before' : a < abortRate ? 'during' : 'none';
    const abortAfterMs = Math.floor(random() * (abortDelayMax + 1));
    const variant = random();
    steps.push({
      index,
      kind,
      name,
      pick,
      algorithm,
      size,
      offset,
      hash,
      oaepHash,
      padding,
      dsaEncoding,
      digestDelta,
      abort,
      abortAfterMs,
      variant,
    });
  }
  return steps;
}

function bytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1048576).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

/**
 * One line saying what a step does, as failures list them (`#41 sign k3 12.0 KiB sha384 pss abort@7ms`).
 *
 * @since 0.3.0
 */
export function describeFuzzStep(step: FuzzStep): string {
  const parts = [`#${step.index}`, step.kind, `k${step.name}`];
  switch (step.kind) {
    case 'create':
    case 'import':
      parts.push(step.algorithm);
      break;
    case 'sign':
    case 'verify':
      parts.push(bytes(step.size), step.hash, `${step.padding}/${step.dsaEncoding}`);
      break;
    case 'signDigest':
      parts.push(
        step.hash,
        step.digestDelta === 0
          ? 'right digest length'
          : `digest length ${step.digestDelta > 0 ? '+' : ''}${step.digestDelta}`,
      );
      break;
    case 'decrypt':
      parts.push(`oaep-${step.oaepHash}`, bytes(step.size));
      break;
    default:
      break;
  }
  if (step.abort === 'before') parts.push('aborted before');
  if (step.abort === 'during') parts.push(`abort@${step.abortAfterMs}ms`);
  return parts.join(' ');
}
