/**
 * The token a provider works on: the module (loaded and initialized once per process), the slot
 * found by label or serial, and a pool of sessions, each serving one operation at a time. When the
 * module says the session or the token went away, the pool is dropped and the next operation finds
 * the slot again, opens sessions and logs in again.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { KeyStoreError, throwIfAborted } from '@keystore/core';
import {
  CKF_RW_SESSION,
  CKF_SERIAL_SESSION,
  CKR,
  CKS_RO_USER_FUNCTIONS,
  CKS_RW_USER_FUNCTIONS,
  CKU_USER,
  ckrName,
} from './native/constants.js';
import {
  loadPkcs11,
  type Pkcs11Native,
  type Result,
  type SessionHandle,
  type SlotId,
  type TokenInfo,
} from './native/pkcs11.js';
import { type CheckedOptions, closedError } from './options.js';
import { isSessionLost, PROVIDER_ID, rvError } from './rv.js';

interface LoadedModule {
  /** The module, its object calls one at a time ({@link serializeObjectCalls}). */
  readonly native: Pkcs11Native;
  users: number;
  /** Whether this process's `C_Initialize` came from us (so `C_Finalize` is ours to call). */
  ownsInitialize: boolean;
  ready: Promise<void>;
  /**
   * Per token (serial and label), an HMAC of the PIN this process logged in with. PKCS#11 login
   * belongs to the process, not the session: once one provider logged in, `C_Login` with any PIN
   * answers `CKR_USER_ALREADY_LOGGED_IN`. A provider whose PIN differs is refused instead.
   */
  readonly logins: Map<string, Buffer>;
}

/** The key of the PIN HMACs: random per process, so the HMACs are of no use outside it. */
const PIN_TAG_KEY = randomBytes(32);

function pinTag(pin: Buffer): Buffer {
  return createHmac('sha256', PIN_TAG_KEY).update(pin).digest();
}

/** One initialized module per path in this process: PKCS#11 allows one `C_Initialize` per process. */
const modules = new Map<string, LoadedModule>();

/**
 * `C_Finalize` calls still running, per module: a new `C_Initialize` of that module waits for them
 * (the two running at once on two worker threads crash some modules).
 */
const finalizing = new Map<string, Promise<void>>();

async function acquireModule(path: string, double: Pkcs11Native | undefined): Promise<LoadedModule> {
  const key = double ? `double:${path}:${Math.random()}` : path;
  let entry = modules.get(key);
  const pending = entry ? undefined : finalizing.get(key);
  if (pending) {
    await pending;
    entry = modules.get(key);
  }
  if (!entry) {
    const native = serializeObjectCalls(double ?? loadPkcs11(path));
    const created: LoadedModule = {
      native,
      users: 0,
      ownsInitialize: false,
      ready: Promise.resolve(),
      logins: new Map(),
    };
    created.ready = native.initialize().then((r) => {
      if (r.rv === CKR.OK) created.ownsInitialize = true;
      else if (r.rv !== CKR.CRYPTOKI_ALREADY_INITIALIZED) {
        modules.delete(key);
        throw rvError(r.rv, r.fn, `initializing ${path}`);
      }
    });
    entry = created;
    modules.set(key, entry);
  }
  entry.users++;
  try {
    await entry.ready;
  } catch (err) {
    entry.users--;
    throw err;
  }
  return entry;
}

/**
 * `native` with its object calls (`C_FindObjects*`, `C_GetAttributeValue`, `C_GenerateKeyPair`,
 * `C_CreateObject`, `C_DestroyObject`) made one at a time in this process; signing, decrypting and
 * deriving still run at once on several sessions. SoftHSM2 2.6.1 races between finding objects and
 * creating them on other sessions of the same token: up to 3 in 100 of the key generations made
 * while other sessions searched and read objects failed with `CKR_GENERAL_ERROR` or
 * `CKR_TEMPLATE_INCONSISTENT`, or handed out a handle that was invalid at once (SoftHSMv2 issue 573,
 * fixed by its pull request 576 after 2.6.1). Other modules pay the cost of creating, opening and
 * listing keys one call at a time, which is small next to the signs it leaves alone.
 */
function serializeObjectCalls(native: Pkcs11Native): Pkcs11Native {
  let queue: Promise<unknown> = Promise.resolve();
  const serial =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const run = queue.then(
        () => call(...args),
        () => call(...args),
      );
      queue = run.catch(() => undefined);
      return run;
    };
  return {
    ...native,
    findObjects: serial((session, template, max) => native.findObjects(session, template, max)),
    getAttributes: serial((session, object, types) => native.getAttributes(session, object, types)),
    generateKeyPair: serial((session, mechanism, pub, priv) => native.generateKeyPair(session, mechanism, pub, priv)),
    createObject: serial((session, template) => native.createObject(session, template)),
    destroyObject: serial((session, object) => native.destroyObject(session, object)),
  };
}

