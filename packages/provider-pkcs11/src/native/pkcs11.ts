/**
 * The only module that imports koffi: a PKCS#11 v2.40 module's function list, loaded through
 * `C_GetInterface` (v3.0 modules) or `C_GetFunctionList`, behind the typed {@link Pkcs11Native}
 * interface. Every call that reaches the module runs on koffi's worker threads (`.async`), so the
 * event loop never waits for a token. Nothing untyped leaves this file; handles are branded `bigint`.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import type { NativeFn } from '@keystore/core/provider';
import { loadKoffi as loadSharedKoffi } from '@keystore/provider-cng/native';
import { CKF_OS_LOCKING_OK, CKR, FUNCTION_LIST_ORDER } from './constants.js';
import { type Attribute, type Layout, type Mechanism, Memory, makeLayout, retain } from './layout.js';

/** A slot id (`CK_SLOT_ID`). */
export type SlotId = bigint & { readonly __brand: 'CK_SLOT_ID' };
/** A session handle (`CK_SESSION_HANDLE`). */
export type SessionHandle = bigint & { readonly __brand: 'CK_SESSION_HANDLE' };
/** An object handle (`CK_OBJECT_HANDLE`). */
export type ObjectHandle = bigint & { readonly __brand: 'CK_OBJECT_HANDLE' };

/** A call's return value and, when it is `CKR_OK`, its output. */
export interface Result<T> {
  readonly rv: number;
  readonly fn: string;
  readonly value?: T;
}

/** What `C_GetInfo` says about the module. */
interface ModuleInfo {
  readonly cryptokiVersion: string;
  readonly manufacturer: string;
  readonly description: string;
  readonly libraryVersion: string;
}

/** What `C_GetTokenInfo` says about a token. */
export interface TokenInfo {
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serialNumber: string;
  readonly flags: number;
  readonly hardwareVersion: string;
  readonly firmwareVersion: string;
}

/**
 * A loaded PKCS#11 module, typed. One call at a time per session (the caller's session pool sees to
 * it); calls on different sessions may run at once, which `CKF_OS_LOCKING_OK` allows the module.
 */
export interface Pkcs11Native {
  /** The module's path, as loaded. */
  readonly modulePath: string;
  /** The function list's version (`2.40`, `3.0` …) and whether `C_GetInterface` supplied it. */
  readonly listVersion: string;
  readonly viaInterface: boolean;
  initialize(): Promise<Result<void>>;
  finalize(): Promise<Result<void>>;
  getInfo(): Promise<Result<ModuleInfo>>;
  getSlotList(tokenPresent: boolean): Promise<Result<SlotId[]>>;
  getTokenInfo(slot: SlotId): Promise<Result<TokenInfo>>;
  getMechanismList(slot: SlotId): Promise<Result<number[]>>;
  openSession(slot: SlotId, flags: number): Promise<Result<SessionHandle>>;
  closeSession(session: SessionHandle): Promise<Result<void>>;
  /** `C_GetSessionInfo`: the session's state (`CKS_*`). */
  getSessionState(session: SessionHandle): Promise<Result<number>>;
  /** `C_CloseAllSessions`: every session of this process on the slot (and with them, the login). */
  closeAllSessions(slot: SlotId): Promise<Result<void>>;
  login(session: SessionHandle, userType: number, pin: Buffer): Promise<Result<void>>;
  /** `C_FindObjectsInit`, `C_FindObjects` until done (at most `max` objects), `C_FindObjectsFinal`. */
  findObjects(session: SessionHandle, template: readonly Attribute[], max?: number): Promise<Result<ObjectHandle[]>>;
  /**
   * `C_GetAttributeValue` twice (lengths, then values). An attribute the object lacks or hides
   * comes back `undefined`.
   */
  getAttributes(
    session: SessionHandle,
    object: ObjectHandle,
    types: readonly number[],
  ): Promise<Result<Map<number, Buffer | undefined>>>;
  generateKeyPair(
    session: SessionHandle,
    mechanism: Mechanism,
    publicTemplate: readonly Attribute[],
    privateTemplate: readonly Attribute[],
  ): Promise<Result<{ publicKey: ObjectHandle; privateKey: ObjectHandle }>>;
  createObject(session: SessionHandle, template: readonly Attribute[]): Promise<Result<ObjectHandle>>;
  destroyObject(session: SessionHandle, object: ObjectHandle): Promise<Result<void>>;
  /** `C_SignInit` then `C_Sign` into a buffer of `maxLength` bytes. */
  sign(
    session: SessionHandle,
    mechanism: Mechanism,
    key: ObjectHandle,
    data: Buffer,
    maxLength: number,
  ): Promise<Result<Buffer>>;
  /** `C_DecryptInit` then `C_Decrypt` into a buffer of `maxLength` bytes. */
  decrypt(
    session: SessionHandle,
    mechanism: Mechanism,
    key: ObjectHandle,
    data: Buffer,
    maxLength: number,
  ): Promise<Result<Buffer>>;
  deriveKey(
    session: SessionHandle,
    mechanism: Mechanism,
    base: ObjectHandle,
    template: readonly Attribute[],
  ): Promise<Result<ObjectHandle>>;
  /** Encoders of attribute values and mechanism parameters in this platform's layout. */
  readonly memory: Memory;
}

