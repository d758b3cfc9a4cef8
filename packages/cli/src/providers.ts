/**
 * Provider discovery: finds the `@keystore/provider-*` packages installed beside the CLI (resolvable
 * from the CLI's own files, as Node.js resolves the CLI's own dependencies), skips those the effective
 * policy refuses without importing them, loads the others and calls their `createProvider()`. The
 * working directory, its parents and the environment play no part: a package planted there (for
 * example in a world-writable `/tmp/node_modules`) is never imported. A package that fails to load is
 * reported, never thrown.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type KeyStoreProvider, providerPolicyReasons, type ResolvedPolicy } from '@keystore/core';

/**
 * One installed provider package: loaded, failed to load, or not imported because the policy refuses it.
 *
 * @since 0.1.0
 */
export interface DiscoveredProvider {
  /** The package name (`@keystore/provider-tpm`). */
  readonly packageName: string;
  /** The package's directory (symbolic links resolved): where its code was, or would be, loaded from. */
  readonly packageDir: string;
  /** The package's version, when its `package.json` has one. */
  readonly version: string | undefined;
  /**
   * The provider id, known before the package is imported: `keystore.provider` of its `package.json`,
   * else the package name without `@keystore/provider-`. A package whose provider reports another id is
   * refused (`loadError`).
   */
  readonly id: string;
  /** The provider, when the package loaded and `createProvider()` returned one. */
  readonly provider: KeyStoreProvider | undefined;
  /** Why it could not be loaded, when it could not. */
  readonly loadError: string | undefined;
  /**
   * Why the effective policy refuses this provider (`/providers/deny`, `/providers/allow`,
   * `/legacyCryptoApi`); when not empty, the package was not imported at all.
   *
   * @since 0.3.0
   */
  readonly policyReasons: readonly string[];
}

/**
 * Options of {@link discoverProviders}.
 *
 * @since 0.1.0
 */
export interface DiscoverOptions {
  /**
   * Load only the package that declares this provider id (`keystore.provider` in its `package.json`, else
   * its name's suffix).
   */
  readonly only?: string;
  /**
   * The effective policy (from `resolvePolicy`): a package whose provider id its provider rules refuse
   * is listed with `policyReasons` and not imported. Without it every package is imported.
   *
   * @since 0.3.0
   */
  readonly policy?: ResolvedPolicy;
}

const PREFIX = 'provider-';

/**
 * Directories that replace the CLI's own resolution paths, for the CLI's in-process tests only. Set
 * through {@link setProviderDirsForTesting}, which the package does not export: no argument, environment
 * variable or file can reach it.
 */
let dirsForTesting: readonly string[] | undefined;

/**
 * Makes {@link providerSearchDirs} return `dirs` (or, with `undefined`, the CLI's own resolution paths
 * again). For the CLI's in-process tests; not part of the package's exports.
 *
 * @internal
 */
export function setProviderDirsForTesting(dirs: readonly string[] | undefined): void {
  dirsForTesting = dirs;
}

/** This file's directory, in the ESM and the CommonJS build. */
function ownDir(): string {
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return __dirname;
  }
}

/**
 * The `node_modules` directories scanned for `@keystore/provider-*` packages: those Node.js resolves
 * the CLI's own dependencies from (its package's `node_modules`, then each parent's, as for
 * `@keystore/core`). Never the working directory's, never one named by the environment.
 *
 * @since 0.1.0 (takes no options since 0.3.0: `KEYSTORE_PROVIDERS_DIR` and the working directory's
 * `node_modules` are no longer searched)
 */
export function providerSearchDirs(): string[] {
  if (dirsForTesting !== undefined) return [...dirsForTesting];
  const paths = createRequire(join(ownDir(), 'noop.js')).resolve.paths('@keystore/core') ?? [];
  return [...new Set(paths)];
}

interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  module?: string;
  exports?: unknown;
  keystore?: { provider?: string; legacyCryptoApi?: boolean };
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
    if (provider.id !== declaredId) {
      // The policy was checked against the declared id: a provider that answers to another one is refused.
      await Promise.resolve(provider.close?.()).catch(() => undefined);
      throw new Error(
        `${base.packageName} declares provider '${declaredId}' but its provider's id is '${provider.id}'; ` +
          `set "keystore": { "provider": "${provider.id}" } in its package.json`,
      );
    }
    return { ...base, id: provider.id, provider, loadError: undefined, policyReasons: [] };
  } catch (err) {
    return { ...base, id: declaredId, provider: undefined, loadError: message(err), policyReasons: [] };
  }
}

/**
 * The provider-rule reasons that refuse provider `id` under `policy`, judged before its package is
 * imported: core's own rules, applied to the id the package declares (a legacy CryptoAPI provider is
 * one whose id is `capi` or whose `package.json` says `"keystore": { "legacyCryptoApi": true }`).
 */
function refusedBy(policy: ResolvedPolicy | undefined, id: string, pkg: PackageJson): string[] {
  if (policy === undefined) return [];
  const legacyCryptoApi = id === 'capi' || pkg.keystore?.legacyCryptoApi === true;
  // Only `id` and `capabilities.legacyCryptoApi` are read by the rules.
  const declared = { id, capabilities: { legacyCryptoApi } } as unknown as KeyStoreProvider;
  return providerPolicyReasons(declared, policy);
}

/**
 * Finds every `@keystore/provider-*` package installed beside the CLI ({@link providerSearchDirs}) and
 * loads those the policy does not refuse. A package found in several directories is loaded once, from
 * the first. Never throws for a broken package: its entry carries `loadError`; a refused one carries
 * `policyReasons` and its code is never run.
 *
 * @example
 * ```ts
 * const policy = await resolvePolicy({ app: null });
 * const found = await discoverProviders({ policy });
 * for (const p of found) {
 *   const state = p.provider ? 'loaded' : (p.loadError ?? `refused: ${p.policyReasons.join('; ')}`);
 *   console.log(p.id, p.packageDir, state);
 * }
 * ```
 * @since 0.1.0
 */
export async function discoverProviders(options: DiscoverOptions = {}): Promise<DiscoveredProvider[]> {
  const seenNames = new Set<string>();
  const seenDirs = new Set<string>();
  let candidates: { dir: string; pkg: PackageJson; id: string }[] = [];
  for (const root of providerSearchDirs()) {
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
  if (options.only !== undefined) candidates = candidates.filter((c) => c.id === options.only);
  return Promise.all(
    candidates.map(async (c): Promise<DiscoveredProvider> => {
      const policyReasons = refusedBy(options.policy, c.id, c.pkg);
      if (policyReasons.length === 0) return load(c.dir, c.pkg, c.id);
      return {
        packageName: c.pkg.name ?? `@keystore/${PREFIX}${c.id}`,
        packageDir: c.dir,
        version: c.pkg.version,
        id: c.id,
        provider: undefined,
        loadError: undefined,
        policyReasons,
      };
    }),
  );
}
