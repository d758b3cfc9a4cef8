/**
 * A programmable double of the CryptoAPI function table (AdvapiBindings), for tests of the provider's
 * logic. It keeps containers in memory per scope, behaves like rsaenh where the provider relies on it
 * (statuses, little-endian signatures and ciphertexts, blobs), records every call, and counts handles
 * that are still open so tests can check that everything acquired is released.
 *
 * Its blobs are written here, independently of the provider's blob code.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  privateEncrypt,
} from 'node:crypto';
import type {
  AdvapiBindings,
  CryptHashHandle,
  CryptKeyHandle,
  CryptProvHandle,
  NativeResult,
} from '../../src/native/advapi32.js';

export const NTE_BAD_KEY = 0x80090003;
export const NTE_BAD_DATA = 0x80090005;
export const NTE_BAD_ALGID = 0x80090008;
export const NTE_BAD_FLAGS = 0x80090009;
export const NTE_BAD_KEY_STATE = 0x8009000b;
export const NTE_NO_KEY = 0x8009000d;
export const NTE_EXISTS = 0x8009000f;
export const NTE_BAD_KEYSET = 0x80090016;
export const NTE_BAD_UID = 0x80090001;
export const ERROR_INVALID_HANDLE = 6;

export interface DoubleKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly exportable: boolean;
  readonly bits: number;
}

export interface DoubleContainer {
  /** AT_KEYEXCHANGE (1) and AT_SIGNATURE (2) key pairs. */
  readonly keys: Map<number, DoubleKeyPair>;
}

export interface DoubleCall {
  readonly fn: string;
  readonly args: readonly unknown[];
}

export interface AdvapiDouble extends AdvapiBindings {
  readonly calls: DoubleCall[];
  /** Containers by scope, then name. */
  readonly containers: { readonly user: Map<string, DoubleContainer>; readonly machine: Map<string, DoubleContainer> };
  /** Handles acquired and not yet released (contexts, keys, hashes). */
  openHandles(): number;
  /** The next calls of `fn` fail with these statuses, in order. */
  fail(fn: keyof AdvapiBindings, ...statuses: number[]): void;
  /** Runs `hook` when `fn` is called (before it acts). */
  before(fn: keyof AdvapiBindings, hook: () => void | Promise<void>): void;
  /** Puts a key pair into a container, as another program would. */
  addKey(scope: 'user' | 'machine', name: string, spec: 1 | 2, bits: number, exportable?: boolean): DoubleKeyPair;
  /** Whether the double acts as if it ran under Wine. */
  wineVersion: string | undefined;
}

const keyCache = new Map<number, { privateKey: KeyObject; publicKey: KeyObject }[]>();

/** RSA key pairs are slow to generate: tests share a small pool per size. */
function rsaPair(bits: number): { privateKey: KeyObject; publicKey: KeyObject } {
  const pool = keyCache.get(bits) ?? [];
  keyCache.set(bits, pool);
  if (pool.length < 3) {
    const pair = generateKeyPairSync('rsa', { modulusLength: bits });
    pool.push(pair);
    return pair;
  }
  const pair = pool.shift()!;
  pool.push(pair);
  return pair;
}

function reversed(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes).reverse();
}

/** A little-endian field of `length` bytes from a base64url big-endian number. */
function le(b64: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  reversed(Buffer.from(b64, 'base64url')).copy(out);
  return out;
}

function header(type: number, keyAlg: number, magic: string, bits: number, e: number): Buffer {
  const h = Buffer.alloc(20);
  h[0] = type;
  h[1] = 2;
  h.writeUInt32LE(keyAlg, 4);
  h.write(magic, 8, 'latin1');
  h.writeUInt32LE(bits, 12);
  h.writeUInt32LE(e, 16);
  return h;
}

/** A PUBLICKEYBLOB as rsaenh writes it. */
export function publicBlobOf(publicKey: KeyObject, spec: 1 | 2 = 1): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  const e = Buffer.from(jwk.e ?? '', 'base64url').readUIntBE(0, Buffer.from(jwk.e ?? '', 'base64url').length);
  return Buffer.concat([header(6, spec === 1 ? 0xa400 : 0x2400, 'RSA1', bits, e), le(jwk.n ?? '', bits / 8)]);
}

/** A PRIVATEKEYBLOB as rsaenh writes it. */
export function privateBlobOf(privateKey: KeyObject, spec: 1 | 2 = 1): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  const eBytes = Buffer.from(jwk.e ?? '', 'base64url');
  const half = bits / 16;
  return Buffer.concat([
    header(7, spec === 1 ? 0xa400 : 0x2400, 'RSA2', bits, eBytes.readUIntBE(0, eBytes.length)),
    le(jwk.n ?? '', bits / 8),
    le(jwk.p ?? '', half),
    le(jwk.q ?? '', half),
    le(jwk.dp ?? '', half),
    le(jwk.dq ?? '', half),
    le(jwk.qi ?? '', half),
    le(jwk.d ?? '', bits / 8),
  ]);
}

