/**
 * The operation fuzzer: random interleavings of create, import, open, list, sign, verify, decrypt,
 * derive, delete, export and close over a {@link KeyStore}, with concurrent calls, aborted signals and
 * stores closed mid-flight, checked against a model of which keys exist.
 *
 * @module
 */
import { KeyStoreError } from '../errors.js';
import type { FuzzStep } from './fuzz-plan.js';
import { planFuzzSteps, seededRandom } from './fuzz-plan.js';
import type { FuzzReport, OperationFuzzOptions } from './fuzz-report.js';
import { FuzzRun, type FuzzSettings } from './fuzz-run.js';
import { useKey } from './fuzz-use.js';

/**
 * Runs a seeded sequence of random operations over key stores opened with `openStore` and reports
 * crashes, hangs, untyped errors, lost keys, keys that should be gone and wrong results. The steps
 * come from {@link planFuzzSteps}; up to `concurrency` run at once, so they interleave: a delete
 * races a sign, a key is closed while it signs, a store is closed while calls run (then a fresh
 * one is opened). Each call races `callLimitMs`; one that does not settle is counted as a hang and
 * left behind, never awaited. A model tracks each key name: a create or import that resolves makes
 * the key exist, one that rejects with a `KeyStoreError` must leave none, a delete that resolves
 * removes it; when calls on one name overlap, or one hangs, the model says "unknown" and the next
 * checkpoint finds out. Every `checkpointEvery` steps and at the end, every key the model says
 * exists must open with the same public key, and every key it says is gone must not. Keys left
 * at the end are deleted. For a provider in this process, a crash ends the process, which fails the run
 * (there is nothing to count); for one in another process, `isAlive` says whether it died.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { createMemoryProvider, formatFuzzReport, MemoryKeyVault, runOperationFuzz } from '@keystore/core/testing';
 *
 * const vault = new MemoryKeyVault();
 * const report = await runOperationFuzz({
 *   openStore: () => createKeyStore({ providers: [createMemoryProvider({ vault })], policy: { minimumIsolation: 'none' } }),
 *   algorithms: ['ECDSA-P256', 'RSA-2048'],
 *   seed: 42,
 * });
 * console.log(formatFuzzReport('memory', report));
 * ```
 * @since 0.3.0
 */
export async function runOperationFuzz(options: OperationFuzzOptions): Promise<FuzzReport> {
  if (typeof options?.openStore !== 'function') {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'openStore must be a function returning a KeyStore');
  }
  const seed = options.seed ?? 1;
  const operations = options.operations ?? 2000;
  const timeLimitMs = options.timeLimitMs ?? 150_000;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const checkpointEvery = Math.max(1, options.checkpointEvery ?? 200);
  const settings = fuzzSettings(options, seed);
  const steps = planFuzzSteps({
    ...options,
    seed,
    operations,
    names: settings.nameCount,
    maxDataBytes: options.maxDataBytes ?? 1024 * 1024,
  });

  const started = Date.now();
  const run = new FuzzRun(settings);
  await run.start();
  for (const step of steps) {
    if (run.stopped) break;
    if (Date.now() - started > timeLimitMs) break;
    while (run.inflight.size >= concurrency) await Promise.race(run.inflight);
    run.byKind[step.kind] = (run.byKind[step.kind] ?? 0) + 1;
    run.track(execute(run, step));
    if ((step.index + 1) % checkpointEvery === 0) await run.checkpoint();
  }
  const operationsRun = Object.values(run.byKind).reduce((a, b) => a + b, 0);
  if (!run.stopped) await run.checkpoint();
  await run.drain();
  await cleanUp(run);
  if (run.internal !== undefined) throw run.internal;

  const { counts } = run;
  return {
    seed,
    operations: operationsRun,
    settled: counts.settled,
    calls: counts.calls,
    crashes: counts.crashes,
    hangs: counts.hangs,
    untypedErrors: counts.untyped,
    keysLost: counts.lost,
    unexpectedKeys: counts.unexpected,
    wrongResults: counts.wrong,
    byCode: run.byCode,
    byKind: run.byKind,
    storesOpened: run.storesOpened,
    checkpoints: run.checkpoints,
    timeLimited: operationsRun < operations && !run.stopped,
    durationMs: Date.now() - started,
    failures: run.failures,
  };
}

/** The options with their defaults, and the seeded data the steps sign and encrypt. */
function fuzzSettings(options: OperationFuzzOptions, seed: number): FuzzSettings {
  const maxData = options.maxDataBytes ?? 1024 * 1024;
  const scope = options.scope ?? 'user';
  // The data signed and encrypted: seeded, made once; a step takes a slice at its offset.
  const random = seededRandom(seed ^ 0x5eed);
  const data = Buffer.alloc(Math.ceil((maxData + 64) / 4) * 4);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(Math.floor(random() * 0x100000000), i);
  return {
    options,
    callLimitMs: options.callLimitMs ?? 30_000,
    nameCount: options.names ?? 6,
    prefix: options.namePrefix ?? `fuzz-${seed.toString(36)}-${Math.random().toString(36).slice(2, 8)}-`,
    keyOptions: { scope, ...(options.provider === undefined ? {} : { provider: options.provider }) },
    data,
  };
}

/** The signal of a step: none, aborted before the call, or aborted after `abortAfterMs`. */
function signalFor(step: FuzzStep): { signal: AbortSignal | undefined; done: () => void } {
  if (step.abort === 'before') return { signal: AbortSignal.abort(), done: () => {} };
  if (step.abort === 'none') return { signal: undefined, done: () => {} };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), step.abortAfterMs);
  return { signal: controller.signal, done: () => clearTimeout(timer) };
}

/** Runs one step of the plan. */
async function execute(run: FuzzRun, step: FuzzStep): Promise<void> {
  const { signal, done } = signalFor(step);
  run.running.set(step.index, step);
  let outcome: string;
  try {
    if (step.kind === 'closeStore') outcome = await run.closeStore(step);
    else if (step.kind === 'create' || step.kind === 'import' || step.kind === 'delete') {
      outcome = await run.mutate(step, signal);
    } else if (step.kind === 'open') outcome = (await run.openInto(step, signal)) ? 'ok' : 'not opened';
    else if (step.kind === 'list') outcome = await run.list(step, signal);
    else outcome = await useKey(run, step, signal);
  } finally {
    done();
    run.running.delete(step.index);
  }
  run.finished(step, outcome);
}

/** Closes every key object and deletes every key left (these calls are counted too), then the store. */
async function cleanUp(run: FuzzRun): Promise<void> {
  const store = await run.currentStore();
  const keyOptions = run.settings.keyOptions;
  for (const [i, n] of run.names.entries()) {
    for (const h of n.handles) await run.call(-1, 'closing a key', () => h.key.close());
    if (store && !run.stopped && n.state !== 'absent')
      await run.call(-1, 'deleting a key', () => store.deleteKey(run.label(i), keyOptions));
  }
  if (store) await run.call(-1, 'closing the store', () => store.close());
}
