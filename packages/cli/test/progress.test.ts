// `keys create` tells a terminal when key generation takes a while (a TPM can take seconds), and
// says nothing extra when its output is not a terminal or is JSON.
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';
import { setProviderDirsForTesting } from '../src/providers.js';
import { Sandbox } from './helpers.js';

function capture(tty: boolean) {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (tty) stream.isTTY = true;
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { stream, text: () => text };
}

describe('keys create on a slow provider (file-backed test double with a 1.5 s create)', () => {
  let box: Sandbox;
  const saved = { ...process.env };
  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider();
    // In process, the CLI's own installation is the workspace: point it at the test double instead.
    setProviderDirsForTesting([box.providersDir as string]);
    // The test double reads its settings from the process environment.
    Object.assign(process.env, {
      KEYSTORE_MACHINE_POLICY: box.machinePolicyFile,
      KEYSTORE_FAKE_STORE: box.path('fake-keys'),
      KEYSTORE_FAKE_CREATE_DELAY_MS: '1500',
    });
  });
  afterAll(() => {
    setProviderDirsForTesting(undefined);
    process.env = saved;
    box?.cleanup();
  });

  const create = async (name: string, tty: boolean, extra: string[] = []) => {
    const stdout = capture(false);
    const stderr = capture(tty);
    const code = await run(['keys', 'create', name, '--algorithm', 'ECDSA-P256', '--provider', 'fake', ...extra], {
      stdout: stdout.stream,
      stderr: stderr.stream,
      env: process.env,
      cwd: box.dir,
    });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };

  it('on a terminal, a status line appears after a second, then the result', async () => {
    const r = await create('slow-tty', true);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^keystore: still creating the ECDSA-P256 key slow-tty… .*Ctrl-C cancels\)\n$/);
    expect(r.stdout).toMatch(/^Created key slow-tty$/m);
  }, 20_000);

  it('not on a terminal, or with --json, stderr stays empty', async () => {
    expect((await create('slow-pipe', false)).stderr).toBe('');
    const json = await create('slow-json', true, ['--json']);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'slow-json', provider: 'fake' });
  }, 20_000);
});
