/**
 * The pack test's scratch project: every public workspace package packed with `npm pack` (the build
 * must be done: prepack is skipped so that nothing builds twice), and a project outside the clone
 * that installs the tarballs, the examples copied into it with their dependencies pointed at the
 * tarballs, and the few third-party packages the consumers need, in one `npm install`.
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The package.json fields the pack test reads. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  bin?: string | Record<string, string>;
  exports?: Record<string, unknown>;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  keystore?: { provider?: string };
  engines?: { node?: string };
}

/** A workspace of the clone: its directory relative to the root, and its manifest. */
export interface Workspace {
  dir: string;
  manifest: Manifest;
}

/** A packed public package. */
export interface Packed extends Workspace {
  /** Absolute path of the tarball. */
  tarball: string;
  /** Paths inside the tarball. */
  files: string[];
  /** Bytes of the tarball, and of its files unpacked. */
  size: number;
  unpackedSize: number;
}

/**
 * The environment for programs the test starts: the caller's, without what an npm script adds
 * about the clone (INIT_CWD, npm_package_*, npm_lifecycle_*, npm_config_local_prefix), so that npm
 * in the scratch project and the programs there see nothing of the workspace.
 */
export function scratchEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(INIT_CWD|npm_package_.*|npm_lifecycle_.*|npm_config_local_prefix|NODE_OPTIONS)$/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/**
 * The workspaces the root package.json names, in its order (`dir/*` patterns expanded), so that a
 * package added later is covered without a change here.
 */
export function listWorkspaces(root: string): Workspace[] {
  const patterns = readJson<{ workspaces?: string[] }>(join(root, 'package.json')).workspaces ?? [];
  const dirs: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const name of readdirSync(join(root, parent)).sort()) dirs.push(`${parent}/${name}`);
    } else if (!/[*?[{]/.test(pattern)) {
      dirs.push(pattern);
    } else {
      throw new Error(`workspace pattern ${pattern} is not one the pack test expands (dir or dir/*)`);
    }
  }
  return dirs
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .map((dir) => ({ dir, manifest: readJson<Manifest>(join(root, dir, 'package.json')) }));
}

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/**
 * Packs `workspaces` into `dest` with one `npm pack` (scripts skipped: the packages must be built,
 * and a src/ newer than dist/ fails here rather than packing a stale build).
 */
export async function packWorkspaces(root: string, workspaces: Workspace[], dest: string): Promise<Packed[]> {
  for (const { dir } of workspaces) {
    const dist = join(root, dir, 'dist');
    if (!existsSync(dist)) throw new Error(`${dir}/dist is missing: run npm run build first`);
    const src = join(root, dir, 'src');
    if (existsSync(src) && newestMtime(src) > newestMtime(dist)) {
      throw new Error(`${dir}/src is newer than ${dir}/dist: run npm run build first`);
    }
  }
  mkdirSync(dest, { recursive: true });
  const args = ['pack', '--json', '--ignore-scripts', '--pack-destination', dest];
  for (const { dir } of workspaces) args.push('--workspace', dir);
  const { stdout } = await run('npm', args, { cwd: root, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
  const results = JSON.parse(stdout) as {
    name: string;
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  return workspaces.map((w) => {
    const r = results.find((p) => p.name === w.manifest.name);
    if (!r) throw new Error(`npm pack reported nothing for ${w.manifest.name}`);
    return {
      ...w,
      tarball: join(dest, r.filename),
      files: r.files.map((f) => f.path),
      size: r.size,
      unpackedSize: r.unpackedSize,
    };
  });
}

/**
 * Refuses a scratch directory inside the clone or below a `node_modules` of someone else: Node's
 * module resolution walks up the parents, and a package found there would hide a missing one.
 */
export function assertIsolated(dir: string, root: string): void {
  const real = realpathSync(dir);
  const rel = relative(realpathSync(root), real);
  if (!rel.startsWith(`..${sep}`) && rel !== '..') {
    throw new Error(`the scratch project ${real} is inside the clone: set TMPDIR to a directory outside it`);
  }
  for (let parent = dirname(real); ; parent = dirname(parent)) {
    if (existsSync(join(parent, 'node_modules'))) {
      throw new Error(`${parent}/node_modules exists above the scratch project: set TMPDIR to a directory without one`);
    }
    if (dirname(parent) === parent) break;
  }
}

/** The version of a package installed in the clone (so that the scratch install hits npm's cache). */
export function installedVersion(root: string, name: string): string {
  return readJson<{ version: string }>(join(root, 'node_modules', name, 'package.json')).version;
}

/**
 * Copies each example (its package.json, tsconfig.json and src/) into `app/examples/NAME`, with its
 * dependencies on workspace packages pointed at their tarballs, and the repository's
 * tsconfig.base.json next to them where their `extends` finds it. Returns the copies' directories,
 * relative to `app`.
 */
export function copyExamples(root: string, examples: Workspace[], packed: Packed[], app: string): string[] {
  const tarballs = new Map(packed.map((p) => [p.manifest.name, p.tarball]));
  cpSync(join(root, 'tsconfig.base.json'), join(app, 'tsconfig.base.json'));
  return examples.map(({ dir, manifest }) => {
    const to = join(app, dir);
    mkdirSync(to, { recursive: true });
    for (const name of ['tsconfig.json', 'src', 'README.md']) {
      if (existsSync(join(root, dir, name))) cpSync(join(root, dir, name), join(to, name), { recursive: true });
    }
    const dependencies: Record<string, string> = {};
    for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
      const tarball = tarballs.get(name);
      if (name.startsWith('@keystore/') && !tarball) throw new Error(`${dir} depends on ${name}, which is not packed`);
      dependencies[name] = tarball ? `file:${relative(to, tarball)}` : range;
    }
    writeFileSync(join(to, 'package.json'), `${JSON.stringify({ ...manifest, dependencies }, null, 2)}\n`);
    return dir;
  });
}

/** Writes the scratch project's package.json and runs its one `npm install`. */
export async function installScratch(
  app: string,
  packed: Packed[],
  extra: Record<string, string>,
  workspaces: string[],
): Promise<void> {
  const dependencies: Record<string, string> = { ...extra };
  for (const p of packed) dependencies[p.manifest.name] = `file:${relative(app, p.tarball)}`;
  const manifest = { name: 'keystore-pack-scratch', version: '0.0.0', private: true, workspaces, dependencies };
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  // --ignore-scripts: koffi's install script only checks that the prebuilt binary of its
  // per-platform package (@koromix/koffi-<os>-<arch>) loads, and builds from source when it does
  // not; the examples and consumers that load koffi show whether it does.
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], {
    cwd: app,
    env: scratchEnv(),
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
  });
}
