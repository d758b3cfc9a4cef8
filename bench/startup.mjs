// Start-up cost (`npm run bench -- startup`, after the build; or `node bench/startup.mjs`): the wall
// time, CPU time and peak RSS that loading @keystore/core and the providers adds to a bare Node
// process, by `require` against `node -e 0` and by `import` against `node --input-type=module -e 0`.
// Rounds are paired: each round runs the baseline and every command once, in an order rotated every
// round, so that drift in machine load falls on all of them; each figure is the median over rounds of
// the per-round difference (or ratio) to the baseline of that round, with the min and max.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, root, summary } from './lib.mjs';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 15);
/** Goal of issue 13: core plus every provider adds less than this to `node -e 0` (median, ms). */
const GOAL_MS = 15;

const SETS = {
  core: ['@keystore/core'],
  'provider-cng': ['@keystore/provider-cng'],
  'provider-tpm': ['@keystore/provider-tpm'],
  'provider-capi': ['@keystore/provider-capi'],
  'provider-pkcs11': ['@keystore/provider-pkcs11'],
  'core + all four providers': [
    '@keystore/core',
    '@keystore/provider-cng',
    '@keystore/provider-tpm',
    '@keystore/provider-capi',
    '@keystore/provider-pkcs11',
  ],
};

const MODES = {
  require: {
    baseline: ['-e', '0'],
    args: (names) => ['-e', names.map((n) => `require('${n}')`).join(';')],
    label: 'node -e 0',
  },
  import: {
    baseline: ['--input-type=module', '-e', '0'],
    args: (names) => ['--input-type=module', '-e', names.map((n) => `import '${n}';`).join('')],
    label: 'node --input-type=module -e 0',
  },
};

/** Runs `node …args` once; returns its wall time in ms and, with the stat preload, its CPU ms and peak RSS. */
function spawnNode(args, preload) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, preload ? ['-r', preload, ...args] : args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  if (!preload) return { wall };
  const m = /KEYSTORE_STAT (\d+) (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no statistics from node ${args.join(' ')}: ${r.stderr}`);
  return { wall, cpu: Number(m[1]) / 1000, rss: Number(m[2]) / 1024 };
}

/** Paired rounds of the baseline and every command; per command, the per-round samples and baseline samples. */
function pairedRounds(commands, preload) {
  const names = Object.keys(commands);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < RUNS; round++) {
    const shift = round % names.length;
    for (const name of [...names.slice(shift), ...names.slice(0, shift)]) {
      samples[name].push(spawnNode(commands[name], preload));
    }
  }
  return samples;
}

export async function run() {
  const tmp = mkdtempSync(join(tmpdir(), 'keystore-bench-startup-'));
  const preload = join(tmp, 'stat.cjs');
  // Written at exit: CPU time (user + system, µs) and peak RSS (KiB) of the whole process.
  writeFileSync(
    preload,
    "process.on('exit', () => { const u = process.resourceUsage(); process.stderr.write('\\nKEYSTORE_STAT ' + (u.userCPUTime + u.systemCPUTime) + ' ' + u.maxRSS + '\\n'); });\n",
  );
  const results = {};
  try {
    console.log('## Start-up: what loading the packages adds to a bare Node process (built dist/)');
    console.log(
      `(${RUNS} paired rounds, order rotated each round; each cell: median (min–max) over rounds of the difference to, or ratio against, that round's baseline; wall time without instrumentation, CPU time and peak RSS from a second set of rounds with a preload that reads process.resourceUsage() at exit, in the baseline too)`,
    );
    for (const [mode, spec] of Object.entries(MODES)) {
      const commands = { baseline: spec.baseline };
      for (const [set, names] of Object.entries(SETS)) commands[set] = spec.args(names);
      const timed = pairedRounds(commands);
      const stats = pairedRounds(commands, preload);
      const base = timed.baseline.map((s) => s.wall);
      const baseStats = stats.baseline;
      console.log('');
      console.log(`### ${mode} (baseline: \`${spec.label}\`, wall ${summary(base)} ms)`);
      console.log('| loaded | wall added, ms | wall ratio | CPU added, ms | peak RSS added, MiB |');
      console.log('|---|---:|---:|---:|---:|');
      results[mode] = {};
      for (const set of Object.keys(SETS)) {
        const wall = timed[set].map((s, i) => s.wall - base[i]);
        const ratio = timed[set].map((s, i) => s.wall / base[i]);
        const cpu = stats[set].map((s, i) => s.cpu - baseStats[i].cpu);
        const rss = stats[set].map((s, i) => s.rss - baseStats[i].rss);
        results[mode][set] = { wall: median(wall), ratio: median(ratio), cpu: median(cpu), rss: median(rss) };
        console.log(`| ${set} | ${summary(wall)} | ${summary(ratio, 2)} | ${summary(cpu)} | ${summary(rss)} |`);
      }
    }
    const all = 'core + all four providers';
    const met = Object.values(results).every((r) => r[all].wall < GOAL_MS);
    console.log('');
    console.log(
      `goal: core + all four providers adds < ${GOAL_MS} ms (median wall) by require and by import: ${met ? 'met' : 'not met'} (require +${results.require[all].wall.toFixed(1)} ms, import +${results.import[all].wall.toFixed(1)} ms; CPU time added, steadier on a busy machine: require +${results.require[all].cpu.toFixed(1)} ms, import +${results.import[all].cpu.toFixed(1)} ms)`,
    );
    return results;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
