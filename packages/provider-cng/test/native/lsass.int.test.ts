/**
 * The LSASS lookup with the real system calls inside Windows Node under Wine 8.0, with a process
 * named lsass.exe started by the test. What Wine gives (measured here): no KeyIso or SamSs service
 * (OpenServiceW fails with ERROR_SERVICE_DOES_NOT_EXIST, 0x424) and no lsass.exe of its own, and
 * ProcessIdToSessionId puts the processes of a Wine session in session 1, even one started by Wine's
 * service manager (tried with `sc create` and `sc start`). So the fake lsass.exe is
 * refused for its session, before its image path is compared; the image-path rule and the
 * service-manager path are shown over the double (lsass.test.ts) and on Windows (cng.windows.test.ts).
 * Needs the built package (`npm run build -w @keystore/provider-cng`).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runWineScript, wine } from '../../../../test-support/wine.js';

const RUN = `keystore-fake-lsass-${randomBytes(4).toString('hex')}`;

interface Reading {
  ok: boolean;
  status?: number;
  reason?: string;
  value?: { pid: number; protection: number; identifiedBy?: string };
}

describe.skipIf(!wine.available)(`the LSASS lookup under Wine (needs Wine: ${wine.reason})`, () => {
  let out: { before: Reading; withFake: Reading; fakePid: number };

  beforeAll(async () => {
    const result = await runWineScript(
      `
const n = require('@keystore/provider-cng/native');
const { spawn } = require('child_process');
const fs = require('fs');
const s = n.loadWindowsSystem();
const out = { before: s.lsassProtection() };
const dir = 'C:\\\\${RUN}';
fs.mkdirSync(dir, { recursive: true });
// Anyone can name a program lsass.exe: a copy of Node, waiting.
fs.copyFileSync(process.execPath, dir + '\\\\lsass.exe');
const child = spawn(dir + '\\\\lsass.exe', ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
setTimeout(() => {
  out.fakePid = child.pid;
  out.withFake = s.lsassProtection();
  child.kill();
  console.log(JSON.stringify(out));
}, 3000);
`,
      { timeoutMs: 180_000 },
    );
    if (result.json === undefined)
      throw new Error(`the Wine script printed no JSON:\n${result.stdout}\n${result.stderr}`);
    out = result.json as typeof out;
  }, 240_000);

  afterAll(() => {
    rmSync(`${repoRoot}.cache/wine/prefix/drive_c/${RUN}`, { recursive: true, force: true });
  });

  it('Wine has no KeyIso or SamSs service and no lsass.exe: not found, saying why', () => {
    expect(out.before.ok).toBe(false);
    expect(out.before.status).toBe(1168);
    expect(out.before.reason).toContain('KeyIso: 0x00000424');
    expect(out.before.reason).toContain('no lsass.exe is running');
  });

  it('a process merely named lsass.exe, in a user session, is not taken for LSASS', () => {
    expect(Number.isInteger(out.fakePid)).toBe(true);
    expect(out.withFake.ok).toBe(false);
    expect(out.withFake.status).toBe(1168);
    expect(out.withFake.reason).toContain(`pid ${out.fakePid}: runs in session 1, not session 0`);
  });
});
