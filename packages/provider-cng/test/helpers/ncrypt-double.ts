/**
 * A programmable double of the native function tables (`NCryptBindings`, `WindowsSystemBindings`),
 * for tests of the provider's logic on any OS. It is an in-memory key storage provider:
 *
 * - keys are stored by scope and name when finalized (never overwritten: `NTE_EXISTS`), generated
 *   with node:crypto; export policy is enforced (`NTE_PERM`), and so is key usage;
 * - public and private keys come back as blobs in the Windows layouts (BCRYPT_RSAKEY_BLOB,
 *   BCRYPT_ECCKEY_BLOB, written here independently of `src/native/blobs.ts`), signatures in
 *   Windows byte order (RSA big-endian, ECDSA raw r‖s), ECDH secrets little-endian;
 * - every call is recorded (`calls`), every handle is accounted for (`liveHandles()`), use of a
 *   freed or unknown handle is recorded (`misuse`) and refused;
 * - `fail(fn, status)` makes a call throw the `KeyStoreError` the real bindings build for `status`.
 */
import {
  createPrivateKey,
  createPublicKey,
  constants as cryptoConstants,
  diffieHellman,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto';
import { statusError } from '../../src/native/status.js';
import type {
  NCryptBindings,
  NCryptHandle,
  NCryptKeyHandle,
  NCryptKeyNameInfo,
  NCryptPadding,
  NCryptPropertyValue,
  NCryptProvHandle,
  NCryptSecretHandle,
  NCryptUiPolicy,
  PostureReading,
  TpmDeviceInfo,
  WindowsSystemBindings,
} from '../../src/native/types.js';
import { ecdsaSignDigest, nodeHash, pkcs1SignDigest, pssSignDigest } from './digest-sign.js';

// Values from the Windows SDK, written out here so the double does not lean on src/native/constants.ts.
export const S = {
  NTE_BAD_SIGNATURE: 0x80090006,
  NTE_BAD_FLAGS: 0x80090009,
  NTE_BAD_KEY_STATE: 0x8009000b,
  NTE_EXISTS: 0x8009000f,
  NTE_PERM: 0x80090010,
  NTE_NOT_FOUND: 0x80090011,
  NTE_BAD_KEYSET: 0x80090016,
  NTE_INVALID_HANDLE: 0x80090026,
  NTE_INVALID_PARAMETER: 0x80090027,
  NTE_NOT_SUPPORTED: 0x80090029,
  NTE_USER_CANCELLED: 0x80090036,
} as const;

export const F = {
  MACHINE: 0x20,
  SILENT: 0x40,
  OVERWRITE: 0x80,
  DO_NOT_FINALIZE: 0x400,
  PREFER_VBS: 0x10000,
  USE_VBS: 0x20000,
  PER_BOOT: 0x40000,
  PERSIST: 0x80000000,
} as const;

const NATIVE_NAMES: Record<string, string> = {
  openStorageProvider: 'NCryptOpenStorageProvider',
  isAlgSupported: 'NCryptIsAlgSupported',
  createPersistedKey: 'NCryptCreatePersistedKey',
  finalizeKey: 'NCryptFinalizeKey',
  openKey: 'NCryptOpenKey',
  deleteKey: 'NCryptDeleteKey',
  enumKeys: 'NCryptEnumKeys',
  getProperty: 'NCryptGetProperty',
  getDwordProperty: 'NCryptGetProperty',
  getStringProperty: 'NCryptGetProperty',
  setProperty: 'NCryptSetProperty',
  setUiPolicy: 'NCryptSetProperty',
  exportKey: 'NCryptExportKey',
  importKey: 'NCryptImportKey',
  signHash: 'NCryptSignHash',
  verifySignature: 'NCryptVerifySignature',
  encrypt: 'NCryptEncrypt',
  decrypt: 'NCryptDecrypt',
  secretAgreement: 'NCryptSecretAgreement',
  deriveRawSecret: 'NCryptDeriveKey',
  freeObject: 'NCryptFreeObject',
};

const CURVES: Record<string, { node: string; size: number; index: number }> = {
  P256: { node: 'prime256v1', size: 32, index: 1 },
  P384: { node: 'secp384r1', size: 48, index: 3 },
  P521: { node: 'secp521r1', size: 66, index: 5 },
};

/** A key in the double's store. */
export interface StoredKey {
  readonly name: string;
  readonly scope: 'user' | 'machine';
  /** NCrypt algorithm id (`RSA`, `ECDSA_P256`, …, or anything a test seeds, e.g. `DSA`). */
  readonly algorithm: string;
  readonly privateKey: KeyObject | undefined;
  readonly publicKey: KeyObject | undefined;
  /** Every property set on the key, by name. */
  readonly properties: Map<string, NCryptPropertyValue>;
  readonly uiPolicy: NCryptUiPolicy | undefined;
  /** The flags of the create or import call. */
  readonly createFlags: number;
  /** Whether the key carries virtualization-based isolation (its `Virtual Iso` property is set). */
  readonly virtualIsolation: boolean;
  /** Whether its `Impl Type` reads `NCRYPT_IMPL_VIRTUAL_ISOLATION_FLAG` (0x20). */
  readonly implTypeVbs: boolean;
  /** `dwLegacyKeySpec` as `NCryptEnumKeys` reports it (0, or 1/2 for a CryptoAPI container). */
  readonly legacyKeySpec: number;
}

type HandleObject =
  | { kind: 'prov'; name: string }
  | {
      kind: 'key';
      pending: boolean;
      algorithm: string;
      name: string | null;
      scope: 'user' | 'machine';
      flags: number;
      properties: Map<string, NCryptPropertyValue>;
      uiPolicy: NCryptUiPolicy | undefined;
      privateKey: KeyObject | undefined;
      publicKey: KeyObject | undefined;
      virtualIsolation: boolean;
      implTypeVbs: boolean;
      /** The stored key this handle refers to, once finalized/opened. */
      stored: StoredKey | undefined;
    }
  | { kind: 'secret'; littleEndian: Buffer };

/** One recorded call. */
export interface DoubleCall {
  readonly fn: string;
  readonly args: readonly unknown[];
}

/** How the double answers `NCRYPT_USE_VIRTUAL_ISOLATION_FLAG`. */
export interface VbsBehaviour {
  /** Refuse the flag at create with this status (default: accept it). */
  refuseWith?: number;
  /**
   * Whether a key created with the flag carries it (`Virtual Iso` = 1 and `Impl Type` with 0x20;
   * default true); `impl-type-only`: `Impl Type` has 0x20 but the key has no `Virtual Iso`.
   */
  marks?: boolean | 'impl-type-only';
}

/**
 * How the double signs RSA-PSS as the Platform Crypto Provider does (pcpcrypto's tests,
 * dotnet/runtime#104080): SHA-384/512 digests fail with NTE_NOT_SUPPORTED; the TPM makes one salt
 * length only (`tpmSalt`), so a call without NCRYPT_TPM_PAD_PSS_IGNORE_SALT whose cbSalt differs
 * fails with TPM_E_PCP_UNSUPPORTED_PSS_SALT, and one with the flag gets the TPM's salt; each key's
 * "PSS Salt Size" property reads `saltSizeProperty` (absent: NTE_NOT_FOUND).
 */
export interface PcpPssBehaviour {
  readonly tpmSalt: 'hash' | 'maximum';
  readonly saltSizeProperty?: number;
}

export interface NCryptDouble extends NCryptBindings {
  /** Sign RSA-PSS as the Platform Crypto Provider does (default: as the Software KSP does). */
  pcpPss: PcpPssBehaviour | undefined;
  /** Every call, in order (method names of NCryptBindings). */
  readonly calls: DoubleCall[];
  /** Handles given out and not freed yet. */
  liveHandles(): bigint[];
  /** Every handle given out so far. */
  readonly issued: bigint[];
  /** Uses of freed or unknown handles (each refused with an error). */
  readonly misuse: string[];
  /** The stored keys, by `scope:name`. */
  readonly store: Map<string, StoredKey>;
  /** The stored key, if any. */
  stored(scope: 'user' | 'machine', name: string): StoredKey | undefined;
  /** Makes the next `times` calls of `fn` (matching `when`) throw the error for `status`. */
  fail(
    fn: keyof NCryptBindings,
    status: number,
    options?: { times?: number; when?: (args: unknown[]) => boolean },
  ): void;
  /** Called at the start of every call, before it is answered (e.g. to fire an AbortSignal). */
  onCall: ((fn: string, args: readonly unknown[]) => void) | undefined;
  /** How VBS requests are answered. */
  vbs: VbsBehaviour;
  /**
   * Adds a key as another program would have made it (any algorithm id, any name); `options` set its
   * legacy key spec (a CryptoAPI container) or its VBS marks.
   */
  seed(
    scope: 'user' | 'machine',
    name: string,
    algorithm: string,
    privateKey?: KeyObject,
    options?: { legacyKeySpec?: number; virtualIsolation?: boolean; implTypeVbs?: boolean },
  ): void;
  /** The calls of `fn`. */
  callsOf(fn: keyof NCryptBindings): DoubleCall[];
}

// ---------------------------------------------------------------------------------------------
// Blobs in the Windows layouts.

function be(b64: string | undefined, size?: number): Buffer {
  let raw = Buffer.from(b64 ?? '', 'base64url');
  while (raw.length > 1 && raw[0] === 0 && (size === undefined || raw.length > size)) raw = raw.subarray(1);
  if (size === undefined) return raw;
  const out = Buffer.alloc(size);
  raw.copy(out, size - raw.length);
  return out;
}

function dwords(...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    out.writeUInt32LE(v >>> 0, i * 4);
  });
  return out;
}

