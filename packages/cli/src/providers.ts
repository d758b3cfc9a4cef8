/**
 * Provider discovery: finds the installed `@keystore/provider-*` packages, loads each one and calls its
 * `createProvider()`. A package that fails to load is reported, never thrown.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { KeyStoreProvider } from '@keystore/core';

/**
 * One installed provider package, loaded or not.
 *
 * @since 0.1.0
 */
export interface DiscoveredProvider {
  /** The package name (`@keystore/provider-tpm`). */
  readonly packageName: string;
  /** The package's directory. */
  readonly packageDir: string;
  /** The package's version, when its `package.json` has one. */
  readonly version: string | undefined;
  /**
   * The provider id: the loaded provider's `id`, else `keystore.provider` of its `package.json`, else the
   * package name without `@keystore/provider-`.
   */
  readonly id: string;
  /** The provider, when the package loaded and `createProvider()` returned one. */
  readonly provider: KeyStoreProvider | undefined;
  /** Why it could not be loaded, when it could not. */
  readonly loadError: string | undefined;
}

/**
 * Options of {@link discoverProviders}.
 *
 * @since 0.1.0
 */
export interface DiscoverOptions {
  /** Environment; `KEYSTORE_PROVIDERS_DIR` names extra `node_modules`-like directories (path-list). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The working directory; its `node_modules` directories (walking up) are scanned too. */
  readonly cwd?: string;
  /** Directories to scan instead of the CLI's own module resolution paths (for tests). */
  readonly searchDirs?: readonly string[];
  /**
   * Load only the package that declares this provider id (`keystore.provider` in its `package.json`, else
   * its name's suffix); when no package declares it, every package is loaded and the ids they report decide.
   */
  readonly only?: string;
}

const PREFIX = 'provider-';

/** The `node_modules` directories from `dir` up to the root. */
function nodeModulesUpFrom(dir: string): string[] {
  const out: string[] = [];
  let current = resolve(dir);
  for (;;) {
    if (basename(current) !== 'node_modules') out.push(join(current, 'node_modules'));
    const parent = dirname(current);
    if (parent === current) return out;
    current = parent;
  }
}

/**
 * The directories scanned for `@keystore/provider-*` packages, in order: `KEYSTORE_PROVIDERS_DIR` entries,
 * the CLI's own module resolution paths, then `node_modules` directories from `cwd` up.
 *
 * @since 0.1.0
 */
export function providerSearchDirs(options: DiscoverOptions = {}): string[] {
  const dirs: string[] = [];
  const extra = options.env?.KEYSTORE_PROVIDERS_DIR;
  if (extra) {
    for (const entry of extra.split(delimiter)) if (entry) dirs.push(resolve(options.cwd ?? process.cwd(), entry));
  }
  if (options.searchDirs) {
    dirs.push(...options.searchDirs);
  } else {
    let here: string;
    try {
      here = dirname(fileURLToPath(import.meta.url));
    } catch {
      here = __dirname;
    }
    try {
      const paths = createRequire(join(here, 'noop.js')).resolve.paths('@keystore/core');
      if (paths) dirs.push(...paths);
    } catch {
      // fall through to walking up
    }
    dirs.push(...nodeModulesUpFrom(here));
    dirs.push(...nodeModulesUpFrom(options.cwd ?? process.cwd()));
  }
  return [...new Set(dirs)];
}

interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  module?: string;
  exports?: unknown;
  keystore?: { provider?: string };
}

/** Picks a target out of an `exports` condition object, preferring ESM. */
function pickExport(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = pickExport(item);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    for (const condition of ['import', 'node', 'default', 'require']) {
      if (condition in record) {
        const found = pickExport(record[condition]);
        if (found) return found;
      }
    }
  }
  return undefined;
}

/** The file an `import` of the package would load. */
function entryFile(dir: string, pkg: PackageJson): string {
  let target: string | undefined;
  const { exports } = pkg;
  if (exports !== undefined) {
    if (typeof exports === 'object' && exports !== null && !Array.isArray(exports)) {
      const record = exports as Record<string, unknown>;
      target = pickExport('.' in record ? record['.'] : record);
    } else {
      target = pickExport(exports);
    }
  }
  target ??= pkg.module ?? pkg.main ?? 'index.js';
  return join(dir, target);
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}

function isProvider(value: unknown): value is KeyStoreProvider {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return typeof p.id === 'string' && typeof p.probe === 'function' && typeof p.createKey === 'function';
}

async function load(dir: string, pkg: PackageJson, declaredId: string): Promise<DiscoveredProvider> {
  const base = {
    packageName: pkg.name ?? `@keystore/${PREFIX}${declaredId}`,
    packageDir: dir,
    version: pkg.version,
  };
  try {
    const file = entryFile(dir, pkg);
    if (!existsSync(file)) {
      throw new Error(`${base.packageName} is not built: ${file} does not exist`);
    }
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const factory = (mod.createProvider ?? (mod.default as Record<string, unknown> | undefined)?.createProvider) as
      | (() => unknown)
      | undefined;
    if (typeof factory !== 'function') {
      throw new Error(`${base.packageName} does not export createProvider()`);
    }
    const provider = await factory();
    if (!isProvider(provider)) {
      throw new Error(`${base.packageName}: createProvider() did not return a provider`);
    }
    return { ...base, id: provider.id, provider, loadError: undefined };
  } catch (err) {
    return { ...base, id: declaredId, provider: undefined, loadError: message(err) };
  }
}

/**
 * Finds and loads every installed `@keystore/provider-*` package. A package found in several directories
 * is loaded once, from the first. Never throws for a broken package: its entry carries `loadError`.
 *
 * @example
 * ```ts
 * const found = await discoverProviders({ env: process.env });
 * for (const p of found) console.log(p.id, p.loadError ?? 'loaded');
 * ```
 * @since 0.1.0
 */
export async function discoverProviders(options: DiscoverOptions = {}): Promise<DiscoveredProvider[]> {
  const seenNames = new Set<string>();
  const seenDirs = new Set<string>();
  let candidates: { dir: string; pkg: PackageJson; id: string }[] = [];
  for (const root of providerSearchDirs(options)) {
    const scope = join(root, '@keystore');
    let entries: string[];
    try {
      entries = readdirSync(scope).sort();
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.startsWith(PREFIX)) continue;
      const dir = join(scope, entry);
      let real: string;
      let pkg: PackageJson;
      try {
        real = realpathSync(dir);
        if (!statSync(real).isDirectory()) continue;
        pkg = JSON.parse(readFileSync(join(real, 'package.json'), 'utf8')) as PackageJson;
      } catch {
        continue;
      }
      const name = pkg.name ?? `@keystore/${entry}`;
      if (seenNames.has(name) || seenDirs.has(real)) continue;
      seenNames.add(name);
      seenDirs.add(real);
      const declared = typeof pkg.keystore?.provider === 'string' ? pkg.keystore.provider : entry.slice(PREFIX.length);
      candidates.push({ dir: real, pkg, id: declared });
    }
  }
  if (options.only !== undefined) {
    const matching = candidates.filter((c) => c.id === options.only);
    if (matching.length > 0) candidates = matching;
  }
  return Promise.all(candidates.map((c) => load(c.dir, c.pkg, c.id)));
}
