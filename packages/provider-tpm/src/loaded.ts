/**
 * The loaded-key sign path: a key without a password or policy is loaded into the TPM once per pool
 * context (its blobs from `Fapi_GetTpmBlobs`, `Esys_Load` under its profile's SRK) and each signature
 * is then one `TPM2_Sign` on the loaded handle, where `Fapi_Sign` sends about six commands (it loads,
 * starts a session, signs and flushes every time). Every command goes through a salted HMAC session
 * with parameter encryption, started once per context, as FAPI protects its own. A small LRU of loaded
 * keys per context stays within the TPM's transient object slots; objects are flushed on eviction,
 * when the context is released (close, and after any error), and when the key's file changes.
 *
 * The identity checks of the FAPI path hold: the key's file is looked at before every signature (a
 * deleted key is not found; a file that changed is flushed and loaded again), and the public area of
 * each loaded object is compared with the handle's public key, so a key replaced under the same
 * name is never signed with for the old handle.
 *
 * @module
 */

import { statSync } from 'node:fs';
import { KeyStoreError, p1363ToDer } from '@keystore/core';
import { guardNativeCall, processBudget } from './budget.js';
import { keyPassword, replacedKeyError, type TpmKey } from './key.js';
import type { EsysBindings, EsysContextHandle, SignScheme, TpmBlobs } from './native/esys.js';
import type { PoolContext } from './pool.js';
import type { FapiRuntime } from './runtime.js';

/** `TPMA_OBJECT_USERWITHAUTH` | `TPMA_OBJECT_NODA`: auth by an (empty) value, no dictionary-attack counting. */
const USER_WITH_AUTH = 0x40;
const NO_DA = 0x400;
/** TPM2_ALG_ECDSA, RSASSA, RSAPSS; and the hash algorithm of each digest length. */
const ECDSA = 0x18;
const RSASSA = 0x14;
const RSAPSS = 0x16;
const HASH_BY_LENGTH: Readonly<Record<number, number>> = { 20: 0x04, 32: 0x0b, 48: 0x0c, 64: 0x0d };
const FIELD_BYTES: Readonly<Record<string, number>> = { 'ECDSA-P256': 32, 'ECDSA-P384': 48, 'ECDSA-P521': 66 };
/** Time allowed to flush a context's objects when it is released. */
const FLUSH_TIMEOUT_MS = 5_000;

/** Keys found to need the FAPI path (a policy, an auth value, or attributes the loaded path does not serve). */
const fapiOnly = new WeakSet<TpmKey>();

interface LoadedObject {
  readonly handle: number;
  /** The key file's identity when its blobs were read. */
  readonly stamp: string;
  /** The object's public area (marshalled), to check a handle against. */
  readonly publicBlob: Buffer;
  /** The last handle's public key found to match the object. */
  checkedFor: TpmKey['publicKey'] | undefined;
}

/** What one pool context holds on the loaded-key path. */
export interface LoadedState {
  readonly esys: EsysContextHandle;
  readonly srks: Map<number, number>;
  session: number | undefined;
  /** By key file, least recently used first. */
  readonly objects: Map<string, LoadedObject>;
}

/** The identity of a key file (device, inode, size, change times), or `undefined` when it is gone. */
function stampOf(file: string): string | undefined {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** Whether a key's public blob (marshalled TPM2B_PUBLIC) says userWithAuth and noDA. */
function servable(blobs: TpmBlobs): boolean {
  if (blobs.policy.trim() !== '' || blobs.publicBlob.length < 10) return false;
  const attributes = blobs.publicBlob.readUInt32BE(6);
  return (attributes & USER_WITH_AUTH) !== 0 && (attributes & NO_DA) !== 0;
}

/** The scheme of a signature with `padding` (FAPI's names) over a digest of `length` bytes. */
function schemeOf(padding: string | null, length: number): SignScheme {
  const hashAlg = HASH_BY_LENGTH[length] ?? 0x0b;
  return { scheme: padding === null ? ECDSA : padding === 'RSA_PSS' ? RSAPSS : RSASSA, hashAlg };
}

/** Reads a marshalled TPMT_SIGNATURE: ECDSA as DER, RSA as big-endian bytes. */
export function signatureFromWire(wire: Buffer, fieldBytes: number): Buffer {
  const bad = () =>
    new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', 'the TPM returned a signature this SDK cannot read', {
      providerId: 'tpm',
    });
  if (wire.length < 6) throw bad();
  const alg = wire.readUInt16BE(0);
  let at = 4;
  const sized = (): Buffer => {
    if (at + 2 > wire.length) throw bad();
    const n = wire.readUInt16BE(at);
    if (at + 2 + n > wire.length) throw bad();
    const out = wire.subarray(at + 2, at + 2 + n);
    at += 2 + n;
    return out;
  };
  if (alg === ECDSA) {
    const r = sized();
    const s = sized();
    if (fieldBytes === 0 || r.length > fieldBytes || s.length > fieldBytes) throw bad();
    const raw = Buffer.alloc(2 * fieldBytes);
    r.copy(raw, fieldBytes - r.length);
    s.copy(raw, 2 * fieldBytes - s.length);
    return p1363ToDer(raw);
  }
  if (alg === RSASSA || alg === RSAPSS) return Buffer.from(sized());
  throw bad();
}