export function rsaBlob(key: KeyObject, kind: 'public' | 'full'): Buffer {
  const jwk = key.export({ format: 'jwk' }) as JsonWebKey;
  const n = be(jwk.n);
  const e = be(jwk.e);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? n.length * 8;
  if (kind === 'public') return Buffer.concat([dwords(0x31415352, bits, e.length, n.length, 0, 0), e, n]);
  const p = be(jwk.p);
  const q = be(jwk.q);
  return Buffer.concat([
    dwords(0x33415352, bits, e.length, n.length, p.length, q.length),
    e,
    n,
    p,
    q,
    be(jwk.dp, p.length),
    be(jwk.dq, q.length),
    be(jwk.qi, p.length),
    be(jwk.d, n.length),
  ]);
}

export function eccBlob(key: KeyObject, usage: 'ECDSA' | 'ECDH', kind: 'public' | 'private'): Buffer {
  const jwk = key.export({ format: 'jwk' }) as JsonWebKey;
  const curve = CURVES[(jwk.crv ?? '').replace('-', '')];
  if (!curve) throw new RangeError(`curve ${jwk.crv}`);
  const magic = Buffer.from(`EC${usage === 'ECDH' ? 'K' : 'S'}${curve.index + (kind === 'private' ? 1 : 0)}`, 'latin1');
  const parts = [magic, dwords(curve.size), be(jwk.x, curve.size), be(jwk.y, curve.size)];
  if (kind === 'private') parts.push(be(jwk.d, curve.size));
  return Buffer.concat(parts);
}