async function releaseModule(entry: LoadedModule): Promise<void> {
  entry.users--;
  if (entry.users > 0) return;
  let key: string | undefined;
  for (const [k, value] of modules) {
    if (value === entry) {
      key = k;
      modules.delete(k);
    }
  }
  if (!entry.ownsInitialize) return;
  const done = entry.native.finalize().then(
    () => undefined,
    () => undefined,
  );
  if (key !== undefined) finalizing.set(key, done);
  await done;
  if (key !== undefined && finalizing.get(key) === done) finalizing.delete(key);
}

/** What an operation gets: a session of its own for the time it runs. */
export interface Lease {
  readonly native: Pkcs11Native;
  readonly session: SessionHandle;
  /** Bumped each time the sessions are re-opened: object handles found before may be stale. */
  readonly generation: number;
}

/** The token's facts, for probe and receipts. */
interface TokenFacts {
  readonly slot: SlotId;
  readonly info: TokenInfo;
}

/** Throws the typed error of a failed call. */
export function check<T>(result: Result<T>, context?: string): T {
  if (result.rv !== CKR.OK) throw rvError(result.rv, result.fn, context);
  return result.value as T;
}

/** The token, its sessions and its module. */
export class Token {
  private module: LoadedModule | undefined;
  private opening: Promise<LoadedModule> | undefined;
  private facts: TokenFacts | undefined;
  private readonly idle: SessionHandle[] = [];
  private open = 0;
  private readonly waiters: Array<() => void> = [];
  private loggedIn = false;
  private generationCount = 0;
  /** Operations running, which close() waits for before it finalizes the module. */
  private readonly running = new Set<Promise<unknown>>();
  closed = false;

  constructor(readonly options: CheckedOptions) {}

  /** The module, loaded and initialized on first use. */
  async native(): Promise<Pkcs11Native> {
    return (await this.loadedModule()).native;
  }

  private loadedModule(): Promise<LoadedModule> {
    if (this.closed) return Promise.reject(closedError());
    if (this.module) return Promise.resolve(this.module);
    this.opening ??= acquireModule(this.options.module, this.options.native).then(
      (m) => {
        if (this.closed) {
          void releaseModule(m);
          throw closedError();
        }
        this.module = m;
        return m;
      },
      (err) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }

  /** The slot whose token has the configured label or serial (the only token when neither is set). */
  async find(): Promise<TokenFacts> {
    if (this.facts) return this.facts;
    const native = await this.native();
    const slots = check(await native.getSlotList(true));
    const seen: TokenInfo[] = [];
    for (const slot of slots) {
      const info = await native.getTokenInfo(slot);
      if (info.rv !== CKR.OK || !info.value) continue;
      seen.push(info.value);
      const { tokenLabel, tokenSerial } = this.options;
      const match =
        tokenLabel !== undefined
          ? info.value.label === tokenLabel.trimEnd()
          : tokenSerial !== undefined
            ? info.value.serialNumber === tokenSerial.trimEnd()
            : slots.length === 1;
      if (match) {
        this.facts = { slot, info: info.value };
        return this.facts;
      }
    }
    const wanted =
      this.options.tokenLabel !== undefined
        ? `label "${this.options.tokenLabel}"`
        : this.options.tokenSerial !== undefined
          ? `serial "${this.options.tokenSerial}"`
          : 'any label (there is more than one token: name one)';
    const found = seen.map((t) => `"${t.label}" (serial ${t.serialNumber})`).join(', ') || 'none';
    throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `no token with ${wanted} in ${this.options.module}`, {
      providerId: PROVIDER_ID,
      hint: `tokens present: ${found}. Set tokenLabel or tokenSerial to one of them, or initialize the token (softhsm2-util --init-token)`,
    });
  }

