/**
 * One run of the operation fuzzer: the calls raced against their limit, the model of which keys exist,
 * the store (closed and opened again mid-run), and the steps that change keys or look for them.
 *
 * @module
 */
import { constants, createPublicKey, verify as cryptoVerify, generateKeyPair, type KeyObject } from 'node:crypto';
import { algorithmInfo, digestLength, type KeyAlgorithm, type KeyScope } from '../algorithms.js';
import { KeyStoreError } from '../errors.js';
import type { KeyStore, KeyStoreKey, SignOptions } from '../types.js';
import { describeFuzzStep, type FuzzOperationKind, type FuzzStep } from './fuzz-plan.js';
import type { FuzzFailure, FuzzFailureKind, OperationFuzzOptions } from './fuzz-report.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; hang: boolean };

export interface Handle {
  readonly key: KeyStoreKey;
  readonly der: Buffer;
}

/** What the model knows of one key name. */
export interface NameState {
  state: 'absent' | 'present' | 'unknown';
  der: Buffer | undefined;
  /** How the model came to its state, for failure messages. */
  why: string;
  /** A call on this name hung: its late outcome can change the key at any time, so it is no longer judged. */
  tainted: boolean;
  /** Bumped when a create, import or delete of this name starts or ends. */
  epoch: number;
  inFlight: number;
  /** The creates, imports and deletes of this name that overlap the ones in flight, and which succeeded. */
  overlap: { made: number[]; deleted: number };
  handles: Handle[];
  lastSignature: { data: Buffer; signature: Buffer; options: SignOptions; der: Buffer } | undefined;
}

/** The settings of a run, with the defaults applied. */
export interface FuzzSettings {
  readonly options: OperationFuzzOptions;
  readonly callLimitMs: number;
  readonly nameCount: number;
  readonly prefix: string;
  readonly keyOptions: { scope: KeyScope; provider?: string };
  /** The data signed and encrypted: seeded, made once; a step takes a slice at its offset. */
  readonly data: Buffer;
}

const MAX_FAILURES = 50;
const RECENT = 40;
const MAX_HANDLES = 3;

export function spki(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

/**
 * The names a store lists. A provider that could not list is this call's failure (its typed error),
 * so a listing that silently misses a provider is never taken as "the key is gone".
 */
async function listedNames(store: KeyStore, options: Parameters<KeyStore['listKeys']>[0]): Promise<Set<string>> {
  const { keys, errors } = await store.listKeys(options);
  if (errors.length > 0) throw errors[0]?.error;
  return new Set(keys.map((k) => k.name));
}

function keyPair(algorithm: KeyAlgorithm): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  const info = algorithmInfo(algorithm);
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, publicKey: KeyObject, privateKey: KeyObject) =>
      error ? reject(error) : resolve({ publicKey, privateKey });
    if (info.family === 'rsa') generateKeyPair('rsa', { modulusLength: info.bits }, done);
    else generateKeyPair('ec', { namedCurve: info.namedCurve! }, done);
  });
}

export function verifyOptions(key: KeyObject, options: SignOptions) {
  if (key.asymmetricKeyType === 'rsa') {
    return options.padding === 'pss'
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digestLength(options.hash ?? 'sha256') }
      : { key, padding: constants.RSA_PKCS1_PADDING };
  }
  return { key, dsaEncoding: options.dsaEncoding ?? 'der' };
}