/** Reads an imported blob back into a key; throws NTE_INVALID_PARAMETER for anything malformed. */
function keyFromBlob(type: string, blob: Buffer): { algorithm: string; privateKey?: KeyObject; publicKey: KeyObject } {
  const fail = () => statusError('NCryptImportKey', S.NTE_INVALID_PARAMETER, { context: `bad ${type}` });
  const b64 = (b: Buffer) => b.toString('base64url');
  if (type === 'RSAFULLPRIVATEBLOB' || type === 'RSAPRIVATEBLOB' || type === 'RSAPUBLICBLOB') {
    if (blob.length < 24) throw fail();
    const [magic, , cbE, cbN, cbP, cbQ] = [0, 4, 8, 12, 16, 20].map((o) => blob.readUInt32LE(o)) as number[];
    const want = { RSAPUBLICBLOB: 0x31415352, RSAPRIVATEBLOB: 0x32415352, RSAFULLPRIVATEBLOB: 0x33415352 }[type];
    if (magic !== want) throw fail();
    let at = 24;
    const take = (n: number) => {
      const part = blob.subarray(at, at + n);
      at += n;
      return part;
    };
    const e = take(cbE as number);
    const n = take(cbN as number);
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: b64(n), e: b64(e) }, format: 'jwk' });
    if (type === 'RSAPUBLICBLOB') return { algorithm: 'RSA', publicKey };
    const p = take(cbP as number);
    const q = take(cbQ as number);
    if (type !== 'RSAFULLPRIVATEBLOB') throw fail(); // the provider imports RSA3 only
    const dp = take(cbP as number);
    const dq = take(cbQ as number);
    const qi = take(cbP as number);
    const d = take(cbN as number);
    if (at !== blob.length) throw fail();
    const jwk = {
      kty: 'RSA',
      n: b64(n),
      e: b64(e),
      d: b64(d),
      p: b64(p),
      q: b64(q),
      dp: b64(dp),
      dq: b64(dq),
      qi: b64(qi),
    };
    try {
      return { algorithm: 'RSA', privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), publicKey };
    } catch {
      throw fail();
    }
  }
  if (type === 'ECCPRIVATEBLOB' || type === 'ECCPUBLICBLOB') {
    if (blob.length < 8) throw fail();
    const magic = blob.subarray(0, 4).toString('latin1');
    const m = /^EC([SK])([1-6])$/.exec(magic);
    if (!m) throw fail();
    const index = Number(m[2]);
    const isPrivate = index % 2 === 0;
    if (isPrivate !== (type === 'ECCPRIVATEBLOB')) throw fail();
    const entry = Object.entries(CURVES).find(([, c]) => c.index === (isPrivate ? index - 1 : index));
    if (!entry) throw fail();
    const [curveName, curve] = entry;
    const size = blob.readUInt32LE(4);
    if (size !== curve.size || blob.length !== 8 + size * (isPrivate ? 3 : 2)) throw fail();
    const crv = `P-${curveName.slice(1)}`;
    const x = b64(blob.subarray(8, 8 + size));
    const y = b64(blob.subarray(8 + size, 8 + 2 * size));
    const algorithm = `${m[1] === 'K' ? 'ECDH' : 'ECDSA'}_${curveName}`;
    const publicKey = createPublicKey({ key: { kty: 'EC', crv, x, y }, format: 'jwk' });
    if (!isPrivate) return { algorithm, publicKey };
    const d = b64(blob.subarray(8 + 2 * size));
    return { algorithm, publicKey, privateKey: createPrivateKey({ key: { kty: 'EC', crv, x, y, d }, format: 'jwk' }) };
  }
  throw statusError('NCryptImportKey', S.NTE_NOT_SUPPORTED, { context: `blob type ${type}` });
}

