// PKCS#11 benchmark (`npm run bench`, after the build; or `node bench/pkcs11.mjs`), on a SoftHSM2
// token it makes, for ECDSA-P256 and RSA-2048 (PKCS#1 v1.5), one sign at a time and 8 in flight:
// signDigest through a KeyStore, against a C program calling C_SignInit + C_Sign in a loop on the
// same token in its own process (8 threads with a session each for 8 in flight), and against a koffi
// loop in this process making the same two calls through koffi's worker threads (`.async`, as the
// provider does). Rounds interleaved, medians with min and max. Then the session pool (4 sessions)
// against one session with 8 signs in flight. Needs SoftHSM2, gcc and p11-kit's pkcs11.h
// (libp11-kit-dev); skipped with a message otherwise.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_PKCS11_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_PKCS11_ROUNDS ?? 7);
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const HEADERS = '/usr/include/p11-kit-1';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => `${fmt(Math.min(...xs), 0)}-${fmt(Math.max(...xs), 0)}`;
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

/**
 * The koffi loop: C_SignInit and C_Sign through koffi's `.async` (a worker-thread hop each), a session
 * of its own per sign in flight, in this process (which the KeyStore has initialized and logged in).
 * Linux x86-64 only (8-byte CK_ULONG), like the rest of this benchmark.
 */
