/**
 * The operation fuzzer: random interleavings of create, import, open, list, sign, verify, decrypt,
 * derive, delete, export and close over a {@link KeyStore}, with concurrent calls, aborted signals and
 * stores closed mid-flight, checked against a model of which keys exist.
 *
 * @module
 */
import {
  constants,
  createHash,
  createPublicKey,
  verify as cryptoVerify,
  diffieHellman,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  publicEncrypt,
} from 'node:crypto';
import { algorithmInfo, digestLength, type KeyAlgorithm } from '../algorithms.js';
import { KeyStoreError } from '../errors.js';
import type { KeyStore, KeyStoreKey, SignOptions } from '../types.js';
import { describeFuzzStep, type FuzzOperationKind, type FuzzStep, planFuzzSteps, seededRandom } from './fuzz-plan.js';
import type { FuzzFailure, FuzzFailureKind, FuzzReport, OperationFuzzOptions } from './fuzz-report.js';

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; hang: boolean };

interface Handle {
  readonly key: KeyStoreKey;
  readonly der: Buffer;
}

/** What the model knows of one key name. */
interface NameState {
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

const MAX_FAILURES = 50;
const RECENT = 40;
const MAX_HANDLES = 3;

function spki(key: KeyObject): Buffer {
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

function verifyOptions(key: KeyObject, options: SignOptions) {
  if (key.asymmetricKeyType === 'rsa') {
    return options.padding === 'pss'
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digestLength(options.hash ?? 'sha256') }
      : { key, padding: constants.RSA_PKCS1_PADDING };
  }
  return { key, dsaEncoding: options.dsaEncoding ?? 'der' };
}

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
  const callLimitMs = options.callLimitMs ?? 30_000;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const nameCount = options.names ?? 6;
  const maxData = options.maxDataBytes ?? 1024 * 1024;
  const checkpointEvery = Math.max(1, options.checkpointEvery ?? 200);
  const scope = options.scope ?? 'user';
  const prefix = options.namePrefix ?? `fuzz-${seed.toString(36)}-${Math.random().toString(36).slice(2, 8)}-`;
  const steps = planFuzzSteps({ ...options, seed, operations, names: nameCount, maxDataBytes: maxData });
  const keyOptions = { scope, ...(options.provider === undefined ? {} : { provider: options.provider }) };

  // The data signed and encrypted: seeded, made once; a step takes a slice at its offset.
  const random = seededRandom(seed ^ 0x5eed);
  const data = Buffer.alloc(Math.ceil((maxData + 64) / 4) * 4);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(Math.floor(random() * 0x100000000), i);

  const started = Date.now();
  const byCode: Record<string, number> = {};
  const byKind: Partial<Record<FuzzOperationKind, number>> = {};
  const failures: FuzzFailure[] = [];
  const counts = { crashes: 0, hangs: 0, untyped: 0, lost: 0, unexpected: 0, wrong: 0, calls: 0, settled: 0 };
  const recent: string[] = [];
  const running = new Map<number, FuzzStep>();
  const hung = new Set<number>();
  const seen = new Map<string, string>();
  const names: NameState[] = Array.from({ length: nameCount }, () => ({
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
  const imports = new Map<KeyAlgorithm, Promise<{ publicKey: KeyObject; privateKey: KeyObject }>>();
  const peers = new Map<string, { publicKey: KeyObject; privateKey: KeyObject }>();
  let storesOpened = 0;
  let checkpoints = 0;
  let stopped = false;
  let internal: unknown;

  const fail = (kind: FuzzFailureKind, step: number, message: string): void => {
    const key = {
      crash: 'crashes',
      hang: 'hangs',
      untyped: 'untyped',
      lost: 'lost',
      unexpectedKey: 'unexpected',
      wrongResult: 'wrong',
    } as const;
    counts[key[kind]]++;
    if (failures.length >= MAX_FAILURES) return;
    const inFlight = [...running.values()].map((s) => `in flight: ${describeFuzzStep(s)}`);
    failures.push({ kind, step, message, sequence: [...recent, ...inFlight] });
  };

  /** One call, raced against the limit; the outcome is counted, untyped errors and hangs recorded. */
  const call = async <T>(step: number, what: string, fn: () => T | Promise<T>): Promise<Outcome<T>> => {
    counts.calls++;
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
      hung.add(step);
      byCode.hang = (byCode.hang ?? 0) + 1;
      fail('hang', step, `${what} did not settle within ${callLimitMs} ms`);
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
      fail('untyped', step, `${what} rejected with something other than a KeyStoreError: ${String(error)}`);
    }
    return { ok: false, code, hang: false };
  };

  let storePromise: Promise<KeyStore> = (async () => {
    storesOpened++;
    return options.openStore();
  })();
  await storePromise;
  const currentStore = () => storePromise.catch(() => undefined);

  const signalFor = (step: FuzzStep): { signal: AbortSignal | undefined; done: () => void } => {
    if (step.abort === 'before') return { signal: AbortSignal.abort(), done: () => {} };
    if (step.abort === 'none') return { signal: undefined, done: () => {} };
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), step.abortAfterMs);
    return { signal: controller.signal, done: () => clearTimeout(timer) };
  };

