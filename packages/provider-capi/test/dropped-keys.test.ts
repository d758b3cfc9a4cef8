// A CryptoAPI key dropped without close() is released by its finalizer although its provider is
// still open: the provider (and the container registry) hold open keys weakly. Over the advapi32
// double, which counts the context and key handles still open.
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { CapiProvider } from '../src/index.js';
import { createAdvapiDouble } from './helpers/advapi-double.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage until `done()` or about two seconds have passed. */
async function collectUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 40 && !done(); i++) {
    gc();
    await sleep(50);
  }
}

describe('keys dropped without close()', () => {
  it('are released while the provider stays open; a key still held is not', async () => {
    const native = createAdvapiDouble();
    const provider = new CapiProvider({ native });
    await (await provider.createKey({ name: 'drop', algorithm: 'RSA-2048', scope: 'user', exportable: false })).close();
    const idle = native.openHandles();
    const held = await provider.openKey({ name: 'drop', scope: 'user' });
    const withHeld = native.openHandles();
    expect(withHeld).toBeGreaterThan(idle);
    // Opened and dropped in a scope of its own: nothing but the provider refers to it.
    await (async () => {
      await provider.openKey({ name: 'drop', scope: 'user' });
    })();
    expect(native.openHandles()).toBeGreaterThan(withHeld);
    await collectUntil(() => native.openHandles() === withHeld);
    expect(native.openHandles()).toBe(withHeld);
    // The held key still works, and the provider's close() still closes it.
    const signature = await held.signDigest(Buffer.alloc(32, 1), { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
    expect(signature.signature.length).toBe(256);
    await provider.close();
    expect(native.openHandles()).toBe(idle);
  });
});