function utf16(value: string): Buffer {
  return Buffer.from(`${value}\0`, 'utf16le');
}

function dword(value: number): Buffer {
  return dwords(value);
}

// ---------------------------------------------------------------------------------------------

export function createNCryptDouble(options: { vbs?: VbsBehaviour } = {}): NCryptDouble {
  let next = 0x1000n;
  const objects = new Map<bigint, HandleObject>();
  const issued: bigint[] = [];
  const calls: DoubleCall[] = [];
  const misuse: string[] = [];
  const store = new Map<string, StoredKey>();
  const failures: Array<{ fn: string; status: number; times: number; when?: (args: unknown[]) => boolean }> = [];
  const storeKey = (scope: string, name: string) => `${scope}:${name.toLowerCase()}`;

  const self = {
    calls,
    issued,
    misuse,
    store,
    onCall: undefined as NCryptDouble['onCall'],
    vbs: { ...options.vbs } as VbsBehaviour,
    pcpPss: undefined as PcpPssBehaviour | undefined,
  };

  function enter(fn: string, args: unknown[]): void {
    calls.push({ fn, args });
    self.onCall?.(fn, args);
    const i = failures.findIndex((f) => f.fn === fn && (f.when === undefined || f.when(args)));
    if (i >= 0) {
      const f = failures[i]!;
      if (--f.times <= 0) failures.splice(i, 1);
      throw statusError(NATIVE_NAMES[fn] ?? fn, f.status);
    }
  }

  function handle(obj: HandleObject): bigint {
    const h = next;
    next += 0x10n;
    objects.set(h, obj);
    issued.push(h);
    return h;
  }

  function get<K extends HandleObject['kind']>(fn: string, h: unknown, kind: K): Extract<HandleObject, { kind: K }> {
    const obj = typeof h === 'bigint' ? objects.get(h) : undefined;
    if (!obj || obj.kind !== kind) {
      misuse.push(`${fn}(${String(h)}): ${obj ? `a ${obj.kind} handle, not a ${kind}` : 'freed or unknown handle'}`);
      throw statusError(NATIVE_NAMES[fn] ?? fn, S.NTE_INVALID_HANDLE);
    }
    return obj as Extract<HandleObject, { kind: K }>;
  }

  function keyObj(fn: string, h: unknown) {
    return get(fn, h, 'key');
  }

  function generate(algorithm: string, properties: Map<string, NCryptPropertyValue>) {
    if (algorithm === 'RSA') {
      const bits = Number(properties.get('Length') ?? 2048);
      return generateKeyPairSync('rsa', { modulusLength: bits });
    }
    const m = /^(ECDSA|ECDH)_(P256|P384|P521)$/.exec(algorithm);
    if (!m) throw statusError('NCryptFinalizeKey', S.NTE_NOT_SUPPORTED);
    return generateKeyPairSync('ec', { namedCurve: CURVES[m[2]!]!.node });
  }

  function usage(obj: Extract<HandleObject, { kind: 'key' }>): number {
    return Number(obj.properties.get('Key Usage') ?? 0x00ffffff);
  }

  function persist(fn: string, obj: Extract<HandleObject, { kind: 'key' }>): void {
    if (obj.name === null) return;
    const id = storeKey(obj.scope, obj.name);
    if (store.has(id) && (obj.flags & F.OVERWRITE) === 0) throw statusError(NATIVE_NAMES[fn] ?? fn, S.NTE_EXISTS);
    const stored: StoredKey = {
      name: obj.name,
      scope: obj.scope,
      algorithm: obj.algorithm,
      privateKey: obj.privateKey,
      publicKey: obj.publicKey,
      properties: obj.properties,
      uiPolicy: obj.uiPolicy,
      createFlags: obj.flags,
      virtualIsolation: obj.virtualIsolation,
      implTypeVbs: obj.implTypeVbs,
      legacyKeySpec: 0,
    };
    store.set(id, stored);
    obj.stored = stored;
  }

  function property(obj: Extract<HandleObject, { kind: 'key' }>, name: string): Buffer | undefined {
    switch (name) {
      case 'Algorithm Name':
        return utf16(obj.algorithm);
      case 'Algorithm Group':
        return utf16(obj.algorithm.split('_')[0] ?? obj.algorithm);
      case 'Length':
        return dword(
          obj.publicKey?.asymmetricKeyType === 'rsa'
            ? (obj.publicKey.asymmetricKeyDetails?.modulusLength ?? 0)
            : Number(obj.properties.get('Length') ?? 0),
        );
      case 'Export Policy':
        return dword(Number(obj.properties.get('Export Policy') ?? 0));
      case 'Key Usage':
        return dword(usage(obj));
      case 'Impl Type':
        return dword(0x2 | (obj.implTypeVbs ? 0x20 : 0));
      case 'Virtual Iso':
        return obj.virtualIsolation ? dword(1) : undefined;
      case 'Name':
        return obj.name === null ? undefined : utf16(obj.name);
      default: {
        const value = obj.properties.get(name);
        if (value === undefined) return undefined;
        return typeof value === 'number' ? dword(value) : typeof value === 'string' ? utf16(value) : value;
      }
    }
  }

  const double: NCryptDouble = {
    ...self,
    get onCall() {
      return self.onCall;
    },
    set onCall(fn) {
      self.onCall = fn;
    },
    get vbs() {
      return self.vbs;
    },
    get pcpPss() {
      return self.pcpPss;
    },
    set pcpPss(value) {
      self.pcpPss = value;
    },
    set vbs(value) {
      self.vbs = value;
    },
    liveHandles: () => [...objects.keys()],
    stored: (scope, name) => store.get(storeKey(scope, name)),
    callsOf: (fn) => calls.filter((c) => c.fn === fn),
    fail(fn, status, opts = {}) {
      failures.push({ fn, status, times: opts.times ?? 1, ...(opts.when ? { when: opts.when } : {}) });
    },
    seed(scope, name, algorithm, privateKey, options = {}) {
      const publicKey = privateKey ? createPublicKey(privateKey) : undefined;
      store.set(storeKey(scope, name), {
        name,
        scope,
        algorithm,
        privateKey,
        publicKey,
        properties: new Map(),
        uiPolicy: undefined,
        createFlags: scope === 'machine' ? F.MACHINE : 0,
        virtualIsolation: options.virtualIsolation === true,
        implTypeVbs: options.implTypeVbs === true,
        legacyKeySpec: options.legacyKeySpec ?? 0,
      });
    },

    openStorageProvider(providerName, flags = 0) {
      enter('openStorageProvider', [providerName, flags]);
      return handle({ kind: 'prov', name: providerName }) as NCryptProvHandle;
    },
    isAlgSupported(prov, algorithm, flags = 0) {
      enter('isAlgSupported', [prov, algorithm, flags]);
      get('isAlgSupported', prov, 'prov');
      return /^(RSA|ECDSA_P(256|384|521)|ECDH_P(256|384|521))$/.test(algorithm);
    },
    async createPersistedKey(prov, algorithm, keyName, legacyKeySpec, flags) {
      enter('createPersistedKey', [prov, algorithm, keyName, legacyKeySpec, flags]);
      get('createPersistedKey', prov, 'prov');
      if (!/^(RSA|ECDSA_P(256|384|521)|ECDH_P(256|384|521))$/.test(algorithm)) {
        throw statusError('NCryptCreatePersistedKey', S.NTE_NOT_SUPPORTED);
      }
      const scope = (flags & F.MACHINE) !== 0 ? 'machine' : 'user';
      if (keyName !== null && store.has(storeKey(scope, keyName)) && (flags & F.OVERWRITE) === 0) {
        throw statusError('NCryptCreatePersistedKey', S.NTE_EXISTS);
      }
      const wantsVbs = (flags & (F.USE_VBS | F.PREFER_VBS)) !== 0;
      if (wantsVbs && self.vbs.refuseWith !== undefined) {
        throw statusError('NCryptCreatePersistedKey', self.vbs.refuseWith);
      }
      return handle({
        kind: 'key',
        pending: true,
        algorithm,
        name: keyName,
        scope,
        flags,
        properties: new Map(),
        uiPolicy: undefined,
        privateKey: undefined,
        publicKey: undefined,
        virtualIsolation: wantsVbs && (self.vbs.marks === undefined || self.vbs.marks === true),
        implTypeVbs: wantsVbs && self.vbs.marks !== false,
        stored: undefined,
      }) as NCryptKeyHandle;
    },
    async finalizeKey(key, flags) {
      enter('finalizeKey', [key, flags]);
      const obj = keyObj('finalizeKey', key);
      if (!obj.pending) throw statusError('NCryptFinalizeKey', S.NTE_BAD_KEY_STATE);
      if (obj.privateKey === undefined) {
        const pair = generate(obj.algorithm, obj.properties);
        obj.privateKey = pair.privateKey;
        obj.publicKey = pair.publicKey;
      }
      persist('finalizeKey', obj);
      obj.pending = false;
    },
    async openKey(prov, keyName, legacyKeySpec, flags) {
      enter('openKey', [prov, keyName, legacyKeySpec, flags]);
      get('openKey', prov, 'prov');
      const scope = (flags & F.MACHINE) !== 0 ? 'machine' : 'user';
      const stored = store.get(storeKey(scope, keyName));
      if (!stored) throw statusError('NCryptOpenKey', S.NTE_BAD_KEYSET);
      return handle({
        kind: 'key',
        pending: false,
        algorithm: stored.algorithm,
        name: stored.name,
        scope,
        flags,
        properties: stored.properties,
        uiPolicy: stored.uiPolicy,
        privateKey: stored.privateKey,
        publicKey: stored.publicKey,
        virtualIsolation: stored.virtualIsolation,
        implTypeVbs: stored.implTypeVbs,
        stored,
      }) as NCryptKeyHandle;
    },
    async deleteKey(key, flags) {
      enter('deleteKey', [key, flags]);
      const obj = keyObj('deleteKey', key);
      if (obj.name === null || obj.pending) throw statusError('NCryptDeleteKey', S.NTE_BAD_KEY_STATE);
      const id = storeKey(obj.scope, obj.name);
      if (store.get(id) !== obj.stored) throw statusError('NCryptDeleteKey', S.NTE_BAD_KEYSET);
      store.delete(id);
      objects.delete(key); // NCryptDeleteKey frees the handle on success.
    },
    async enumKeys(prov, flags) {
      enter('enumKeys', [prov, flags]);
      get('enumKeys', prov, 'prov');
      const scope = (flags & F.MACHINE) !== 0 ? 'machine' : 'user';
      const out: NCryptKeyNameInfo[] = [];
      for (const key of store.values()) {
        if (key.scope !== scope) continue;
        out.push({
          name: key.name,
          algorithm: key.algorithm,
          legacyKeySpec: key.legacyKeySpec,
          flags: scope === 'machine' ? F.MACHINE : 0,
        });
      }
      return out;
    },
    getProperty(h, name, flags = 0) {
      enter('getProperty', [h, name, flags]);
      const obj = typeof h === 'bigint' ? objects.get(h) : undefined;
      if (obj?.kind === 'prov') {
        if (name === 'Impl Type') return dword(0x2);
        throw statusError('NCryptGetProperty', S.NTE_NOT_FOUND);
      }
      if (name === 'PSS Salt Size' && self.pcpPss?.saltSizeProperty !== undefined) {
        keyObj('getProperty', h);
        return dword(self.pcpPss.saltSizeProperty);
      }
      const value = property(keyObj('getProperty', h), name);
      if (value === undefined) throw statusError('NCryptGetProperty', S.NTE_NOT_FOUND);
      return value;
    },
    getDwordProperty(h, name, flags = 0) {
      const value = double.getProperty(h, name, flags);
      if (value.length !== 4) throw statusError('NCryptGetProperty', S.NTE_INVALID_PARAMETER);
      return value.readUInt32LE(0);
    },
    getStringProperty(h, name, flags = 0) {
      return double.getProperty(h, name, flags).toString('utf16le').replace(/\0+$/, '');
    },
    setProperty(h, name, value, flags = 0) {
      enter('setProperty', [h, name, value, flags]);
      const obj = keyObj('setProperty', h);
      if (!obj.pending && (name === 'Export Policy' || name === 'Length' || name === 'Key Usage')) {
        throw statusError('NCryptSetProperty', S.NTE_INVALID_PARAMETER);
      }
      if (name === 'Length' && (typeof value !== 'number' || ![2048, 3072, 4096, 1024].includes(value))) {
        throw statusError('NCryptSetProperty', S.NTE_INVALID_PARAMETER);
      }
      obj.properties.set(name, value);
    },
    setUiPolicy(key, policy) {
      enter('setUiPolicy', [key, policy]);
      const obj = keyObj('setUiPolicy', key);
      if (!obj.pending) throw statusError('NCryptSetProperty', S.NTE_INVALID_PARAMETER);
      obj.uiPolicy = { ...policy };
    },
    exportKey(key, blobType, flags = 0) {
      enter('exportKey', [key, blobType, flags]);
      const obj = keyObj('exportKey', key);
      if (obj.pending || obj.publicKey === undefined) throw statusError('NCryptExportKey', S.NTE_BAD_KEY_STATE);
      const usageOf = obj.algorithm.startsWith('ECDH') ? 'ECDH' : 'ECDSA';
      const isPrivate =
        blobType === 'RSAFULLPRIVATEBLOB' || blobType === 'ECCPRIVATEBLOB' || blobType === 'RSAPRIVATEBLOB';
      if (isPrivate) {
        const policy = Number(obj.properties.get('Export Policy') ?? 0);
        if ((policy & 0x2) === 0 || obj.privateKey === undefined) throw statusError('NCryptExportKey', S.NTE_PERM);
      }
      const rsa = obj.algorithm === 'RSA';
      switch (blobType) {
        case 'RSAPUBLICBLOB':
          if (rsa) return rsaBlob(obj.publicKey, 'public');
          break;
        case 'RSAFULLPRIVATEBLOB':
          if (rsa) return rsaBlob(obj.privateKey!, 'full');
          break;
        case 'ECCPUBLICBLOB':
          if (!rsa) return eccBlob(obj.publicKey, usageOf, 'public');
          break;
        case 'ECCPRIVATEBLOB':
          if (!rsa) return eccBlob(obj.privateKey!, usageOf, 'private');
          break;
      }
      throw statusError('NCryptExportKey', S.NTE_NOT_SUPPORTED);
    },
    async importKey(prov, blobType, blob, keyName, flags) {
      enter('importKey', [prov, blobType, Buffer.from(blob), keyName, flags]);
      get('importKey', prov, 'prov');
      const parsed = keyFromBlob(blobType, blob);
      const scope = (flags & F.MACHINE) !== 0 ? 'machine' : 'user';
      if (keyName !== null && store.has(storeKey(scope, keyName)) && (flags & F.OVERWRITE) === 0) {
        throw statusError('NCryptImportKey', S.NTE_EXISTS);
      }
      const obj: Extract<HandleObject, { kind: 'key' }> = {
        kind: 'key',
        pending: (flags & F.DO_NOT_FINALIZE) !== 0,
        algorithm: parsed.algorithm,
        name: keyName,
        scope,
        flags,
        properties: new Map(),
        uiPolicy: undefined,
        privateKey: parsed.privateKey,
        publicKey: parsed.publicKey,
        virtualIsolation: false,
        implTypeVbs: false,
        stored: undefined,
      };
      if (!obj.pending) persist('importKey', obj);
      return handle(obj) as NCryptKeyHandle;
    },
    async signHash(key, digest, padding, flags = 0) {
      enter('signHash', [key, Buffer.from(digest), padding, flags]);
      const obj = keyObj('signHash', key);
      if (obj.pending || !obj.privateKey) throw statusError('NCryptSignHash', S.NTE_BAD_KEY_STATE);
      if ((usage(obj) & 0x2) === 0) throw statusError('NCryptSignHash', S.NTE_PERM);
      if (obj.algorithm === 'RSA') {
        if (padding.kind === 'pkcs1' && padding.hash) return pkcs1SignDigest(obj.privateKey, padding.hash, digest);
        if (padding.kind === 'pss' && self.pcpPss !== undefined) {
          if (padding.hash !== 'SHA256' && padding.hash !== 'SHA1')
            throw statusError('NCryptSignHash', S.NTE_NOT_SUPPORTED);
          const hLen = digest.length;
          const bits = obj.privateKey.asymmetricKeyDetails?.modulusLength ?? 2048;
          const tpmSalt = self.pcpPss.tpmSalt === 'hash' ? hLen : Math.ceil((bits - 1) / 8) - hLen - 2;
          if ((flags & 0x20) === 0 && padding.saltLength !== tpmSalt) {
            throw statusError('NCryptSignHash', 0x40290423);
          }
          return pssSignDigest(obj.privateKey, padding.hash, digest, tpmSalt);
        }
        if (padding.kind === 'pss') return pssSignDigest(obj.privateKey, padding.hash, digest, padding.saltLength);
        throw statusError('NCryptSignHash', S.NTE_INVALID_PARAMETER);
      }
      if (padding.kind !== 'none') throw statusError('NCryptSignHash', S.NTE_INVALID_PARAMETER);
      return ecdsaSignDigest(obj.privateKey, digest);
    },
    async verifySignature(key, digest, signature, padding, flags = 0) {
      enter('verifySignature', [key, digest, signature, padding, flags]);
      throw statusError('NCryptVerifySignature', S.NTE_NOT_SUPPORTED, { context: 'not modelled by the double' });
    },
    async encrypt(key, data, padding, flags = 0) {
      enter('encrypt', [key, data, padding, flags]);
      const obj = keyObj('encrypt', key);
      if (!obj.publicKey || obj.algorithm !== 'RSA') throw statusError('NCryptEncrypt', S.NTE_NOT_SUPPORTED);
      return oaepOrPkcs1(obj.publicKey, data, padding, 'encrypt');
    },
    async decrypt(key, data, padding, flags = 0) {
      enter('decrypt', [key, Buffer.from(data), padding, flags]);
      const obj = keyObj('decrypt', key);
      if (!obj.privateKey || obj.algorithm !== 'RSA') throw statusError('NCryptDecrypt', S.NTE_NOT_SUPPORTED);
      if ((usage(obj) & 0x1) === 0) throw statusError('NCryptDecrypt', S.NTE_PERM);
      return oaepOrPkcs1(obj.privateKey, data, padding, 'decrypt');
    },
    async secretAgreement(priv, peer, flags = 0) {
      enter('secretAgreement', [priv, peer, flags]);
      const a = keyObj('secretAgreement', priv);
      const b = keyObj('secretAgreement', peer);
      if (!a.privateKey || !b.publicKey || !a.algorithm.startsWith('ECDH') || !b.algorithm.startsWith('ECDH')) {
        throw statusError('NCryptSecretAgreement', S.NTE_INVALID_PARAMETER);
      }
      if ((usage(a) & 0x4) === 0) throw statusError('NCryptSecretAgreement', S.NTE_PERM);
      const secret = diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey });
      return handle({ kind: 'secret', littleEndian: Buffer.from(secret).reverse() }) as NCryptSecretHandle;
    },
    async deriveRawSecret(secret, flags = 0) {
      enter('deriveRawSecret', [secret, flags]);
      return Buffer.from(get('deriveRawSecret', secret, 'secret').littleEndian);
    },
    freeObject(h: NCryptHandle) {
      enter('freeObject', [h]);
      if (!objects.has(h)) {
        misuse.push(`freeObject(${String(h)}): freed or unknown handle`);
        throw statusError('NCryptFreeObject', S.NTE_INVALID_HANDLE);
      }
      objects.delete(h);
    },
  };
  return double;
}

