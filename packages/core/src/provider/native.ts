/**
 * The one type of an FFI-loaded native function, for the providers' `src/native/` layers.
 *
 * @module
 */

/**
 * A function of a native library as an FFI loader (koffi) returns it: called synchronously, or
 * through `async` with a Node-style callback as the last argument. Its arguments and result are
 * whatever the declared C prototype makes them, so they stay untyped here: keep such functions
 * behind a typed interface in the provider's `src/native/`.
 *
 * @since 0.4.0
 */
// biome-ignore lint/suspicious/noExplicitAny: a C function's JavaScript arguments and result depend on its prototype
export type NativeFn = ((...args: any[]) => any) & { async: (...args: unknown[]) => void };
