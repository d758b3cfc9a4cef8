// Memory (`npm run bench -- memory`, after the build; or `node bench/memory.mjs`): resident set size
// after opening 1,000 keys (in-memory provider; and TPM on swtpm), and after 100,000 signs, with a leak
// check between the 50,000th and the 100,000th sign. Each part runs in a fresh Node process started
// with --expose-gc (a full collection before every reading), so that other benchmarks' garbage does
// not count; figures are ratios against that process's own baseline, taken after the packages are
// loaded and the store is open. A report, not a timed test: no figure here is a time.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dist, ensureSimulator, haveSwtpm, MiB, root, SWTPM_MISSING, summary } from './lib.mjs';

const KEYS = Number(process.env.BENCH_MEMORY_KEYS ?? 1000);
const SIGNS = Number(process.env.BENCH_MEMORY_SIGNS ?? 100_000);
/** TPM keys made; the 1,000 handles are opened over these (making 1,000 TPM keys takes minutes on swtpm). */
const TPM_KEYS = Number(process.env.BENCH_MEMORY_TPM_KEYS ?? 10);
/** Leak tolerance between the half-way and the last reading: heap after a full GC, and RSS. */
const HEAP_TOLERANCE = 1 * MiB;
const RSS_TOLERANCE = 8 * MiB;

const self = fileURLToPath(import.meta.url);

function reading() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

async function memoryStore() {
  const { createMemoryProvider, createTestKeyStore } = await import(dist('core', 'testing/index.js'));
  return createTestKeyStore({
    providers: [createMemoryProvider()],
    policy: { minimumIsolation: 'none' },
    machinePolicy: null,
  });
}

/** Child: 1,000 keys made, then 1,000 open handles to them, in the in-memory provider. */
async function childMemoryKeys() {
  const store = await memoryStore();
  const base = reading();
  const names = [];
  for (let i = 0; i < KEYS; i++) {
    const key = await store.createKey(`mem-${i}`, { algorithm: 'ECDSA-P256' });
    names.push(key.name);
    await key.close();
  }
  const made = reading();
  const open = [];
  for (const name of names) open.push(await store.openKey(name));
  const opened = reading();
  for (const key of open) await key.close();
  await store.close();
  return { base, made, opened };
}

/** Child: SIGNS sequential signs through a KeyStore (in-memory provider, ECDSA-P256), read every quarter. */
async function childSigns() {
  const store = await memoryStore();
  const key = await store.createKey('mem-sign', { algorithm: 'ECDSA-P256' });
  const data = Buffer.alloc(64, 7);
  for (let i = 0; i < 1000; i++) await key.sign(data); // warm-up
  const base = reading();
  const checkpoints = [];
  const t0 = performance.now();
  for (let i = 1; i <= SIGNS; i++) {
    await key.sign(data);
    if (i % (SIGNS / 4) === 0) checkpoints.push({ signs: i, ...reading() });
  }
  const seconds = (performance.now() - t0) / 1000;
  await key.close();
  await store.close();
  return { base, checkpoints, seconds };
}

/** Child: TPM_KEYS keys on the TPM, then KEYS open handles over them (8 opens in flight). */
async function childTpmKeys() {
  const { createTestKeyStore } = await import(dist('core', 'testing/index.js'));
  const { tpmProvider } = await import(dist('provider-tpm'));
  const provider = tpmProvider({ poolSize: 2 });
  const probe = await provider.probe();
  if (!probe.available) throw new Error(`TPM unavailable: ${probe.reasons.join(' ')}`);
  const store = await createTestKeyStore({
    providers: [provider],
    policy: { minimumIsolation: probe.isolation },
    machinePolicy: null,
  });
  const suffix = `${process.pid}-${Date.now()}`;
  const names = [];
  for (let i = 0; i < TPM_KEYS; i++) {
    const key = await store.createKey(`bench-mem-${i}-${suffix}`, { algorithm: 'ECDSA-P256' });
    names.push(key.name);
    await key.close();
  }
  // One sign first, so that the contexts and the native library are loaded before the baseline.
  const first = await store.openKey(names[0]);
  await first.sign(createHash('sha256').update('x').digest());
  await first.close();
  const base = reading();
  const open = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < KEYS) {
        const i = next++;
        open[i] = await store.openKey(names[i % names.length]);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const opened = reading();
  for (const key of open) await key.close();
  for (const name of names) await store.deleteKey(name);
  await store.close();
  return { base, opened, seconds };
}

