// TPM benchmark (`npm run bench`, after the build; or `node bench/tpm.mjs`): sign throughput through a
// KeyStore against raw Fapi_Sign calls through koffi in the same process and against C programs in
// their own processes (a Fapi_Sign loop, and an Esys_Sign loop on a key kept loaded: see
// bench/tpm/sign-loop.c), for ECDSA-P256 and RSA-2048, sequential and 8 in flight; the TPM commands
// each path sends per signature (counted by bench/tpm/count-tcti.c); the context pool against one
// context; and the median key creation time. It uses the simulator named by TSS2_FAPICONF, or starts
// its own with scripts/swtpm.sh. The C baselines need gcc and libtss2-dev: without them they are
// skipped with a message, or the run fails when KEYSTORE_REQUIRE_SWTPM is set.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPublicKey, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  buildBaselines,
  counterFile,
  countingConfig,
  cRate,
  missingForBaselines,
  perSignature,
  srkHandle,
} from './tpm/baselines.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_TPM_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_TPM_ROUNDS ?? 7);

function haveSwtpm() {
  return (
    process.platform === 'linux' &&
    spawnSync('sh', ['-c', 'command -v swtpm && command -v tpm2_getrandom'], { stdio: 'ignore' }).status === 0
  );
}

const portFree = (port) =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** Ports below the kernel's ephemeral range, where no client socket lingers in TIME_WAIT. */
function belowEphemeral() {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12000) return low - 2;
  } catch {
    // no procfs
  }
  return 32766;
}

async function freePortPair() {
  const top = belowEphemeral();
  for (;;) {
    const port = 10000 + 2 * Math.floor(Math.random() * ((top - 10000) / 2));
    if ((await portFree(port)) && (await portFree(port + 1))) return String(port);
  }
}

/** Starts a private simulator unless TSS2_FAPICONF names one; returns a stop function. */
async function ensureSimulator() {
  if (process.env.TSS2_FAPICONF) return { stop() {}, own: false };
  const dir = mkdtempSync(join(tmpdir(), 'keystore-bench-tpm-'));
  const port = await freePortPair();
  const script = join(root, 'scripts', 'swtpm.sh');
  const out = execFileSync('bash', [script, 'start', dir], {
    encoding: 'utf8',
    env: { ...process.env, TPM_SIM_PORT: port },
  });
  process.env.TSS2_FAPICONF = /export TSS2_FAPICONF=(\S+)/.exec(out)[1];
  return {
    own: true,
    stop() {
      execFileSync('bash', [script, 'stop', dir], { env: { ...process.env, TPM_SIM_PORT: port } });
      rmSync(dir, { recursive: true, force: true });
      delete process.env.TSS2_FAPICONF;
    },
  };
}

/** Runs `op` sequentially (or `concurrency` at a time) for SECONDS; returns operations per second. */
async function throughput(op, concurrency = 1) {
  for (let i = 0; i < 5; i++) await op(i); // warm-up
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const started = performance.now();
  const worker = async () => {
    while (performance.now() < end) await op(done++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - started) / 1000);
}

/**
 * Measures each op in turn, `ROUNDS` times, reversing the order every other round so that drift in
 * the simulator's speed falls on both sides; returns the median per op and the per-round samples.
 * An op is a function (run here, `concurrency` at a time) or `{ rate }`, a function that measures
 * itself and returns operations per second (a C loop in a child process).
 */
async function interleaved(ops, concurrency = 1) {
  const names = Object.keys(ops);
  const samples = Object.fromEntries(names.map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...names].reverse() : names;
    for (const name of order) {
      const op = ops[name];
      samples[name].push(typeof op === 'function' ? await throughput(op, concurrency) : await op.rate());
    }
  }
  const medians = Object.fromEntries(names.map((k) => [k, median(samples[k])]));
  return { ...medians, samples };
}

/** The median over rounds of a/b, each pair measured in the same round. */
const ratio = (r, a, b) => median(r.samples[a].map((x, i) => x / r.samples[b][i]));
/** `median (min–max)` of the per-round ratios a/b. */
const ratioSpread = (r, a, b) => {
  const xs = r.samples[a].map((x, i) => x / r.samples[b][i]);
  return `${fmt(median(xs), 2)} (${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)})`;
};
/** `median (min–max)` of an op's rates. */
const rateSpread = (r, a) =>
  `${fmt(median(r.samples[a]))} (${fmt(Math.min(...r.samples[a]))}–${fmt(Math.max(...r.samples[a]))})`;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (x, d = 1) => x.toFixed(d);

