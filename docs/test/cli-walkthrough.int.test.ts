/**
 * The walkthrough of docs/cli.md ("Walkthrough: keys on Linux with a software TPM") works as written:
 * its commands run in order, as the page shows them, in a scratch project where the workspace's built
 * packages stand for the page's `npm install`. The only change is the simulator's port pair, a free
 * one for this file in place of the page's 2321/2322, so that parallel test files never share a TPM.
 * Needs Linux with swtpm and libtss2-fapi1 (skipped with a message otherwise; with
 * KEYSTORE_REQUIRE_SWTPM=1, as CI sets, the helper import below fails the file instead).
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

const PAGE = 'docs/cli.md';
const missing = [...(HAVE_SWTPM ? [] : [NEEDS_SWTPM]), ...missingForWalkthrough()];
if (missing.length > 0 && process.env.KEYSTORE_REQUIRE_SWTPM === '1') {
  throw new Error(`KEYSTORE_REQUIRE_SWTPM=1 but the docs/cli.md walkthrough cannot run: ${missing.join('; ')}`);
}
if (missing.length > 0) console.warn(`skipping the docs/cli.md walkthrough on swtpm: ${missing.join('; ')}`);

describe.skipIf(missing.length > 0)(
  `docs/cli.md walkthrough on swtpm${missing.length > 0 ? ` (skipped: ${missing.join('; ')})` : ''}`,
  () => {
    let project: WalkthroughProject | undefined;
    afterAll(() => {
      if (project) {
        stopSimulator(project.path('tpm/swtpm.pid'));
        project.cleanup();
      }
    });

    it('runs every command of the walkthrough in order: exit codes, the key, the signature', async () => {
      const steps = walkthroughSteps(PAGE, 'cli');
      const commands = steps.flatMap((s) => (s.kind === 'command' ? [s.command] : []));
      // The page's simulator ports, replaced by a free pair; the page must name them for that to work.
      expect(commands.some((c) => /\b2321\b/.test(c) && /\b2322\b/.test(c))).toBe(true);
      const port = await freePortPair();
      const rewrite = (c: string) => c.replace(/\b2321\b/g, String(port)).replace(/\b2322\b/g, String(port + 1));
      project = new WalkthroughProject(rewrite);

      const ran = runSteps(project, PAGE, steps);

      // Under the default floor the simulated TPM is refused; under the development policy it serves.
      const doctors = commandsLike(ran, /keystore doctor/);
      expect(doctors.map((d) => d.result.code)).toEqual([3, 0]);
      for (const created of commandsLike(ran, /keys create/)) {
        const [, name, algorithm] = /keys create (\S+) --algorithm (\S+)/.exec(created.step.command) ?? [];
        expect(created.result.stdout).toContain(`keystore:tpm:user:${name}`);
        expect(created.result.stdout).toContain(algorithm);
        expect(commandsLike(ran, /keys list/)[0]?.result.stdout).toContain(`keystore:tpm:user:${name}`);
      }
      expect(commandsLike(ran, /openssl dgst .*-verify/)[0]?.result.stdout).toContain('Verified OK');

      // What the walkthrough left behind: a signature over data.txt that the exported public key verifies.
      const publicKey = createPublicKey(readFileSync(project.path('signing.pem')));
      expect(publicKey.asymmetricKeyType).toBe('ec');
      const data = readFileSync(project.path('data.txt'));
      expect(verify('sha256', data, publicKey, readFileSync(project.path('data.sig')))).toBe(true);
      expect(verify('sha256', Buffer.from('other data'), publicKey, readFileSync(project.path('data.sig')))).toBe(
        false,
      );
      // The last step stopped the simulator.
      expect(alive(project.path('tpm/swtpm.pid'))).toBe(false);
    }, 300_000);
  },
);