/** The state of one run and the steps that work on the model; the key operations are in fuzz-use.ts. */
export class FuzzRun {
  readonly byCode: Record<string, number> = {};
  readonly byKind: Partial<Record<FuzzOperationKind, number>> = {};
  readonly failures: FuzzFailure[] = [];
  readonly counts = { crashes: 0, hangs: 0, untyped: 0, lost: 0, unexpected: 0, wrong: 0, calls: 0, settled: 0 };
  readonly recent: string[] = [];
  readonly running = new Map<number, FuzzStep>();
  readonly hung = new Set<number>();
  readonly seen = new Map<string, string>();
  readonly names: NameState[];
  readonly imports = new Map<KeyAlgorithm, Promise<{ publicKey: KeyObject; privateKey: KeyObject }>>();
  readonly peers = new Map<string, { publicKey: KeyObject; privateKey: KeyObject }>();
  readonly inflight = new Set<Promise<unknown>>();
  storesOpened = 0;
  checkpoints = 0;
  stopped = false;
  internal: unknown;
  #storePromise: Promise<KeyStore>;

  constructor(readonly settings: FuzzSettings) {
    this.names = Array.from({ length: settings.nameCount }, () => ({
      state: 'absent',
      der: undefined,
      why: 'never created',
      tainted: false,
      epoch: 0,
      inFlight: 0,
      overlap: { made: [], deleted: 0 },
      handles: [],
      lastSignature: undefined,
    }));
    this.#storePromise = (async () => {
      this.storesOpened++;
      return settings.options.openStore();
    })();
  }

  /** The first store; rejects when it cannot be opened. */
  async start(): Promise<void> {
    await this.#storePromise;
  }

  currentStore(): Promise<KeyStore | undefined> {
    return this.#storePromise.catch(() => undefined);
  }

  label(index: number): string {
    return `${this.settings.prefix}${index}`;
  }

  fail(kind: FuzzFailureKind, step: number, message: string): void {
    const key = {
      crash: 'crashes',
      hang: 'hangs',
      untyped: 'untyped',
      lost: 'lost',
      unexpectedKey: 'unexpected',
      wrongResult: 'wrong',
    } as const;
    this.counts[key[kind]]++;
    if (this.failures.length >= MAX_FAILURES) return;
    const inFlight = [...this.running.values()].map((s) => `in flight: ${describeFuzzStep(s)}`);
    this.failures.push({ kind, step, message, sequence: [...this.recent, ...inFlight] });
  }

  /** One call, raced against the limit; the outcome is counted, untyped errors and hangs recorded. */
  async call<T>(step: number, what: string, fn: () => T | Promise<T>): Promise<Outcome<T>> {
    const { callLimitMs } = this.settings;
    const byCode = this.byCode;
    this.counts.calls++;
    let promise: Promise<T>;
    try {
      promise = Promise.resolve(fn());
    } catch (error) {
      promise = Promise.reject(error);
    }
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'hang'>((resolve) => {
      timer = setTimeout(() => resolve('hang'), callLimitMs);
    });
    // Both outcomes are handled here, so a call that settles after its limit rejects nowhere.
    const settled = promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const result = await Promise.race([settled, limit]);
    clearTimeout(timer);
    if (result === 'hang') {
      this.hung.add(step);
      byCode.hang = (byCode.hang ?? 0) + 1;
      this.fail('hang', step, `${what} did not settle within ${callLimitMs} ms`);
      return { ok: false, code: 'hang', hang: true };
    }
    if ('value' in result) {
      byCode.ok = (byCode.ok ?? 0) + 1;
      return { ok: true, value: result.value };
    }
    const { error } = result;
    const code = KeyStoreError.is(error) ? error.code : 'untyped';
    byCode[code] = (byCode[code] ?? 0) + 1;
    if (code === 'untyped') {
      this.fail('untyped', step, `${what} rejected with something other than a KeyStoreError: ${String(error)}`);
    }
    return { ok: false, code, hang: false };
  }

  /** Keeps `p` among the calls in flight; its rejection (a bug of the fuzzer) is rethrown at the end. */
  track<T>(p: Promise<T>): Promise<T> {
    const q = p.catch((error) => {
      this.internal ??= error;
    });
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q));
    return p;
  }

  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /** Which key of the run made a signature that does not verify with the key that returned it. */
  signer(message: Buffer, o: SignOptions, signature: Buffer): string {
    for (const [der, who] of this.seen) {
      const key = createPublicKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'spki' });
      try {
        if (cryptoVerify(o.hash ?? 'sha256', message, verifyOptions(key, o), signature))
          return `it verifies with ${who}`;
      } catch {
        // another kind of key
      }
    }
    return 'it verifies with no key this run has seen';
  }

  addHandle(n: NameState, key: KeyStoreKey, step: number): void {
    const der = spki(key.publicKey);
    if (!this.seen.has(der.toString('base64'))) {
      this.seen.set(der.toString('base64'), `the key ${key.name} seen at #${step}`);
    }
    n.handles.push({ key, der });
    // Old key objects are closed while other steps may still use them: that is part of the test.
    if (n.handles.length > MAX_HANDLES) {
      void this.track(this.call(step, 'closing a key', () => n.handles.shift()!.key.close()));
    }
  }

  /** Judges an open (or a found key) against the model, when no create or delete overlapped it. */
  judgeFound(n: NameState, index: number, label: string, der: Buffer, quiet: boolean): void {
    if (!quiet || n.tainted) return;
    if (n.state === 'present' && !n.der!.equals(der)) {
      this.fail('lost', index, `${label} opened with a different public key than the key ${n.why}`);
    } else if (n.state === 'absent') {
      this.fail('unexpectedKey', index, `${label} opened, but the model says it does not exist (${n.why})`);
    }
    n.state = 'present';
    n.der = der;
    n.why = `found at #${index}`;
  }

  judgeNotFound(n: NameState, index: number, label: string, code: string, quiet: boolean): void {
    if (!quiet || n.tainted) return;
    if (n.state === 'present') this.fail('lost', index, `${label} could not be opened (${code}); the key was ${n.why}`);
    if (code === 'ERR_KEYSTORE_KEY_NOT_FOUND') {
      n.state = 'absent';
      n.why = `not found at #${index}`;
    }
  }

  async openInto(step: FuzzStep, signal: AbortSignal | undefined): Promise<Handle | undefined> {
    const n = this.names[step.name]!;
    const label = this.label(step.name);
    const store = await this.currentStore();
    if (!store) return undefined;
    const epoch = n.epoch;
    const quiet = n.inFlight === 0;
    const keyOptions = this.settings.keyOptions;
    const r = await this.call(step.index, `openKey(${label})`, () => store.openKey(label, { ...keyOptions, signal }));
    const still = quiet && n.epoch === epoch;
    if (r.ok) {
      this.judgeFound(n, step.index, label, spki(r.value.publicKey), still);
      this.addHandle(n, r.value, step.index);
      return n.handles[n.handles.length - 1];
    }
    if (!r.ok && r.hang) n.tainted = true;
    else if (r.code === 'ERR_KEYSTORE_KEY_NOT_FOUND') this.judgeNotFound(n, step.index, label, r.code, still);
    return undefined;
  }

  async handleFor(step: FuzzStep, signal: AbortSignal | undefined): Promise<Handle | undefined> {
    const n = this.names[step.name]!;
    if (n.handles.length > 0) return n.handles[Math.floor(step.pick * n.handles.length)];
    return this.openInto(step, signal);
  }

  /** A create, import or delete, then the model judged by its outcome. */
  async mutate(step: FuzzStep, signal: AbortSignal | undefined): Promise<string> {
    const n = this.names[step.name]!;
    const label = this.label(step.name);
    const store = await this.currentStore();
    if (!store) return 'no store';
    if (n.inFlight === 0) n.overlap = { made: [], deleted: 0 };
    const overlap = n.overlap;
    n.inFlight++;
    const epoch = ++n.epoch;
    const alone = n.inFlight === 1;
    const { r, given } = await this.#change(step, store, label, signal);
    n.inFlight--;
    const clean = alone && n.epoch === epoch && !n.tainted;
    n.epoch++;
    if (r.ok && step.kind === 'delete') overlap.deleted++;
    else if (r.ok) overlap.made.push(step.index);
    if (n.inFlight === 0 && overlap.made.length > 1 && overlap.deleted === 0 && !n.tainted) {
      // Overlapping creates of one name with no delete between: only one may succeed.
      const steps = overlap.made.map((i) => `#${i}`).join(', ');
      this.fail(
        'lost',
        step.index,
        `${label} was made by ${steps} at once: all succeeded, so a key was replaced or the name holds several`,
      );
    }
    if (!r.ok && r.hang) n.tainted = true;
    this.#judgeChange(step, n, label, r, given, clean);
    return r.ok ? 'ok' : r.code;
  }

  /** The call of a mutating step; `given` is the public key of an imported key. */
  async #change(
    step: FuzzStep,
    store: KeyStore,
    label: string,
    signal: AbortSignal | undefined,
  ): Promise<{ r: Outcome<unknown>; given?: KeyObject }> {
    const keyOptions = this.settings.keyOptions;
    if (step.kind === 'delete') {
      return {
        r: await this.call(step.index, `deleteKey(${label})`, () => store.deleteKey(label, { ...keyOptions, signal })),
      };
    }
    if (step.kind === 'create') {
      const o = { ...keyOptions, algorithm: step.algorithm, signal };
      return { r: await this.call(step.index, `createKey(${label})`, () => store.createKey(label, o)) };
    }
    const pair = this.imports.get(step.algorithm) ?? keyPair(step.algorithm);
    this.imports.set(step.algorithm, pair);
    const { privateKey, publicKey } = await pair;
    const o = { ...keyOptions, algorithm: step.algorithm, signal };
    const r = await this.call(step.index, `importKey(${label})`, () => store.importKey(label, privateKey, o));
    return { r, given: publicKey };
  }

  /** What a create, import or delete that ran alone (`clean`) or overlapped tells the model. */
  #judgeChange(
    step: FuzzStep,
    n: NameState,
    label: string,
    r: Outcome<unknown>,
    given: KeyObject | undefined,
    clean: boolean,
  ): void {
    if (r.ok && step.kind !== 'delete') {
      const key = r.value as KeyStoreKey;
      const der = spki(key.publicKey);
      if (given && !given.equals(key.publicKey))
        this.fail('wrongResult', step.index, `${label} was imported with another public key`);
      if (clean && n.state === 'present')
        this.fail('lost', step.index, `${step.kind} of ${label} succeeded over the key ${n.why}`);
      if (clean) Object.assign(n, { state: 'present', der, why: `made at #${step.index}` });
      else n.state = 'unknown';
      this.addHandle(n, key, step.index);
    } else if (r.ok) {
      if (clean && n.state === 'absent')
        this.fail('unexpectedKey', step.index, `${label} was deleted, but the model says it did not exist (${n.why})`);
      if (clean) Object.assign(n, { state: 'absent', der: undefined, why: `deleted at #${step.index}` });
      else n.state = 'unknown';
    } else if (!clean || r.hang || r.code === 'untyped') {
      n.state = 'unknown';
    } else if (step.kind === 'delete') {
      if (r.code === 'ERR_KEYSTORE_KEY_NOT_FOUND') this.judgeNotFound(n, step.index, label, r.code, true);
      else n.state = 'unknown';
    } else if (r.code === 'ERR_KEYSTORE_KEY_EXISTS') {
      if (n.state === 'absent')
        this.fail(
          'unexpectedKey',
          step.index,
          `${step.kind} of ${label} found a key the model says does not exist (${n.why})`,
        );
      if (n.state !== 'present') n.state = 'unknown';
    } else if (n.state === 'absent') {
      // A create or import that rejects promises no key: the next look holds it to that.
      n.why = `${step.kind} rejected with ${r.code} at #${step.index}`;
    }
  }

  async list(step: FuzzStep, signal: AbortSignal | undefined): Promise<string> {
    const store = await this.currentStore();
    if (!store) return 'no store';
    const before = this.names.map((n) => ({ epoch: n.epoch, quiet: n.inFlight === 0 }));
    const keyOptions = this.settings.keyOptions;
    const r = await this.call(step.index, 'listKeys', () => listedNames(store, { ...keyOptions, signal }));
    if (!r.ok) return r.code;
    this.names.forEach((n, i) => {
      if (n.tainted || !before[i]!.quiet || n.epoch !== before[i]!.epoch) return;
      const listed = r.value.has(this.label(i));
      if (n.state === 'present' && !listed)
        this.fail('lost', step.index, `${this.label(i)} is not listed; the key was ${n.why}`);
      if (n.state === 'absent' && listed)
        this.fail('unexpectedKey', step.index, `${this.label(i)} is listed, but ${n.why}`);
    });
    return 'ok';
  }

  async closeStore(step: FuzzStep): Promise<string> {
    const old = await this.currentStore();
    if (!old) return 'no store';
    let closed: Outcome<void> = { ok: false, code: 'pending', hang: false };
    this.#storePromise = (async () => {
      closed = await this.call(step.index, 'closing the store', () => old.close());
      try {
        this.storesOpened++;
        return await this.settings.options.openStore();
      } catch (error) {
        this.fail('crash', step.index, `no store could be opened again after closing one: ${String(error)}`);
        this.stopped = true;
        throw error;
      }
    })();
    this.#storePromise.catch(() => {});
    await this.#storePromise.catch(() => {});
    return closed.ok ? 'ok' : closed.code;
  }

  /** Records a step that finished, for the sequence shown with a failure. */
  finished(step: FuzzStep, outcome: string): void {
    if (!this.hung.has(step.index)) this.counts.settled++;
    this.recent.push(`${describeFuzzStep(step)} → ${outcome}`);
    if (this.recent.length > RECENT) this.recent.shift();
  }

  /** With nothing else running: every key the model says exists opens with its public key, every other does not. */
  async checkpoint(): Promise<void> {
    await this.drain();
    this.checkpoints++;
    this.recent.push(`checkpoint ${this.checkpoints}`);
    const store = await this.currentStore();
    if (!store) return;
    for (const [i, n] of this.names.entries()) {
      if (!n.tainted) await this.#look(store, n, this.label(i));
    }
    if (this.settings.options.isAlive && !(await this.settings.options.isAlive())) {
      this.fail('crash', -1, 'the process serving the provider is gone');
      this.stopped = true;
    }
  }

  async #look(store: KeyStore, n: NameState, label: string): Promise<void> {
    const keyOptions = this.settings.keyOptions;
    let r = await this.call(-1, `openKey(${label})`, () => store.openKey(label, keyOptions));
    // Nothing else runs now: an error other than "not found" gets two more tries a second apart,
    // so a busy device is not mistaken for a lost key (the errors are still counted in byCode).
    for (let retry = 0; retry < 2 && !r.ok && !r.hang && r.code !== 'ERR_KEYSTORE_KEY_NOT_FOUND'; retry++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      r = await this.call(-1, `openKey(${label})`, () => store.openKey(label, keyOptions));
    }
    if (r.ok) {
      if (n.state === 'unknown')
        Object.assign(n, { state: 'present', der: spki(r.value.publicKey), why: 'found at a checkpoint' });
      else this.judgeFound(n, -1, label, spki(r.value.publicKey), true);
      await this.call(-1, 'closing a key', () => r.value.close());
    } else if (r.hang) {
      n.tainted = true;
    } else if (n.state === 'unknown') {
      if (r.code === 'ERR_KEYSTORE_KEY_NOT_FOUND')
        Object.assign(n, { state: 'absent', why: 'not found at a checkpoint' });
    } else {
      this.judgeNotFound(n, -1, label, r.code, true);
    }
  }
}