const CHILDREN = { 'memory-keys': childMemoryKeys, signs: childSigns, 'tpm-keys': childTpmKeys };

function inChild(part) {
  const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', part], {
    cwd: root,
    encoding: 'utf8',
    env: process.env,
    maxBuffer: 16 * MiB,
  });
  if (r.status !== 0) throw new Error(`memory bench part ${part} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const mib = (bytes) => (bytes / MiB).toFixed(1);
const ratio = (a, b) => (a / b).toFixed(2);

export async function run() {
  console.log(
    '## Memory: RSS after opening keys and after signing (fresh process per part, full GC before each reading)',
  );
  console.log('(ratios against the same process after loading the packages and opening the store)');
  console.log('');
  console.log('| part | baseline RSS, MiB | after, MiB | ratio | added per key, KiB |');
  console.log('|---|---:|---:|---:|---:|');
  const keys = inChild('memory-keys');
  const perKey = (x) => ((x - keys.base.rss) / KEYS / 1024).toFixed(1);
  console.log(
    `| in-memory provider: ${KEYS} ECDSA-P256 keys made (handles closed) | ${mib(keys.base.rss)} | ${mib(keys.made.rss)} | ${ratio(keys.made.rss, keys.base.rss)} | ${perKey(keys.made.rss)} |`,
  );
  console.log(
    `| in-memory provider: and ${KEYS} handles open | ${mib(keys.base.rss)} | ${mib(keys.opened.rss)} | ${ratio(keys.opened.rss, keys.base.rss)} | ${perKey(keys.opened.rss)} |`,
  );
  let tpm;
  if (haveSwtpm() || process.env.TSS2_FAPICONF) {
    const sim = await ensureSimulator();
    try {
      tpm = inChild('tpm-keys');
    } finally {
      sim.stop();
    }
    console.log(
      `| TPM (swtpm, FAPI): ${KEYS} handles open over ${TPM_KEYS} keys (${tpm.seconds.toFixed(1)} s to open) | ${mib(tpm.base.rss)} | ${mib(tpm.opened.rss)} | ${ratio(tpm.opened.rss, tpm.base.rss)} | ${((tpm.opened.rss - tpm.base.rss) / KEYS / 1024).toFixed(1)} |`,
    );
  } else {
    console.log(`| TPM | ${SWTPM_MISSING} | | | |`);
  }

  const signs = inChild('signs');
  const at = (n) => signs.checkpoints.find((c) => c.signs === n);
  const half = at(SIGNS / 2);
  const last = at(SIGNS);
  console.log('');
  console.log(
    `### ${SIGNS} sequential signs through a KeyStore (in-memory provider, ECDSA-P256; ${(SIGNS / signs.seconds).toFixed(0)} signs/s, ${signs.seconds.toFixed(1)} s)`,
  );
  console.log('| after signs | RSS, MiB | RSS ratio to baseline | heap used, MiB | heap ratio to baseline |');
  console.log('|---:|---:|---:|---:|---:|');
  console.log(`| 0 (baseline) | ${mib(signs.base.rss)} | 1.00 | ${mib(signs.base.heap)} | 1.00 |`);
  for (const c of signs.checkpoints) {
    console.log(
      `| ${c.signs} | ${mib(c.rss)} | ${ratio(c.rss, signs.base.rss)} | ${mib(c.heap)} | ${ratio(c.heap, signs.base.heap)} |`,
    );
  }
  const heapGrowth = last.heap - half.heap;
  const rssGrowth = last.rss - half.rss;
  const leakFree = heapGrowth < HEAP_TOLERANCE && rssGrowth < RSS_TOLERANCE;
  console.log('');
  console.log(
    `leak check (${SIGNS / 2}th → ${SIGNS}th sign): heap ${heapGrowth >= 0 ? '+' : ''}${(heapGrowth / 1024).toFixed(0)} KiB (tolerance ${HEAP_TOLERANCE / 1024} KiB), RSS ${rssGrowth >= 0 ? '+' : ''}${(rssGrowth / 1024).toFixed(0)} KiB (tolerance ${RSS_TOLERANCE / 1024} KiB): ${leakFree ? 'no growth beyond noise' : 'GROWTH beyond the tolerance'}`,
  );
  console.log(`(RSS per checkpoint, MiB: ${summary(signs.checkpoints.map((c) => c.rss / MiB))} median (min–max))`);
  return { keys, tpm, signs, leakFree };
}

const child = process.argv.indexOf('--child');
if (child !== -1) {
  const result = await CHILDREN[process.argv[child + 1]]();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await run();
}