/**
 * Flushes every object and the session of a context's loaded-key state, then finalizes its ESYS
 * context. A flush given up on (the TPM does not answer in time) still runs on a worker thread with
 * the ESYS context and the FAPI context's TCTI: then this resolves with `{ after }`, a promise that
 * settles once that call has returned, and the ESYS context (and, after it, the FAPI context) is
 * finalized only then.
 */
export async function dispose(
  esys: EsysBindings,
  state: LoadedState,
  timeoutMs = FLUSH_TIMEOUT_MS,
): Promise<{ after: Promise<void> } | undefined> {
  const handles = [...[...state.objects.values()].map((o) => o.handle), ...(state.session ? [state.session] : [])];
  state.objects.clear();
  state.session = undefined;
  try {
    for (const handle of handles) {
      let returned: () => void = () => undefined;
      const back = new Promise<void>((resolve) => {
        returned = resolve;
      });
      const outcome = await guardNativeCall(processBudget(), () => esys.flush(state.esys, handle), {
        timeoutMs,
        what: 'flushing a loaded key (Esys_FlushContext)',
        afterAbandoned: () => returned(),
      });
      // A TPM that does not answer: leave the rest (it will not answer them either), and finalize
      // once the running flush has returned.
      if (outcome.kind === 'abandoned') return { after: back.then(() => esys.finalize(state.esys)) };
    }
  } catch {
    // No budget left (no flush was started): the objects stay until the TPM restarts, as after a crash.
  }
  esys.finalize(state.esys);
  return undefined;
}

function stateOf(esys: EsysBindings, context: PoolContext): LoadedState | number {
  if (context.loaded !== undefined) return context.loaded as LoadedState;
  const init = esys.initialize(context.handle);
  if (init.rc !== 0 || init.value === undefined) return init.rc;
  const state: LoadedState = { esys: init.value, srks: new Map(), session: undefined, objects: new Map() };
  context.loaded = state;
  context.beforeRelease = () => dispose(esys, state);
  return state;
}

/** Whether `key` may take the loaded-key path at all (before any native call). */
export function mayLoad(runtime: FapiRuntime, key: TpmKey): boolean {
  return runtime.loadedKeysPerContext() > 0 && keyPassword(key) === undefined && !fapiOnly.has(key);
}

/**
 * The SRK's ESYS object and the context's salted HMAC session, made on first use and kept with the
 * context: `{ rc: 0, value }` with the SRK, or the TPM's return code.
 */
async function parentAndSession(
  esys: EsysBindings,
  state: LoadedState,
  srkHandle: number,
): Promise<{ rc: number; value?: number }> {
  let srk = state.srks.get(srkHandle);
  if (srk === undefined) {
    const found = await esys.fromTpmPublic(state.esys, srkHandle);
    if (found.rc !== 0 || found.value === undefined) return { rc: found.rc };
    srk = found.value;
    state.srks.set(srkHandle, srk);
  }
  if (state.session === undefined) {
    const started = await esys.startHmacSession(state.esys, srk);
    if (started.rc !== 0 || started.value === undefined) return { rc: started.rc };
    state.session = started.value;
  }
  return { rc: 0, value: srk };
}

/**
 * Signs on the loaded-key path, or returns `undefined` when this key needs the FAPI path (found on
 * its first use). Errors are typed as on the FAPI path, and the context is replaced after any of them.
 */
