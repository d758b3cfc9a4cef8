// What a user of the registry gets: every public workspace package packed with `npm pack`, checked
// with publint and @arethetypeswrong/cli, and installed into one scratch project outside the clone;
// there, JavaScript consumers (ESM and CommonJS, every exported subpath, the DI entries included) and
// the `keystore` binary run under this machine's Node.js, the lowest versions `engines` admits and
// the newest 22 and 24 (fetched from the npm registry into a cache outside the clone), TypeScript
// consumers compile with `node16` and `bundler` without skipLibCheck, and every example is built
// and run against the tarballs. Needs `npm run build` first (`npm run test:pack`; CI runs it after
// the build).
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HAVE_SWTPM,
  NEEDS_SWTPM,
  type SwtpmInstance,
  startSwtpm,
} from '../../packages/provider-tpm/test/helpers/swtpm.js';
import {
  type ConsumerReport,
  cjsConsumer,
  entriesOf,
  esmConsumer,
  writeTypeScriptConsumers,
} from '../pack/consumers.js';
import { nodeBinary, testedNodeVersions } from '../pack/node.js';
import {
  assertIsolated,
  copyExamples,
  installedVersion,
  installScratch,
  listWorkspaces,
  type Packed,
  packWorkspaces,
  scratchEnv,
} from '../pack/scratch.js';
import { runWineNode, wine } from '../wine.js';

const execFileP = promisify(execFile);

const root = fileURLToPath(new URL('../..', import.meta.url));
const workspaces = listWorkspaces(root);
const publicWorkspaces = workspaces.filter((w) => !w.manifest.private);
const privateNames = new Set(workspaces.filter((w) => w.manifest.private).map((w) => w.manifest.name));
const examples = workspaces.filter((w) => w.dir.startsWith('examples/'));
// An example that needs a private (unpublished) workspace package cannot be installed from tarballs.
const needsPrivate = (deps: Record<string, string> | undefined) =>
  Object.keys(deps ?? {}).filter((name) => privateNames.has(name));