  /** Which key of the run made a signature that does not verify with the key that returned it. */
  const signer = (message: Buffer, o: SignOptions, signature: Buffer): string => {
    for (const [der, who] of seen) {
      const key = createPublicKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'spki' });
      try {
        if (cryptoVerify(o.hash ?? 'sha256', message, verifyOptions(key, o), signature))
          return `it verifies with ${who}`;
      } catch {
        // another kind of key
      }
    }
    return 'it verifies with no key this run has seen';
  };

  const addHandle = (n: NameState, key: KeyStoreKey, step: number): void => {
    const der = spki(key.publicKey);
    if (!seen.has(der.toString('base64'))) seen.set(der.toString('base64'), `the key ${key.name} seen at #${step}`);
    n.handles.push({ key, der });
    // Old key objects are closed while other steps may still use them: that is part of the test.
    if (n.handles.length > MAX_HANDLES) void track(call(step, 'closing a key', () => n.handles.shift()!.key.close()));
  };

  /** Judges an open (or a found key) against the model, when no create or delete overlapped it. */
  const judgeFound = (n: NameState, index: number, label: string, der: Buffer, quiet: boolean): void => {
    if (!quiet || n.tainted) return;
    if (n.state === 'present' && !n.der!.equals(der)) {
      fail('lost', index, `${label} opened with a different public key than the key ${n.why}`);
    } else if (n.state === 'absent') {
      fail('unexpectedKey', index, `${label} opened, but the model says it does not exist (${n.why})`);
    }
    n.state = 'present';
    n.der = der;
    n.why = `found at #${index}`;
  };

  const judgeNotFound = (n: NameState, index: number, label: string, code: string, quiet: boolean): void => {
    if (!quiet || n.tainted) return;
    if (n.state === 'present') fail('lost', index, `${label} could not be opened (${code}); the key was ${n.why}`);
    if (code === 'ERR_KEYSTORE_KEY_NOT_FOUND') {
      n.state = 'absent';
      n.why = `not found at #${index}`;
    }
  };

  const openInto = async (step: FuzzStep, signal: AbortSignal | undefined): Promise<Handle | undefined> => {
    const n = names[step.name]!;
    const label = `${prefix}${step.name}`;
    const store = await currentStore();
    if (!store) return undefined;
    const epoch = n.epoch;
    const quiet = n.inFlight === 0;
    const r = await call(step.index, `openKey(${label})`, () => store.openKey(label, { ...keyOptions, signal }));
    const still = quiet && n.epoch === epoch;
    if (r.ok) {
      judgeFound(n, step.index, label, spki(r.value.publicKey), still);
      addHandle(n, r.value, step.index);
      return n.handles[n.handles.length - 1];
    }
    if (!r.ok && r.hang) n.tainted = true;
    else if (r.code === 'ERR_KEYSTORE_KEY_NOT_FOUND') judgeNotFound(n, step.index, label, r.code, still);
    return undefined;
  };

  const handleFor = async (step: FuzzStep, signal: AbortSignal | undefined): Promise<Handle | undefined> => {
    const n = names[step.name]!;
    if (n.handles.length > 0) return n.handles[Math.floor(step.pick * n.handles.length)];
    return openInto(step, signal);
  };

  const mutate = async (step: FuzzStep, signal: AbortSignal | undefined): Promise<string> => {
    const n = names[step.name]!;
    const label = `${prefix}${step.name}`;
    const store = await currentStore();
    if (!store) return 'no store';
    if (n.inFlight === 0) n.overlap = { made: [], deleted: 0 };
    const overlap = n.overlap;
    n.inFlight++;
    const epoch = ++n.epoch;
    const alone = n.inFlight === 1;
    let r: Outcome<unknown>;
    let given: KeyObject | undefined;
    if (step.kind === 'delete') {
      r = await call(step.index, `deleteKey(${label})`, () => store.deleteKey(label, { ...keyOptions, signal }));
    } else if (step.kind === 'create') {
      const o = { ...keyOptions, algorithm: step.algorithm, signal };
      r = await call(step.index, `createKey(${label})`, () => store.createKey(label, o));
    } else {
      const pair = imports.get(step.algorithm) ?? keyPair(step.algorithm);
      imports.set(step.algorithm, pair);
      const { privateKey, publicKey } = await pair;
      given = publicKey;
      const o = { ...keyOptions, algorithm: step.algorithm, signal };
      r = await call(step.index, `importKey(${label})`, () => store.importKey(label, privateKey, o));
    }
    n.inFlight--;
    const clean = alone && n.epoch === epoch && !n.tainted;
    n.epoch++;
    if (r.ok && step.kind === 'delete') overlap.deleted++;
    else if (r.ok) overlap.made.push(step.index);
    if (n.inFlight === 0 && overlap.made.length > 1 && overlap.deleted === 0 && !n.tainted) {
      // Overlapping creates of one name with no delete between: only one may succeed.
      const steps = overlap.made.map((i) => `#${i}`).join(', ');
      fail(
        'lost',
        step.index,
        `${label} was made by ${steps} at once: all succeeded, so a key was replaced or the name holds several`,
      );
    }
    if (!r.ok && r.hang) n.tainted = true;
    if (r.ok && step.kind !== 'delete') {
      const key = r.value as KeyStoreKey;
      const der = spki(key.publicKey);
      if (given && !given.equals(key.publicKey))
        fail('wrongResult', step.index, `${label} was imported with another public key`);
      if (clean && n.state === 'present')
        fail('lost', step.index, `${step.kind} of ${label} succeeded over the key ${n.why}`);
      if (clean) Object.assign(n, { state: 'present', der, why: `made at #${step.index}` });
      else n.state = 'unknown';
      addHandle(n, key, step.index);
    } else if (r.ok) {
      if (clean && n.state === 'absent')
        fail('unexpectedKey', step.index, `${label} was deleted, but the model says it did not exist (${n.why})`);
      if (clean) Object.assign(n, { state: 'absent', der: undefined, why: `deleted at #${step.index}` });
      else n.state = 'unknown';
    } else if (!clean || r.hang || r.code === 'untyped') {
      n.state = 'unknown';
    } else if (step.kind === 'delete') {
      if (r.code === 'ERR_KEYSTORE_KEY_NOT_FOUND') judgeNotFound(n, step.index, label, r.code, true);
      else n.state = 'unknown';
    } else if (r.code === 'ERR_KEYSTORE_KEY_EXISTS') {
      if (n.state === 'absent')
        fail(
          'unexpectedKey',
          step.index,
          `${step.kind} of ${label} found a key the model says does not exist (${n.why})`,
        );
      if (n.state !== 'present') n.state = 'unknown';
    } else if (n.state === 'absent') {
      // A create or import that rejects promises no key: the next look holds it to that.
      n.why = `${step.kind} rejected with ${r.code} at #${step.index}`;
    }
    return r.ok ? 'ok' : r.code;
  };

  const useKey = async (step: FuzzStep, signal: AbortSignal | undefined): Promise<string> => {
    const h = await handleFor(step, signal);
    if (!h) return 'no key';
    const n = names[step.name]!;
    const { key } = h;
    const pub = key.publicKey;
    const rsa = pub.asymmetricKeyType === 'rsa';
    const message = data.subarray(step.offset, step.offset + step.size);
    const signOptions: SignOptions = {
      hash: step.hash,
      ...(rsa ? { padding: step.padding } : { dsaEncoding: step.dsaEncoding }),
      signal,
    };
    const wrong = (text: string) => fail('wrongResult', step.index, `${key.name}: ${text}`);
    switch (step.kind) {
      case 'sign': {
        const r = await call(step.index, 'sign', () => key.sign(message, signOptions));
        if (r.ok) {
          if (!cryptoVerify(step.hash, message, verifyOptions(pub, signOptions), r.value)) {
            wrong(`the signature does not verify with the key's public key; ${signer(message, signOptions, r.value)}`);
          } else {
            // Kept for a later verify step (only a good one: a bad one is reported once, here).
            const options = { ...signOptions, signal: undefined };
            n.lastSignature = { data: Buffer.from(message), signature: r.value, options, der: h.der };
          }
        }
        return r.ok ? 'ok' : r.code;
      }
      case 'signDigest': {
        const right = digestLength(step.hash);
        const digest =
          step.digestDelta === 0
            ? createHash(step.hash).update(message).digest()
            : data.subarray(step.offset, step.offset + Math.max(0, right + step.digestDelta));
        const r = await call(step.index, 'signDigest', () => key.signDigest(digest, signOptions));
        if (r.ok && step.digestDelta !== 0)
          wrong(`signDigest accepted a ${digest.length}-byte digest for ${step.hash}`);
        else if (r.ok && !cryptoVerify(step.hash, message, verifyOptions(pub, signOptions), r.value)) {
          wrong(`the signature of the digest does not verify; ${signer(message, signOptions, r.value)}`);
        }
        return r.ok ? 'ok' : r.code;
      }
      case 'verify': {
        const last = n.lastSignature;
        const tamper = step.variant < 0.3;
        const signature = last ? Buffer.from(last.signature) : data.subarray(step.offset, step.offset + 64);
        if (last && tamper) signature[Math.floor(step.pick * signature.length)]! ^= 0x01;
        const o = last ? { ...last.options, signal } : signOptions;
        const r = await call(step.index, 'verify', () => key.verify(last ? last.data : message, signature, o));
        const expected = last !== undefined && !tamper && last.der.equals(h.der);
        if (r.ok && r.value !== expected) wrong(`verify answered ${r.value}, expected ${expected}`);
        return r.ok ? String(r.value) : r.code;
      }
      case 'decrypt': {
        let ciphertext: Buffer;
        let plaintext: Buffer | undefined;
        if (rsa && step.variant >= 0.2) {
          const room = (pub.asymmetricKeyDetails?.modulusLength ?? 2048) / 8 - 2 * digestLength(step.oaepHash) - 2;
          plaintext = Buffer.from(message.subarray(0, Math.max(0, Math.min(room, message.length))));
          const padding = constants.RSA_PKCS1_OAEP_PADDING;
          ciphertext = publicEncrypt({ key: pub, padding, oaepHash: step.oaepHash }, plaintext);
        } else {
          ciphertext = message.subarray(0, step.size % 600);
        }
        const r = await call(step.index, 'decrypt', () => key.decrypt(ciphertext, { hash: step.oaepHash, signal }));
        if (r.ok && plaintext && !r.value.equals(plaintext)) wrong('decrypt returned another plaintext');
        if (r.ok && !rsa) wrong('an EC key decrypted');
        return r.ok ? 'ok' : r.code;
      }
      case 'derive': {
        const own = pub.asymmetricKeyDetails?.namedCurve;
        const other = own === 'prime256v1' ? 'secp384r1' : 'prime256v1';
        const peerCurve = step.variant < 0.2 || own === undefined ? other : own;
        const peer = peers.get(peerCurve) ?? generateKeyPairSync('ec', { namedCurve: peerCurve });
        peers.set(peerCurve, peer);
        const r = await call(step.index, 'deriveSecret', () => key.deriveSecret(peer.publicKey, { signal }));
        if (r.ok && (rsa || peerCurve !== own)) {
          wrong('deriveSecret succeeded with a key or peer it cannot agree with');
        } else if (r.ok && !r.value.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: pub }))) {
          wrong('deriveSecret returned another secret than Node computes');
        }
        return r.ok ? 'ok' : r.code;
      }
      case 'exportPublicKey': {
        const format = step.variant < 0.34 ? 'der' : step.variant < 0.67 ? 'pem' : 'jwk';
        const r = await call(step.index, `exportPublicKey(${format})`, () => key.exportPublicKey(format));
        if (r.ok) {
          const v = r.value;
          const back =
            format === 'jwk'
              ? createPublicKey({ key: v as never, format: 'jwk' })
              : format === 'der'
                ? createPublicKey({ key: v as Buffer, format: 'der', type: 'spki' })
                : createPublicKey(v as string);
          if (!spki(back).equals(h.der)) wrong(`exportPublicKey(${format}) gave another public key`);
        }
        return r.ok ? 'ok' : r.code;
      }
      default: {
        // closeKey: close it while other steps may use it; sometimes keep it, so later steps use a closed key.
        if (step.variant < 0.5) n.handles = n.handles.filter((x) => x !== h);
        const r = await call(step.index, 'close', () => key.close());
        return r.ok ? 'ok' : r.code;
      }
    }
  };

  const list = async (step: FuzzStep, signal: AbortSignal | undefined): Promise<string> => {
    const store = await currentStore();
    if (!store) return 'no store';
    const before = names.map((n) => ({ epoch: n.epoch, quiet: n.inFlight === 0 }));
    const r = await call(step.index, 'listKeys', () => listedNames(store, { ...keyOptions, signal }));
    if (!r.ok) return r.code;
    names.forEach((n, i) => {
      if (n.tainted || !before[i]!.quiet || n.epoch !== before[i]!.epoch) return;
      const listed = r.value.has(`${prefix}${i}`);
      if (n.state === 'present' && !listed)
        fail('lost', step.index, `${prefix}${i} is not listed; the key was ${n.why}`);
      if (n.state === 'absent' && listed) fail('unexpectedKey', step.index, `${prefix}${i} is listed, but ${n.why}`);
    });
    return 'ok';
  };

  const closeStore = async (step: FuzzStep): Promise<string> => {
    const old = await currentStore();
    if (!old) return 'no store';
    let closed: Outcome<void> = { ok: false, code: 'pending', hang: false };
    storePromise = (async () => {
      closed = await call(step.index, 'closing the store', () => old.close());
      try {
        storesOpened++;
        return await options.openStore();
      } catch (error) {
        fail('crash', step.index, `no store could be opened again after closing one: ${String(error)}`);
        stopped = true;
        throw error;
      }
    })();
    storePromise.catch(() => {});
    await storePromise.catch(() => {});
    return closed.ok ? 'ok' : closed.code;
  };

  const execute = async (step: FuzzStep): Promise<void> => {
    const { signal, done } = signalFor(step);
    running.set(step.index, step);
    let outcome: string;
    try {
      if (step.kind === 'closeStore') outcome = await closeStore(step);
      else if (step.kind === 'create' || step.kind === 'import' || step.kind === 'delete') {
        outcome = await mutate(step, signal);
      } else if (step.kind === 'open') outcome = (await openInto(step, signal)) ? 'ok' : 'not opened';
      else if (step.kind === 'list') outcome = await list(step, signal);
      else outcome = await useKey(step, signal);
    } finally {
      done();
      running.delete(step.index);
    }
    if (!hung.has(step.index)) counts.settled++;
    recent.push(`${describeFuzzStep(step)} → ${outcome}`);
    if (recent.length > RECENT) recent.shift();
  };

  const inflight = new Set<Promise<unknown>>();
  function track<T>(p: Promise<T>): Promise<T> {
    const q = p.catch((error) => {
      internal ??= error;
    });
    inflight.add(q);
    void q.finally(() => inflight.delete(q));
    return p;
  }
  const drain = async () => {
    while (inflight.size > 0) await Promise.all([...inflight]);
  };

  const checkpoint = async (): Promise<void> => {
    await drain();
    checkpoints++;
    recent.push(`checkpoint ${checkpoints}`);
    const store = await currentStore();
    if (!store) return;
    for (const [i, n] of names.entries()) {
      if (n.tainted) continue;
      const label = `${prefix}${i}`;
      let r = await call(-1, `openKey(${label})`, () => store.openKey(label, keyOptions));
      // Nothing else runs now: an error other than "not found" gets two more tries a second apart,
      // so a busy device is not mistaken for a lost key (the errors are still counted in byCode).
      for (let retry = 0; retry < 2 && !r.ok && !r.hang && r.code !== 'ERR_KEYSTORE_KEY_NOT_FOUND'; retry++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        r = await call(-1, `openKey(${label})`, () => store.openKey(label, keyOptions));
      }
      if (r.ok) {
        if (n.state === 'unknown')
          Object.assign(n, { state: 'present', der: spki(r.value.publicKey), why: 'found at a checkpoint' });
        else judgeFound(n, -1, label, spki(r.value.publicKey), true);
        await call(-1, 'closing a key', () => r.value.close());
      } else if (r.hang) {
        n.tainted = true;
      } else if (n.state === 'unknown') {
        if (r.code === 'ERR_KEYSTORE_KEY_NOT_FOUND')
          Object.assign(n, { state: 'absent', why: 'not found at a checkpoint' });
      } else {
        judgeNotFound(n, -1, label, r.code, true);
      }
    }
    if (options.isAlive && !(await options.isAlive())) {
      fail('crash', -1, 'the process serving the provider is gone');
      stopped = true;
    }
  };

  for (const step of steps) {
    if (stopped) break;
    if (Date.now() - started > timeLimitMs) break;
    while (inflight.size >= concurrency) await Promise.race(inflight);
    byKind[step.kind] = (byKind[step.kind] ?? 0) + 1;
    track(execute(step));
    if ((step.index + 1) % checkpointEvery === 0) await checkpoint();
  }
  const operationsRun = Object.values(byKind).reduce((a, b) => a + b, 0);
  if (!stopped) await checkpoint();
  await drain();

  // Clean up: close every key object, delete every key left (these calls are counted too).
  const store = await currentStore();
  for (const [i, n] of names.entries()) {
    for (const h of n.handles) await call(-1, 'closing a key', () => h.key.close());
    if (store && !stopped && n.state !== 'absent')
      await call(-1, 'deleting a key', () => store.deleteKey(`${prefix}${i}`, keyOptions));
  }
  if (store) await call(-1, 'closing the store', () => store.close());
  if (internal !== undefined) throw internal;

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
    byCode,
    byKind,
    storesOpened,
    checkpoints,
    timeLimited: operationsRun < operations && !stopped,
    durationMs: Date.now() - started,
    failures,
  };
}
