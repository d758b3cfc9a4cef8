#!/usr/bin/env node
// The mutation check: breaks the core's and the providers' logic on purpose, one fixed mutation at a
// time, and expects the tests named for it to fail. A mutation whose tests still pass "survived": the
// tests do not notice that bug. Run by CI as `npm run mutation`; docs/testing.md says how to add one.
//
//   node scripts/mutation.mjs              every mutation, then the score against the floor
//   node scripts/mutation.mjs --only ID…   those mutations (no floor)
//   node scripts/mutation.mjs --list       the mutations, and whether each snippet is found, running nothing
//
// Each mutation is a file, an exact snippet of it (which must occur exactly once, so that code that
// moved is noticed instead of silently not mutated), its replacement, the test files to run and
// optionally a test-name filter (vitest's -t). First the named tests run once unmutated and must
// pass (else every mutation would look killed). The file is always restored: after each run, on an
// error, and on Ctrl-C or SIGTERM.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The lowest score (killed / all) CI accepts. */
export const FLOOR = 0.95;
/** A run of the tests longer than this counts the mutation as killed (it hung the code), as Stryker does. */
const TIMEOUT_MS = 240_000;

const CORE = 'packages/core/src';
const CORE_TEST = 'packages/core/test';
const CAPI = 'packages/provider-capi';
const CNG = 'packages/provider-cng';
const TPM = 'packages/provider-tpm';

/**
 * @typedef {object} Mutation
 * @property {string} id - Short, unique; what the mutation breaks.
 * @property {string} file - Relative to the repository root.
 * @property {string} from - An exact snippet of the file, found exactly once.
 * @property {string} to - What replaces it.
 * @property {string[]} tests - Test files to run.
 * @property {string} [grep] - Only the tests whose full name matches this (vitest -t).
 */

