// The SDK's one koffi loader, for real inside Windows Node under Wine with the CryptoAPI and CNG
// providers in one process: whichever loads first, koffi is configured (a 1 MiB async stack) before
// its first koffi.load, and both providers' probe() details (what `keystore doctor` prints) say so.
// When another module loaded a library through koffi first, the configuration cannot be applied:
// one process warning (KEYSTORE_KOFFI_STACK) and the doctor line say why.
import { describe, expect, it } from 'vitest';
import { runWineScript, wine } from '../../../test-support/wine.js';

async function inWindows(source: string): Promise<Record<string, unknown>> {
  const r = await runWineScript(source, { timeoutMs: 120_000 });
  if (r.code !== 0 || r.json === undefined) {
    throw new Error(`Windows Node exited ${r.code}: ${r.stdout.slice(-2000)} ${r.stderr.slice(-2000)}`);
  }
  return r.json as Record<string, unknown>;
}

/** Probes capi, then cng (the CLI's sorted order), after `before`; prints what koffi and the providers say. */
const script = (before: string) => `
const warnings = [];
process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }));
${before}
const capi = require('@keystore/provider-capi');
const cng = require('@keystore/provider-cng');
const native = require('@keystore/provider-cng/native');
(async () => {
  const first = await capi.createProvider().probe();
  const second = await cng.createProvider().probe();
  await new Promise((r) => setImmediate(r));
  console.log(JSON.stringify({
    capiStack: first.details && first.details.koffiAsyncStack,
    cngStack: second.details && second.details.koffiAsyncStack,
    asyncStackSize: require('koffi').config().async_stack_size,
    setup: native.koffiSetup(),
    warnings,
  }));
})().catch((e) => { console.log(JSON.stringify({ fatal: String(e && e.stack || e) })); });
`;

describe.skipIf(!wine.available)(
  `the one koffi loader under Wine, capi and cng in one process (needs Wine: ${wine.reason})`,
  () => {
    it('capi loading first still gives every async call a 1 MiB stack, and no warning', async () => {
      const out = await inWindows(script(''));
      expect(out.fatal).toBeUndefined();
      expect(out.asyncStackSize).toBe(1 << 20);
      expect(out.setup).toMatchObject({ applied: true, asyncStackSize: 1 << 20 });
      expect(out.capiStack).toBe('1 MiB');
      expect(out.cngStack).toBe('1 MiB');
      expect(out.warnings).toEqual([]);
    }, 180_000);

    it('a library loaded through koffi by another module first: one KEYSTORE_KOFFI_STACK warning and a doctor line with the reason', async () => {
      const out = await inWindows(script("require('koffi').load('kernel32.dll');"));
      expect(out.fatal).toBeUndefined();
      expect(out.asyncStackSize).toBeLessThan(1 << 20);
      expect(out.setup).toMatchObject({ applied: false });
      const warnings = out.warnings as { code: string; message: string }[];
      expect(warnings.filter((w) => w.code === 'KEYSTORE_KOFFI_STACK')).toHaveLength(1);
      expect(String(out.cngStack)).toMatch(/needs 1 MiB: koffi refused the configuration/);
    }, 180_000);
  },
);