const installable = examples.filter((e) => needsPrivate(e.manifest.dependencies).length === 0);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end, never throwing on its exit code. */
function runProgram(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

const lastJson = <T>(run: Run): T => {
  const line = run.stdout.trimEnd().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`no JSON on the last line (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
};

let base: string;
let app: string;
let packed: Packed[] = [];
let env: NodeJS.ProcessEnv;
const nodes = new Map<string, Promise<string>>();

beforeAll(async () => {
  // The Node.js downloads (first run only) overlap with packing and installing.
  for (const version of testedNodeVersions) {
    const fetched = nodeBinary(version);
    fetched.catch(() => undefined); // reported by the tests that use it
    nodes.set(version, fetched);
  }
  base = mkdtempSync(join(tmpdir(), 'keystore-pack-'));
  assertIsolated(base, root);
  app = join(base, 'app');
  mkdirSync(app);
  // An empty file for the one machine-policy source a process may add (KEYSTORE_MACHINE_POLICY),
  // so that the caller's own does not change what the programs do.
  const machinePolicy = join(base, 'machine-policy.json');
  writeFileSync(machinePolicy, '{}');
  env = scratchEnv({ KEYSTORE_MACHINE_POLICY: machinePolicy });
  delete env.TSS2_FAPICONF;

  const started = Date.now();
  packed = await packWorkspaces(root, publicWorkspaces, join(base, 'tarballs'));
  const exampleDirs = copyExamples(root, installable, packed, app);
  const entries = entriesOf(packed);
  writeFileSync(join(app, 'consumer.mjs'), esmConsumer(entries));
  writeFileSync(join(app, 'consumer.cjs'), cjsConsumer(entries));
  writeTypeScriptConsumers(app, entries);
  const extra = Object.fromEntries(
    ['inversify', 'typescript', '@types/node'].map((name) => [name, installedVersion(root, name)]),
  );
  await installScratch(app, packed, extra, exampleDirs);
  console.log(`packed ${packed.length} packages and installed the scratch project in ${Date.now() - started} ms`);
}, 900_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('the tarballs', () => {
  it('every public workspace package is packed (a package added later is found without a change here)', async () => {
    // npm's own list of the workspaces, against the one read from package.json here.
    const { stdout } = await execFileP('npm', ['query', '.workspace'], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 });
    const published = (JSON.parse(stdout) as { name: string; private?: boolean }[])
      .filter((w) => !w.private)
      .map((w) => w.name)
      .sort();
    expect(packed.map((p) => p.manifest.name).sort()).toEqual(published);
    expect(published.length).toBeGreaterThanOrEqual(5);
    expect(readdirSync(join(base, 'tarballs')).sort()).toEqual(packed.map((p) => basename(p.tarball)).sort());
    const rows = packed.map((p) => `${p.manifest.name.padEnd(26)} ${String(p.size).padStart(8)} B packed`);
    console.log(`tarball sizes:\n${rows.join('\n')}`);
  });

  it("each declares the root's engines.node, and the Node.js versions run below include each alternative's lowest", () => {
    const range = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } })
      .engines.node;
    for (const p of packed) expect(p.manifest.engines?.node, p.manifest.name).toBe(range);
    const lowest = range.split('||').map((alt) => alt.trim().replace(/^(\^|>=)/, ''));
    expect(testedNodeVersions).toEqual(expect.arrayContaining(lowest));
  });

  it('each holds every file its exports map and bin name, and no source maps', () => {
    for (const p of packed) {
      const targets: string[] = [];
      const collect = (value: unknown) => {
        if (typeof value === 'string') targets.push(value.replace(/^\.\//, ''));
        else if (value && typeof value === 'object') for (const v of Object.values(value)) collect(v);
      };
      collect(p.manifest.exports);
      collect(p.manifest.bin);
      for (const target of targets) expect(p.files, `${p.manifest.name}: ${target}`).toContain(target);
      expect(
        p.files.filter((f) => f.endsWith('.map')),
        p.manifest.name,
      ).toEqual([]);
    }
  });

  // tsup names a lazily loaded module NAME-HASH.js; two of one name in one format are two copies of
  // that code (as when the CLI's binary and library were built apart, each with every command).
  it('each ships a lazily loaded module once per format', () => {
    for (const p of packed) {
      const named = p.files
        .map((f) => /^dist\/(?:.*\/)?([a-z][\w-]*)-[A-Za-z0-9_]{8}\.(c?js)$/.exec(f))
        .filter((m): m is RegExpExecArray => m !== null && m[1] !== 'chunk')
        .map((m) => `${m[1]}.${m[2]}`);
      expect(
        named.filter((n, i) => named.indexOf(n) !== i),
        p.manifest.name,
      ).toEqual([]);
    }
  });

  it('publint finds no error or warning in any tarball', async () => {
    const { publint } = await import('publint');
    const { formatMessage } = await import('publint/utils');
    for (const p of packed) {
      const tarball = readFileSync(p.tarball);
      const pkg = JSON.parse(readFileSync(join(root, p.dir, 'package.json'), 'utf8'));
      const { messages } = await publint({
        pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.byteLength) },
        level: 'warning',
        strict: false,
      });
      expect(
        messages.map((m) => `${m.type}: ${formatMessage(m, pkg) ?? m.code}`),
        p.manifest.name,
      ).toEqual([]);
    }
  });

  // --profile node16: TypeScript's `node10` resolution ignores `exports` (so no subpath resolves with
  // it) and is deprecated by TypeScript 6.0; the packages support node16/nodenext and bundler.
  it('@arethetypeswrong/cli (profile node16) finds no problem in any tarball', async () => {
    const attw = join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const queue = [...packed];
    const check = async () => {
      for (let p = queue.shift(); p; p = queue.shift()) {
        const args = [attw, p.tarball, '--format', 'json', '--profile', 'node16'];
        const run = await runProgram(process.execPath, args, { cwd: base });
        expect(attwProblems(run), `${p.manifest.name}: ${run.stderr}`).toEqual([]);
        expect(run.status, `${p.manifest.name}: ${run.stderr}`).toBe(0);
      }
    };
    await Promise.all([check(), check()]); // two at a time: each is a TypeScript program
  });
});

interface AttwProblem {
  kind: string;
  entrypoint?: string;
  resolutionKind?: string;
}

/**
 * The problems `attw --format json` reports (one JSON document over several lines, problems grouped
 * by kind), without those of the `node10` resolution, as its `--profile node16` does.
 */
function attwProblems(run: Run): AttwProblem[] {
  let doc: { problems?: Record<string, AttwProblem[]> | AttwProblem[] };
  try {
    doc = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')));
  } catch {
    throw new Error(`attw printed no JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  const problems = Array.isArray(doc.problems) ? doc.problems : Object.values(doc.problems ?? {}).flat();
  return problems.filter((p) => p.resolutionKind !== 'node10');
}

const runtimes: { label: string; version?: string }[] = [
  { label: `this machine's ${process.versions.node}` },
  ...testedNodeVersions.map((version) => ({ label: version, version })),
];

describe.each(runtimes)('installed outside the clone, on Node.js $label', ({ version }) => {
  const node = async () => (version === undefined ? process.execPath : await nodes.get(version)!);
  const expected = version ?? process.versions.node;

  it.each(['consumer.mjs', 'consumer.cjs'])('%s loads every entry point and uses the API', async (file) => {
    const run = await runProgram(await node(), [file], { cwd: app });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = lastJson<ConsumerReport>(run);
    expect(report.node).toBe(expected);
    const entries = entriesOf(packed);
    expect(Object.keys(report.exports)).toEqual(entries.code);
    expect(Object.keys(report.json)).toEqual(entries.json);
    for (const [spec, names] of Object.entries(report.exports)) expect(names.length, spec).toBeGreaterThan(0);
    expect(entries.code).toEqual(expect.arrayContaining(['@keystore/core/di', '@keystore/provider-tpm/module']));
    expect(report.signed).toBe(true);
    expect(report.notFound).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(report.crossFormat).toBe(true);
    expect(report.di).toBe(true);
    const providers = packed.filter((p) => p.manifest.keystore?.provider);
    expect(Object.keys(report.providers).sort()).toEqual(providers.map((p) => p.manifest.name).sort());
    for (const p of providers) expect(report.providers[p.manifest.name]?.id).toBe(p.manifest.keystore?.provider);
  });

  it('ESM and CommonJS export the same names from every entry point', async () => {
    const [esm, cjs] = await Promise.all(
      ['consumer.mjs', 'consumer.cjs'].map(async (file) =>
        lastJson<ConsumerReport>(await runProgram(await node(), [file], { cwd: app })),
      ),
    );
    expect(cjs?.exports).toEqual(esm?.exports);
    expect(cjs?.json).toEqual(esm?.json);
  });

  it('the keystore binary: --version, and doctor --json finds every installed provider package', async () => {
    const cli = packed.find((p) => p.manifest.bin);
    expect(cli, 'a package with a bin').toBeDefined();
    // Run as a user's shell runs it: the bin link, its `#!/usr/bin/env node` finding this Node.js first on PATH.
    const bin = join(app, 'node_modules/.bin/keystore');
    const exe = await node();
    const binEnv = { ...env, PATH: `${dirname(exe)}${delimiter}${env.PATH ?? ''}` };
    const printed = await runProgram(bin, ['--version'], { cwd: app, env: binEnv });
    expect(printed.stderr).toBe('');
    expect(printed.status).toBe(0);
    expect(printed.stdout).toContain(cli!.manifest.version);

    const doctor = await runProgram(bin, ['doctor', '--json'], { cwd: app, env: binEnv });
    expect(doctor.stderr).toBe('');
    const report = JSON.parse(doctor.stdout) as {
      node: string;
      selected: unknown;
      providers: { id: string; package?: string; packagePath?: string; version?: string }[];
    };
    expect(report.node).toBe(`v${expected}`);
    expect(doctor.status).toBe(report.selected ? 0 : 3);
    for (const p of packed.filter((q) => q.manifest.keystore?.provider)) {
      const row = report.providers.find((r) => r.package === p.manifest.name);
      expect(row, p.manifest.name).toBeDefined();
      expect(row?.packagePath).toBe(join(app, 'node_modules', p.manifest.name));
      expect(row?.version).toBe(p.manifest.version);
    }
  });
});

describe.concurrent('TypeScript consumers of the installed packages (no skipLibCheck)', () => {
  const tsc = () => join(app, 'node_modules/typescript/bin/tsc');

  it('module/moduleResolution node16: ESM (.mts) and CommonJS (.cts) files compile, and what they emit runs', async () => {
    const compiled = await runProgram(process.execPath, [tsc(), '-p', 'ts-node16'], { cwd: app, timeoutMs: 300_000 });
    expect(compiled.stdout + compiled.stderr).toBe('');
    expect(compiled.status).toBe(0);
    for (const file of ['ts-node16/out/consumer.mjs', 'ts-node16/out/consumer.cjs']) {
      const run = await runProgram(process.execPath, [file], { cwd: app });
      expect(run.stderr, file).toBe('');
      expect(lastJson<{ ok: boolean; entries: number }>(run), file).toEqual({
        ok: true,
        entries: expect.any(Number),
      });
    }
  });

  it('module esnext, moduleResolution bundler: type-checks', async () => {
    const checked = await runProgram(process.execPath, [tsc(), '-p', 'ts-bundler'], { cwd: app, timeoutMs: 300_000 });
    expect(checked.stdout + checked.stderr).toBe('');
    expect(checked.status).toBe(0);
  });
});

// How each example runs here, and what it must print. An example not listed runs with its `start`
// script and must exit 0.
type ExampleCheck = (run: (args?: string[], extraEnv?: NodeJS.ProcessEnv) => Promise<Run>) => Promise<void>;
let swtpm: SwtpmInstance | undefined;
const exampleChecks: Record<string, { needs?: string; check: ExampleCheck }> = {
  'examples/basic': {
    check: async (run) => {
      const r = await run();
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Verified with node:crypto: valid$/m);
      expect(r.stdout).toMatch(/^Deleted keystore:/m);
    },
  },
  'examples/tpm-sign': {
    needs: HAVE_SWTPM ? undefined : NEEDS_SWTPM,
    check: async (run) => {
      swtpm ??= await startSwtpm();
      const r = await run([], { TSS2_FAPICONF: swtpm.configFile });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^ECDSA signature verified with node:crypto: valid$/m);
      expect(r.stdout).toMatch(/^RSA-OAEP round trip through the TPM: ok$/m);
      expect(r.stdout).toMatch(/^Deleted both keys$/m);
    },
  },
  // In memory (no TPM needed), then with a TPM key on swtpm: jose signs through the facade.
  'examples/jwt': {
    needs: HAVE_SWTPM ? undefined : NEEDS_SWTPM,
    check: async (run) => {
      const memory = await run(['--memory']);
      expect(memory.stderr).toBe('');
      expect(memory.status).toBe(0);
      expect(memory.stdout).toMatch(/^Verified with the public JWK: sub=device-42$/m);
      expect(memory.stdout).toMatch(/^Tampered token rejected: yes$/m);
      swtpm ??= await startSwtpm();
      const r = await run([], { TSS2_FAPICONF: swtpm.configFile });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Created keystore:tpm:user:example-jwt-\S+ \(isolation: in-process\)$/m);
      expect(r.stdout).toMatch(/^Verified with the public JWK: sub=device-42$/m);
      expect(r.stdout).toMatch(/^Tampered token rejected: yes$/m);
    },
  },
  // In memory (the PEM printed), then on swtpm (written with --out, checked by openssl req -verify).
  'examples/csr': {
    needs: HAVE_SWTPM ? undefined : NEEDS_SWTPM,
    check: async (run) => {
      const memory = await run(['--memory']);
      expect(memory.stderr).toBe('');
      expect(memory.status).toBe(0);
      expect(memory.stdout).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----$/m);
      expect(memory.stdout).toMatch(/^Deleted the key$/m);
      swtpm ??= await startSwtpm();
      const out = join(base, 'example-tpm.csr');
      const r = await run(['--out', out], { TSS2_FAPICONF: swtpm.configFile });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Created keystore:tpm:user:example-csr-\S+ \(isolation: in-process\)$/m);
      expect(r.stdout).toContain(`Wrote the CSR to ${out} (mode 0600)`);
      const verified = await execFileP('openssl', ['req', '-in', out, '-verify', '-noout'], { encoding: 'utf8' });
      expect(verified.stdout + verified.stderr).toMatch(/verify OK/);
    },
  },
  // In memory, then with a TPM key on swtpm: the example verifies the certificate with node:crypto.
  'examples/self-signed': {
    needs: HAVE_SWTPM ? undefined : NEEDS_SWTPM,
    check: async (run) => {
      const memory = await run(['--memory']);
      expect(memory.stderr).toBe('');
      expect(memory.status).toBe(0);
      expect(memory.stdout).toMatch(/^SHA-256 fingerprint: [0-9A-F:]{95}$/m);
      expect(memory.stdout).toMatch(/^Signature verified with the key's public key: yes$/m);
      swtpm ??= await startSwtpm();
      const r = await run([], { TSS2_FAPICONF: swtpm.configFile });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Created keystore:tpm:user:example-self-signed-\S+ \(isolation: in-process\)$/m);
      expect(r.stdout).toMatch(/^Signature verified with the key's public key: yes$/m);
    },
  },
  // Linux has neither CNG nor CryptoAPI, and no TPM is configured here: every provider is refused
  // with its reason and nothing is created (exit 1). In Windows Node.js under Wine: at the end of this file.
  'examples/windows-keys': {
    check: async (run) => {
      const r = await run();
      expect(r.stderr).toBe('');
      expect(r.status).toBe(1);
      for (const id of ['tpm', 'cng', 'capi']) expect(r.stdout).toMatch(new RegExp(`^${id}: `, 'm'));
      expect(r.stdout).toMatch(/nothing was created/);
    },
  },
};

