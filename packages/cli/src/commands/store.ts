/**
 * Builds the key store a command works with: the installed providers (plus the in-memory one with
 * `--provider memory`), the app policy from `--policy`, and the machine policy the core reads.
 *
 * @module
 */
import { resolve } from 'node:path';
import {
  createKeyStore,
  type KeyScope,
  type KeyStore,
  KeyStoreError,
  type KeyStorePolicy,
  type KeyStoreProvider,
  loadPolicyFile,
} from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { type DiscoveredProvider, discoverProviders } from '../providers.js';

/** The id of the in-memory provider of `@keystore/core/testing`. */
export const MEMORY = 'memory';

/** What a command holds while it runs. */
export interface StoreSession {
  readonly store: KeyStore;
  readonly discovered: readonly DiscoveredProvider[];
  /** `--provider`, when given. */
  readonly provider: string | undefined;
  /** `--scope`, when given. */
  readonly scope: KeyScope | undefined;
  /** Provider id → package name, for output. */
  readonly packages: ReadonlyMap<string, string>;
  /** Loaded providers that were not registered (closed with the store). */
  readonly unused: readonly KeyStoreProvider[];
  /** Cancels the session's operations (Ctrl-C). */
  readonly signal: AbortSignal | undefined;
}

/** Closes providers, ignoring their errors: the command's own outcome is what gets reported. */
async function closeAll(providers: readonly KeyStoreProvider[]): Promise<void> {
  for (const p of providers) await p.close?.().catch(() => undefined);
}

/** Reads the app policy named by `--policy`, if any. */
export async function appPolicy(ctx: CommandContext): Promise<KeyStorePolicy | undefined> {
  const file = ctx.values.policy;
  if (typeof file !== 'string') return undefined;
  return loadPolicyFile(resolve(ctx.io.cwd, file));
}

/**
 * Opens the key store. With `strictProvider`, a `--provider` that is not installed or failed to load is an
 * `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` error (exit 3); `doctor` passes false to report it instead.
 */
export async function openStore(ctx: CommandContext, strictProvider = true): Promise<StoreSession> {
  const provider = typeof ctx.values.provider === 'string' ? ctx.values.provider : undefined;
  const scope = typeof ctx.values.scope === 'string' ? (ctx.values.scope as KeyScope) : undefined;
  const policy = await appPolicy(ctx);
  // With --provider, only that provider's package is loaded (the in-memory one needs none);
  // doctor loads every package so that it can report on each.
  const only = strictProvider ? provider : undefined;
  const discovered =
    only === MEMORY ? [] : await discoverProviders({ env: ctx.io.env, cwd: ctx.io.cwd, ...(only ? { only } : {}) });
  const providers: KeyStoreProvider[] = [];
  const packages = new Map<string, string>();
  const duplicates: KeyStoreProvider[] = [];
  for (const found of discovered) {
    if (!found.provider) continue;
    if (packages.has(found.provider.id)) {
      duplicates.push(found.provider); // a second copy of the same provider: loaded, so it must be closed
    } else {
      providers.push(found.provider);
      packages.set(found.provider.id, found.packageName);
    }
  }
  if (provider === MEMORY && !packages.has(MEMORY)) {
    const { createMemoryProvider } = await import('@keystore/core/testing');
    providers.push(createMemoryProvider());
    packages.set(MEMORY, '@keystore/core/testing');
  }
  if (strictProvider && provider !== undefined && !packages.has(provider)) {
    await closeAll([...providers, ...duplicates]);
    const broken = discovered.find((d) => d.id === provider && d.loadError !== undefined);
    if (broken) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `provider ${provider} (${broken.packageName}) could not be loaded: ${broken.loadError}`,
        {
          providerId: provider,
          hint: `reinstall or rebuild ${broken.packageName}; 'keystore doctor' shows every provider`,
        },
      );
    }
    const installed = [...packages.keys()];
    throw new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `no provider '${provider}' is installed`, {
      providerId: provider,
      hint:
        `installed: ${installed.length > 0 ? installed.join(', ') : 'none'}; install @keystore/provider-${provider}, ` +
        `or use --provider ${MEMORY} for the in-process test provider`,
    });
  }
  // With --provider, only that provider is registered (doctor still shows every one).
  const registered = strictProvider && provider !== undefined ? providers.filter((p) => p.id === provider) : providers;
  let store: KeyStore;
  try {
    store = await createKeyStore({
      providers: registered,
      ...(policy === undefined ? {} : { policy }),
      ...(ctx.io.signal === undefined ? {} : { signal: ctx.io.signal }),
    });
  } catch (err) {
    await closeAll([...providers, ...duplicates]);
    throw err;
  }
  const unused = [...providers.filter((p) => !registered.includes(p)), ...duplicates];
  return { store, discovered, provider, scope, packages, unused, signal: ctx.io.signal };
}

/** Runs `body` with an open store and closes it afterwards. */
export async function withStore<T>(
  ctx: CommandContext,
  body: (session: StoreSession) => Promise<T>,
  strictProvider = true,
): Promise<T> {
  const session = await openStore(ctx, strictProvider);
  try {
    return await body(session);
  } finally {
    await session.store.close().catch(() => undefined);
    await closeAll(session.unused);
  }
}