/** @type {Mutation[]} */
export const MUTATIONS = [
  // Wiping of key material (issue 14).
  {
    id: 'capi-import-keeps-blob',
    file: `${CAPI}/src/provider.ts`,
    from: '      blob.fill(0);',
    to: '      // blob.fill(0);',
    tests: [`${CAPI}/test/provider.test.ts`],
    grep: 'wipes the PRIVATEKEYBLOB',
  },
  {
    id: 'cng-import-keeps-blob',
    file: `${CNG}/src/storage.ts`,
    from: '      blob.fill(0);',
    to: '      // blob.fill(0);',
    tests: [`${CNG}/test/provider.test.ts`],
    grep: 'wipes the private blob',
  },
  {
    id: 'capi-export-keeps-blob',
    file: `${CAPI}/src/key.ts`,
    from: '        exported.value.fill(0);',
    to: '',
    tests: [`${CAPI}/test/provider.test.ts`],
    grep: 'CryptExportKey returned',
  },
  {
    id: 'cng-export-keeps-blob',
    file: `${CNG}/src/key.ts`,
    from: '      blob.fill(0);',
    to: '',
    tests: [`${CNG}/test/provider.test.ts`],
    grep: 'is wiped',
  },
  {
    id: 'cng-derive-keeps-secret',
    file: `${CNG}/src/key.ts`,
    from: '    raw.fill(0);',
    to: '',
    tests: [`${CNG}/test/provider.test.ts`],
    grep: 'is wiped',
  },
  {
    id: 'capi-blob-field-kept',
    file: `${CAPI}/src/blobs.ts`,
    from: "  const text = be.subarray(start).toString('base64url');\n  be.fill(0);",
    to: "  const text = be.subarray(start).toString('base64url');",
    tests: [`${CAPI}/test/blobs.test.ts`],
  },
  // Typed errors for bad arguments (issue 14: the TPM fuzz test discarded its results).
  {
    id: 'tpm-sign-non-bytes-empty-signature',
    file: `${TPM}/src/key.ts`,
    from: "throw invalid('the digest must be a Buffer');",
    to: 'return { signature: Buffer.alloc(0) } as unknown as ProviderSignature;',
    tests: [`${TPM}/test/fuzz.int.test.ts`],
    grep: 'non-Buffer and missing arguments',
  },
  // The probe cache (issue 14: expiry was untested).
  {
    id: 'probe-cache-never-expires',
    file: `${CORE}/probe-cache.ts`,
    from: 'export const PROBE_CACHE_MS = 1500;',
    to: 'export const PROBE_CACHE_MS = Infinity;',
    tests: [`${CORE_TEST}/probe-cache.test.ts`, `${CORE_TEST}/keystore.test.ts`],
    grep: 'ProbeCache|probe answers',
  },
  {
    id: 'create-uses-cached-probes',
    file: `${CORE}/keystore.ts`,
    from: 'const cached = fresh ? undefined : this.#probes.all();',
    to: 'const cached = this.#probes.all();',
    tests: [`${CORE_TEST}/keystore.test.ts`],
    grep: 're-probes on every create',
  },
  // ECDSA signature formats (issue 14: the DER test compared two bytes).
  {
    id: 'der-keeps-leading-zeros',
    file: `${CORE}/formats.ts`,
    from: '  while (start < bytes.length - 1 && bytes[start] === 0) start++;',
    to: '',
    tests: [`${CORE_TEST}/formats.test.ts`],
    grep: 'we encode the same|as DER says',
  },
  {
    id: 'der-short-length-form-only',
    file: `${CORE}/formats.ts`,
    from: '  if (length < 0x100) return [0x81, length];',
    to: '  if (length < 0x100) return [length];',
    tests: [`${CORE_TEST}/formats.test.ts`],
    grep: 'we encode the same',
  },
  // Isolation ordering.
  {
    id: 'isolation-at-least-is-strict',
    file: `${CORE}/isolation.ts`,
    from: 'return isolationRank(level) >= isolationRank(floor);',
    to: 'return isolationRank(level) > isolationRank(floor);',
    tests: [`${CORE_TEST}/isolation.test.ts`],
  },
  {
    id: 'stronger-isolation-picks-weaker',
    file: `${CORE}/isolation.ts`,
    from: 'return isolationRank(a) >= isolationRank(b) ? a : b;',
    to: 'return isolationRank(a) >= isolationRank(b) ? b : a;',
    tests: [`${CORE_TEST}/policy-merge.test.ts`],
  },
  // Policy merge: the machine policy only tightens.
  {
    id: 'merge-rsa-bits-loosens',
    file: `${CORE}/policy/merge.ts`,
    from: '    Math.max,\n    same,',
    to: '    Math.min,\n    same,',
    tests: [`${CORE_TEST}/policy-merge.test.ts`],
  },
  {
    id: 'merge-legacy-deny-needs-both',
    file: `${CORE}/policy/merge.ts`,
    from: "(x === 'deny' || y === 'deny' ? 'deny' : 'allow')",
    to: "(x === 'deny' && y === 'deny' ? 'deny' : 'allow')",
    tests: [`${CORE_TEST}/policy-merge.test.ts`],
  },
  {
    id: 'merge-machine-deny-ignored',
    file: `${CORE}/policy/merge.ts`,
    from: '    union,\n    sameSet,\n  );\n  const prefer',
    to: '    (base) => base,\n    sameSet,\n  );\n  const prefer',
    tests: [`${CORE_TEST}/policy-merge.test.ts`],
  },
  {
    id: 'merge-exportable-either',
    file: `${CORE}/policy/merge.ts`,
    from: 'const both = (x: boolean, y: boolean) => x && y;',
    to: 'const both = (x: boolean, y: boolean) => x || y;',
    tests: [`${CORE_TEST}/policy-merge.test.ts`],
  },
  // Request checks against the policy.
  {
    id: 'request-rsa-bits-off-by-one',
    file: `${CORE}/policy/merge.ts`,
    from: "if (info.family === 'rsa' && info.bits < policy.minimumRsaBits) {",
    to: "if (info.family === 'rsa' && info.bits <= policy.minimumRsaBits) {",
    tests: [`${CORE_TEST}/policy.test.ts`, `${CORE_TEST}/policy-merge.test.ts`],
  },
  {
    id: 'request-exportable-unchecked',
    file: `${CORE}/policy/merge.ts`,
    from: 'if (request.exportable === true && !policy.exportable.create) {',
    to: 'if (false && !policy.exportable.create) {',
    tests: [`${CORE_TEST}/policy.test.ts`, `${CORE_TEST}/policy-merge.test.ts`],
  },
  {
    id: 'request-scope-unchecked',
    file: `${CORE}/policy/merge.ts`,
    from: 'if (scope !== undefined && !policy.allowedScopes.includes(scope)) {',
    to: 'if (scope === undefined && !policy.allowedScopes.includes(scope)) {',
    tests: [`${CORE_TEST}/policy.test.ts`, `${CORE_TEST}/policy-merge.test.ts`],
  },
  {
    id: 'key-ref-any-scope',
    file: `${CORE}/ref.ts`,
    from: "if (scope !== 'user' && scope !== 'machine') {",
    to: "if (scope !== 'user' && scope !== 'machine' && scope === '') {",
    tests: [`${CORE_TEST}/ref.test.ts`],
  },
  {
    id: 'capi-key-name-length-unchecked',
    file: `${CAPI}/src/names.ts`,
    from: 'name.length >= 1 && name.length <= MAX_KEY_NAME_LENGTH && NEW_NAME.test(name)',
    to: 'name.length >= 1 && NEW_NAME.test(name)',
    tests: [`${CAPI}/test/names.test.ts`],
  },
  // Selection.
  {
    id: 'selection-floor-ignored',
    file: `${CORE}/selection.ts`,
    from: '} else if (!isAtLeast(probe.isolation, policy.minimumIsolation)) {',
    to: '} else if (false) {',
    tests: [`${CORE_TEST}/selection.test.ts`],
  },
  {
    id: 'selection-prefer-reversed',
    file: `${CORE}/selection.ts`,
    from: 'preferIndex(a.candidate.provider.id) - preferIndex(b.candidate.provider.id) ||',
    to: 'preferIndex(b.candidate.provider.id) - preferIndex(a.candidate.provider.id) ||',
    tests: [`${CORE_TEST}/selection.test.ts`],
  },
  {
    id: 'selection-weaker-first',
    file: `${CORE}/selection.ts`,
    from: 'isolationRank(b.candidate.probe.isolation) - isolationRank(a.candidate.probe.isolation) ||',
    to: 'isolationRank(a.candidate.probe.isolation) - isolationRank(b.candidate.probe.isolation) ||',
    tests: [`${CORE_TEST}/selection.test.ts`],
  },
  {
    id: 'selection-deny-ignored',
    file: `${CORE}/policy-reasons.ts`,
    from: 'if (policy.providers.deny.includes(id)) {',
    to: 'if (false) {',
    tests: [`${CORE_TEST}/selection.test.ts`],
  },
  {
    id: 'selection-legacy-allowed',
    file: `${CORE}/policy-reasons.ts`,
    from: "if (provider.capabilities.legacyCryptoApi && policy.legacyCryptoApi === 'deny') {",
    to: "if (provider.capabilities.legacyCryptoApi && policy.legacyCryptoApi === 'allow') {",
    tests: [`${CORE_TEST}/selection.test.ts`],
  },
  {
    id: 'selection-unavailable-used',
    file: `${CORE}/selection.ts`,
    from: '  if (!probe.available) {\n',
    to: '  if (probe.available === null) {\n',
    tests: [`${CORE_TEST}/selection.test.ts`],
  },
  // Receipts: a key below the floor is refused after the fact.
  {
    id: 'receipt-unknown-level-accepted',
    file: `${CORE}/keystore-verify.ts`,
    from: 'if (level !== null && isAtLeast(level, floor)) return;',
    to: 'if (level === null || isAtLeast(level, floor)) return;',
    tests: [`${CORE_TEST}/keystore.test.ts`],
    grep: 'receipt',
  },
  {
    id: 'receipt-below-floor-accepted',
    file: `${CORE}/keystore-verify.ts`,
    from: 'if (level !== null && isAtLeast(level, floor)) return;',
    to: 'if (level !== null) return;',
    tests: [`${CORE_TEST}/keystore.test.ts`],
    grep: 'receipt',
  },
  // TCTI judging: what counts as the kernel's TPM or the system's resource manager.
  {
    id: 'tcti-swtpm-not-simulator',
    file: `${TPM}/src/tcti.ts`,
    from: "const SIMULATORS = new Set(['swtpm', 'mssim', 'libtpms']);",
    to: "const SIMULATORS = new Set(['mssim', 'libtpms']);",
    tests: [`${TPM}/test/tcti.test.ts`],
  },
  {
    id: 'tcti-symlink-accepted',
    file: `${TPM}/src/tcti.ts`,
    from: '  if (stat.isSymbolicLink()) return',
    to: '  if (false) return',
    tests: [`${TPM}/test/tcti.test.ts`],
  },
  {
    id: 'tcti-realpath-unchecked',
    file: `${TPM}/src/tcti.ts`,
    from: '  if (files.realpath(path) !== path) return',
    to: '  if (false) return',
    tests: [`${TPM}/test/tcti.test.ts`],
  },
  {
    id: 'tcti-library-path-accepted',
    file: `${TPM}/src/tcti.ts`,
    from: "if (name.includes('/')) spelling = 'path';",
    to: "if (false) spelling = 'path';",
    tests: [`${TPM}/test/tcti.test.ts`],
  },
  {
    id: 'tcti-tabrmd-any-bus',
    file: `${TPM}/src/tcti.ts`,
    from: "if (key === 'bus_type' && value === 'system') continue;",
    to: "if (key === 'bus_type') continue;",
    tests: [`${TPM}/test/tcti.test.ts`],
  },
];