type KoffiModule = typeof import('koffi');

function unavailable(message: string, hint: string, cause?: unknown): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', message, { providerId: 'pkcs11', hint, cause });
}

let koffiInstance: KoffiModule | undefined;

/**
 * Every module loaded, by path, for the life of the process. A library handle that is garbage
 * collected is unloaded (`dlclose`), and a PKCS#11 module unloaded after `C_Finalize` (SoftHSM2 with
 * its static state, for one) can crash the process; loading once also keeps one function table per
 * module, whose `C_Initialize` and `C_Finalize` pair up.
 */
const loadedModules = new Map<string, Pkcs11Native>();
const libraries: unknown[] = [];
let layoutInstance: Layout | undefined;

/**
 * koffi, through the SDK's one loader (`@keystore/provider-cng/native`), which configures it before
 * any library is loaded with it; called at the provider's first use, never at import.
 */
function loadKoffi(): KoffiModule {
  koffiInstance ??= loadSharedKoffi('pkcs11', import.meta.url) as KoffiModule;
  return koffiInstance;
}

/** The structure layout koffi computes on this platform (for the layout test and the provider). */
function nativeLayout(): Layout {
  layoutInstance ??= makeLayout(loadKoffi());
  return layoutInstance;
}

function callAsync(fn: NativeFn, args: unknown[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    fn.async(...args, (err: unknown, result: number | bigint) => {
      if (err) reject(err);
      else resolve(Number(result));
    });
  });
}

/** A space-padded `CK_UTF8CHAR[n]` field, trimmed. */
function fixedString(buffer: Buffer, offset: number, length: number): string {
  return buffer
    .subarray(offset, offset + length)
    .toString('utf8')
    .replace(/[\s\0]+$/, '');
}

function versionString(buffer: Buffer, offset: number): string {
  return `${buffer[offset]}.${buffer[offset + 1]}`;
}

/**
 * Loads a PKCS#11 module and its function list. Throws `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` when the
 * file cannot be loaded or exports neither `C_GetInterface` nor `C_GetFunctionList`. Loading runs
 * the module's initializers in this process: the caller must have decided to trust the path.
 */
