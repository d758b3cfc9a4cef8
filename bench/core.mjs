// Benchmark of @keystore/core (built dist): sign throughput through a KeyStore with the in-memory
// provider against crypto.sign with the same private key, in the same process and run. Start-up cost
// is in bench/startup.mjs.
import { sign } from 'node:crypto';
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const MIN_MS = Number(process.env.BENCH_MIN_MS ?? 300);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs `fn` (async) repeatedly for at least MIN_MS; returns operations per second. */
async function throughput(fn) {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < MIN_MS) {
    for (let i = 0; i < 16; i++) await fn();
    n += 16;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (n * 1000) / elapsed;
}

async function signBench(store, algorithm, hash) {
  const key = await store.createKey(`bench-${algorithm}-${process.pid}`, { algorithm, exportable: true });
  try {
    const privateKey = await key.exportPrivateKey();
    const data = Buffer.alloc(256, 7);
    const viaStore = () => key.sign(data, { hash });
    const viaCrypto = async () => sign(hash, data, privateKey);
    await throughput(viaStore);
    await throughput(viaCrypto); // warm-up
    const ratios = [];
    const storeOps = [];
    const cryptoOps = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which runs first so drift in machine load falls on both sides.
      const a = r % 2 ? await throughput(viaCrypto) : undefined;
      const s = await throughput(viaStore);
      const c = a ?? (await throughput(viaCrypto));
      storeOps.push(s);
      cryptoOps.push(c);
      ratios.push(s / c);
    }
    return { algorithm, store: median(storeOps), crypto: median(cryptoOps), ratio: median(ratios) };
  } finally {
    await key.close();
    await store.deleteKey(key.ref);
  }
}

export async function run() {
  const store = await createTestKeyStore({
    providers: [createMemoryProvider()],
    policy: { minimumIsolation: 'none', exportable: { create: true, export: true } },
    machinePolicy: null,
  });
  console.log('## @keystore/core: sign through KeyStore (in-memory provider) vs crypto.sign, same key, same run');
  console.log(`(median of ${ROUNDS} rounds of >= ${MIN_MS} ms each; goal: ratio >= 0.95)`);
  console.log('| algorithm | KeyStore ops/s | crypto.sign ops/s | ratio |');
  console.log('|---|---:|---:|---:|');
  const results = [];
  for (const [algorithm, hash] of [
    ['ECDSA-P256', 'sha256'],
    ['RSA-2048', 'sha256'],
  ]) {
    const r = await signBench(store, algorithm, hash);
    results.push(r);
    console.log(`| ${algorithm} | ${r.store.toFixed(0)} | ${r.crypto.toFixed(0)} | ${r.ratio.toFixed(3)} |`);
  }
  await store.close();

  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
