/**
 * What an operation fuzz run is given and what it reports (`runOperationFuzz`), and the report
 * as text.
 *
 * @module
 */
import type { KeyAlgorithm, KeyScope } from '../algorithms.js';
import type { KeyStore } from '../types.js';
import type { FuzzOperationKind, FuzzPlanOptions } from './fuzz-plan.js';

/**
 * Options of `runOperationFuzz`.
 *
 * @since 0.3.0
 */
export interface OperationFuzzOptions
  extends Partial<Pick<FuzzPlanOptions, 'weights' | 'abortRate' | 'abortDelayMaxMs' | 'paddings'>> {
  /**
   * Opens a key store over the provider under test. Called at the start and after every `closeStore`
   * step; each store must see the keys of the ones before (the same device, vault or key container).
   */
  openStore: () => Promise<KeyStore>;
  /** Algorithms of created and imported keys, drawn uniformly (repeat one to draw it more often). */
  algorithms: readonly KeyAlgorithm[];
  /** The seed (default 1). The same seed gives the same steps. */
  seed?: number;
  /** How many steps (default 2000). */
  operations?: number;
  /** No step starts after this many milliseconds (default 150 000); the report says it stopped early. */
  timeLimitMs?: number;
  /** A call that has not settled after this many milliseconds is a hang (default 30 000). */
  callLimitMs?: number;
  /** How many steps run at once at most (default 4). */
  concurrency?: number;
  /** How many key names the steps share (default 6). */
  names?: number;
  /** Prefix of the key names (default `fuzz-<seed>-<random>-`, so runs never share keys). */
  namePrefix?: string;
  /** The scope of the keys (default `user`). */
  scope?: KeyScope;
  /** Create, open, list and delete through this provider only. */
  provider?: string;
  /** The largest data signed, verified or encrypted, in bytes (default 1 MiB). */
  maxDataBytes?: number;
  /** Every this many steps, wait for the calls in flight and check every key (default 200). */
  checkpointEvery?: number;
  /**
   * Whether the process serving the provider still runs (a provider served from another process);
   * asked at every checkpoint. `false` counts a crash and ends the run.
   */
  isAlive?: () => boolean | Promise<boolean>;
}

/**
 * What went wrong: `crash` (the provider's process died, or no store could be opened again), `hang`
 * (a call did not settle within the limit), `untyped` (a rejection or throw that is not a
 * `KeyStoreError`), `lost` (a key that should exist cannot be opened, or its public key changed),
 * `unexpectedKey` (a key that should not exist: deleted, or left by a create that rejected),
 * `wrongResult` (a signature that does not verify, a wrong plaintext or secret, a wrong-length digest
 * accepted).
 *
 * @since 0.3.0
 */
export type FuzzFailureKind = 'crash' | 'hang' | 'untyped' | 'lost' | 'unexpectedKey' | 'wrongResult';

/**
 * One failure, with the steps that led to it.
 *
 * @since 0.3.0
 */
export interface FuzzFailure {
  /** What went wrong. */
  readonly kind: FuzzFailureKind;
  /** The step it happened in, or -1 in a checkpoint. */
  readonly step: number;
  /** What happened, in a sentence. */
  readonly message: string;
  /** The last steps settled before it, with their outcomes, then the steps still in flight. */
  readonly sequence: readonly string[];
}

/**
 * The result of `runOperationFuzz`. A provider passes when `crashes`, `hangs`, `untypedErrors`,
 * `keysLost`, `unexpectedKeys` and `wrongResults` are all 0 and `operations` is what was asked.
 *
 * @since 0.3.0
 */
export interface FuzzReport {
  /** The seed. */
  readonly seed: number;
  /** Steps started. */
  readonly operations: number;
  /** Steps whose every call settled within the limit. */
  readonly settled: number;
  /** Calls made, checkpoints included. */
  readonly calls: number;
  /** Times the provider's process was found dead, or no store could be opened again (the run then ends). */
  readonly crashes: number;
  /** Calls that did not settle within `callLimitMs`. */
  readonly hangs: number;
  /** Rejections and throws that were not `KeyStoreError`s. */
  readonly untypedErrors: number;
  /** Keys that should exist but did not open, opened with another public key, were not listed, or were replaced. */
  readonly keysLost: number;
  /** Keys that should not exist (deleted, or left by a create or import that rejected) but were found. */
  readonly unexpectedKeys: number;
  /** Bad signatures, plaintexts or secrets, wrong-length digests accepted, wrong `verify` answers. */
  readonly wrongResults: number;
  /** How calls ended: `ok`, or the error code (`untyped` for other errors). */
  readonly byCode: Readonly<Record<string, number>>;
  /** Steps started, by kind. */
  readonly byKind: Readonly<Partial<Record<FuzzOperationKind, number>>>;
  /** Stores opened (1 + the `closeStore` steps that reopened one). */
  readonly storesOpened: number;
  /** Checkpoints run, the final one included. */
  readonly checkpoints: number;
  /** Whether the time limit stopped the run before every step started. */
  readonly timeLimited: boolean;
  /** Wall-clock time in milliseconds. */
  readonly durationMs: number;
  /** Every failure, in order (at most 50 are kept; the counters count all). */
  readonly failures: readonly FuzzFailure[];
}

/**
 * The report in one line: `fuzz memory: seed=1 operations=2000 crashes=0 hangs=0 untyped=0 lost=0 … (12.3 s)`.
 *
 * @since 0.3.0
 */
export function formatFuzzReport(label: string, report: FuzzReport): string {
  return (
    `fuzz ${label}: seed=${report.seed} operations=${report.operations} crashes=${report.crashes} ` +
    `hangs=${report.hangs} untyped=${report.untypedErrors} lost=${report.keysLost} ` +
    `unexpected=${report.unexpectedKeys} wrong=${report.wrongResults} calls=${report.calls} ` +
    `stores=${report.storesOpened}${report.timeLimited ? ' (stopped by the time limit)' : ''} ` +
    `(${(report.durationMs / 1000).toFixed(1)} s)`
  );
}

/**
 * The failures of a report, each with the steps that led to it, and how to run the same steps again.
 *
 * @since 0.3.0
 */
export function formatFuzzFailures(report: FuzzReport, reproduce = `seed ${report.seed}`): string {
  const where = (f: FuzzFailure) => (f.step < 0 ? 'a checkpoint' : `#${f.step}`);
  const lines = [`${report.failures.length} failures; run again with ${reproduce}`];
  for (const f of report.failures) lines.push(`- ${f.kind} at ${where(f)}: ${f.message}`);
  // The first failure of each kind in detail, then the next ones, six at most.
  const firsts = report.failures.filter((f, i, all) => all.findIndex((g) => g.kind === f.kind) === i);
  const detailed = [...new Set([...firsts, ...report.failures])].slice(0, 6);
  for (const f of detailed) {
    lines.push(`steps before the ${f.kind} at ${where(f)}, in the order they settled:`);
    for (const s of f.sequence) lines.push(`    ${s}`);
  }
  return lines.join('\n');
}
