/**
 * `keystore certs list|add|remove`, through `@keystore/provider-cng/certstore` (loaded from beside
 * the CLI, as providers are, only when one of these commands runs).
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { EXIT_OK } from '../exit-codes.js';
import { json, line } from '../io.js';
import { readInput } from './files.js';
import { withKey } from './keys.js';

type CertStoreModule = typeof import('@keystore/provider-cng/certstore');
type Stored = Awaited<ReturnType<CertStoreModule['findCertificates']>>[number];

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** Loads the certificate-store module, or says plainly that the CNG provider is not installed. */
async function loadCertStore(): Promise<CertStoreModule> {
  try {
    return await import('@keystore/provider-cng/certstore');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      throw error;
    }
    throw new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      'the Windows certificate store needs the @keystore/provider-cng package, which is not installed beside the CLI',
      { cause: error, hint: 'install it where the CLI is installed: npm install @keystore/provider-cng' },
    );
  }
}

/** `--store` and `--location`, as the module takes them. */
function where(ctx: CommandContext): { store: string; location: 'CurrentUser' | 'LocalMachine' } {
  return {
    store: str(ctx, 'store') ?? 'My',
    location: (str(ctx, 'location') as 'CurrentUser' | 'LocalMachine' | undefined) ?? 'CurrentUser',
  };
}

const keyOf = (c: Stored) =>
  c.key === undefined ? null : { provider: c.key.providerName, name: c.key.containerName, scope: c.key.scope };

export async function list(ctx: CommandContext): Promise<number> {
  const m = await loadCertStore();
  const options = where(ctx);
  const subject = str(ctx, 'subject');
  const thumbprint = str(ctx, 'thumbprint');
  const found = await m.findCertificates(
    { ...(subject === undefined ? {} : { subject }), ...(thumbprint === undefined ? {} : { thumbprint }) },
    options,
  );
  if (ctx.json) {
    await json(ctx.io.stdout, {
      ...options,
      certificates: found.map((c) => ({
        thumbprint: c.thumbprint,
        subject: c.subject,
        issuer: c.issuer,
        notAfter: c.notAfter.toISOString(),
        key: keyOf(c),
      })),
    });
    return EXIT_OK;
  }
  if (found.length === 0) await line(ctx.io.stdout, `no certificates in ${options.location}\\${options.store}`);
  for (const c of found) {
    const key = c.key === undefined ? 'no key' : `key ${c.key.containerName} (${c.key.providerName}, ${c.key.scope})`;
    await line(ctx.io.stdout, `${c.thumbprint}  ${c.subject}  until ${c.notAfter.toISOString()}  ${key}`);
  }
  return EXIT_OK;
}

export async function add(ctx: CommandContext): Promise<number> {
  const m = await loadCertStore();
  const options = where(ctx);
  const certificate = await readInput(ctx.io, str(ctx, 'cert'), '--cert');
  // PEM text when it looks like PEM, else DER bytes.
  const text = certificate.toString('latin1');
  const input = text.includes('-----BEGIN') ? text : certificate;
  return withKey(ctx, async (key) => {
    const stored = await m.storeCertificate(key, input, options);
    if (ctx.json) {
      await json(ctx.io.stdout, {
        ref: key.ref,
        ...options,
        thumbprint: stored.thumbprint,
        subject: stored.subject,
        key: keyOf(stored),
      });
    } else {
      await line(
        ctx.io.stdout,
        `added ${stored.thumbprint} (${stored.subject}) to ${options.location}\\${options.store}, bound to ${key.ref}`,
      );
    }
    return EXIT_OK;
  });
}

export async function remove(ctx: CommandContext): Promise<number> {
  const m = await loadCertStore();
  const options = where(ctx);
  const thumbprint = ctx.positionals[0] as string;
  if (!(await m.removeCertificate(thumbprint, options))) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_KEY_NOT_FOUND',
      `no certificate ${thumbprint} in ${options.location}\\${options.store}`,
      { hint: "list the store's certificates with 'keystore certs list'" },
    );
  }
  const normalized = thumbprint.replace(/[\s:]/g, '').toUpperCase();
  if (ctx.json) await json(ctx.io.stdout, { ...options, thumbprint: normalized, removed: true });
  else await line(ctx.io.stdout, `removed ${normalized} from ${options.location}\\${options.store}`);
  return EXIT_OK;
}