function koffiLoop(label) {
  const koffi = createRequire(join(root, 'packages', 'provider-pkcs11', 'package.json'))('koffi');
  const lib = koffi.load(MODULE);
  const U = 'unsigned long';
  const P = 'void *';
  const C = {
    GetSlotList: lib.func('C_GetSlotList', U, ['uint8_t', P, P]),
    GetTokenInfo: lib.func('C_GetTokenInfo', U, [U, P]),
    OpenSession: lib.func('C_OpenSession', U, [U, U, P, P, P]),
    CloseSession: lib.func('C_CloseSession', U, [U]),
    FindObjectsInit: lib.func('C_FindObjectsInit', U, [U, P, U]),
    FindObjects: lib.func('C_FindObjects', U, [U, P, U, P]),
    FindObjectsFinal: lib.func('C_FindObjectsFinal', U, [U]),
    SignInit: lib.func('C_SignInit', U, [U, P, U]),
    Sign: lib.func('C_Sign', U, [U, P, U, P, P]),
  };
  const ulong = (value) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    return b;
  };
  const must = (rv, what) => {
    if (Number(rv) !== 0) throw new Error(`${what}: CK_RV 0x${Number(rv).toString(16)}`);
  };
  const slots = Buffer.alloc(64 * 8);
  const count = ulong(64);
  must(C.GetSlotList(1, slots, count), 'C_GetSlotList');
  let slot;
  for (let i = 0; i < Number(count.readBigUInt64LE()); i++) {
    const info = Buffer.alloc(512);
    const s = slots.readBigUInt64LE(i * 8);
    if (Number(C.GetTokenInfo(s, info)) === 0 && info.subarray(0, 32).toString().trimEnd() === label) slot = s;
  }
  const sessions = [];
  const session = (i) => {
    while (sessions.length <= i) {
      const out = Buffer.alloc(8);
      must(C.OpenSession(slot, 6, null, null, out), 'C_OpenSession');
      sessions.push(out.readBigUInt64LE());
    }
    return sessions[i];
  };
  const call = (fn, ...args) =>
    new Promise((resolve, reject) => fn.async(...args, (err, rv) => (err ? reject(err) : resolve(Number(rv)))));
  const prefix = Buffer.from('3031300d060960864801650304020105000420', 'hex');
  return {
    async key(name) {
      const cls = ulong(3);
      const labelBytes = Buffer.from(name);
      const template = Buffer.alloc(48);
      template.writeBigUInt64LE(0n, 0);
      template.writeBigUInt64LE(BigInt(koffi.address(cls)), 8);
      template.writeBigUInt64LE(8n, 16);
      template.writeBigUInt64LE(3n, 24);
      template.writeBigUInt64LE(BigInt(koffi.address(labelBytes)), 32);
      template.writeBigUInt64LE(BigInt(labelBytes.length), 40);
      const s = session(0);
      const handle = Buffer.alloc(8);
      const found = ulong(0);
      must(C.FindObjectsInit(s, template, 2), 'C_FindObjectsInit');
      must(C.FindObjects(s, handle, 1, found), 'C_FindObjects');
      must(C.FindObjectsFinal(s), 'C_FindObjectsFinal');
      if (found.readBigUInt64LE() !== 1n) throw new Error(`no key ${name}`);
      return handle.readBigUInt64LE();
    },
    async throughput(handle, alg, digest, inFlight) {
      const mechanism = Buffer.alloc(24);
      mechanism.writeBigUInt64LE(alg === 'ec' ? 0x1041n : 0x1n);
      const data = alg === 'ec' ? digest : Buffer.concat([prefix, digest]);
      const lanes = Array.from({ length: inFlight }, (_, i) => ({
        s: session(i),
        out: Buffer.alloc(1024),
        length: Buffer.alloc(8),
      }));
      // A lane (session) is taken for one sign at a time: never two calls on one session.
      return throughput(async () => {
        const ln = lanes.pop();
        const { s, out, length } = ln;
        length.writeBigUInt64LE(1024n);
        try {
          must(await call(C.SignInit, s, mechanism, handle), 'C_SignInit');
          must(await call(C.Sign, s, data, data.length, out, length), 'C_Sign');
        } finally {
          lanes.push(ln);
        }
      }, inFlight);
    },
    close() {
      for (const s of sessions) C.CloseSession(s);
    },
  };
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
    execFileSync('gcc', [
      '-O2',
      `-I${HEADERS}`,
      '-o',
      loop,
      join(root, 'bench', 'pkcs11', 'sign-loop.c'),
      '-ldl',
      '-lpthread',
    ]);

    const { createKeyStore } = await import(pathToFileURL(join(root, 'packages', 'core', 'dist', 'index.js')).href);
    const { pkcs11Provider } = await import(pathToFileURL(dist).href);
    const provider = (poolSize) => pkcs11Provider({ module: MODULE, tokenLabel: label, pin, poolSize });
    const policy = { minimumIsolation: 'in-process' };
    const store = await createKeyStore({ providers: [provider(8)], policy });
    const digest = createHash('sha256').update('bench').digest();
    const algorithms = [
      ['ECDSA-P256', 'ec'],
      ['RSA-2048', 'rsa'],
    ];
    const keys = {};
    for (const [algorithm, alg] of algorithms) keys[alg] = await store.createKey(`bench-${alg}`, { algorithm });
    // After the KeyStore's first use: the module is initialized and the process logged in.
    const koffi = koffiLoop(label);

    console.log(
      `pkcs11 on SoftHSM2 (SHA-256 digests); signs/s, median [min-max] of ${ROUNDS} interleaved rounds of ${SECONDS} s; ratios are medians of per-round ratios`,
    );
    console.log(
      '  algorithm    in flight   KeyStore                C loop (own process)    koffi loop (.async)     KeyStore/C   KeyStore/koffi',
    );
    const cell = (xs) => `${fmt(median(xs), 0)} [${spread(xs)}]`.padEnd(24);
    for (const [algorithm, alg] of algorithms) {
      const name = `bench-${alg}`;
      const key = keys[alg];
      const handle = await koffi.key(name);
      for (const inFlight of [1, 8]) {
        const samples = { store: [], c: [], koffi: [] };
        for (let round = 0; round < ROUNDS; round++) {
          const order = ['store', 'c', 'koffi'];
          for (let i = 0; i < round % 3; i++) order.push(order.shift());
          for (const which of order) {
            if (which === 'store') samples.store.push(await throughput(() => key.signDigest(digest), inFlight));
            else if (which === 'koffi') samples.koffi.push(await koffi.throughput(handle, alg, digest, inFlight));
            else
              samples.c.push(
                Number(
                  execFileSync(loop, [MODULE, label, pin, name, String(SECONDS), alg, String(inFlight)], {
                    encoding: 'utf8',
                  }),
                ),
              );
          }
        }
        const ratio = (other) => fmt(median(samples.store.map((x, i) => x / other[i])), 2);
        console.log(
          `  ${algorithm.padEnd(12)} ${String(inFlight).padStart(9)}   ${cell(samples.store)}${cell(samples.c)}${cell(samples.koffi)}${ratio(samples.c).padStart(10)} ${ratio(samples.koffi).padStart(16)}`,
        );
      }
    }
    koffi.close();

    const single = await createKeyStore({ providers: [provider(1)], policy });
    const four = await createKeyStore({ providers: [provider(4)], policy });
    const one = await single.openKey('bench-ec');
    const pooled = await four.openKey('bench-ec');
    const pool = { one: [], four: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? ['four', 'one'] : ['one', 'four'];
      for (const which of order)
        pool[which].push(await throughput(() => (which === 'one' ? one : pooled).signDigest(digest), 8));
    }
    const speedup = median(pool.four.map((x, i) => x / pool.one[i]));
    console.log(
      '  session pool, ECDSA-P256, 8 signs in flight   1 session               4 sessions              ratio',
    );
    console.log(`  ${''.padEnd(45)} ${cell(pool.one)}${cell(pool.four)}${fmt(speedup, 2).padStart(5)}`);
    await four.close?.();
    await single.close?.();
    await store.close?.();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
