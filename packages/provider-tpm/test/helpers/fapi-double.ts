/**
 * A programmable double of the FAPI function table (FapiBindings), for tests of the pool and the
 * provider logic. It records every call and flags two calls in flight on one context.
 */
import type {
  FapiAuthSource,
  FapiBindings,
  FapiContextHandle,
  FapiResult,
  FapiSignature,
} from '../../src/native/fapi.js';

export interface DoubleCall {
  readonly fn: string;
  readonly context?: bigint;
  readonly args: readonly unknown[];
}

export interface FapiDouble extends FapiBindings {
  readonly calls: DoubleCall[];
  readonly finalized: bigint[];
  /** Set when two calls ran at once on one context. */
  overlap: boolean;
  /** The auth callback installed on each context. */
  readonly authSources: Map<bigint, FapiAuthSource>;
  /** Programs the next results of `fn` (consumed in order; then the default). */
  program(fn: string, ...results: Array<() => Promise<unknown>>): void;
}

export function createFapiDouble(): FapiDouble {
  let next = 0x1000n;
  const busy = new Set<bigint>();
  const programmed = new Map<string, Array<() => Promise<unknown>>>();
  const calls: DoubleCall[] = [];
  const finalized: bigint[] = [];
  const authSources = new Map<bigint, FapiAuthSource>();
  const self = { overlap: false } as { overlap: boolean };
  // The double signs "with" the key it last exported: Fapi_Sign returns that key's public key.
  const exportedPem = new Map<string, string>();
  const remember = (path: unknown, result: FapiResult<string>): FapiResult<string> => {
    try {
      const pem = (JSON.parse(result.value ?? '') as { pem_ext_public?: unknown }).pem_ext_public;
      if (typeof pem === 'string') exportedPem.set(String(path), pem);
    } catch {
      // not an exported key
    }
    return result;
  };

  async function track<T>(fn: string, context: bigint | undefined, args: unknown[], fallback: () => T): Promise<T> {
    calls.push({ fn, ...(context === undefined ? {} : { context }), args });
    if (context !== undefined) {
      if (busy.has(context)) self.overlap = true;
      busy.add(context);
    }
    try {
      const queue = programmed.get(fn);
      const step = queue?.shift();
      if (step) return (await step()) as T;
      await new Promise((r) => setTimeout(r, 1));
      return fallback();
    } finally {
      if (context !== undefined) busy.delete(context);
    }
  }

  const double: FapiDouble = {
    libraryPath: 'double',
    calls,
    finalized,
    authSources,
    get overlap() {
      return self.overlap;
    },
    set overlap(v: boolean) {
      self.overlap = v;
    },
    program(fn, ...results) {
      programmed.set(fn, [...(programmed.get(fn) ?? []), ...results]);
    },
    initialize: () =>
      track('initialize', undefined, [process.env.TSS2_FAPICONF], () => {
        next += 1n;
        return { rc: 0, value: next as FapiContextHandle };
      }),
    finalize(context) {
      calls.push({ fn: 'finalize', context, args: [] });
      finalized.push(context);
    },
    provision: (c) => track('provision', c, [], () => 0),
    createKey: (c, ...args) => track('createKey', c, args, () => 0),
    sign: (c, ...args) =>
      track<FapiResult<FapiSignature>>('sign', c, args, () => ({
        rc: 0,
        value: { signature: Buffer.from([1, 2, 3]), publicKeyPem: exportedPem.get(String(args[0])) ?? '' },
      })),
    decrypt: (c, ...args) => track<FapiResult<Buffer>>('decrypt', c, args, () => ({ rc: 0, value: Buffer.alloc(0) })),
    exportKey: async (c, ...args) =>
      remember(args[0], await track<FapiResult<string>>('exportKey', c, args, () => ({ rc: 0x60020 }))),
    delete: (c, ...args) => track('delete', c, args, () => 0),
    list: (c, ...args) => track<FapiResult<string>>('list', c, args, () => ({ rc: 0, value: '' })),
    getInfo: (c) => track<FapiResult<string>>('getInfo', c, [], () => ({ rc: 0, value: '{}' })),
    setAuthCallback(context, source) {
      calls.push({ fn: 'setAuthCallback', context, args: [] });
      authSources.set(context, source);
      return { rc: 0, release: () => undefined };
    },
    decode: (rc) => `double rc 0x${rc.toString(16)}`,
  };
  return double;
}
