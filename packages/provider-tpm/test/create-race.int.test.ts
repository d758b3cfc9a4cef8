// Creates that race, on a real TPM stack (swtpm and tpm2-tss FAPI): two creates of one name at once
// never both succeed (Fapi_CreateKey alone lets both make a key: one overwrites the other, or with
// different algorithms the name holds two keys), and a cancelled create that rejects leaves no key.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { type KeyScope, KeyStoreError } from '@keystore/core';
import { createTestKeyStore } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FapiBindings, TpmProvider } from '../src/index.js';
import { loadFapi } from '../src/native/fapi.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

const DIST = join(import.meta.dirname, '..', 'dist', 'index.js');
const HAVE_DIST = existsSync(DIST);

/** A child process with its own provider: it creates each name written to its stdin and prints `name outcome`. */
const CHILD = `
import { createInterface } from 'node:readline';
const { TpmProvider } = await import(process.env.PROVIDER_URL);
const provider = new TpmProvider({ configFile: process.env.CONFIG_FILE });
await provider.listKeys();
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  const name = line.trim();
  const outcome = await provider
    .createKey({ name, algorithm: 'ECDSA-P384', scope: 'user', exportable: false })
    .then((key) => key.close().then(() => 'resolved'), (err) => err?.code ?? String(err));
  console.log(name + ' ' + outcome);
}
await provider.close();
`;

const codeOf = (err: unknown) => (KeyStoreError.is(err) ? err.code : `not a KeyStoreError: ${String(err)}`);
const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: unknown) => codeOf(err),
  );

