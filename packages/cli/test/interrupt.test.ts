// Ctrl-C while a command waits on a slow provider: the operation is cancelled through its
// AbortSignal, the command exits 130 with one stderr line, and nothing is left behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from './helpers.js';

describe('keystore interrupted by SIGINT', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider();
  });
  afterAll(() => box?.cleanup());

  it('cancels keys create on a slow provider: exit 130, ERR_KEYSTORE_CANCELLED, no key created', async () => {
    const started = box.path('create-started');
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) if (name.startsWith('KEYSTORE_') || name.startsWith('TSS2_')) delete env[name];
    Object.assign(env, {
      KEYSTORE_MACHINE_POLICY: box.machinePolicyFile,
      KEYSTORE_FAKE_STORE: box.path('fake-keys'),
      KEYSTORE_FAKE_CREATE_DELAY_MS: '20000',
      KEYSTORE_FAKE_CREATE_STARTED: started,
    });
    const child = spawn(
      process.execPath,
      [box.bin, 'keys', 'create', 'slow', '--algorithm', 'ECDSA-P256', '--provider', 'fake'],
      {
        cwd: box.dir,
        env,
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const deadline = Date.now() + 15_000;
    while (!existsSync(started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(started), 'the provider never started creating the key').toBe(true);
    const interruptedAt = Date.now();
    child.kill('SIGINT');
    const code = await exited;
    expect(Date.now() - interruptedAt).toBeLessThan(5_000);
    expect(code).toBe(130);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\(ERR_KEYSTORE_CANCELLED\)$/);
    expect(box.run(['keys', 'list', '--provider', 'fake', '--json']).stdout).not.toContain('slow');
  }, 30_000);
});
