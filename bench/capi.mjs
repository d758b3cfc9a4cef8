// CryptoAPI benchmark (`node bench/capi.mjs`, after `npm run build -w @keystore/provider-capi`): RSA-2048
// signatures per second through a KeyStore with the capi provider inside Windows Node under Wine,
// against the same loop in a C program calling advapi32 directly (packages/provider-capi/test/interop/
// capi-tool.c, built with mingw-w64), both under Wine, same key, same run. Rounds are interleaved
// (the order flips every round) and the ratio is the median of per-round ratios of mean rates; the
// goal (≥ 0.9) is judged on that median only. Each process also reports its best block (on a shared
// machine, the block least disturbed by other processes): printed as extra information, never
// judged. The Windows Node run also times the raw koffi loop in alternating blocks, to show where any
// difference goes. The machine policy (file and registry) is turned off: this measures signing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_CAPI_ROUNDS ?? 7);
const SIGNS = Number(process.env.BENCH_CAPI_SIGNS ?? 300);
const BLOCKS = Number(process.env.BENCH_CAPI_BLOCKS ?? 10);
const GOAL = 0.9;
const gcc = '/usr/bin/x86_64-w64-mingw32-gcc';
const wineBinaries = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'];

/** Runs scripts/wine/exec.sh PROGRAM ARGS… from the repository root; resolves with stdout. */
function wine(program, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(`${root}scripts/wine/exec.sh`, [program, ...args], {
      cwd: root,
      env: { ...process.env, WINEDEBUG: '-all' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${program} ${args.join(' ')} exited ${code}: ${out} ${err}`));
      else resolve(out);
    });
  });
}

const lastJson = (text) => JSON.parse(text.trim().split('\n').pop());

/**
 * The Windows Node side: the KeyStore loop and the raw koffi loop in alternating blocks (which goes
 * first flips per block), each block timed on its own.
 */
const SCRIPT = `
const [name, count, blocks, firstArg] = process.argv.slice(2);
const { createTestKeyStore, TEST_POLICY_SOURCES } = require('@keystore/core/testing');
const { capiProvider } = require('@keystore/provider-capi');
const koffi = require('koffi');
const N = Number(count);
const B = Number(blocks);
const message = Buffer.alloc(32, 0x5a);

const adv = koffi.load('advapi32.dll');
const acquire = adv.func('int __stdcall CryptAcquireContextW(_Out_ uintptr_t *p, const char16_t *c, const char16_t *v, uint32_t t, uint32_t f)');
const release = adv.func('int __stdcall CryptReleaseContext(uintptr_t p, uint32_t f)');
const createHash = adv.func('int __stdcall CryptCreateHash(uintptr_t p, uint32_t a, uintptr_t k, uint32_t f, _Out_ uintptr_t *h)');
const hashData = adv.func('int __stdcall CryptHashData(uintptr_t h, const uint8_t *d, uint32_t n, uint32_t f)');
const signHash = adv.func('int __stdcall CryptSignHashW(uintptr_t h, uint32_t s, const char16_t *d, uint32_t f, _Out_ uint8_t *sig, _Inout_ uint32_t *n)');
const destroyHash = adv.func('int __stdcall CryptDestroyHash(uintptr_t h)');

(async () => {
  const store = await createTestKeyStore({
    providers: [capiProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } })],
    policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' },
    machinePolicy: null,
    registryPolicy: null,
  });
  const key = await store.openKey(name, { provider: 'capi' });
  const prov = [0];
  if (!acquire(prov, name, 'Microsoft Enhanced RSA and AES Cryptographic Provider', 24, 0x40)) throw new Error('acquire');
  const signature = Buffer.alloc(256);
  const raw = () => {
    const h = [0];
    createHash(prov[0], 0x800c, 0, 0, h);
    hashData(h[0], message, message.length, 0);
    const n = [256];
    if (!signHash(h[0], 1, null, 0, signature, n)) throw new Error('sign');
    destroyHash(h[0]);
  };
  const loops = { keystore: async () => { await key.sign(message); }, raw: async () => raw() };
  for (let i = 0; i < 3; i++) { await loops.keystore(); await loops.raw(); }
  const result = { keystore: { blocks: [], seconds: 0 }, raw: { blocks: [], seconds: 0 } };
  const perBlock = N / B;
  for (let b = 0; b < B; b++) {
    const order = (b % 2 === 0) === (firstArg === 'keystore') ? ['keystore', 'raw'] : ['raw', 'keystore'];
    for (const which of order) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < perBlock; i++) await loops[which]();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      result[which].blocks.push(perBlock / seconds);
      result[which].seconds += seconds;
    }
  }
  release(prov[0], 0);
  await store.close();
  for (const which of ['keystore', 'raw']) result[which].perSecond = N / result[which].seconds;
  console.log(JSON.stringify(result));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (x, d = 1) => x.toFixed(d);

export async function run() {
  console.log('CryptoAPI provider benchmark (Windows Node and a C program, both under Wine)');
  const missing = [];
  if (process.platform !== 'linux' || !wineBinaries.some((w) => existsSync(w))) missing.push('wine64');
  if (!existsSync(gcc)) missing.push('gcc-mingw-w64-x86-64');
  if (!existsSync(`${root}packages/provider-capi/dist/index.cjs`)) missing.push('a built @keystore/provider-capi');
  if (missing.length > 0) {
    console.log(`  skipped: needs ${missing.join(', ')}`);
    return;
  }
  const dir = `.tmp/capi-bench/${process.pid}`;
  mkdirSync(`${root}${dir}`, { recursive: true });
  const exe = `${dir}/capi-tool.exe`;
  const script = `${dir}/keystore-bench.cjs`;
  const cc = spawnSync(gcc, ['-O2', '-o', exe, 'packages/provider-capi/test/interop/capi-tool.c', '-ladvapi32'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (cc.status !== 0) throw new Error(`building capi-tool failed: ${cc.stderr}`);
  writeFileSync(`${root}${script}`, SCRIPT);
  const name = `bench-capi-${process.pid}-${Date.now()}`;
  try {
    await wine(exe, ['create', name, '--bits', '2048']);
    // Per round and side: the mean rate over all blocks, and the best block (the least disturbed by
    // other processes on a shared machine).
    const samples = { keystore: [], raw: [], c: [] };
    const best = { keystore: [], raw: [], c: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const measureNode = async () => {
        const r = lastJson(
          await wine('node', [script, name, String(SIGNS), String(BLOCKS), round % 2 ? 'raw' : 'keystore']),
        );
        for (const which of ['keystore', 'raw']) {
          samples[which].push(r[which].perSecond);
          best[which].push(Math.max(...r[which].blocks));
        }
      };
      const measureC = async () => {
        const r = lastJson(await wine(exe, ['bench', name, String(SIGNS), String(BLOCKS)]));
        samples.c.push(r.perSecond);
        best.c.push(Math.max(...r.blocks));
      };
      if (round % 2) {
        await measureC();
        await measureNode();
      } else {
        await measureNode();
        await measureC();
      }
      console.log(
        `  round ${round + 1}: KeyStore ${fmt(samples.keystore[round])}/s (best block ${fmt(best.keystore[round])}), raw koffi ${fmt(samples.raw[round])}/s (${fmt(best.raw[round])}), C ${fmt(samples.c[round])}/s (${fmt(best.c[round])})`,
      );
    }
    const perRound = (series, a, b) => median(series[a].map((x, i) => x / series[b][i]));
    const ratio = perRound(samples, 'keystore', 'c');
    const bestRatio = perRound(best, 'keystore', 'c');
    const rawRatio = perRound(samples, 'raw', 'c');
    const sameProcess = perRound(samples, 'keystore', 'raw');
    console.log(
      `  RSA-2048 sign (SHA-256, PKCS#1 v1.5), ${SIGNS} signatures per process in ${BLOCKS} blocks, medians of ${ROUNDS} interleaved rounds:`,
    );
    console.log(
      `    KeyStore ${fmt(median(samples.keystore))}/s, raw koffi ${fmt(median(samples.raw))}/s, C program ${fmt(median(samples.c))}/s`,
    );
    const goalMet = ratio >= GOAL;
    console.log(
      `    KeyStore / C, median of per-round ratios of mean rates: ${fmt(ratio, 3)} (goal ≥ ${GOAL}: ${goalMet ? 'met' : 'NOT met'})`,
    );
    console.log(
      `    extra, not judged: KeyStore / C on each process's best block ${fmt(bestRatio, 3)}; raw koffi / C ${fmt(rawRatio, 3)}; KeyStore / raw koffi in the same process ${fmt(sameProcess, 3)}`,
    );
    return { ratio, goalMet, bestRatio, rawRatio, sameProcess, samples, best };
  } finally {
    await wine(exe, ['delete', name]).catch(() => {});
    rmSync(`${root}${dir}`, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await run();
}
