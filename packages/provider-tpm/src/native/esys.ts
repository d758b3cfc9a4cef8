/**
 * Typed bindings to the parts of tpm2-tss ESYS (`libtss2-esys.so.0`) and libtss2-mu the loaded-key
 * path signs with, and to `Fapi_GetTpmBlobs` / `Fapi_GetTcti`. TPM structures cross as opaque C
 * memory: they are marshalled here in the TPM's wire format and turned into ESYS's C structures by
 * libtss2-mu (`Tss2_MU_*_Unmarshal`), so no struct layout is declared to koffi. Pointers and ESYS
 * handles are numbers or `bigint`s; nothing untyped leaves this file.
 *
 * @module
 */

import { cngNative } from '../cng.js';
import type { FapiContextHandle, FapiResult } from './fapi.js';

/** An opaque `ESYS_CONTEXT *`. */
export type EsysContextHandle = bigint & {
  /** Type brand only; no such property exists. */
  readonly __brand: 'ESYS_CONTEXT';
};

/** `ESYS_TR_NONE`. */
export const ESYS_TR_NONE = 0xfff;
/** `ESYS_TR_PASSWORD`. */
export const ESYS_TR_PASSWORD = 0x0ff;

/** A key's blobs as `Fapi_GetTpmBlobs` returns them (marshalled TPM2B_PUBLIC and TPM2B_PRIVATE). */
export interface TpmBlobs {
  readonly publicBlob: Buffer;
  readonly privateBlob: Buffer;
  /** The key's policy (JSON), `''` when it has none. */
  readonly policy: string;
}

/**
 * The signature scheme of one `Esys_Sign`: `TPM2_ALG_ECDSA` (0x18), `TPM2_ALG_RSASSA` (0x14) or
 * `TPM2_ALG_RSAPSS` (0x16), with the hash algorithm (`TPM2_ALG_SHA256` 0x0b, …).
 */
export interface SignScheme {
  readonly scheme: number;
  readonly hashAlg: number;
}

/** The loaded-key function table. Async methods run on koffi's worker threads, one at a time per context. */
export interface EsysBindings {
  /** `Fapi_GetTpmBlobs`: the key's marshalled public and private parts, and its policy. */
  getTpmBlobs(fapi: FapiContextHandle, path: string): Promise<FapiResult<TpmBlobs>>;
  /**
   * `Fapi_GetTcti` then `Esys_Initialize` on that TCTI: an ESYS context that talks through the FAPI
   * context's connection. Synchronous (no TPM command). Finalize it before the FAPI context.
   */
  initialize(fapi: FapiContextHandle): FapiResult<EsysContextHandle>;
  /** `Esys_Finalize`. Synchronous, no TPM command. */
  finalize(esys: EsysContextHandle): void;
  /** `Esys_TR_FromTPMPublic` (one `TPM2_ReadPublic`): the ESYS handle of a persistent object. */
  fromTpmPublic(esys: EsysContextHandle, tpmHandle: number): Promise<FapiResult<number>>;
  /**
   * A salted HMAC session (salt encrypted to `saltKey`), AES-128-CFB parameter encryption of the
   * first command parameter, SHA-256, kept open across commands (continueSession).
   */
  startHmacSession(esys: EsysContextHandle, saltKey: number): Promise<FapiResult<number>>;
  /** `Esys_Load` of marshalled blobs under `parent`, authorized through `session`. */
  load(esys: EsysContextHandle, parent: number, session: number, blobs: TpmBlobs): Promise<FapiResult<number>>;
  /**
   * `Esys_Sign` with no hash check ticket. The signature comes back in the TPM's wire format
   * (marshalled TPMT_SIGNATURE).
   */
  sign(
    esys: EsysContextHandle,
    key: number,
    session: number,
    digest: Buffer,
    scheme: SignScheme,
  ): Promise<FapiResult<Buffer>>;
  /** `Esys_FlushContext` (one TPM command). */
  flush(esys: EsysContextHandle, handle: number): Promise<number>;
}

