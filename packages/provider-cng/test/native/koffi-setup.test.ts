/**
 * The one koffi loader's configuration over a named double of koffi's `config()`: the async stack is
 * raised to 1 MiB while koffi still allows it; when koffi refuses (a library was loaded first), the
 * setup says so and one process warning is emitted. The real ordering runs under Wine in
 * koffi-order.int.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  configureKoffi,
  KOFFI_ASYNC_STACK_SIZE,
  KOFFI_STACK_WARNING_CODE,
  warnKoffiSetup,
} from '../../src/native/koffi.js';

type Config = { async_stack_size?: number; max_async_calls?: number };

/** A double of koffi.config(): a getter/setter that refuses changes once `loaded` is true, as koffi does. */
function koffiDouble(initial: Config, loaded: boolean) {
  let current = { ...initial };
  const sets: Config[] = [];
  const config = ((next?: Config) => {
    if (next === undefined) return { ...current };
    if (loaded) throw new Error('Cannot change configuration once a library has been loaded');
    sets.push(next);
    current = { ...next };
    return { ...current };
  }) as unknown as Parameters<typeof configureKoffi>[0]['config'];
  return { koffi: { config }, sets };
}

const WARNED = Symbol.for('@keystore/provider-cng/koffi-stack-warned');

afterEach(() => {
  delete (globalThis as Record<symbol, unknown>)[WARNED];
  vi.restoreAllMocks();
});

describe('configureKoffi', () => {
  it("raises koffi's default 128 KiB async stack to 1 MiB, keeping the other settings", () => {
    const { koffi, sets } = koffiDouble({ async_stack_size: 128 * 1024, max_async_calls: 256 }, false);
    expect(configureKoffi(koffi)).toEqual({ asyncStackSize: KOFFI_ASYNC_STACK_SIZE, applied: true });
    expect(sets).toEqual([{ async_stack_size: 1 << 20, max_async_calls: 256 }]);
  });

  it('leaves a larger stack alone', () => {
    const { koffi, sets } = koffiDouble({ async_stack_size: 2 << 20 }, true);
    expect(configureKoffi(koffi)).toEqual({ asyncStackSize: 2 << 20, applied: true });
    expect(sets).toEqual([]);
  });

  it('after another module loaded a library: not applied, with the reason, and one warning per process', () => {
    const { koffi } = koffiDouble({ async_stack_size: 128 * 1024 }, true);
    const setup = configureKoffi(koffi);
    expect(setup.applied).toBe(false);
    expect(setup.asyncStackSize).toBe(128 * 1024);
    expect(setup.reason).toMatch(/loaded a library through koffi first/);
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    warnKoffiSetup(setup);
    warnKoffiSetup(setup);
    expect(emit).toHaveBeenCalledTimes(1);
    const [message, options] = emit.mock.calls[0] as [string, { code: string; type: string }];
    expect(message).toMatch(/128 KiB, not 1 MiB/);
    expect(options).toMatchObject({ code: KOFFI_STACK_WARNING_CODE, type: 'KeyStoreWarning' });
  });

  it('no warning when the configuration held', () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    warnKoffiSetup({ asyncStackSize: 1 << 20, applied: true });
    expect(emit).not.toHaveBeenCalled();
  });
});
