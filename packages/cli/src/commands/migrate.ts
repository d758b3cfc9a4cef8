/**
 * `keystore migrate`: moves a key out of a legacy CryptoAPI container into a provider that isolates it,
 * verified before anything is deleted; `keystore migrate --scan` lists what can move.
 *
 * @module
 */
import { isProviderId, KEY_REF_PREFIX, type KeyScope, parseKeyRef } from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { UsageError } from '../usage.js';
import { type KeyLocation, type KeyTarget, moveKey } from './migrate-move.js';
import { migrateScan } from './migrate-scan.js';

const SEE = "see 'keystore migrate --help'";

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** `PROVIDER:NAME`, or a key reference `keystore:PROVIDER:SCOPE:NAME`. */
function parseFrom(value: string): KeyLocation {
  if (value.startsWith(KEY_REF_PREFIX)) {
    let parts: ReturnType<typeof parseKeyRef>;
    try {
      parts = parseKeyRef(value);
    } catch (error) {
      throw new UsageError(`--from: ${(error as Error).message}; ${SEE}`);
    }
    return { providerId: parts.providerId, name: parts.name, scope: parts.scope };
  }
  const colon = value.indexOf(':');
  const providerId = colon < 0 ? '' : value.slice(0, colon);
  const name = colon < 0 ? '' : value.slice(colon + 1);
  if (!isProviderId(providerId) || name.length === 0) {
    throw new UsageError(`--from must be PROVIDER:NAME (e.g. capi:my-key), not '${value}'; ${SEE}`);
  }
  return { providerId, name, scope: undefined };
}

/** `PROVIDER` or `PROVIDER:NAME`. */
function parseTo(value: string): { providerId: string; name: string | undefined } {
  const colon = value.indexOf(':');
  const providerId = colon < 0 ? value : value.slice(0, colon);
  const name = colon < 0 ? undefined : value.slice(colon + 1);
  if (!isProviderId(providerId) || name === '') {
    throw new UsageError(`--to must be PROVIDER or PROVIDER:NAME (e.g. cng or cng:my-key), not '${value}'; ${SEE}`);
  }
  return { providerId, name };
}
/** `keystore migrate`. */
export async function migrate(ctx: CommandContext): Promise<number> {
  const from = str(ctx, 'from');
  const to = str(ctx, 'to');
  const scan = ctx.values.scan === true;
  if (scan) {
    const extra = ['from', 'to', 'delete-source', 'exportable'].filter((o) => ctx.values[o] !== undefined);
    if (extra.length > 0) throw new UsageError(`--scan takes no ${extra.map((o) => `--${o}`).join(', ')}; ${SEE}`);
    return migrateScan(ctx);
  }
  if (from === undefined || to === undefined) {
    throw new UsageError(`'migrate' needs --from PROVIDER:NAME and --to PROVIDER[:NAME], or --scan; ${SEE}`);
  }
  const source = parseFrom(from);
  const target = parseTo(to);
  const optionScope = typeof ctx.values.scope === 'string' ? (ctx.values.scope as KeyScope) : undefined;
  if (source.scope !== undefined && optionScope !== undefined && source.scope !== optionScope) {
    throw new UsageError(`--from names the ${source.scope} scope, but --scope is ${optionScope}; ${SEE}`);
  }
  const scope: KeyScope = source.scope ?? optionScope ?? 'user';
  if (source.providerId === target.providerId) {
    throw new UsageError(`--from and --to name the same provider (${source.providerId}); ${SEE}`);
  }
  const dest: KeyTarget = { providerId: target.providerId, name: target.name ?? source.name };
  return moveKey(ctx, source, dest, scope);
}
