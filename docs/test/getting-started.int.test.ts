/**
 * The Linux part of docs/getting-started.md works as written: steps 2 to 7 (start swtpm, the FAPI
 * config, the development policy, `keystore doctor`, create, sign, verify, the `sign.mjs` program,
 * clean up) run in order, as the page shows them, in a scratch project where the workspace's built
 * packages stand for the `npm install` of step 1. The only change is the simulator's port pair, a free
 * one for this file in place of the page's 2321/2322. Needs Linux with swtpm and libtss2-fapi1
 * (skipped with a message otherwise; with KEYSTORE_REQUIRE_SWTPM=1, as CI sets, the helper import
 * below fails the file instead).
 */
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortPair, HAVE_SWTPM, NEEDS_SWTPM } from '../../packages/provider-tpm/test/helpers/swtpm.js';
import {
  alive,
  commandsLike,
  missingForWalkthrough,
  runSteps,
  stopSimulator,
  WalkthroughProject,
  walkthroughSteps,
} from './walkthrough.js';

const PAGE = 'docs/getting-started.md';
const missing = [...(HAVE_SWTPM ? [] : [NEEDS_SWTPM]), ...missingForWalkthrough()];
if (missing.length > 0 && process.env.KEYSTORE_REQUIRE_SWTPM === '1') {
  throw new Error(`KEYSTORE_REQUIRE_SWTPM=1 but the getting-started walkthrough cannot run: ${missing.join('; ')}`);
}
if (missing.length > 0) console.warn(`skipping the getting-started walkthrough on swtpm: ${missing.join('; ')}`);

describe.skipIf(missing.length > 0)(
  `docs/getting-started.md on Linux with swtpm${missing.length > 0 ? ` (skipped: ${missing.join('; ')})` : ''}`,
  () => {
    let project: WalkthroughProject | undefined;
    afterAll(() => {
      if (project) {
        stopSimulator(project.path('tpm/swtpm.pid'));
        project.cleanup();
      }
    });

    it('runs steps 2 to 7 in order: exit codes, the receipt, the signature, the program', async () => {
      const steps = walkthroughSteps(PAGE, 'getting-started');
      expect(steps.some((s) => s.kind === 'file' && s.file === 'sign.mjs')).toBe(true);
      const commands = steps.flatMap((s) => (s.kind === 'command' ? [s.command] : []));
      expect(commands.some((c) => /\b2321\b/.test(c) && /\b2322\b/.test(c))).toBe(true);
      const port = await freePortPair();
      const rewrite = (c: string) => c.replace(/\b2321\b/g, String(port)).replace(/\b2322\b/g, String(port + 1));
      project = new WalkthroughProject(rewrite);

      const ran = runSteps(project, PAGE, steps);

      expect(commandsLike(ran, /keystore doctor/).map((d) => d.result.code)).toEqual([3, 0]);
      const created = commandsLike(ran, /keys create signing --algorithm ECDSA-P256/)[0];
      expect(created?.result.stdout).toContain('keystore:tpm:user:signing');
      expect(created?.result.stdout).toContain('ECDSA-P256');
      // The receipt: a simulator's keys are in-process, never hardware.
      expect(created?.result.stdout).toContain('in-process');
      expect(commandsLike(ran, /openssl dgst .*-verify/)[0]?.result.stdout).toContain('Verified OK');
      // The program of step 6 opened the key, signed, verified and printed the receipt.
      const program = commandsLike(ran, /^node sign\.mjs$/)[0]?.result.stdout ?? '';
      expect(program).toContain('verified: true');
      expect(program).toContain('receipt: in-process');

      const publicKey = createPublicKey(readFileSync(project.path('signing.pem')));
      const signature = readFileSync(project.path('data.sig'));
      expect(verify('sha256', readFileSync(project.path('data.txt')), publicKey, signature)).toBe(true);
      expect(verify('sha256', Buffer.from('other data'), publicKey, signature)).toBe(false);
      expect(alive(project.path('tpm/swtpm.pid'))).toBe(false);
    }, 300_000);
  },
);
