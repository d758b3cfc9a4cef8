/**
 * The calling conventions of the NCrypt bindings: statuses as unsigned numbers, the two-call size
 * pattern, and the padding structures marshalled into memory the call keeps alive.
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import {
  BCRYPT_PAD_OAEP,
  BCRYPT_PAD_PKCS1,
  BCRYPT_PAD_PSS,
  NTE_BUFFER_TOO_SMALL,
  TPM_E_PCP_BUFFER_TOO_SMALL,
} from './constants.js';
import { callAsync, type KoffiModule, type KoffiType, type NativeFn, wideString } from './koffi.js';
import type { NCryptStructName } from './ncrypt-structs.js';
import { statusError } from './status.js';
import type { NCryptPadding } from './types.js';

/** Calls `f` through koffi's async mode; its status as an unsigned number. */
export async function callStatus(f: NativeFn, args: readonly unknown[]): Promise<number> {
  return ((await callAsync<number>(f, args)) as number) >>> 0;
}
/** Calls `f` synchronously; its status as an unsigned number. */
export function callStatusSync(f: NativeFn, args: readonly unknown[]): number {
  return (f(...args) as number) >>> 0;
}

function isBufferTooSmall(status: number): boolean {
  return status === NTE_BUFFER_TOO_SMALL || status === TPM_E_PCP_BUFFER_TOO_SMALL;
}

/**
 * The two-call size pattern: ask for the size with a NULL buffer, then fill a buffer of that size.
 * If the value grew in between (BUFFER_TOO_SMALL), ask again, up to three times.
 */
export async function twoCall(
  name: string,
  invoke: (out: Buffer | null, size: number, pcb: number[]) => Promise<number> | number,
  context: () => string,
  code?: (status: number) => { code?: KeyStoreError['code']; hint?: string } | undefined,
): Promise<Buffer> {
  const fail = (status: number) => {
    const special = code?.(status);
    return statusError(name, status, { providerId: 'cng', context: context(), ...special });
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    const pcb = [0];
    let status = await invoke(null, 0, pcb);
    if (status !== 0 && !isBufferTooSmall(status)) throw fail(status);
    const size = pcb[0] ?? 0;
    if (size === 0) return Buffer.alloc(0);
    if (size > 16 * 1024 * 1024) {
      throw new KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', `${name} asked for ${size} bytes`, {
        providerId: 'cng',
        hint: 'the key storage provider reported an implausible size; report it',
      });
    }
    const out = Buffer.alloc(size);
    pcb[0] = 0;
    status = await invoke(out, size, pcb);
    if (isBufferTooSmall(status)) continue;
    if (status !== 0) throw fail(status);
    const written = pcb[0] ?? 0;
    if (written > size) throw fail(NTE_BUFFER_TOO_SMALL);
    return out.subarray(0, written);
  }
  throw fail(NTE_BUFFER_TOO_SMALL);
}

/** Sync flavour of {@link twoCall} for cheap calls (property reads, export). */
export function twoCallSync(
  name: string,
  invoke: (out: Buffer | null, size: number, pcb: number[]) => number,
  context: () => string,
  code?: (status: number) => { code?: KeyStoreError['code']; hint?: string } | undefined,
): Buffer {
  const fail = (status: number) =>
    statusError(name, status, { providerId: 'cng', context: context(), ...code?.(status) });
  for (let attempt = 0; attempt < 3; attempt++) {
    const pcb = [0];
    let status = invoke(null, 0, pcb);
    if (status !== 0 && !isBufferTooSmall(status)) throw fail(status);
    const size = pcb[0] ?? 0;
    if (size === 0) return Buffer.alloc(0);
    if (size > 16 * 1024 * 1024) throw fail(NTE_BUFFER_TOO_SMALL);
    const out = Buffer.alloc(size);
    pcb[0] = 0;
    status = invoke(out, size, pcb);
    if (isBufferTooSmall(status)) continue;
    if (status !== 0) throw fail(status);
    const written = pcb[0] ?? 0;
    if (written > size) throw fail(NTE_BUFFER_TOO_SMALL);
    return out.subarray(0, written);
  }
  throw fail(NTE_BUFFER_TOO_SMALL);
}

/** Memory for one call: Node-owned buffers whose addresses go into structs; kept alive by `keep`. */
export function pinBuffer(koffi: KoffiModule, keep: Buffer[], data: Buffer): bigint {
  keep.push(data);
  return koffi.address(data) as bigint;
}

/** The padding structure (or null) and padding flag of a call. */
export function paddingInfo(
  koffi: KoffiModule,
  structs: Readonly<Record<NCryptStructName, KoffiType>>,
  padding: NCryptPadding,
  keep: Buffer[],
  forCipher: boolean,
): [Buffer | null, number] {
  switch (padding.kind) {
    case 'none':
      return [null, 0];
    case 'pkcs1': {
      // Encryption with PKCS#1 takes no padding structure; signing takes one (a NULL pszAlgId signs
      // the digest bytes as they are, without a DigestInfo).
      if (forCipher) return [null, BCRYPT_PAD_PKCS1];
      const info = Buffer.alloc(koffi.sizeof(structs.BCRYPT_PKCS1_PADDING_INFO));
      const alg = padding.hash === undefined ? 0n : pinBuffer(koffi, keep, wideString(padding.hash));
      koffi.encode(info, 0, structs.BCRYPT_PKCS1_PADDING_INFO, { pszAlgId: alg });
      keep.push(info);
      return [info, BCRYPT_PAD_PKCS1];
    }
    case 'pss': {
      const info = Buffer.alloc(koffi.sizeof(structs.BCRYPT_PSS_PADDING_INFO));
      koffi.encode(info, 0, structs.BCRYPT_PSS_PADDING_INFO, {
        pszAlgId: pinBuffer(koffi, keep, wideString(padding.hash)),
        cbSalt: padding.saltLength,
      });
      keep.push(info);
      return [info, BCRYPT_PAD_PSS];
    }
    case 'oaep': {
      const info = Buffer.alloc(koffi.sizeof(structs.BCRYPT_OAEP_PADDING_INFO));
      const label = padding.label !== undefined && padding.label.length > 0 ? Buffer.from(padding.label) : null;
      koffi.encode(info, 0, structs.BCRYPT_OAEP_PADDING_INFO, {
        pszAlgId: pinBuffer(koffi, keep, wideString(padding.hash)),
        pbLabel: label === null ? 0n : pinBuffer(koffi, keep, label),
        cbLabel: label === null ? 0 : label.length,
      });
      keep.push(info);
      return [info, BCRYPT_PAD_OAEP];
    }
  }
}

/** The padding of a call in words, for messages. */
export function paddingText(padding: NCryptPadding): string {
  switch (padding.kind) {
    case 'none':
      return 'no padding';
    case 'pkcs1':
      return `PKCS#1${padding.hash ? ` ${padding.hash}` : ''}`;
    case 'pss':
      return `PSS ${padding.hash} salt ${padding.saltLength}`;
    case 'oaep':
      return `OAEP ${padding.hash}`;
  }
}
