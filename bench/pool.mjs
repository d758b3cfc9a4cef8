// Throughput under concurrency (`npm run bench -- pool`, after the build; or `node bench/pool.mjs`):
// TPM signs through a KeyStore with 8 in flight, the provider's pool of 2 FAPI contexts against one
// context, on swtpm, in interleaved rounds; and the largest event-loop delay seen during each round
// (perf_hooks.monitorEventLoopDelay, 1 ms resolution). The figures are the medians of per-round
// ratios, with the min and max.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dist, ensureSimulator, haveSwtpm, median, SWTPM_MISSING, summary } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_POOL_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_POOL_ROUNDS ?? 7);
const IN_FLIGHT = 8;
const GOAL_RATIO = 1.3;
const GOAL_DELAY_MS = 20;

/**
 * Signs with `IN_FLIGHT` in flight for SECONDS; returns signs/s and the largest event-loop delay (ms).
 * Without `sign`, the process only waits for SECONDS: the event-loop delay the machine itself causes.
 */
async function round(sign) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  histogram.enable();
  const started = performance.now();
  if (!sign) {
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    histogram.disable();
    return { rate: 0, maxDelay: histogram.max / 1e6 };
  }
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        await sign();
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  histogram.disable();
  return { rate: done / elapsed, maxDelay: histogram.max / 1e6 };
}

async function compare(stores, algorithm, suffix) {
  const made = await stores.two.createKey(`bench-pool-${algorithm.toLowerCase()}-${suffix}`, { algorithm });
  const one = await stores.one.openKey(made.name);
  const data = createHash('sha256').update('pool').digest();
  const sides = { one: () => one.sign(data), two: () => made.sign(data) };
  for (let i = 0; i < IN_FLIGHT; i++) await Promise.all([sides.one(), sides.two()]); // warm-up
  const samples = { one: [], two: [], idle: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? ['two', 'one', 'idle'] : ['idle', 'one', 'two'];
    for (const side of order) samples[side].push(await round(sides[side]));
  }
  await one.close();
  await made.close();
  await stores.two.deleteKey(made.name);
  const ratios = samples.two.map((s, i) => s.rate / samples.one[i].rate);
  return { samples, ratios };
}

export async function run() {
  console.log(
    `## Throughput under concurrency: TPM pool of 2 contexts vs 1 context, ${IN_FLIGHT} signs in flight through a KeyStore (swtpm, FAPI)`,
  );
  if (!haveSwtpm() && !process.env.TSS2_FAPICONF) {
    console.log(`  ${SWTPM_MISSING}`);
    return undefined;
  }
  const { createTestKeyStore } = await import(dist('core', 'testing/index.js'));
  const { tpmProvider } = await import(dist('provider-tpm'));
  const sim = await ensureSimulator();
  const results = {};
  try {
    const open = async (poolSize) => {
      const provider = tpmProvider({ poolSize });
      const probe = await provider.probe();
      if (!probe.available) throw new Error(`TPM unavailable: ${probe.reasons.join(' ')}`);
      return createTestKeyStore({
        providers: [provider],
        policy: { minimumIsolation: probe.isolation },
        machinePolicy: null,
      });
    };
    const stores = { one: await open(1), two: await open(2) };
    const suffix = `${process.pid}-${Date.now()}`;
    console.log(
      `(${ROUNDS} interleaved rounds of ${SECONDS} s per side; ${availableParallelism()} CPUs; cells: median (min–max) over rounds; the ratio is per round, pool of 2 / 1 context)`,
    );
    console.log(
      '| algorithm | 1 context, signs/s | pool of 2, signs/s | ratio | max event-loop delay, ms: pool of 2 | 1 context | idle (baseline) |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const algorithm of ['ECDSA-P256', 'RSA-2048']) {
      const r = await compare(stores, algorithm, suffix);
      results[algorithm] = r;
      const rate = (side) => summary(r.samples[side].map((s) => s.rate));
      const delay = (side) => summary(r.samples[side].map((s) => s.maxDelay));
      console.log(
        `| ${algorithm} | ${rate('one')} | ${rate('two')} | ${summary(r.ratios, 2)} | ${delay('two')} | ${delay('one')} | ${delay('idle')} |`,
      );
    }
    await stores.one.close();
    await stores.two.close();
    const ratioMet = Object.values(results).every((r) => median(r.ratios) >= GOAL_RATIO);
    const worst = Math.max(
      ...Object.values(results).flatMap((r) => [...r.samples.one, ...r.samples.two].map((s) => s.maxDelay)),
    );
    const idle = Math.max(...Object.values(results).flatMap((r) => r.samples.idle.map((s) => s.maxDelay)));
    console.log('');
    console.log(`goal: pool of 2 / 1 context >= ${GOAL_RATIO} (median): ${ratioMet ? 'met' : 'not met'}`);
    console.log(
      `goal: largest event-loop delay during the runs < ${GOAL_DELAY_MS} ms: ${worst < GOAL_DELAY_MS ? 'met' : 'not met'} (largest ${worst.toFixed(1)} ms while signing; ${idle.toFixed(1)} ms while idle, the machine's own)`,
    );
    return results;
  } finally {
    sim.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
