// A TPM that stops answering (swtpm stopped with SIGSTOP: its sockets accept, nothing replies) must
// not take Node's shared threadpool from the app: native calls that hang count against the budget,
// later work is refused at once, fs.promises keeps working, and once the TPM answers again the
// same provider works again.
import { createHash, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KeyStoreError } from '@keystore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeCallLimit, processBudget, threadpoolSize } from '../src/budget.js';
import { type TpmKey, TpmProvider } from '../src/index.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const digestOf = (text: string) => createHash('sha256').update(text).digest();
const P = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
const codeOf = (err: unknown) => (KeyStoreError.is(err) ? err.code : `not a KeyStoreError: ${String(err)}`);

describe.skipIf(!HAVE_SWTPM)(`a stalled TPM on swtpm (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`, () => {
  let tpm: SwtpmInstance;
  let provider: TpmProvider;
  let key: TpmKey;

  beforeAll(async () => {
    tpm = await startSwtpm();
    provider = new TpmProvider({
      configFile: tpm.configFile,
      timeouts: { operation: 300, connect: 300, probe: 500 },
    });
    key = await provider.createKey({ name: 'stall-ec', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    await key.signDigest(digestOf('warm'), P);
  });
  afterAll(async () => {
    tpm?.resume();
    await provider?.close();
    await tpm?.dispose();
  });

  it('SIGSTOP: hung signs fill the budget, later calls are PROVIDER_UNAVAILABLE at once, fs.promises still runs; SIGCONT: the same provider signs again', async () => {
    const budget = processBudget();
    expect(budget.limit).toBe(nativeCallLimit(threadpoolSize()));
    expect(budget.limit).toBeLessThan(threadpoolSize());
    tpm.pause();
    try {
      const t0 = Date.now();
      const codes: string[] = [];
      let refusedAfter: number | undefined;
      for (let round = 0; round < 10 && refusedAfter === undefined; round++) {
        const results = await Promise.all(
          Array.from({ length: 4 }, (_, i) =>
            key.signDigest(digestOf(`s${round}.${i}`), P).then(
              () => 'resolved',
              (err: unknown) => codeOf(err),
            ),
          ),
        );
        codes.push(...results);
        if (results.includes('ERR_KEYSTORE_PROVIDER_UNAVAILABLE')) refusedAfter = Date.now() - t0;
      }
      // the first calls time out; within a bounded time the rest are refused, not timed out forever
      expect(refusedAfter).toBeDefined();
      expect(refusedAfter).toBeLessThan(3_000);
      for (const code of codes) expect(['ERR_KEYSTORE_TIMEOUT', 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE']).toContain(code);
      expect(budget.stuck).toBe(budget.limit);

      const t1 = Date.now();
      const refused = await key.signDigest(digestOf('refused'), P).catch((err: unknown) => err);
      expect(Date.now() - t1).toBeLessThan(100);
      expect(refused).toMatchObject({
        code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        hint: expect.stringMatching(/TPM stopped answering.*calls are still stuck.*if the TPM comes back/),
      });
      expect(
        await provider
          .createKey({ name: 'stall-new', algorithm: 'ECDSA-P256', scope: 'user', exportable: false })
          .catch(codeOf),
      ).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
      const probe = await provider.probe();
      expect(probe.available).toBe(false);
      expect(probe.reasons.join(' ')).toMatch(/still stuck/);

      // the app's own threadpool work is not starved
      const t2 = Date.now();
      const text = await readFile(new URL(import.meta.url), 'utf8');
      expect(text.length).toBeGreaterThan(0);
      expect(Date.now() - t2).toBeLessThan(1_000);
    } finally {
      tpm.resume();
    }

    // the TPM answers again: the hung calls return and free the budget; the same provider signs
    const deadline = Date.now() + 15_000;
    let signature: Buffer | undefined;
    let last: unknown;
    while (signature === undefined && Date.now() < deadline) {
      try {
        signature = (await key.signDigest(digestOf('back'), P)).signature;
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(signature, `still failing: ${String(last)}`).toBeDefined();
    expect(verify('sha256', Buffer.from('back'), key.publicKey, signature as Buffer)).toBe(true);
    // the other hung calls return as well, and free the whole budget
    while (budget.stuck > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(budget.stuck).toBe(0);
    expect((await provider.probe()).available).toBe(true);
  }, 60_000);
});