const vitest = join(root, 'node_modules/vitest/vitest.mjs');

// One run at a time in a clone: a second one would read a mutated file as the original, and restore
// the mutation.
const lock = join(root, '.tmp/mutation.lock');
mkdirSync(join(root, '.tmp'), { recursive: true });
try {
  writeFileSync(lock, String(process.pid), { flag: 'wx' });
} catch (error) {
  if (error.code !== 'EEXIST') throw error;
  const holder = Number(readFileSync(lock, 'utf8'));
  let alive = false;
  try {
    process.kill(holder, 0);
    alive = true;
  } catch {}
  if (alive) {
    console.error(`mutation: another run (pid ${holder}) is mutating files in this clone; wait for it to end`);
    process.exit(1);
  }
  writeFileSync(lock, String(process.pid));
}
const work = mkdtempSync(join(tmpdir(), 'keystore-mutation-'));

/** The file being mutated and its original text, restored whatever happens. */
let pending;
let child;
function restore() {
  if (pending === undefined) return;
  writeFileSync(pending.path, pending.text);
  pending = undefined;
}
function stop(signal) {
  if (child !== undefined) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
  }
  const restored = pending === undefined ? 'no file was mutated' : `${pending.path} is restored`;
  restore();
  rmSync(work, { recursive: true, force: true });
  console.error(`mutation: stopped by ${signal}; ${restored}`);
  process.exit(signal === 'SIGINT' ? 130 : 143);
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('exit', () => {
  restore();
  rmSync(lock, { force: true });
});

