/**
 * What the move and the scan of `keystore migrate` share: the providers they load, the error for one
 * that is missing, and the progress lines on a terminal.
 *
 * @module
 */
import { KeyStoreError, type KeyStorePolicy, type KeyStoreProvider } from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { type DiscoveredProvider, discoverProviders } from '../providers.js';
import { effectivePolicy, refusedByPolicy } from './store.js';

/** Announces a step on stderr when it is a terminal (never with --json). */
export function progress(ctx: CommandContext): (text: string) => void {
  const stderr = ctx.io.stderr as NodeJS.WritableStream & { isTTY?: boolean };
  if (ctx.json || stderr.isTTY !== true) return () => undefined;
  return (text) => {
    stderr.write(`keystore: ${text}\n`);
  };
}

/** Closes providers, ignoring their errors: the command's own outcome is what gets reported. */
export async function closeAll(providers: readonly KeyStoreProvider[]): Promise<void> {
  for (const p of providers) await p.close?.().catch(() => undefined);
}

/** Every installed provider, loaded; one per id (the first found). */
export async function loadProviders(
  ctx: CommandContext,
  app: KeyStorePolicy | undefined,
): Promise<{ providers: KeyStoreProvider[]; all: DiscoveredProvider[] }> {
  // A provider the policy refuses is not imported. Reading legacy containers is what migrate is for,
  // so the built-in default that denies legacy CryptoAPI does not keep the source provider from
  // loading (the stores below still apply it before any key is opened); a deny that the machine policy
  // (or --policy) sets does.
  const legacy = { ...app, legacyCryptoApi: app?.legacyCryptoApi ?? 'allow' } as KeyStorePolicy;
  const all = await discoverProviders({ policy: await effectivePolicy(ctx, legacy) });
  const providers: KeyStoreProvider[] = [];
  for (const found of all) {
    if (found.provider && !providers.some((p) => p.id === found.provider?.id)) providers.push(found.provider);
  }
  return { providers, all };
}

export function notInstalled(id: string, all: readonly DiscoveredProvider[], role: string): KeyStoreError {
  const refused = all.find((d) => d.id === id && d.policyReasons.length > 0);
  if (refused) return refusedByPolicy(refused, `${role} provider`);
  const broken = all.find((d) => d.id === id && d.loadError !== undefined);
  if (broken) {
    return new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      `the ${role} provider ${id} (${broken.packageName}) could not be loaded: ${broken.loadError}`,
      { providerId: id, hint: `reinstall or rebuild ${broken.packageName}; 'keystore doctor' shows every provider` },
    );
  }
  const installed = all.filter((d) => d.provider).map((d) => d.id);
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `the ${role} provider ${id} is not installed`, {
    providerId: id,
    hint: `installed: ${installed.length > 0 ? installed.join(', ') : 'none'}; install @keystore/provider-${id}`,
  });
}
