// The event loop keeps turning while the TPM works: native calls run on worker threads through
// koffi's async mode. This file runs alone (the `serial` test project, after the others), so what it
// measures is the provider, not other test files competing for the machine's two cores.
import { createHash, verify } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TpmKey, TpmProvider } from '../src/index.js';
import { SIGN_PATHS } from './helpers/sign-paths.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const digestOf = (text: string) => createHash('sha256').update(text).digest();
const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;

describe.skipIf(!HAVE_SWTPM).each(SIGN_PATHS)(
  `event loop during TPM signs on swtpm, sign path $name (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`,
  ({ loadedKeys }) => {
    let tpm: SwtpmInstance;
    let provider: TpmProvider;
    let ec: TpmKey;

    beforeAll(async () => {
      tpm = await startSwtpm();
      provider = new TpmProvider({ configFile: tpm.configFile, loadedKeys });
      ec = await provider.createKey({ name: 'loop-ec', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
      await ec.signDigest(digestOf('warm'), P);
    });
    afterAll(async () => {
      await provider?.close();
      await tpm?.dispose();
    });

    it('the largest event-loop delay during 100 signs stays below 20 ms', async () => {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const signatures = await Promise.all(
        Array.from({ length: 100 }, (_, i) => ec.signDigest(digestOf(`l${i}`), P).then((s) => ({ i, s }))),
      );
      h.disable();
      for (const { i, s } of signatures) {
        expect(
          verify(
            'sha256',
            Buffer.from(`l${i}`),
            { key: ec.publicKey, dsaEncoding: s.dsaEncoding ?? 'der' },
            s.signature,
          ),
        ).toBe(true);
      }
      const maxMs = h.max / 1e6;
      expect(maxMs).toBeLessThan(20);
    }, 60_000);
  },
);