export function loadPkcs11(modulePath: string): Pkcs11Native {
  const cached = loadedModules.get(modulePath);
  if (cached) return cached;
  const koffi = loadKoffi();
  const layout = nativeLayout();
  const memory = new Memory(layout, (buffer) => koffi.address(buffer));
  let lib: ReturnType<KoffiModule['load']>;
  try {
    lib = koffi.load(modulePath);
  } catch (cause) {
    throw unavailable(
      `the PKCS#11 module ${modulePath} could not be loaded`,
      "check the path (an absolute path to the vendor's .so or .dll), that the file is readable, and that its own dependencies are installed",
      cause,
    );
  }
  const { list, viaInterface } = functionList(koffi, lib, layout, modulePath);
  const listVersion = `${koffi.decode(list, 'uint8_t')}.${koffi.decode(list, 1, 'uint8_t')}`;
  const ULONG = 'unsigned long';
  const P = 'void *';
  const fn = (name: (typeof FUNCTION_LIST_ORDER)[number], args: string[]): NativeFn => {
    const index = FUNCTION_LIST_ORDER.indexOf(name);
    const pointer = koffi.decode(list, layout.functionListFirst + index * layout.pointer, 'void *') as bigint | null;
    if (!pointer) {
      return Object.assign(() => CKR.FUNCTION_NOT_SUPPORTED, {
        async: (...a: unknown[]) =>
          (a[a.length - 1] as (e: unknown, r: number) => void)(null, CKR.FUNCTION_NOT_SUPPORTED),
      });
    }
    return koffi.decode(pointer, koffi.proto(ULONG, args)) as NativeFn;
  };
  const C = {
    Initialize: fn('C_Initialize', [P]),
    Finalize: fn('C_Finalize', [P]),
    GetInfo: fn('C_GetInfo', [P]),
    GetSlotList: fn('C_GetSlotList', ['uint8_t', P, P]),
    GetTokenInfo: fn('C_GetTokenInfo', [ULONG, P]),
    GetMechanismList: fn('C_GetMechanismList', [ULONG, P, P]),
    OpenSession: fn('C_OpenSession', [ULONG, ULONG, P, P, P]),
    CloseSession: fn('C_CloseSession', [ULONG]),
    CloseAllSessions: fn('C_CloseAllSessions', [ULONG]),
    GetSessionInfo: fn('C_GetSessionInfo', [ULONG, P]),
    Login: fn('C_Login', [ULONG, ULONG, P, ULONG]),
    CreateObject: fn('C_CreateObject', [ULONG, P, ULONG, P]),
    DestroyObject: fn('C_DestroyObject', [ULONG, ULONG]),
    GetAttributeValue: fn('C_GetAttributeValue', [ULONG, ULONG, P, ULONG]),
    FindObjectsInit: fn('C_FindObjectsInit', [ULONG, P, ULONG]),
    FindObjects: fn('C_FindObjects', [ULONG, P, ULONG, P]),
    FindObjectsFinal: fn('C_FindObjectsFinal', [ULONG]),
    DecryptInit: fn('C_DecryptInit', [ULONG, P, ULONG]),
    Decrypt: fn('C_Decrypt', [ULONG, P, ULONG, P, P]),
    SignInit: fn('C_SignInit', [ULONG, P, ULONG]),
    Sign: fn('C_Sign', [ULONG, P, ULONG, P, P]),
    GenerateKeyPair: fn('C_GenerateKeyPair', [ULONG, P, P, ULONG, P, ULONG, P, P]),
    DeriveKey: fn('C_DeriveKey', [ULONG, P, ULONG, P, ULONG, P]),
  };
  const ok = <T>(fnName: string, rv: number, value?: () => T): Result<T> =>
    rv === CKR.OK && value ? { rv, fn: fnName, value: value() } : { rv, fn: fnName };
  const ulongs = (buffer: Buffer, count: number): bigint[] =>
    Array.from({ length: count }, (_, i) => memory.readUlong(buffer, i * layout.ulong));

  /** Runs a two-step output call: the length into `lengthOut`, the bytes into `out`. */
  const output = async (
    name: string,
    call: (out: Buffer, length: Buffer) => Promise<number>,
    maxLength: number,
  ): Promise<Result<Buffer>> => {
    let out = Buffer.alloc(maxLength);
    const length = memory.ulongBuffer();
    memory.writeUlong(length, 0, out.length);
    let rv = await call(out, length);
    if (rv === CKR.BUFFER_TOO_SMALL) {
      // The operation stays active after CKR_BUFFER_TOO_SMALL (v2.40 section 5.2): call again with room.
      out = Buffer.alloc(Number(memory.readUlong(length)));
      rv = await call(out, length);
    }
    return ok(name, rv, () => out.subarray(0, Number(memory.readUlong(length))));
  };

  const native: Pkcs11Native = {
    modulePath,
    listVersion,
    viaInterface,
    memory,
    async initialize() {
      const args = Buffer.alloc(layout.initArgs.size);
      memory.writeUlong(args, layout.initArgs.flags, CKF_OS_LOCKING_OK);
      const rv = await callAsync(C.Initialize, [args]);
      retain(args);
      return ok('C_Initialize', rv);
    },
    async finalize() {
      return ok('C_Finalize', await callAsync(C.Finalize, [null]));
    },
    async getInfo() {
      const out = Buffer.alloc(layout.info.size);
      const rv = await callAsync(C.GetInfo, [out]);
      return ok('C_GetInfo', rv, () => ({
        cryptokiVersion: versionString(out, 0),
        manufacturer: fixedString(out, layout.info.manufacturerID, 32),
        description: fixedString(out, layout.info.libraryDescription, 32),
        libraryVersion: versionString(out, layout.info.libraryVersion),
      }));
    },
    async getSlotList(tokenPresent) {
      const count = memory.ulongBuffer();
      let rv = await callAsync(C.GetSlotList, [tokenPresent ? 1 : 0, null, count]);
      if (rv !== CKR.OK) return ok('C_GetSlotList', rv);
      // Slots can appear between the two calls: retry on CKR_BUFFER_TOO_SMALL.
      for (let attempt = 0; attempt < 3; attempt++) {
        const n = Number(memory.readUlong(count));
        const slots = memory.ulongBuffer(Math.max(1, n));
        rv = await callAsync(C.GetSlotList, [tokenPresent ? 1 : 0, slots, count]);
        if (rv === CKR.BUFFER_TOO_SMALL) continue;
        return ok('C_GetSlotList', rv, () => ulongs(slots, Number(memory.readUlong(count))) as SlotId[]);
      }
      return ok('C_GetSlotList', rv);
    },
    async getTokenInfo(slot) {
      const out = Buffer.alloc(layout.tokenInfo.size);
      const rv = await callAsync(C.GetTokenInfo, [slot, out]);
      return ok('C_GetTokenInfo', rv, () => ({
        label: fixedString(out, 0, 32),
        manufacturer: fixedString(out, 32, 32),
        model: fixedString(out, 64, 16),
        serialNumber: fixedString(out, 80, 16),
        flags: Number(memory.readUlong(out, layout.tokenInfo.flags)),
        hardwareVersion: versionString(out, layout.tokenInfo.hardwareVersion),
        firmwareVersion: versionString(out, layout.tokenInfo.firmwareVersion),
      }));
    },
    async getMechanismList(slot) {
      const count = memory.ulongBuffer();
      let rv = await callAsync(C.GetMechanismList, [slot, null, count]);
      if (rv !== CKR.OK) return ok('C_GetMechanismList', rv);
      const list = memory.ulongBuffer(Math.max(1, Number(memory.readUlong(count))));
      rv = await callAsync(C.GetMechanismList, [slot, list, count]);
      return ok('C_GetMechanismList', rv, () => ulongs(list, Number(memory.readUlong(count))).map(Number));
    },
    async openSession(slot, flags) {
      const handle = memory.ulongBuffer();
      const rv = await callAsync(C.OpenSession, [slot, flags, null, null, handle]);
      return ok('C_OpenSession', rv, () => memory.readUlong(handle) as SessionHandle);
    },
    async closeSession(session) {
      return ok('C_CloseSession', await callAsync(C.CloseSession, [session]));
    },
    async getSessionState(session) {
      const out = Buffer.alloc(layout.sessionInfo.size);
      const rv = await callAsync(C.GetSessionInfo, [session, out]);
      return ok('C_GetSessionInfo', rv, () => Number(memory.readUlong(out, layout.sessionInfo.state)));
    },
    async closeAllSessions(slot) {
      return ok('C_CloseAllSessions', await callAsync(C.CloseAllSessions, [slot]));
    },
    async login(session, userType, pin) {
      // The PIN's bytes live in `pin` only for the call; the caller wipes it afterwards.
      return ok('C_Login', await callAsync(C.Login, [session, userType, pin, pin.length]));
    },
    async findObjects(session, template, max = 1024) {
      const t = memory.template(template);
      let rv = await callAsync(C.FindObjectsInit, [session, t, template.length]);
      retain(t, template);
      if (rv !== CKR.OK) return ok('C_FindObjectsInit', rv);
      const found: ObjectHandle[] = [];
      const batch = 64;
      const handles = memory.ulongBuffer(batch);
      const count = memory.ulongBuffer();
      try {
        while (found.length < max) {
          rv = await callAsync(C.FindObjects, [session, handles, batch, count]);
          if (rv !== CKR.OK) return ok('C_FindObjects', rv);
          const n = Number(memory.readUlong(count));
          found.push(...(ulongs(handles, n) as ObjectHandle[]));
          if (n < batch) break;
        }
      } finally {
        const final = await callAsync(C.FindObjectsFinal, [session]);
        if (rv === CKR.OK) rv = final;
      }
      return ok('C_FindObjects', rv, () => found.slice(0, max));
    },
    async getAttributes(session, object, types) {
      const probe = types.map((type) => ({ type, value: Buffer.alloc(0) }));
      const first = memory.template(probe);
      let rv = await callAsync(C.GetAttributeValue, [session, object, first, types.length]);
      retain(first, probe);
      // CKR_ATTRIBUTE_SENSITIVE / _TYPE_INVALID still fill every other length (v2.40 section 5.7).
      if (rv !== CKR.OK && rv !== CKR.ATTRIBUTE_SENSITIVE && rv !== CKR.ATTRIBUTE_TYPE_INVALID) {
        return ok('C_GetAttributeValue', rv);
      }
      const lengths = types.map((_, i) => memory.templateLength(first, i));
      const wanted = types.flatMap((type, i) => (lengths[i]! >= 0 ? [{ type, value: Buffer.alloc(lengths[i]!) }] : []));
      const values = new Map<number, Buffer | undefined>(types.map((type) => [type, undefined]));
      if (wanted.length > 0) {
        const second = memory.template(wanted);
        rv = await callAsync(C.GetAttributeValue, [session, object, second, wanted.length]);
        retain(second, wanted);
        if (rv !== CKR.OK) return ok('C_GetAttributeValue', rv);
        wanted.forEach((attribute, i) => {
          values.set(attribute.type, attribute.value.subarray(0, Math.max(0, memory.templateLength(second, i))));
        });
      }
      return ok('C_GetAttributeValue', CKR.OK, () => values);
    },
    async generateKeyPair(session, mechanism, publicTemplate, privateTemplate) {
      const m = memory.mechanism(mechanism);
      const pub = memory.template(publicTemplate);
      const priv = memory.template(privateTemplate);
      const handles = memory.ulongBuffer(2);
      const publicOut = handles.subarray(0, layout.ulong);
      const privateOut = handles.subarray(layout.ulong);
      const rv = await callAsync(C.GenerateKeyPair, [
        session,
        m,
        pub,
        publicTemplate.length,
        priv,
        privateTemplate.length,
        publicOut,
        privateOut,
      ]);
      retain(m, mechanism, pub, publicTemplate, priv, privateTemplate);
      return ok('C_GenerateKeyPair', rv, () => ({
        publicKey: memory.readUlong(publicOut) as ObjectHandle,
        privateKey: memory.readUlong(privateOut) as ObjectHandle,
      }));
    },
    async createObject(session, template) {
      const t = memory.template(template);
      const handle = memory.ulongBuffer();
      const rv = await callAsync(C.CreateObject, [session, t, template.length, handle]);
      retain(t, template);
      return ok('C_CreateObject', rv, () => memory.readUlong(handle) as ObjectHandle);
    },
    async destroyObject(session, object) {
      return ok('C_DestroyObject', await callAsync(C.DestroyObject, [session, object]));
    },
    async sign(session, mechanism, key, data, maxLength) {
      const m = memory.mechanism(mechanism);
      const rv = await callAsync(C.SignInit, [session, m, key]);
      retain(m, mechanism);
      if (rv !== CKR.OK) return ok('C_SignInit', rv);
      return output('C_Sign', (out, length) => callAsync(C.Sign, [session, data, data.length, out, length]), maxLength);
    },
    async decrypt(session, mechanism, key, data, maxLength) {
      const m = memory.mechanism(mechanism);
      const rv = await callAsync(C.DecryptInit, [session, m, key]);
      retain(m, mechanism);
      if (rv !== CKR.OK) return ok('C_DecryptInit', rv);
      return output(
        'C_Decrypt',
        (out, length) => callAsync(C.Decrypt, [session, data, data.length, out, length]),
        maxLength,
      );
    },
    async deriveKey(session, mechanism, base, template) {
      const m = memory.mechanism(mechanism);
      const t = memory.template(template);
      const handle = memory.ulongBuffer();
      const rv = await callAsync(C.DeriveKey, [session, m, base, t, template.length, handle]);
      retain(m, mechanism, t, template);
      return ok('C_DeriveKey', rv, () => memory.readUlong(handle) as ObjectHandle);
    },
  };
  loadedModules.set(modulePath, native);
  libraries.push(lib);
  return native;
}