// biome-ignore lint/suspicious/noExplicitAny: koffi functions are untyped; they stay in this file.
type NativeFn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

function callAsync<T>(fn: NativeFn, args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn.async(...args, (err: unknown, result: T) => {
      if (err) reject(err);
      else resolve(result);
    });
  });
}

/** C sizes of the structures the calls take (tpm2-tss 3.x, any 64-bit ABI), with room to spare. */
const STRUCT_BYTES = { public: 1024, private: 2048, digest: 128, scheme: 16, check: 128, sym: 16, signature: 1024 };

const TPM2_ST_HASHCHECK = 0x8024;
const TPM2_RH_NULL = 0x40000007;
const TPM2_ALG_AES = 0x0006;
const TPM2_ALG_CFB = 0x0043;
const TPM2_ALG_SHA256 = 0x000b;
const TPM2_SE_HMAC = 0x00;
const TPMA_SESSION_CONTINUESESSION = 0x01;
const TPMA_SESSION_DECRYPT = 0x20;

const cache = new Map<string, EsysBindings | undefined>();

/**
 * Loads the loaded-key bindings, or `undefined` when libtss2-esys or libtss2-mu is missing (keys
 * then sign through FAPI alone).
 *
 * @param fapiLibrary The FAPI library in use (a path or a soname).
 */
export function loadEsys(fapiLibrary: string): EsysBindings | undefined {
  if (cache.has(fapiLibrary)) return cache.get(fapiLibrary);
  let bindings: EsysBindings | undefined;
  try {
    bindings = bind(fapiLibrary);
  } catch {
    bindings = undefined;
  }
  cache.set(fapiLibrary, bindings);
  return bindings;
}