/** Raw FAPI through koffi: one context, Fapi_Sign in a loop (sync, and async like the provider). */
function rawFapi() {
  process.env.TSS2_LOG ??= 'all+none';
  const require = createRequire(join(root, 'packages', 'provider-tpm', 'package.json'));
  const koffi = require('koffi');
  const lib = koffi.load('libtss2-fapi.so.1');
  const init = lib.func('uint32_t Fapi_Initialize(_Out_ void **context, const char *uri)');
  const fin = lib.func('void Fapi_Finalize(_Inout_ void **context)');
  const sign = lib.func(
    'uint32_t Fapi_Sign(void *context, const char *keyPath, const char *padding, const uint8_t *digest, size_t digestSize, _Out_ void **signature, _Out_ size_t *signatureSize, _Out_ void **publicKey, _Out_ void **certificate)',
  );
  const free = lib.func('void Fapi_Free(void *ptr)');
  const out = [null];
  const rc = init(out, null);
  if (rc !== 0) throw new Error(`Fapi_Initialize failed: 0x${rc.toString(16)}`);
  const ctx = out[0];
  const collect = (rc2, sig, size, pub, cert) => {
    if (rc2 !== 0) throw new Error(`Fapi_Sign failed: 0x${rc2.toString(16)}`);
    const bytes = Buffer.from(new Uint8Array(koffi.view(sig[0], Number(size[0]))));
    for (const p of [sig[0], pub[0], cert[0]]) if (p) free(p);
    return bytes;
  };
  return {
    signSync(path, padding, digest) {
      const sig = [null];
      const size = [0];
      const pub = [null];
      const cert = [null];
      return collect(sign(ctx, path, padding, digest, digest.length, sig, size, pub, cert), sig, size, pub, cert);
    },
    signAsync(path, padding, digest) {
      const sig = [null];
      const size = [0];
      const pub = [null];
      const cert = [null];
      return new Promise((resolve, reject) => {
        sign.async(ctx, path, padding, digest, digest.length, sig, size, pub, cert, (err, rc2) => {
          if (err) reject(err);
          else {
            try {
              resolve(collect(rc2, sig, size, pub, cert));
            } catch (e) {
              reject(e);
            }
          }
        });
      });
    },
    /** Fapi_Sign without asking for the public key (FAPI then does not build its PEM). */
    signAsyncNoPublicKey(path, padding, digest) {
      const sig = [null];
      const size = [0];
      const cert = [null];
      return new Promise((resolve, reject) => {
        sign.async(ctx, path, padding, digest, digest.length, sig, size, null, cert, (err, rc2) => {
          if (err) reject(err);
          else {
            try {
              resolve(collect(rc2, sig, size, [null], cert));
            } catch (e) {
              reject(e);
            }
          }
        });
      });
    },
    /** One koffi async call that does nothing (Fapi_Free(NULL)): the worker-thread hop alone. */
    noopAsync() {
      return new Promise((resolve, reject) => free.async(null, (err) => (err ? reject(err) : resolve())));
    },
    close() {
      fin([ctx]);
    },
  };
}

/** Microseconds per call of a synchronous or asynchronous `op`, over about 200 ms. */
async function microseconds(op) {
  for (let i = 0; i < 20; i++) await op();
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < 200) {
    for (let i = 0; i < 50; i++) await op();
    n += 50;
  }
  return ((performance.now() - started) * 1000) / n;
}