/** The module's function list: through `C_GetInterface` when it exports one, else `C_GetFunctionList`. */
function functionList(
  koffi: KoffiModule,
  lib: ReturnType<KoffiModule['load']>,
  layout: Layout,
  modulePath: string,
): { list: bigint; viaInterface: boolean } {
  const out = [null as bigint | null];
  const symbol = (name: string, args: unknown[]): NativeFn | undefined => {
    try {
      return lib.func(name, 'unsigned long', args as string[]) as NativeFn;
    } catch {
      return undefined;
    }
  };
  const pointerOut = koffi.out(koffi.pointer(koffi.pointer('void')));
  const getInterface = symbol('C_GetInterface', ['const char *', 'void *', pointerOut, 'unsigned long']);
  if (getInterface) {
    // The default interface ("PKCS 11", the module's newest version); its list starts with v2.40's.
    const rv = Number(getInterface('PKCS 11', null, out, 0));
    if (rv === CKR.OK && out[0]) {
      const list = koffi.decode(out[0], layout.interfaceFunctionList, 'void *') as bigint | null;
      if (list) return { list, viaInterface: true };
    }
  }
  const getFunctionList = symbol('C_GetFunctionList', [pointerOut]);
  if (!getFunctionList) {
    throw unavailable(
      `${modulePath} is not a PKCS#11 module: it exports neither C_GetInterface nor C_GetFunctionList`,
      "point the provider at the vendor's PKCS#11 library (for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)",
    );
  }
  const rv = Number(getFunctionList(out));
  if (rv !== CKR.OK || !out[0]) {
    throw unavailable(
      `C_GetFunctionList of ${modulePath} failed (CK_RV 0x${rv.toString(16)})`,
      'the module could not hand out its function list; see its documentation or log',
    );
  }
  return { list: out[0], viaInterface: false };
}