export async function signLoaded(
  runtime: FapiRuntime,
  esys: EsysBindings,
  key: TpmKey,
  padding: string | null,
  digest: Buffer,
  signal: AbortSignal | undefined,
): Promise<Buffer | undefined> {
  const file = runtime.objectFileOf(key);
  const srkHandle = runtime.setup().profiles.find((p) => p.name === key.profile)?.srkHandle;
  if (srkHandle === undefined) {
    fapiOnly.add(key);
    return undefined;
  }
  const limit = runtime.loadedKeysPerContext();
  const wire = await runtime.call<Buffer | null>(
    `sign with key "${key.name}"`,
    async (_native, context) => {
      const state = stateOf(esys, context);
      if (typeof state === 'number') return state;
      const stamp = stampOf(file);
      if (stamp === undefined) throw runtime.notFound(key.name, key.scope);
      let object = state.objects.get(file);
      if (object !== undefined && object.stamp !== stamp) {
        // The key's file changed since it was loaded: flush the old object, read the blobs again.
        state.objects.delete(file);
        const rc = await esys.flush(state.esys, object.handle);
        if (rc !== 0) return rc;
        object = undefined;
      }
      if (object === undefined) {
        const srk = await parentAndSession(esys, state, srkHandle);
        if (srk.rc !== 0 || srk.value === undefined) return srk.rc;
        const blobs = await esys.getTpmBlobs(context.handle, key.fapiPath);
        if (blobs.rc !== 0 || blobs.value === undefined) return blobs.rc;
        if (!servable(blobs.value)) {
          fapiOnly.add(key);
          return { rc: 0, value: null };
        }
        // The file changed while its blobs were read: let the FAPI path (and its checks) take this one.
        if (stampOf(file) !== stamp) return { rc: 0, value: null };
        if (!publicMatches(blobs.value.publicBlob, key)) throw replacedKeyError(key);
        while (state.objects.size >= limit) {
          const [oldest, evicted] = state.objects.entries().next().value as [string, LoadedObject];
          state.objects.delete(oldest);
          const rc = await esys.flush(state.esys, evicted.handle);
          if (rc !== 0) return rc;
        }
        const loaded = await esys.load(state.esys, srk.value, state.session as number, blobs.value);
        if (loaded.rc !== 0 || loaded.value === undefined) return loaded.rc;
        object = { handle: loaded.value, stamp, publicBlob: blobs.value.publicBlob, checkedFor: key.publicKey };
      } else {
        state.objects.delete(file);
      }
      // Most recently used last.
      state.objects.set(file, object);
      if (object.checkedFor !== key.publicKey) {
        // Loaded for another handle: this one must stand for the same key.
        if (!publicMatches(object.publicBlob, key)) throw replacedKeyError(key);
        object.checkedFor = key.publicKey;
      }
      const signed = await esys.sign(
        state.esys,
        object.handle,
        state.session as number,
        digest,
        schemeOf(padding, digest.length),
      );
      if (signed.rc !== 0 || signed.value === undefined) return signed.rc;
      return { rc: 0, value: signed.value };
    },
    { signal },
  );
  if (wire === null) return undefined;
  return signatureFromWire(wire, FIELD_BYTES[key.algorithm] ?? 0);
}

/** The public key a handle stands for, as JWK (exported once per key object). */
const jwks = new WeakMap<TpmKey['publicKey'], { x?: string; y?: string; n?: string }>();

const stripZeros = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

/**
 * Whether a key's public blob (marshalled TPM2B_PUBLIC) holds the handle's public key: the ECC point
 * or the RSA modulus of its `unique` field against the handle's JWK. The TPM's load checks that the
 * private part belongs to this public area, so a match means the object signs as the handle's key.
 */
export function publicMatches(blob: Buffer, key: TpmKey): boolean {
  try {
    let at = 2;
    const u16 = () => {
      const v = blob.readUInt16BE(at);
      at += 2;
      return v;
    };
    const sized = () => {
      const n = u16();
      if (at + n > blob.length) throw new RangeError('short blob');
      const out = blob.subarray(at, at + n);
      at += n;
      return out;
    };
    const type = u16();
    u16(); // nameAlg
    at += 4; // objectAttributes
    sized(); // authPolicy
    const NULL = 0x10;
    if (u16() !== NULL) at += 4; // symmetric: keyBits, mode
    let jwk = jwks.get(key.publicKey);
    if (jwk === undefined) {
      jwk = key.publicKey.export({ format: 'jwk' }) as { x?: string; y?: string; n?: string };
      jwks.set(key.publicKey, jwk);
    }
    const same = (tpm: Buffer, b64: string | undefined) =>
      b64 !== undefined && stripZeros(tpm).equals(stripZeros(Buffer.from(b64, 'base64url')));
    if (type === 0x23) {
      // TPM2_ALG_ECC: scheme (+hash, +count for ECDAA), curveID, kdf (+hash), then x and y.
      const scheme = u16();
      if (scheme !== NULL) at += scheme === 0x1a ? 4 : 2;
      u16();
      if (u16() !== NULL) at += 2;
      return same(sized(), jwk.x) && same(sized(), jwk.y);
    }
    if (type === 0x01) {
      // TPM2_ALG_RSA: scheme (+hash), keyBits, exponent, then the modulus.
      if (u16() !== NULL) at += 2;
      at += 2 + 4;
      return same(sized(), jwk.n);
    }
    return false;
  } catch {
    return false;
  }
}