/** Reads a PRIVATEKEYBLOB the way rsaenh does (for CryptImportKey). */
function parsePrivateBlob(
  blob: Buffer,
): { privateKey: KeyObject; publicKey: KeyObject; bits: number; spec: 1 | 2 } | undefined {
  if (blob.length < 20 || blob[0] !== 7 || blob[1] !== 2 || blob.toString('latin1', 8, 12) !== 'RSA2') return undefined;
  const bits = blob.readUInt32LE(12);
  const half = bits / 16;
  const full = bits / 8;
  if (blob.length !== 20 + 2 * full + 5 * half) return undefined;
  let at = 20;
  const field = (n: number) => {
    const v = reversed(blob.subarray(at, at + n)).toString('base64url');
    at += n;
    return v;
  };
  const eb = Buffer.alloc(4);
  eb.writeUInt32BE(blob.readUInt32LE(16));
  const jwk = {
    kty: 'RSA',
    e: eb.subarray(eb.findIndex((b) => b !== 0)).toString('base64url'),
    n: field(full),
    p: field(half),
    q: field(half),
    dp: field(half),
    dq: field(half),
    qi: field(half),
    d: field(full),
  };
  try {
    const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
    return { privateKey, publicKey: createPublicKey(privateKey), bits, spec: blob.readUInt32LE(4) === 0x2400 ? 2 : 1 };
  } catch {
    return undefined;
  }
}

const HASHES: Readonly<Record<number, string>> = { 32780: 'sha256', 32781: 'sha384', 32782: 'sha512' };

export interface AdvapiDoubleOptions {
  wineVersion?: string;
  /**
   * Acts like rsaenh under Wine: each context works on its own copy of the container, read when it
   * is acquired, and writes its key pairs back when it is released (creating the container again if
   * it was deleted meanwhile). A new key is therefore stored only on release. Off by default: every
   * context then shares the container itself, and a deleted container stays deleted.
   */
  releaseWritesBack?: boolean;
}

