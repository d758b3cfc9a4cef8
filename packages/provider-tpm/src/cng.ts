/**
 * provider-cng's modules, loaded when first needed rather than when this package is imported: the
 * SDK's one koffi loader (`@keystore/provider-cng/native`, which carries the Windows bindings) at the
 * first FAPI binding load or probe, and the key storage engine (`@keystore/provider-cng`) at the
 * first `pcpProvider()` call. Importing the TPM provider loads neither; on Linux the engine never
 * loads.
 *
 * The ES module build resolves the ES module entry and loads it with `require(esm)` (Node ≥ 20.19),
 * so that the app shares the instance its own `import` gives (one NCryptKeyStorage class, one
 * `@keystore/core`); the CommonJS build requires the CommonJS entry. Both resolve from this file's
 * own location, never from the working directory.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

type CngEngine = typeof import('@keystore/provider-cng');
type CngNative = typeof import('@keystore/provider-cng/native');

function load<T>(specifier: string): T {
  // The CommonJS build has no import.meta.resolve (tsup.config.ts defines it as undefined there).
  const resolveEsm = (import.meta as { resolve?: (specifier: string) => string }).resolve;
  const id = resolveEsm ? fileURLToPath(resolveEsm(specifier)) : specifier;
  return createRequire(import.meta.url)(id) as T;
}

let engine: CngEngine | undefined;
let native: CngNative | undefined;

/** `@keystore/provider-cng`: the NCrypt key storage engine the Platform Crypto Provider backend runs on. */
export function cngEngine(): CngEngine {
  engine ??= load<CngEngine>('@keystore/provider-cng');
  return engine;
}

/** `@keystore/provider-cng/native`: the koffi loader, and the Windows bindings and constants. */
export function cngNative(): CngNative {
  native ??= load<CngNative>('@keystore/provider-cng/native');
  return native;
}
