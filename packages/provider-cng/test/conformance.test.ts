/**
 * The core's provider conformance suite, run against the CNG provider over the NCrypt double
 * (test/helpers/ncrypt-double.ts): the provider's logic end to end, on any OS. The same suite runs
 * against the real ncrypt.dll in cng.windows.test.ts.
 */
import { defineProviderConformanceSuite } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { overDouble } from './helpers/setup.js';

for (const posture of ['Windows, LSASS unprotected', 'Windows, LSASS protected and VBS running'] as const) {
  const { provider } = overDouble(
    posture === 'Windows, LSASS unprotected'
      ? {}
      : {
          lsass: { ok: true, value: { pid: 700, protection: 0x41, identifiedBy: 'service control manager (KeyIso)' } },
          iso: { ok: true, value: { secureKernelRunning: true, hvciEnabled: true, trustletRunning: true } },
        },
  );
  defineProviderConformanceSuite({
    name: `cng over the NCrypt double (${posture})`,
    createProvider: () => provider,
    test: { describe, it, beforeAll, afterAll },
    skip: {
      passwords:
        'CNG keys take no password in this SDK; Windows asks for one itself when the key is created with userPrompt.forceHighProtection',
    },
  });
}