describe.skipIf(!HAVE_SWTPM)(`creates that race, on swtpm (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`, () => {
  let tpm: SwtpmInstance;
  let native: FapiBindings;

  beforeAll(async () => {
    tpm = await startSwtpm();
    native = loadFapi();
    const first = new TpmProvider({ configFile: tpm.configFile });
    // provisions every profile once for the whole file
    await first.listKeys();
    await first.close();
  });
  afterAll(async () => {
    await tpm?.dispose();
  });

  /** The user and system keystore directories of the simulator's FAPI config. */
  function keystoreDirs(): string[] {
    const config = JSON.parse(readFileSync(tpm.configFile, 'utf8')) as { user_dir: string; system_dir: string };
    return [config.user_dir, config.system_dir];
  }

  /** Whether any provider can still open the name, in either scope. */
  async function openable(provider: TpmProvider, name: string): Promise<string[]> {
    const found: string[] = [];
    for (const scope of ['user', 'machine'] as const) {
      const outcome = await settle(provider.openKey({ name, scope }));
      if (outcome !== 'ERR_KEYSTORE_KEY_NOT_FOUND') found.push(`${scope}: ${outcome}`);
    }
    return found;
  }

  it('two creates of one name in two stores at once, different algorithms and scopes: 12 tries, exactly one succeeds, the other gets KEY_EXISTS, and one delete leaves nothing openable', async () => {
    const pairs: Array<[string, string, KeyScope, KeyScope]> = [
      ['ECDSA-P256', 'ECDSA-P384', 'user', 'user'],
      ['ECDSA-P256', 'ECDSA-P256', 'user', 'user'],
      ['ECDSA-P384', 'ECDSA-P256', 'user', 'machine'],
      ['ECDSA-P256', 'RSA-2048', 'user', 'user'],
    ];
    const p1 = new TpmProvider({ configFile: tpm.configFile });
    const p2 = new TpmProvider({ configFile: tpm.configFile });
    const store = (provider: TpmProvider) =>
      createTestKeyStore({
        providers: [provider],
        policy: { minimumIsolation: 'in-process' },
        machinePolicy: null,
        registryPolicy: null,
      });
    const s1 = await store(p1);
    const s2 = await store(p2);
    const results: string[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        const [a1, a2, scope1, scope2] = pairs[i % pairs.length]!;
        const name = `race-${i}`;
        const outcomes = await Promise.all([
          settle(s1.createKey(name, { algorithm: a1 as 'ECDSA-P256', scope: scope1 })),
          settle(s2.createKey(name, { algorithm: a2 as 'ECDSA-P256', scope: scope2 })),
        ]);
        results.push([...outcomes].sort().join(' + '));
        const winner = outcomes[0] === 'resolved' ? scope1 : scope2;
        await s1.deleteKey(name, { scope: winner });
        expect({ name, left: await openable(p2, name) }).toEqual({ name, left: [] });
        expect({ name, left: await openable(p1, name) }).toEqual({ name, left: [] });
      }
    } finally {
      await s1.close();
      await s2.close();
    }
    expect(results).toEqual(Array.from({ length: 12 }, () => 'ERR_KEYSTORE_KEY_EXISTS + resolved'));
    // no claim is left behind in either keystore directory, nor the lock directory that Fapi_List shows
    for (const dir of keystoreDirs()) expect(existsSync(join(dir, '.keystore-create'))).toBe(false);
  }, 240_000);

  it.skipIf(!HAVE_DIST)(
    `two creates of one name in two processes at once: 10 tries, exactly one succeeds, the other gets KEY_EXISTS${HAVE_DIST ? '' : ' (needs the built provider: npm run build)'}`,
    async () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
        env: { ...process.env, PROVIDER_URL: pathToFileURL(DIST).href, CONFIG_FILE: tpm.configFile },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const next = async () => String((await lines.next()).value ?? '');
      const provider = new TpmProvider({ configFile: tpm.configFile });
      const results: string[] = [];
      try {
        expect(await next()).toBe('ready');
        await provider.listKeys();
        for (let i = 0; i < 10; i++) {
          const name = `xproc-${i}`;
          child.stdin.write(`${name}\n`);
          const [mine, theirs] = await Promise.all([
            settle(provider.createKey({ name, algorithm: 'ECDSA-P256', scope: 'user', exportable: false })),
            next().then((line) => line.split(' ')[1] ?? line),
          ]);
          results.push([mine, theirs].sort().join(' + '));
          if (mine === 'resolved' || theirs === 'resolved') await provider.deleteKey({ name, scope: 'user' });
          expect({ name, left: await openable(provider, name) }).toEqual({ name, left: [] });
        }
      } finally {
        child.stdin.end();
        await new Promise((resolve) => child.once('exit', resolve));
        await provider.close();
      }
      expect(results).toEqual(Array.from({ length: 10 }, () => 'ERR_KEYSTORE_KEY_EXISTS + resolved'));
    },
    120_000,
  );

  it('while a create holds its claim, listKeys() works and shows no lock file; a create of another name is not held up', async () => {
    let release: () => void = () => undefined;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const held: FapiBindings = {
      ...native,
      async createKey(...args) {
        if (String(args[1]).endsWith('/held')) {
          started();
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        }
        return native.createKey(...args);
      },
    };
    const provider = new TpmProvider({ configFile: tpm.configFile, native: held });
    const other = new TpmProvider({ configFile: tpm.configFile });
    try {
      const creating = provider.createKey({ name: 'held', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
      await running;
      expect(readdirSync(join(keystoreDirs()[0]!, '.keystore-create'))).toEqual(['held.lock']);
      expect(
        await settle(other.createKey({ name: 'held', algorithm: 'ECDSA-P384', scope: 'machine', exportable: false })),
      ).toBe('ERR_KEYSTORE_KEY_EXISTS');
      const free = await other.createKey({ name: 'free', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
      const names = (await other.listKeys()).map((k) => k.name);
      expect(names).toContain('free');
      expect(names.filter((n) => n.includes('lock') || n.includes('keystore-create'))).toEqual([]);
      release();
      await (await creating).close();
      await free.close();
      await other.deleteKey({ name: 'held', scope: 'user' });
      await other.deleteKey({ name: 'free', scope: 'user' });
    } finally {
      release();
      await provider.close();
      await other.close();
    }
  }, 120_000);

  it('aborts at many delays across a create: every create that rejects leaves no key, every one that resolves holds the only key', async () => {
    const provider = new TpmProvider({ configFile: tpm.configFile });
    const other = new TpmProvider({ configFile: tpm.configFile });
    const outcomes = new Map<string, number>();
    const leftovers: string[] = [];
    try {
      // a create of ECDSA-P256 on swtpm takes tens of ms: abort from before it starts to after it ends
      for (let delay = 0; delay <= 240; delay += 6) {
        const name = `abort-${delay}`;
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), delay);
        const outcome = await settle(
          provider.createKey({
            name,
            algorithm: 'ECDSA-P256',
            scope: 'user',
            exportable: false,
            signal: controller.signal,
          }),
        );
        clearTimeout(timer);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        const left = await openable(other, name);
        if (outcome === 'resolved') {
          expect({ name, left }).toEqual({ name, left: ['user: resolved'] });
          await other.deleteKey({ name, scope: 'user' });
        } else {
          expect({ name, outcome }).toEqual({ name, outcome: 'ERR_KEYSTORE_CANCELLED' });
          if (left.length > 0) leftovers.push(`${name}: ${left.join(', ')}`);
        }
      }
      expect(leftovers).toEqual([]);
      const names = (await other.listKeys()).map((k) => k.name);
      expect(names.filter((n) => n.startsWith('abort-'))).toEqual([]);
    } finally {
      await provider.close();
      await other.close();
    }
    // both kinds of outcome were seen, so the delays spanned the create
    expect(outcomes.get('ERR_KEYSTORE_CANCELLED') ?? 0).toBeGreaterThan(0);
    expect(outcomes.get('resolved') ?? 0).toBeGreaterThan(0);
  }, 240_000);
});