export async function run() {
  console.log('TPM provider benchmark (tpm2-tss FAPI through koffi)');
  if (!haveSwtpm() && !process.env.TSS2_FAPICONF) {
    console.log(
      '  skipped: needs swtpm and tpm2-tools (apt-get install swtpm swtpm-tools tpm2-tools libtss2-fapi1), or TSS2_FAPICONF',
    );
    return;
  }
  const testing = await import(pathToFileURL(join(root, 'packages', 'core', 'dist', 'testing', 'index.js')).href);
  const tpm = await import(pathToFileURL(join(root, 'packages', 'provider-tpm', 'dist', 'index.js')).href);
  const sim = await ensureSimulator();
  const results = {};
  const inFlight = {};
  const commands = {};
  const profiles = {};
  const cleanup = [];
  try {
    const provider = tpm.tpmProvider({ poolSize: 2 });
    const probe = await provider.probe();
    if (!probe.available) throw new Error(`TPM unavailable: ${probe.reasons.join(' ')}`);
    console.log(
      `  TPM: ${probe.details.manufacturer} firmware ${probe.details.firmware}${probe.details.simulator ? ' (simulated)' : ''}, tcti ${probe.details.tcti}; each figure the median of ${ROUNDS} interleaved runs of ${SECONDS} s; ratios are medians of per-round ratios`,
    );
    const store = await testing.createTestKeyStore({
      providers: [provider],
      policy: { minimumIsolation: probe.isolation },
      machinePolicy: null,
    });
    const suffix = `${process.pid}-${Date.now()}`;

    // Key creation (median).
    const createTimes = { 'ECDSA-P256': [], 'RSA-2048': [] };
    for (const [algorithm, n] of [
      ['ECDSA-P256', 15],
      ['RSA-2048', 7],
    ]) {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const key = await store.createKey(`bench-create-${algorithm.toLowerCase()}-${i}-${suffix}`, { algorithm });
        createTimes[algorithm].push(performance.now() - t0);
        await store.deleteKey(key.ref);
      }
    }

    const configFile = process.env.TSS2_FAPICONF;
    const fapiConfig = JSON.parse(readFileSync(configFile, 'utf8'));
    const missing = missingForBaselines();
    if (missing.length > 0 && process.env.KEYSTORE_REQUIRE_SWTPM) {
      throw new Error(`the TPM benchmark's C baselines need ${missing.join(', ')} (KEYSTORE_REQUIRE_SWTPM is set)`);
    }
    const work = mkdtempSync(join(tmpdir(), 'keystore-bench-tpm-c-'));
    cleanup.push(() => rmSync(work, { recursive: true, force: true }));
    const built = missing.length === 0 ? buildBaselines(work) : undefined;
    if (!built) console.log(`  C baselines skipped: needs ${missing.join(', ')}`);
    const counter = built ? counterFile(work) : undefined;
    const counting = built ? countingConfig(configFile, built, work) : undefined;

    const raw = rawFapi();
    for (const algorithm of ['ECDSA-P256', 'RSA-2048']) {
      const key = await store.createKey(`bench-${algorithm.toLowerCase()}-${suffix}`, { algorithm });
      const profile = algorithm === 'RSA-2048' ? 'P_RSA2048SHA256' : 'P_ECCP256SHA256';
      const path = algorithm === 'RSA-2048' ? `/P_RSA2048SHA256/HS/SRK/${key.name}` : `HS/SRK/${key.name}`;
      const padding = algorithm === 'RSA-2048' ? 'RSA_SSA' : null;
      const digest = createHash('sha256').update('bench').digest();
      const data = Buffer.from('bench');
      // The KeyStore on each path: a store of its own per measurement, closed after it, so that no
      // key stays loaded in the simulator's three object slots while a C loop runs. Straight to a
      // simulator, keys are kept loaded only with loadedKeys set.
      const viaKeyStore = (loadedKeys, concurrency, poolSize = 2) => ({
        rate: async () => {
          const s = await testing.createTestKeyStore({
            providers: [tpm.tpmProvider({ poolSize, loadedKeys })],
            policy: { minimumIsolation: probe.isolation },
            machinePolicy: null,
          });
          try {
            const k = await s.openKey(key.ref);
            return await throughput(() => k.sign(data), concurrency);
          } finally {
            await s.close();
          }
        },
      });
      const c = (options) => ({
        rate: async () => (await cRate(built, { path, padding, seconds: SECONDS, ...options })).rate,
      });
      const esys = (hmac) => ({ srk: srkHandle(fapiConfig.profile_dir, profile), tcti: fapiConfig.tcti, hmac });
      results[algorithm] = await interleaved({
        viaStore: viaKeyStore(1, 1),
        viaStoreFapi: viaKeyStore(0, 1),
        rawSync: async () => raw.signSync(path, padding, digest),
        rawAsync: () => raw.signAsync(path, padding, digest),
        rawAsyncNoPublicKey: () => raw.signAsyncNoPublicKey(path, padding, digest),
        ...(built ? { cFapi: c({}), cEsys: c({ esys: esys(false) }), cEsysHmac: c({ esys: esys(true) }) } : {}),
      });
      // What the pieces of the FAPI path cost on their own, in the same run.
      const objectFile = join(fapiConfig.user_dir, profile, 'HS', 'SRK', key.name, 'object.json');
      const pem = key.exportPublicKey('pem');
      const handleKey = createPublicKey(pem);
      profiles[algorithm] = {
        hop: await microseconds(() => raw.noopAsync()),
        exists: await microseconds(() => existsSync(objectFile)),
        compare: await microseconds(() => {
          const a = createPublicKey(pem).export({ type: 'spki', format: 'der' });
          const b = handleKey.export({ type: 'spki', format: 'der' });
          return a.length === b.length && timingSafeEqual(a, b);
        }),
      };
      if (built) {
        inFlight[algorithm] = await interleaved(
          {
            viaStore: viaKeyStore(1, 8),
            viaStoreFapi: viaKeyStore(0, 8),
            cFapi: c({ threads: 2 }),
            cEsysHmac: c({ threads: 2, esys: esys(true) }),
          },
          8,
        );
        // TPM commands per signature on each path, through the counting TCTI (set-up after open included).
        const env = { TSS2_FAPICONF: counting, KEYSTORE_TCTI_COUNT: counter.file };
        process.env.KEYSTORE_TCTI_COUNT = counter.file;
        const storeCount = async (loadedKeys) => {
          const countingProvider = tpm.tpmProvider({ poolSize: 1, configFile: counting, loadedKeys });
          const handle = await countingProvider.openKey({ name: key.name, scope: 'user' });
          const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 };
          counter.reset();
          const n = 50;
          for (let i = 0; i < n; i++) await handle.signDigest(digest, params);
          const counted = perSignature(counter.read(), n);
          await countingProvider.close();
          return counted;
        };
        const viaStore = await storeCount(1);
        const viaStoreFapi = await storeCount(0);
        delete process.env.KEYSTORE_TCTI_COUNT;
        const cCount = async (options) => {
          counter.reset();
          const run = await cRate(built, { path, padding, seconds: 0.5, env, ...options });
          return perSignature(counter.read(), run.signatures);
        };
        commands[algorithm] = {
          viaStore,
          viaStoreFapi,
          cFapi: await cCount({}),
          cEsys: await cCount({ esys: { ...esys(false), tcti: `${built.tcti}:${fapiConfig.tcti}` } }),
          cEsysHmac: await cCount({ esys: { ...esys(true), tcti: `${built.tcti}:${fapiConfig.tcti}` } }),
        };
      }
      await store.deleteKey(key.ref);
    }
    raw.close();

    // Pool of two contexts against one, 8 signs in flight, straight on the provider (RSA and EC).
    const pool = {};
    for (const algorithm of ['RSA-2048', 'ECDSA-P256']) {
      const one = tpm.tpmProvider({ poolSize: 1 });
      const two = tpm.tpmProvider({ poolSize: 2 });
      const made = await two.createKey({
        name: `bench-pool-${algorithm.toLowerCase()}-${suffix}`,
        algorithm,
        scope: 'user',
        exportable: false,
      });
      const k1 = await one.openKey({ name: made.name, scope: 'user' });
      const params = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 };
      const digest = createHash('sha256').update('pool').digest();
      pool[algorithm] = await interleaved(
        { single: () => k1.signDigest(digest, params), double: () => made.signDigest(digest, params) },
        8,
      );
      await two.deleteKey({ name: made.name, scope: 'user' });
      await one.close();
      await two.close();
    }
    await store.close();

    console.log('');
    console.log('  sign throughput, SHA-256 digest, signs/s: median of the rounds (min–max)');
    const label = {
      viaStore: 'KeyStore (sign), loadedKeys: 1',
      viaStoreFapi: 'KeyStore (sign), loadedKeys: 0 (Fapi_Sign)',
      rawSync: 'koffi Fapi_Sign loop, sync',
      rawAsync: 'koffi Fapi_Sign loop, async',
      rawAsyncNoPublicKey: 'koffi Fapi_Sign loop, async, no public key',
      cFapi: 'C Fapi_Sign loop',
      cEsys: 'C Esys_Sign loop, key loaded, password session',
      cEsysHmac: 'C Esys_Sign loop, key loaded, salted HMAC session',
    };
    // Each baseline against the KeyStore path it is the baseline of: the FAPI loops against the
    // FAPI path, the loaded-key loops against the loaded-key path.
    const versus = (r, name) => {
      if (name === 'viaStore' || name === 'viaStoreFapi') return '';
      const ours = name.startsWith('cEsys') ? 'viaStore' : 'viaStoreFapi';
      const who = ours === 'viaStore' ? 'loaded' : 'FAPI path';
      return `   KeyStore (${who}) / this: ${ratioSpread(r, ours, name)}`;
    };
    for (const [algorithm, r] of Object.entries(results)) {
      console.log(`    ${algorithm}, sequential`);
      for (const name of Object.keys(label).filter((k) => r.samples[k])) {
        console.log(`      ${label[name].padEnd(52)} ${rateSpread(r, name).padEnd(26)}${versus(r, name)}`);
      }
      const f = inFlight[algorithm];
      if (f) {
        console.log(`    ${algorithm}, 8 in flight (KeyStore: pool of 2 contexts; C: 2 threads, a context each)`);
        for (const name of Object.keys(f.samples)) {
          console.log(`      ${label[name].padEnd(52)} ${rateSpread(f, name).padEnd(26)}${versus(f, name)}`);
        }
      }
    }
    console.log(
      '  goals: KeyStore FAPI path / C Fapi_Sign loop >= 0.95; KeyStore loaded key / C Esys_Sign loop (same session) >= 0.8',
    );
    if (Object.keys(commands).length > 0) {
      console.log('');
      console.log(
        '  TPM commands per signature (counting TCTI; 50 KeyStore signs after open, C loops for 0.5 s, set-up included)',
      );
      for (const [algorithm, paths] of Object.entries(commands)) {
        for (const [name, c] of Object.entries(paths)) {
          const parts = Object.entries(c.byName)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ');
          console.log(
            `    ${algorithm.padEnd(11)} ${label[name].padEnd(52)} ${String(c.total).padStart(5)}  (${parts})`,
          );
        }
      }
    }
    console.log('');
    console.log(
      '  FAPI path, where one sequential signature goes (microseconds; differences are medians of per-round differences)',
    );
    /** The median over rounds of 1e6/a - 1e6/b (microseconds), each pair from the same round. */
    const extra = (r, a, b) => median(r.samples[a].map((x, i) => 1e6 / x - 1e6 / r.samples[b][i]));
    for (const [algorithm, r] of Object.entries(results)) {
      const p = profiles[algorithm];
      const rows = [
        ['KeyStore sign, loadedKeys: 0', 1e6 / r.viaStoreFapi],
        ...(r.cFapi ? [['C Fapi_Sign loop', 1e6 / r.cFapi]] : []),
        ['koffi Fapi_Sign loop, async', 1e6 / r.rawAsync],
        ['KeyStore minus koffi async loop', extra(r, 'viaStoreFapi', 'rawAsync')],
        ['koffi async loop minus koffi sync loop', extra(r, 'rawAsync', 'rawSync')],
        [
          'FAPI building the public key PEM (async loop minus the loop without it)',
          extra(r, 'rawAsync', 'rawAsyncNoPublicKey'),
        ],
        ['koffi async hop alone (Fapi_Free(NULL) through .async)', p.hop],
        ['existence check (existsSync of the key file)', p.exists],
        ['public key parse + DER compare (now only when FAPI returns another PEM text)', p.compare],
      ];
      console.log(`    ${algorithm}`);
      for (const [what, v] of rows) console.log(`      ${what.padEnd(90)} ${fmt(v, 0).padStart(8)}`);
    }
    console.log('');
    console.log('  context pool, 8 signs in flight (signs/s)         1 context  2 contexts  ratio');
    for (const [algorithm, r] of Object.entries(pool)) {
      console.log(
        `    ${algorithm.padEnd(46)} ${fmt(r.single).padStart(9)} ${fmt(r.double).padStart(11)} ${fmt(ratio(r, 'double', 'single'), 2).padStart(6)}`,
      );
    }
    console.log('  goal: 2 contexts / 1 context >= 1.3');
    console.log('');
    console.log('  key creation (median ms)');
    for (const [algorithm, times] of Object.entries(createTimes)) {
      console.log(
        `    ${algorithm.padEnd(12)} ${fmt(median(times))} ms (n=${times.length}, min ${fmt(Math.min(...times))}, max ${fmt(Math.max(...times))})`,
      );
    }
    return { results, inFlight, commands, profiles, pool, createTimes };
  } finally {
    for (const f of cleanup) f();
    sim.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run();
}
