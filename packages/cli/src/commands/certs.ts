/**
 * `keystore keys csr` and `keystore keys cert`, through `@keystore/x509` (an optional dependency of
 * the CLI, loaded from beside it only when one of these commands runs).
 *
 * @module
 */
import { KeyStoreError } from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { EXIT_OK } from '../exit-codes.js';
import { json } from '../io.js';
import { UsageError } from '../usage.js';
import { writeOutput } from './files.js';
import { withKey } from './keys.js';

type X509 = typeof import('@keystore/x509');

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** A repeatable option's values (`--san a --san b`). */
const list = (ctx: CommandContext, name: string): string[] => {
  const value = ctx.values[name] as unknown;
  return Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];
};

/** Loads `@keystore/x509`, or says plainly that it is not installed. */
async function loadX509(): Promise<X509> {
  try {
    return await import('@keystore/x509');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
      'certificate requests and certificates need the @keystore/x509 package, which is not installed beside the CLI',
      { cause: error, hint: 'install it where the CLI is installed: npm install @keystore/x509' },
    );
  }
}

/** The options both commands share. */
function common(ctx: CommandContext) {
  const hash = str(ctx, 'hash') as 'SHA-256' | 'SHA-384' | 'SHA-512' | undefined;
  const padding = str(ctx, 'padding') as 'pkcs1' | 'pss' | undefined;
  return {
    subject: str(ctx, 'subject') as string,
    subjectAltNames: list(ctx, 'san'),
    extendedKeyUsages: list(ctx, 'eku'),
    ...(hash === undefined ? {} : { hash }),
    ...(padding === undefined ? {} : { rsaPadding: padding }),
  };
}

/** Writes the PEM or DER (to stdout or `--out`), or the JSON report. */
async function deliver(
  ctx: CommandContext,
  ref: string,
  field: 'csr' | 'certificate',
  made: { pem: string; der: Buffer },
  extra: Record<string, unknown> = {},
): Promise<number> {
  const format = str(ctx, 'format') ?? 'pem';
  const out = str(ctx, 'out');
  const bytes = format === 'der' ? made.der : made.pem;
  const force = ctx.values.force === true;
  if (!ctx.json || out !== undefined) await writeOutput(ctx.io, out, bytes, force);
  if (ctx.json) {
    const value = format === 'der' ? made.der.toString('base64') : made.pem;
    await json(ctx.io.stdout, {
      ref,
      subject: common(ctx).subject,
      format,
      [field]: value,
      ...extra,
      ...(out === undefined ? {} : { out }),
    });
  }
  return EXIT_OK;
}

export async function csr(ctx: CommandContext): Promise<number> {
  const x509 = await loadX509();
  return withKey(ctx, async (key) => deliver(ctx, key.ref, 'csr', await x509.createCsr(key, common(ctx))));
}

export async function cert(ctx: CommandContext): Promise<number> {
  const daysText = str(ctx, 'days') ?? '365';
  const days = Number(daysText);
  if (!/^[0-9]+$/.test(daysText) || !Number.isSafeInteger(days) || days < 1) {
    throw new UsageError(`--days must be a positive whole number (got '${daysText}'); see 'keystore keys cert --help'`);
  }
  const x509 = await loadX509();
  const notBefore = new Date();
  return withKey(ctx, async (key) => {
    const made = await x509.createSelfSignedCertificate(key, {
      ...common(ctx),
      validity: { notBefore, days },
      ...(ctx.values.ca === true ? { ca: true } : {}),
    });
    const notAfter = new Date(notBefore.getTime() + days * 86_400_000).toISOString();
    return deliver(ctx, key.ref, 'certificate', made, { notAfter });
  });
}