function oaepOrPkcs1(key: KeyObject, data: Buffer, padding: NCryptPadding, op: 'encrypt' | 'decrypt'): Buffer {
  const options =
    padding.kind === 'oaep'
      ? { key, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: nodeHash(padding.hash) }
      : { key, padding: cryptoConstants.RSA_PKCS1_PADDING };
  try {
    return op === 'encrypt' ? publicEncrypt(options, data) : privateDecrypt(options, data);
  } catch {
    throw statusError(op === 'encrypt' ? 'NCryptEncrypt' : 'NCryptDecrypt', S.NTE_INVALID_PARAMETER);
  }
}

// ---------------------------------------------------------------------------------------------
// The posture bindings.

export interface SystemState {
  wine: string | null;
  version: { major: number; minor: number; build: number };
  tpm: PostureReading<TpmDeviceInfo>;
  lsass: PostureReading<{ pid: number; protection: number; identifiedBy?: string }>;
  iso: PostureReading<{ secureKernelRunning: boolean; hvciEnabled: boolean; trustletRunning: boolean }>;
  /** Registry values by `path\name`; anything absent reads as missing (status 2). */
  registry: Record<string, PostureReading<number | string | string[]>>;
}

export interface SystemDouble extends WindowsSystemBindings {
  state: SystemState;
  readonly calls: string[];
}