describe('the examples, built and run against the packed packages', () => {
  afterAll(async () => {
    await swtpm?.dispose();
  });

  for (const example of examples) {
    const missing = needsPrivate(example.manifest.dependencies);
    const entry = exampleChecks[example.dir];
    const skip = missing.length > 0 ? `needs the unpublished ${missing.join(', ')}` : entry?.needs;
    it.skipIf(skip !== undefined)(
      `${example.dir}: builds with its own build script and runs${skip ? ` (skipped: ${skip})` : ''}`,
      async () => {
        const cwd = join(app, example.dir);
        const npm = async (script: string, args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) => {
          const r = await runProgram('npm', ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])], {
            cwd,
            env: { ...env, ...extraEnv },
            timeoutMs: 300_000,
          });
          if (script === 'start') console.log(`${example.dir} (exit ${r.status}):\n${r.stdout}${r.stderr}`);
          return r;
        };
        const built = await npm('build');
        expect(built.stdout + built.stderr).toBe('');
        expect(built.status).toBe(0);
        if (entry) await entry.check((args, extraEnv) => npm('start', args, extraEnv));
        else {
          const r = await npm('start');
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
        }
      },
    );
  }
});

// The Windows example from the tarballs in Windows Node.js under Wine: koffi's Windows build is put
// where the scratch project's koffi looks for it, as scripts/wine/setup.sh does for the workspace.
// Wine's CNG runs in-process, hence --floor in-process.
describe.skipIf(!wine.available)(
  `examples/windows-keys from the tarballs in Windows Node.js (needs Wine: ${wine.reason})`,
  () => {
    it('with --floor in-process: a CNG key signs and verifies; CryptoAPI is refused', async () => {
      const dir = join(app, 'examples/windows-keys');
      const main = join(dir, 'dist/main.js');
      if (!existsSync(main)) {
        // Run alone (vitest -t): build it as the test above does.
        const built = await runProgram('npm', ['run', '--silent', 'build'], { cwd: dir, timeoutMs: 300_000 });
        expect(built.status, built.stdout + built.stderr).toBe(0);
      }
      await execFileP(join(root, 'scripts/wine/setup.sh'), [], { timeout: 600_000 });
      const version = (pkg: string) => JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version as string;
      const windowsKoffi = join(root, 'node_modules/@koromix/koffi-win32-x64');
      expect(version(windowsKoffi)).toBe(version(join(app, 'node_modules/koffi')));
      cpSync(windowsKoffi, join(app, 'node_modules/@koromix/koffi-win32-x64'), { recursive: true });
      const run = await runWineNode([main, '--floor', 'in-process']);
      console.log(`examples/windows-keys under Wine (exit ${run.code}):\n${run.stdout}${run.stderr}`);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^Created keystore:cng:user:example-windows-\d+: isolation in-process$/m);
      expect(run.stdout).toMatch(/Signature verified with node:crypto: valid/);
      expect(run.stdout).toMatch(/^capi: refused: legacy CryptoAPI is denied by policy/m);
    });
  },
);