  /** A session for one operation, opening (and logging in) as needed; waits while all are busy. */
  private async acquire(signal: AbortSignal | undefined): Promise<Lease> {
    for (;;) {
      throwIfAborted(signal);
      if (this.closed) throw closedError();
      const generation = this.generationCount;
      const session = this.idle.pop();
      if (session !== undefined) return { native: await this.native(), session, generation };
      if (this.open < this.options.poolSize) {
        this.open++;
        try {
          return { native: await this.native(), session: await this.openSession(), generation };
        } catch (err) {
          this.open--;
          this.wake();
          throw err;
        }
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = () =>
          reject(new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', { cause: signal?.reason }));
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    this.waiters.shift()?.();
  }

  private release(lease: Lease): void {
    if (lease.generation === this.generationCount && !this.closed) {
      this.idle.push(lease.session);
    } else {
      // A session of before a reset (or after close): close it; it no longer counts.
      this.open = Math.max(0, this.open - 1);
      void lease.native.closeSession(lease.session).catch(() => {});
    }
    this.wake();
  }

  private async openSession(): Promise<SessionHandle> {
    const native = await this.native();
    const { slot } = await this.find();
    const session = check(await native.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION), 'opening a session');
    if (!this.loggedIn && this.options.pin) {
      const { info } = await this.find();
      const pin = Buffer.from(this.options.pin.reveal(), 'utf8');
      try {
        const r = await native.login(session, CKU_USER, pin);
        const logins = (await this.loadedModule()).logins;
        const tokenKey = `${info.serialNumber}\0${info.label}`;
        const tag = pinTag(pin);
        const known = logins.get(tokenKey);
        const refuse = (error: KeyStoreError) => native.closeSession(session).then(() => Promise.reject(error));
        if (r.rv === CKR.USER_ALREADY_LOGGED_IN && known && !timingSafeEqual(known, tag)) {
          await refuse(
            new KeyStoreError(
              'ERR_KEYSTORE_ACCESS_DENIED',
              `token "${info.label}" is logged in in this process with another PIN`,
              {
                providerId: PROVIDER_ID,
                hint: 'PKCS#11 logins belong to the process: every provider on one token in one process must use the same PIN',
              },
            ),
          );
        }
        if (r.rv !== CKR.OK && r.rv !== CKR.USER_ALREADY_LOGGED_IN) {
          await refuse(rvError(r.rv, r.fn, `logging in to token "${info.label}"`));
        }
        if (r.rv === CKR.OK) logins.set(tokenKey, tag);
        this.loggedIn = true;
      } finally {
        pin.fill(0);
      }
    }
    return session;
  }

  /** Drops every session: the next operation finds the token again and logs in again. */
  private async reset(): Promise<void> {
    this.generationCount++;
    const native = this.module?.native;
    const sessions = this.idle.splice(0);
    this.open -= sessions.length;
    this.facts = undefined;
    this.loggedIn = false;
    if (native) await Promise.all(sessions.map((s) => native.closeSession(s).catch(() => undefined)));
  }

  /**
   * Runs `operation` on a session of its own. When the module says the session or token was lost,
   * the sessions are dropped and (when `retry`) the operation runs once more on a fresh session.
   */
  run<T>(operation: (lease: Lease) => Promise<T>, options: { signal?: AbortSignal; retry?: boolean } = {}): Promise<T> {
    return this.track(() => this.attempt(operation, options));
  }

  /** Runs `work` (native calls outside a session: probe, finding the token) as one close() waits for. */
  track<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    const running = work();
    this.running.add(running);
    const forget = () => this.running.delete(running);
    running.then(forget, forget);
    return running;
  }

  private async attempt<T>(
    operation: (lease: Lease) => Promise<T>,
    options: { signal?: AbortSignal; retry?: boolean },
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let lease: Lease | undefined;
      let lost = false;
      try {
        lease = await this.acquire(options.signal);
        return await operation(lease);
      } catch (err) {
        const rv = KeyStoreError.is(err) && err.providerId === PROVIDER_ID ? err.nativeStatus : undefined;
        if (!isSessionLost(rv) || this.closed) throw err;
        lost = true;
        if (!lease || lease.generation === this.generationCount) await this.reset();
        if (attempt >= 1 || options.retry === false) throw err;
      } finally {
        if (lease && lost) {
          this.open = Math.max(0, this.open - 1);
          void lease.native.closeSession(lease.session).catch(() => {});
          this.wake();
        } else if (lease) {
          this.release(lease);
        }
      }
    }
  }

  /**
   * Before a search for private objects is believed to have found nothing: throws when the token
   * went away (`C_GetTokenInfo` fails: a typed error, and a lost-token one makes {@link Token.run}
   * start over), or when this provider has a PIN but the session is no longer logged in
   * (`CKR_USER_NOT_LOGGED_IN`: a token that came back forgets the login, and then hides its private
   * objects instead of failing).
   */
  async checkLoggedIn(lease: Lease): Promise<void> {
    const facts = this.facts;
    if (facts) {
      const info = await lease.native.getTokenInfo(facts.slot);
      // Modules say this differently (SoftHSM2: CKR_GENERAL_ERROR); it is a token that went away.
      if (info.rv !== CKR.OK) {
        throw rvError(CKR.TOKEN_NOT_PRESENT, info.fn, `token "${facts.info.label}" went away: ${ckrName(info.rv)}`);
      }
      if (info.value?.label !== facts.info.label || info.value?.serialNumber !== facts.info.serialNumber) {
        throw rvError(CKR.TOKEN_NOT_PRESENT, 'C_GetTokenInfo', 'another token is in the slot');
      }
    }
    if (!this.options.pin) return;
    const state = check(await lease.native.getSessionState(lease.session));
    if (state !== CKS_RO_USER_FUNCTIONS && state !== CKS_RW_USER_FUNCTIONS) {
      throw rvError(CKR.USER_NOT_LOGGED_IN, 'C_GetSessionInfo', 'the token forgot the login');
    }
  }

  /** Closes every session and, when this was the module's last user in the process, finalizes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    // No C_Finalize while a call runs on a worker thread: wait for the operations in flight.
    await Promise.allSettled([...this.running]);
    const module = this.module ?? (await this.opening?.catch(() => undefined));
    if (!module) return;
    await Promise.all(this.idle.splice(0).map((s) => module.native.closeSession(s).catch(() => undefined)));
    await releaseModule(module);
    this.module = undefined;
  }
}
