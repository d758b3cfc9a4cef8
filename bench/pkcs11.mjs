// PKCS#11 benchmark (`npm run bench`, after the build; or `node bench/pkcs11.mjs`), on a SoftHSM2
// token it makes: ECDSA-P256 sign throughput through a KeyStore (signDigest, one at a time) against a
// C program calling C_SignInit + C_Sign in a loop on the same token in its own process, rounds
// interleaved; and the session pool (4 sessions) against one session with 8 signs in flight. Needs
// SoftHSM2, gcc and p11-kit's pkcs11.h (libp11-kit-dev); skipped with a message otherwise.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_PKCS11_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_PKCS11_ROUNDS ?? 7);
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const HEADERS = '/usr/include/p11-kit-1';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 1) => x.toFixed(d);
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

async function throughput(op, concurrency = 1) {
  for (let i = 0; i < 5; i++) await op(i);
  let done = 0;
  const started = performance.now();
  const end = started + SECONDS * 1000;
  const worker = async () => {
    while (performance.now() < end) await op(done++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - started) / 1000);
}

export async function run() {
  const dist = join(root, 'packages', 'provider-pkcs11', 'dist', 'index.js');
  const missing = [
    ...(existsSync(MODULE) ? [] : [MODULE]),
    ...['softhsm2-util', 'gcc'].filter((t) => !have(t)),
    ...(existsSync(join(HEADERS, 'p11-kit', 'pkcs11.h')) ? [] : ['libp11-kit-dev']),
    ...(existsSync(dist) ? [] : ['a built @keystore/provider-pkcs11 (npm run build)']),
  ];
  if (missing.length > 0) {
    console.log(`pkcs11: skipped, needs ${missing.join(', ')}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'keystore-bench-pkcs11-'));
  try {
    mkdirSync(join(dir, 'tokens'));
    const conf = join(dir, 'softhsm2.conf');
    writeFileSync(
      conf,
      `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    process.env.SOFTHSM2_CONF = conf;
    const label = 'bench';
    const pin = '1234-bench';
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '5678-bench'],
      {
        stdio: 'pipe',
      },
    );
    const loop = join(dir, 'sign-loop');
    execFileSync('gcc', ['-O2', `-I${HEADERS}`, '-o', loop, join(root, 'bench', 'pkcs11', 'sign-loop.c'), '-ldl']);

    const { createKeyStore } = await import(pathToFileURL(join(root, 'packages', 'core', 'dist', 'index.js')).href);
    const { pkcs11Provider } = await import(pathToFileURL(dist).href);
    const provider = (poolSize) => pkcs11Provider({ module: MODULE, tokenLabel: label, pin, poolSize });
    const policy = { minimumIsolation: 'in-process' };
    const store = await createKeyStore({ providers: [provider(4)], policy });
    const key = await store.createKey('bench-ec', { algorithm: 'ECDSA-P256' });
    const digest = createHash('sha256').update('bench').digest();

    const samples = { store: [], c: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? ['c', 'store'] : ['store', 'c'];
      for (const which of order) {
        if (which === 'store') samples.store.push(await throughput(() => key.signDigest(digest)));
        else
          samples.c.push(
            Number(execFileSync(loop, [MODULE, label, pin, 'bench-ec', String(SECONDS)], { encoding: 'utf8' })),
          );
      }
    }
    const ratio = median(samples.store.map((x, i) => x / samples.c[i]));

    const single = await createKeyStore({ providers: [provider(1)], policy });
    const one = await single.openKey('bench-ec');
    const pool = { one: [], four: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? ['four', 'one'] : ['one', 'four'];
      for (const which of order)
        pool[which].push(await throughput(() => (which === 'one' ? one : key).signDigest(digest), 8));
    }
    const speedup = median(pool.four.map((x, i) => x / pool.one[i]));

    console.log(
      `pkcs11 on SoftHSM2 (ECDSA-P256, SHA-256 digests); each figure the median of ${ROUNDS} interleaved runs of ${SECONDS} s; ratios are medians of per-round ratios`,
    );
    console.log('  sign throughput, one at a time (signs/s)   KeyStore   C loop (own process)   ratio');
    console.log(
      `    ${''.padEnd(38)} ${fmt(median(samples.store)).padStart(8)} ${fmt(median(samples.c)).padStart(22)} ${fmt(ratio, 2).padStart(7)}`,
    );
    console.log('  session pool, 8 signs in flight (signs/s)   1 session   4 sessions   ratio');
    console.log(
      `    ${''.padEnd(39)} ${fmt(median(pool.one)).padStart(9)} ${fmt(median(pool.four)).padStart(12)} ${fmt(speedup, 2).padStart(7)}`,
    );
    await single.close?.();
    await store.close?.();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