// @keystore/provider-pkcs11 from the tarballs against a SoftHSM2 token of its own: the installed
// package loads the module, generates keys on the token, signs, and the signatures verify with
// node:crypto. CI sets KEYSTORE_REQUIRE_SOFTHSM=1, which fails this instead of skipping.
const HAVE_SOFTHSM2 = existsSync('/usr/lib/softhsm/libsofthsm2.so') && which('softhsm2-util');
const NEEDS_SOFTHSM2 = 'needs Linux with SoftHSM2 (apt-get install softhsm2)';
if (process.env.KEYSTORE_REQUIRE_SOFTHSM === '1' && !HAVE_SOFTHSM2) {
  throw new Error(`KEYSTORE_REQUIRE_SOFTHSM=1 but ${NEEDS_SOFTHSM2}`);
}

function which(cmd: string): boolean {
  return (
    process.platform === 'linux' &&
    (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, cmd)))
  );
}

describe.skipIf(!HAVE_SOFTHSM2)(
  `@keystore/provider-pkcs11 from the tarballs on SoftHSM2${HAVE_SOFTHSM2 ? '' : ` (skipped: ${NEEDS_SOFTHSM2})`}`,
  () => {
    it('generates ECDSA-P256 and RSA-2048 keys on the token; their signatures verify with node:crypto', async () => {
      const dir = join(base, 'softhsm');
      mkdirSync(join(dir, 'tokens'), { recursive: true, mode: 0o700 });
      const conf = join(dir, 'softhsm2.conf');
      writeFileSync(
        conf,
        `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
      );
      const softhsmEnv = { ...env, SOFTHSM2_CONF: conf };
      await execFileP(
        'softhsm2-util',
        ['--init-token', '--free', '--label', 'pack', '--pin', '1234-pack', '--so-pin', '5678-pack'],
        { env: softhsmEnv },
      );
      writeFileSync(
        join(app, 'pkcs11-check.mjs'),
        `import { createHash, verify } from 'node:crypto';
import { createKeyStore } from '@keystore/core';
import { pkcs11Provider } from '@keystore/provider-pkcs11';
const store = await createKeyStore({
  providers: [pkcs11Provider({ module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'pack', pinEnv: 'PACK_TOKEN_PIN' })],
  policy: { minimumIsolation: 'in-process' },
});
const data = Buffer.from('signed from the tarball');
const report = {};
for (const algorithm of ['ECDSA-P256', 'RSA-2048']) {
  const key = await store.createKey('pack-' + algorithm, { algorithm });
  const signature = await key.sign(data);
  const hash = 'sha256';
  report[algorithm] = { verified: verify(hash, data, key.publicKey, signature), isolation: key.isolation.level };
  await store.deleteKey('pack-' + algorithm);
}
await store.close();
console.log(JSON.stringify(report));
`,
      );
      const run = await runProgram(process.execPath, ['pkcs11-check.mjs'], {
        cwd: app,
        env: { ...softhsmEnv, PACK_TOKEN_PIN: '1234-pack' },
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(lastJson(run)).toEqual({
        'ECDSA-P256': { verified: true, isolation: 'in-process' },
        'RSA-2048': { verified: true, isolation: 'in-process' },
      });
    });
  },
);