function bind(fapiLibrary: string): EsysBindings {
  const koffi = cngNative().loadKoffi('tpm', import.meta.url);
  const fapi = koffi.load(fapiLibrary);
  const esysLib = koffi.load('libtss2-esys.so.0');
  const mu = koffi.load('libtss2-mu.so.0');
  const fn = (lib: typeof fapi, sig: string) => lib.func(sig) as NativeFn;

  const Fapi_GetTpmBlobs = fn(
    fapi,
    'uint32_t Fapi_GetTpmBlobs(void *context, const char *path, _Out_ void **tpm2bPublic, _Out_ size_t *tpm2bPublicSize, _Out_ void **tpm2bPrivate, _Out_ size_t *tpm2bPrivateSize, _Out_ void **policy)',
  );
  const Fapi_GetTcti = fn(fapi, 'uint32_t Fapi_GetTcti(void *context, _Out_ void **tcti)');
  const Fapi_Free = fn(fapi, 'void Fapi_Free(void *ptr)');
  const Esys_Initialize = fn(esysLib, 'uint32_t Esys_Initialize(_Out_ void **esys, void *tcti, void *abi)');
  const Esys_Finalize = fn(esysLib, 'void Esys_Finalize(_Inout_ void **esys)');
  const Esys_TR_FromTPMPublic = fn(
    esysLib,
    'uint32_t Esys_TR_FromTPMPublic(void *esys, uint32_t tpmHandle, uint32_t s1, uint32_t s2, uint32_t s3, _Out_ uint32_t *object)',
  );
  const Esys_StartAuthSession = fn(
    esysLib,
    'uint32_t Esys_StartAuthSession(void *esys, uint32_t tpmKey, uint32_t bind, uint32_t s1, uint32_t s2, uint32_t s3, void *nonceCaller, uint8_t sessionType, void *symmetric, uint16_t authHash, _Out_ uint32_t *session)',
  );
  const Esys_TRSess_SetAttributes = fn(
    esysLib,
    'uint32_t Esys_TRSess_SetAttributes(void *esys, uint32_t session, uint8_t flags, uint8_t mask)',
  );
  const Esys_Load = fn(
    esysLib,
    'uint32_t Esys_Load(void *esys, uint32_t parent, uint32_t s1, uint32_t s2, uint32_t s3, void *inPrivate, void *inPublic, _Out_ uint32_t *object)',
  );
  const Esys_Sign = fn(
    esysLib,
    'uint32_t Esys_Sign(void *esys, uint32_t key, uint32_t s1, uint32_t s2, uint32_t s3, void *digest, void *scheme, void *validation, _Out_ void **signature)',
  );
  const Esys_FlushContext = fn(esysLib, 'uint32_t Esys_FlushContext(void *esys, uint32_t handle)');
  const Esys_Free = fn(esysLib, 'void Esys_Free(void *ptr)');
  const unmarshal = (type: string) =>
    fn(
      mu,
      `uint32_t Tss2_MU_${type}_Unmarshal(const uint8_t *buffer, size_t size, _Inout_ size_t *offset, void *dest)`,
    );
  const MU = {
    public: unmarshal('TPM2B_PUBLIC'),
    private: unmarshal('TPM2B_PRIVATE'),
    digest: unmarshal('TPM2B_DIGEST'),
    scheme: unmarshal('TPMT_SIG_SCHEME'),
    check: unmarshal('TPMT_TK_HASHCHECK'),
    sym: unmarshal('TPMT_SYM_DEF'),
  };
  const Tss2_MU_TPMT_SIGNATURE_Marshal = fn(
    mu,
    'uint32_t Tss2_MU_TPMT_SIGNATURE_Marshal(void *src, uint8_t *buffer, size_t size, _Inout_ size_t *offset)',
  );

  /** C memory holding the ESYS structure that `wire` (TPM wire format) unmarshals to; free with koffi.free. */
  const toStruct = (kind: keyof typeof MU, wire: Buffer): unknown => {
    const mem = koffi.alloc('uint8_t', STRUCT_BYTES[kind]);
    const offset = [0];
    const rc = (MU[kind](wire, wire.length, offset, mem) as number) >>> 0;
    if (rc !== 0 || Number(offset[0]) !== wire.length) {
      koffi.free(mem);
      throw new Error(`Tss2_MU unmarshal of ${kind} failed (0x${rc.toString(16)})`);
    }
    return mem;
  };
  const copyOut = (ptr: unknown, n: number): Buffer =>
    ptr === null || ptr === undefined || n === 0 ? Buffer.alloc(0) : Buffer.from(new Uint8Array(koffi.view(ptr, n)));
  const freeFapi = (ptr: unknown) => {
    if (ptr !== null && ptr !== undefined) Fapi_Free(ptr);
  };

  // The ticket and the session's cipher are the same for every call: unmarshalled once, kept for the process.
  const checkWire = Buffer.alloc(8);
  checkWire.writeUInt16BE(TPM2_ST_HASHCHECK, 0);
  checkWire.writeUInt32BE(TPM2_RH_NULL, 2);
  const check = toStruct('check', checkWire);
  const symWire = Buffer.alloc(6);
  symWire.writeUInt16BE(TPM2_ALG_AES, 0);
  symWire.writeUInt16BE(128, 2);
  symWire.writeUInt16BE(TPM2_ALG_CFB, 4);
  const sym = toStruct('sym', symWire);

  return {
    async getTpmBlobs(context, path) {
      const pub: unknown[] = [null];
      const pubSize: unknown[] = [0];
      const priv: unknown[] = [null];
      const privSize: unknown[] = [0];
      const policy: unknown[] = [null];
      const rc =
        (await callAsync<number>(Fapi_GetTpmBlobs, [context, path, pub, pubSize, priv, privSize, policy])) >>> 0;
      try {
        if (rc !== 0) return { rc };
        const policyText =
          policy[0] === null || policy[0] === undefined ? '' : (koffi.decode(policy[0], 'char', -1) as string);
        return {
          rc,
          value: {
            publicBlob: copyOut(pub[0], Number(pubSize[0])),
            privateBlob: copyOut(priv[0], Number(privSize[0])),
            policy: policyText,
          },
        };
      } finally {
        freeFapi(pub[0]);
        freeFapi(priv[0]);
        freeFapi(policy[0]);
      }
    },
    initialize(context) {
      const tcti: unknown[] = [null];
      let rc = (Fapi_GetTcti(context, tcti) as number) >>> 0;
      if (rc !== 0) return { rc };
      const out: unknown[] = [null];
      rc = (Esys_Initialize(out, tcti[0], null) as number) >>> 0;
      if (rc !== 0 || out[0] === null || out[0] === undefined) return { rc: rc === 0 ? 0xffffffff : rc };
      return { rc, value: koffi.address(out[0]) as EsysContextHandle };
    },
    finalize(esys) {
      Esys_Finalize([esys]);
    },
    async fromTpmPublic(esys, tpmHandle) {
      const out: unknown[] = [0];
      const rc =
        (await callAsync<number>(Esys_TR_FromTPMPublic, [
          esys,
          tpmHandle,
          ESYS_TR_NONE,
          ESYS_TR_NONE,
          ESYS_TR_NONE,
          out,
        ])) >>> 0;
      return rc === 0 ? { rc, value: Number(out[0]) } : { rc };
    },
    async startHmacSession(esys, saltKey) {
      const out: unknown[] = [0];
      const rc =
        (await callAsync<number>(Esys_StartAuthSession, [
          esys,
          saltKey,
          ESYS_TR_NONE,
          ESYS_TR_NONE,
          ESYS_TR_NONE,
          ESYS_TR_NONE,
          null,
          TPM2_SE_HMAC,
          sym,
          TPM2_ALG_SHA256,
          out,
        ])) >>> 0;
      if (rc !== 0) return { rc };
      const session = Number(out[0]);
      const rc2 =
        (Esys_TRSess_SetAttributes(
          esys,
          session,
          TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT,
          0xff,
        ) as number) >>> 0;
      return rc2 === 0 ? { rc: 0, value: session } : { rc: rc2 };
    },
    async load(esys, parent, session, blobs) {
      const pub = toStruct('public', blobs.publicBlob);
      let priv: unknown;
      try {
        priv = toStruct('private', blobs.privateBlob);
        const out: unknown[] = [0];
        const rc =
          (await callAsync<number>(Esys_Load, [esys, parent, session, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, out])) >>>
          0;
        return rc === 0 ? { rc, value: Number(out[0]) } : { rc };
      } finally {
        if (priv !== undefined) {
          // The private part is wrapped by the parent; wipe the copy anyway before giving it back.
          new Uint8Array(koffi.view(priv, STRUCT_BYTES.private)).fill(0);
          koffi.free(priv);
        }
        koffi.free(pub);
      }
    },
    async sign(esys, key, session, digest, scheme) {
      const digestWire = Buffer.alloc(2 + digest.length);
      digestWire.writeUInt16BE(digest.length, 0);
      digest.copy(digestWire, 2);
      const schemeWire = Buffer.alloc(4);
      schemeWire.writeUInt16BE(scheme.scheme, 0);
      schemeWire.writeUInt16BE(scheme.hashAlg, 2);
      const d = toStruct('digest', digestWire);
      const s = toStruct('scheme', schemeWire);
      const out: unknown[] = [null];
      try {
        const rc =
          (await callAsync<number>(Esys_Sign, [esys, key, session, ESYS_TR_NONE, ESYS_TR_NONE, d, s, check, out])) >>>
          0;
        if (rc !== 0) return { rc };
        const wire = Buffer.alloc(STRUCT_BYTES.signature);
        const offset = [0];
        const rc2 = (Tss2_MU_TPMT_SIGNATURE_Marshal(out[0], wire, wire.length, offset) as number) >>> 0;
        if (rc2 !== 0) return { rc: rc2 };
        return { rc, value: wire.subarray(0, Number(offset[0])) };
      } finally {
        if (out[0] !== null && out[0] !== undefined) Esys_Free(out[0]);
        koffi.free(d);
        koffi.free(s);
      }
    },
    async flush(esys, handle) {
      return (await callAsync<number>(Esys_FlushContext, [esys, handle])) >>> 0;
    },
  };
}
