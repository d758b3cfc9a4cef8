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
  type ResolvedPolicy,
  resolvePolicy,
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
 * The effective policy (app policy under the machine's ceiling), read before any provider package is
 * imported so that a provider the policy refuses never runs.
 */
export async function effectivePolicy(ctx: CommandContext, app: KeyStorePolicy | undefined): Promise<ResolvedPolicy> {
  return resolvePolicy({ app: app ?? null, ...(ctx.io.signal === undefined ? {} : { signal: ctx.io.signal }) });
}

/** The error for a `--provider` (or migration source/target) that the policy keeps from being loaded. */
export function refusedByPolicy(found: DiscoveredProvider, role = 'provider'): KeyStoreError {
  return new KeyStoreError(
    'ERR_KEYSTORE_POLICY_VIOLATION',
    `the ${role} ${found.id} (${found.packageName}) is refused by the policy and was not loaded: ${found.policyReasons.join('; ')}`,
    {
      providerId: found.id,
      hint: found.policyReasons.some((r) => r.includes('set by the machine policy'))
        ? "the machine policy decides this: only an administrator can change it; 'keystore doctor' shows the rule"
        : "'keystore doctor' shows every provider and the policy rule that refuses it",
    },
  );
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
    only === MEMORY
      ? []
      : await discoverProviders({ policy: await effectivePolicy(ctx, policy), ...(only ? { only } : {}) });
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
    const refused = discovered.find((d) => d.id === provider && d.policyReasons.length > 0);
    if (refused) throw refusedByPolicy(refused);
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