/** Runs vitest on `tests`; resolves to its JSON report's counts, or `timeout`. */
function runTests(tests, grep, label) {
  const out = join(work, `${label}.json`);
  const args = [vitest, 'run', '--project', 'main', '--reporter=json', `--outputFile=${out}`];
  if (grep !== undefined) args.push('-t', grep);
  args.push(...tests);
  return new Promise((resolve, reject) => {
    let stderr = '';
    child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      child = undefined;
      if (signal === 'SIGKILL') return resolve({ timeout: true });
      let report;
      try {
        report = JSON.parse(readFileSync(out, 'utf8'));
      } catch {
        return resolve({ code, crashed: true, stderr });
      }
      resolve({
        code,
        passed: report.numPassedTests,
        failed: report.numFailedTests,
        failedSuites: report.numFailedTestSuites,
        stderr,
      });
    });
  });
}

function check(mutation) {
  const path = join(root, mutation.file);
  const text = readFileSync(path, 'utf8');
  const count = text.split(mutation.from).length - 1;
  if (count !== 1) {
    return `${mutation.id}: the snippet occurs ${count} times in ${mutation.file} (it must occur once; the code moved or changed: point the mutation at it again)`;
  }
  return undefined;
}

async function main() {
  const argv = process.argv.slice(2);
  const ids = new Set(MUTATIONS.map((m) => m.id));
  if (ids.size !== MUTATIONS.length) throw new Error('two mutations share an id');
  if (argv[0] === '--list') {
    for (const m of MUTATIONS) console.log(`${m.id}\t${m.file}\t${m.tests.join(' ')}${m.grep ? ` -t ${m.grep}` : ''}`);
    const problems = MUTATIONS.map(check).filter((p) => p !== undefined);
    for (const p of problems) console.error(`mutation: ${p}`);
    return problems.length > 0 ? 1 : 0;
  }
  let chosen = MUTATIONS;
  if (argv[0] === '--only') {
    const wanted = argv.slice(1);
    const unknown = wanted.filter((id) => !ids.has(id));
    if (wanted.length === 0 || unknown.length > 0) {
      console.error(`mutation: --only takes mutation ids (unknown: ${unknown.join(', ') || 'none given'}); see --list`);
      return 2;
    }
    chosen = MUTATIONS.filter((m) => wanted.includes(m.id));
  } else if (argv.length > 0) {
    console.error('usage: node scripts/mutation.mjs [--list | --only ID…]');
    return 2;
  }

  const problems = chosen.map(check).filter((p) => p !== undefined);
  if (problems.length > 0) {
    for (const p of problems) console.error(`mutation: ${p}`);
    return 1;
  }

  const started = Date.now();
  // Unmutated, every named test must pass: otherwise a failure would say nothing about a mutation.
  // Files some mutation runs whole run whole; files only ever run with a filter run with all their
  // filters at once (a superset of what each mutation runs).
  const whole = new Set(chosen.filter((m) => m.grep === undefined).flatMap((m) => m.tests));
  const filtered = new Set(chosen.flatMap((m) => (m.grep === undefined ? [] : m.tests)).filter((f) => !whole.has(f)));
  const greps = [...new Set(chosen.flatMap((m) => (m.grep === undefined ? [] : [m.grep])))];
  const baselines = [];
  if (whole.size > 0) baselines.push(await runTests([...whole], undefined, 'baseline-whole'));
  if (filtered.size > 0) baselines.push(await runTests([...filtered], greps.join('|'), 'baseline-filtered'));
  for (const baseline of baselines) {
    if (baseline.timeout || baseline.crashed || baseline.code !== 0 || baseline.failed > 0 || baseline.passed === 0) {
      console.error(
        `mutation: the tests fail (or none ran) without any mutation; fix them first\n${baseline.stderr ?? ''}`,
      );
      return 1;
    }
  }
  const passed = baselines.reduce((sum, b) => sum + b.passed, 0);
  console.log(
    `mutation: baseline ${passed} tests pass in ${whole.size + filtered.size} files, unmutated (${secs(started)})`,
  );

  const results = [];
  for (const [index, mutation] of chosen.entries()) {
    const at = Date.now();
    const path = join(root, mutation.file);
    const text = readFileSync(path, 'utf8');
    pending = { path, text };
    let result;
    try {
      writeFileSync(
        path,
        text.replace(mutation.from, () => mutation.to),
      );
      result = await runTests(mutation.tests, mutation.grep, mutation.id);
    } finally {
      restore();
    }
    let status;
    if (result.timeout) status = 'killed (timeout)';
    else if (result.crashed) status = 'error: vitest wrote no report';
    else if (result.failed > 0) status = 'killed';
    else if (result.failedSuites > 0) status = 'error: a test file failed to load (the mutation is not valid code?)';
    else if (result.passed === 0) status = 'error: no test ran (a filter that matches nothing, or a skipped suite)';
    else status = 'survived';
    results.push({ mutation, status });
    console.log(`mutation: [${index + 1}/${chosen.length}] ${mutation.id}: ${status} (${secs(at)})`);
  }

  const killed = results.filter((r) => r.status.startsWith('killed')).length;
  const survived = results.filter((r) => r.status === 'survived');
  const errors = results.filter((r) => r.status.startsWith('error'));
  const score = killed / results.length;
  console.log(
    `mutation: ${killed} killed, ${survived.length} survived, ${errors.length} errors of ${results.length}; score ${(100 * score).toFixed(1)}% in ${secs(started)}`,
  );
  for (const r of survived) console.log(`mutation: survived: ${r.mutation.id} (${r.mutation.file})`);
  if (errors.length > 0) {
    for (const r of errors) console.error(`mutation: ${r.mutation.id}: ${r.status}`);
    return 1;
  }
  if (argv[0] !== '--only' && score < FLOOR) {
    console.error(`mutation: the score ${(100 * score).toFixed(1)}% is below the floor ${100 * FLOOR}%`);
    return 1;
  }
  return 0;
}

function secs(since) {
  return `${((Date.now() - since) / 1000).toFixed(0)} s`;
}

main().then(
  (code) => {
    rmSync(work, { recursive: true, force: true });
    process.exit(code);
  },
  (error) => {
    restore();
    rmSync(work, { recursive: true, force: true });
    console.error(error);
    process.exit(1);
  },
);