/** How the real bindings say they found LSASS through the service control manager. */
export const SCM = 'service control manager (KeyIso)';

/** A Windows 11 24H2 machine with LSASS unprotected, no VBS, a TPM 2.0; override what a test needs. */
export function createSystemDouble(state: Partial<SystemState> = {}): SystemDouble {
  const calls: string[] = [];
  const double: SystemDouble = {
    state: {
      wine: null,
      version: { major: 10, minor: 0, build: 26100 },
      tpm: { ok: true, value: { structVersion: 1, tpmVersion: 2, tpmInterfaceType: 3, tpmImpRevision: 0 } },
      lsass: { ok: true, value: { pid: 812, protection: 0, identifiedBy: SCM } },
      iso: { ok: true, value: { secureKernelRunning: false, hvciEnabled: false, trustletRunning: false } },
      registry: {},
      ...state,
    },
    calls,
    wineVersion() {
      calls.push('wineVersion');
      return double.state.wine;
    },
    windowsVersion() {
      calls.push('windowsVersion');
      return double.state.version;
    },
    tpmDeviceInfo() {
      calls.push('tpmDeviceInfo');
      return double.state.tpm;
    },
    lsassProtection() {
      calls.push('lsassProtection');
      return double.state.lsass;
    },
    isolatedUserMode() {
      calls.push('isolatedUserMode');
      return double.state.iso;
    },
    registryValue(path, name) {
      calls.push(`registryValue ${path}\\${name}`);
      return double.state.registry[`${path}\\${name}`] ?? { ok: false, status: 2, reason: 'the value does not exist' };
    },
  };
  return double;
}