export function createAdvapiDouble(options: AdvapiDoubleOptions = {}): AdvapiDouble {
  const writeBack = options.releaseWritesBack === true;
  const calls: DoubleCall[] = [];
  const containers = { user: new Map<string, DoubleContainer>(), machine: new Map<string, DoubleContainer>() };
  const failures = new Map<string, number[]>();
  const hooks = new Map<string, () => void | Promise<void>>();
  let next = 0x1000n;
  const nextHandle = (): bigint => {
    next += 1n;
    return next;
  };
  const provs = new Map<bigint, { container: DoubleContainer | null; machine: boolean; name: string | null }>();
  /** The context's own view of its container: a copy under write-back, the container itself otherwise. */
  const viewOf = (container: DoubleContainer): DoubleContainer =>
    writeBack ? { keys: new Map(container.keys) } : container;
  const keys = new Map<bigint, { pair: DoubleKeyPair; spec: number }>();
  const hashes = new Map<bigint, { alg: string; value: Buffer | null; data: Buffer[]; prov: bigint }>();

  const scopeOf = (flags: number) => ((flags & 0x20) !== 0 ? containers.machine : containers.user);
  const injected = (fn: string): number | undefined => failures.get(fn)?.shift();
  const record = (fn: string, args: unknown[]) => {
    calls.push({ fn, args });
    const hook = hooks.get(fn);
    if (hook) {
      hooks.delete(fn);
      return hook();
    }
    return undefined;
  };

  const double: AdvapiDouble = {
    library: 'double',
    wineVersion: options.wineVersion,
    calls,
    containers,
    openHandles: () => provs.size + keys.size + hashes.size,
    fail(fn, ...statuses) {
      failures.set(fn, [...(failures.get(fn) ?? []), ...statuses]);
    },
    before(fn, hook) {
      hooks.set(fn, hook);
    },
    addKey(scope, name, spec, bits, exportable = false) {
      const map = containers[scope];
      const container = map.get(name) ?? { keys: new Map() };
      map.set(name, container);
      const pair = { ...rsaPair(bits), exportable, bits };
      container.keys.set(spec, pair);
      return pair;
    },

    CryptAcquireContextW(container, provider, provType, flags) {
      record('CryptAcquireContextW', [container, provider, provType, flags]);
      const status = injected('CryptAcquireContextW');
      if (status !== undefined) return { status };
      const map = scopeOf(flags);
      const handle = nextHandle() as CryptProvHandle;
      if ((flags & 0xf0000000) >>> 0 === 0xf0000000) {
        provs.set(handle, { container: null, machine: (flags & 0x20) !== 0, name: null });
        return { status: 0, value: handle };
      }
      const name = container ?? '';
      if ((flags & 0x10) !== 0) {
        if (!map.delete(name)) return { status: NTE_BAD_KEYSET };
        return { status: 0, value: 0n as CryptProvHandle };
      }
      if ((flags & 0x8) !== 0) {
        if (map.has(name)) return { status: NTE_EXISTS };
        map.set(name, { keys: new Map() });
      }
      const found = map.get(name);
      if (!found) return { status: NTE_BAD_KEYSET };
      provs.set(handle, { container: viewOf(found), machine: (flags & 0x20) !== 0, name });
      return { status: 0, value: handle };
    },
    CryptReleaseContext(prov) {
      record('CryptReleaseContext', [prov]);
      const ctx = provs.get(prov);
      if (!ctx) return ERROR_INVALID_HANDLE;
      provs.delete(prov);
      if (writeBack && ctx.container !== null && ctx.name !== null) {
        // Like Wine's rsaenh storing a key container when its context goes: whether or not it was deleted.
        const map = ctx.machine ? containers.machine : containers.user;
        const stored = map.get(ctx.name) ?? { keys: new Map() };
        for (const [spec, pair] of ctx.container.keys) stored.keys.set(spec, pair);
        map.set(ctx.name, stored);
      }
      return 0;
    },
    async CryptGenKeyAsync(prov, algId, flags) {
      await record('CryptGenKeyAsync', [prov, algId, flags]);
      await new Promise((r) => setTimeout(r, 1));
      const status = injected('CryptGenKeyAsync');
      if (status !== undefined) return { status };
      const ctx = provs.get(prov);
      if (!ctx?.container) return { status: NTE_BAD_UID };
      const bits = flags >>> 16;
      const pair = { ...rsaPair(bits), exportable: (flags & 1) !== 0, bits };
      ctx.container.keys.set(algId, pair);
      const handle = nextHandle() as CryptKeyHandle;
      keys.set(handle, { pair, spec: algId });
      return { status: 0, value: handle };
    },
    CryptGetUserKey(prov, keySpec) {
      record('CryptGetUserKey', [prov, keySpec]);
      const status = injected('CryptGetUserKey');
      if (status !== undefined) return { status };
      const pair = provs.get(prov)?.container?.keys.get(keySpec);
      if (!pair) return { status: NTE_NO_KEY };
      const handle = nextHandle() as CryptKeyHandle;
      keys.set(handle, { pair, spec: keySpec });
      return { status: 0, value: handle };
    },
    CryptDestroyKey(key) {
      record('CryptDestroyKey', [key]);
      return keys.delete(key) ? 0 : ERROR_INVALID_HANDLE;
    },
    CryptExportKey(key, blobType) {
      record('CryptExportKey', [key, blobType]);
      const status = injected('CryptExportKey');
      if (status !== undefined) return { status };
      const k = keys.get(key);
      if (!k) return { status: ERROR_INVALID_HANDLE };
      if (blobType === 6) return { status: 0, value: publicBlobOf(k.pair.publicKey, k.spec as 1 | 2) };
      if (blobType === 7) {
        if (!k.pair.exportable) return { status: NTE_BAD_KEY_STATE };
        return { status: 0, value: privateBlobOf(k.pair.privateKey, k.spec as 1 | 2) };
      }
      return { status: NTE_BAD_FLAGS };
    },
    CryptImportKey(prov, blob, flags) {
      record('CryptImportKey', [prov, Buffer.from(blob), flags]);
      const status = injected('CryptImportKey');
      if (status !== undefined) return { status };
      const ctx = provs.get(prov);
      if (!ctx?.container) return { status: NTE_BAD_UID };
      const parsed = parsePrivateBlob(blob);
      if (!parsed) return { status: NTE_BAD_DATA };
      const pair = { ...parsed, exportable: (flags & 1) !== 0 };
      ctx.container.keys.set(parsed.spec, pair);
      const handle = nextHandle() as CryptKeyHandle;
      keys.set(handle, { pair, spec: parsed.spec });
      return { status: 0, value: handle };
    },
    CryptGetKeyParam(key, param, size) {
      record('CryptGetKeyParam', [key, param, size]);
      const status = injected('CryptGetKeyParam');
      if (status !== undefined) return { status };
      const k = keys.get(key);
      if (!k) return { status: ERROR_INVALID_HANDLE };
      const out = Buffer.alloc(4);
      if (param === 6) out.writeUInt32LE(k.pair.exportable ? 0x3f : 0x3b);
      else if (param === 9) out.writeUInt32LE(k.pair.bits);
      else return { status: NTE_BAD_FLAGS };
      return { status: 0, value: out.subarray(0, Math.min(4, size)) };
    },
    enumContainers(prov, extraFlags) {
      record('enumContainers', [prov, extraFlags]);
      const status = injected('enumContainers');
      if (status !== undefined) return { status };
      const ctx = provs.get(prov);
      if (!ctx) return { status: ERROR_INVALID_HANDLE };
      // Like Wine when wineVersion is set: the scope comes from the call's flags, not the context.
      const machine = double.wineVersion !== undefined ? (extraFlags & 0x20) !== 0 : ctx.machine;
      return { status: 0, value: [...(machine ? containers.machine : containers.user).keys()] };
    },
    CryptCreateHash(prov, algId) {
      record('CryptCreateHash', [prov, algId]);
      const status = injected('CryptCreateHash');
      if (status !== undefined) return { status };
      const alg = HASHES[algId];
      if (!alg) return { status: NTE_BAD_ALGID };
      const handle = nextHandle() as CryptHashHandle;
      hashes.set(handle, { alg, value: null, data: [], prov });
      return { status: 0, value: handle };
    },
    CryptSetHashParam(hash, param, data) {
      record('CryptSetHashParam', [hash, param, Buffer.from(data)]);
      const h = hashes.get(hash);
      if (!h) return ERROR_INVALID_HANDLE;
      h.value = Buffer.from(data);
      return 0;
    },
    CryptHashData(hash, data) {
      record('CryptHashData', [hash, Buffer.from(data)]);
      const h = hashes.get(hash);
      if (!h) return ERROR_INVALID_HANDLE;
      h.data.push(Buffer.from(data));
      return 0;
    },
    CryptSignHashW(hash, keySpec, size): NativeResult<Buffer> {
      record('CryptSignHashW', [hash, keySpec, size]);
      return signWith(hash, keySpec);
    },
    async CryptSignHashWAsync(hash, keySpec, size) {
      await record('CryptSignHashWAsync', [hash, keySpec, size]);
      return signWith(hash, keySpec);
    },
    CryptDestroyHash(hash) {
      record('CryptDestroyHash', [hash]);
      return hashes.delete(hash) ? 0 : ERROR_INVALID_HANDLE;
    },
    CryptDecrypt(key, data, flags) {
      record('CryptDecrypt', [key, Buffer.from(data), flags]);
      return decryptWith(key, data, flags);
    },
    async CryptDecryptAsync(key, data, flags) {
      await record('CryptDecryptAsync', [key, Buffer.from(data), flags]);
      return decryptWith(key, data, flags);
    },
  };

  /** Signs with the key of the hash's context, PKCS#1 v1.5, little-endian out, like rsaenh. */
  function signWith(hash: CryptHashHandle, keySpec: number): NativeResult<Buffer> {
    const status = injected('CryptSignHashW');
    if (status !== undefined) return { status };
    const h = hashes.get(hash);
    if (!h?.value) return { status: NTE_BAD_KEY_STATE };
    const pair = provs.get(h.prov)?.container?.keys.get(keySpec);
    if (!pair) return { status: NTE_NO_KEY };
    // EMSA-PKCS1-v1_5 over the DigestInfo: what CryptSignHash makes.
    const signature = privateEncrypt(
      { key: pair.privateKey, padding: constants.RSA_PKCS1_PADDING },
      Buffer.concat([digestInfoPrefix(h.alg), h.value]),
    );
    return { status: 0, value: reversed(signature) };
  }

  function decryptWith(key: CryptKeyHandle, data: Buffer, flags: number): NativeResult<Buffer> {
    const status = injected('CryptDecrypt');
    if (status !== undefined) return { status };
    const k = keys.get(key);
    if (!k) return { status: ERROR_INVALID_HANDLE };
    if (k.spec !== 1) return { status: NTE_BAD_KEY };
    if (flags !== 0x40) return { status: NTE_BAD_FLAGS };
    try {
      return {
        status: 0,
        value: privateDecrypt(
          { key: k.pair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
          reversed(data),
        ),
      };
    } catch {
      return { status: NTE_BAD_DATA };
    }
  }

  return double;
}

/** DER DigestInfo prefixes (RFC 8017 §9.2, note 1). */
function digestInfoPrefix(alg: string): Buffer {
  const hex: Record<string, string> = {
    sha256: '3031300d060960864801650304020105000420',
    sha384: '3041300d060960864801650304020205000430',
    sha512: '3051300d060960864801650304020305000440',
  };
  return Buffer.from(hex[alg] ?? '', 'hex');
}

/** A digest of `data` (for tests that sign). */
export function digestOf(hash: 'sha256' | 'sha384' | 'sha512', data: Buffer): Buffer {
  return createHash(hash).update(data).digest();
}