/** Postures the tests use. */
export const POSTURES = {
  wine: (): Partial<SystemState> => ({
    wine: '8.0',
    version: { major: 10, minor: 0, build: 19043 },
    tpm: { ok: false, status: 0x8028400f, reason: 'TBS_E_TPM_NOT_FOUND' },
  }),
  windows: (): Partial<SystemState> => ({}),
  ppl: (): Partial<SystemState> => ({
    lsass: { ok: true, value: { pid: 812, protection: 0x41, identifiedBy: SCM } },
    registry: { 'SYSTEM\\CurrentControlSet\\Control\\Lsa\\RunAsPPL': { ok: true, value: 2 } },
  }),
  pplUnreadable: (): Partial<SystemState> => ({
    lsass: { ok: false, status: 5, reason: 'OpenProcess(lsass.exe) was refused (ERROR_ACCESS_DENIED)' },
    registry: { 'SYSTEM\\CurrentControlSet\\Control\\Lsa\\RunAsPPL': { ok: true, value: 1 } },
  }),
  vbs: (): Partial<SystemState> => ({
    lsass: { ok: true, value: { pid: 812, protection: 0x41, identifiedBy: SCM } },
    iso: { ok: true, value: { secureKernelRunning: true, hvciEnabled: true, trustletRunning: true } },
  }),
  /** VBS running, LSASS not protected: ordinary keys get os-isolated, VBS keys can be made. */
  vbsNoPpl: (): Partial<SystemState> => ({
    iso: { ok: true, value: { secureKernelRunning: true, hvciEnabled: true, trustletRunning: true } },
  }),
  /** The LSASS lookup found nothing (no KeyIso or SamSs service process, no lsass.exe). */
  noLsass: (): Partial<SystemState> => ({
    lsass: {
      ok: false,
      status: 1168,
      reason:
        'the LSASS lookup returned ERROR_NOT_FOUND (0x00000490): no process hosts the KeyIso or SamSs service (KeyIso: 0x00000424, SamSs: 0x00000424), and no lsass.exe can be trusted by name (pid 4242: runs in session 1, not session 0)',
    },
  }),
};
