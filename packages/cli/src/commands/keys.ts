/**
 * `keystore keys …`.
 *
 * @module
 */
import type { DsaEncoding, HashAlgorithm, KeyAlgorithm, KeyStoreKey, OaepHash, RsaPadding } from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { describeError, errorLines, oneLine } from '../errors.js';
import { EXIT_INVALID, EXIT_KEYSTORE_ERROR, EXIT_OK } from '../exit-codes.js';
import { json, line, write } from '../io.js';
import { UsageError } from '../usage.js';
import { readInput, writeOutput } from './files.js';
import { describeReceipt } from './format.js';
import { MEMORY, type StoreSession, withStore } from './store.js';

// What `--provider memory` does, said before the key is shown: the in-memory provider is for tests and
// demos within one process; the CLI runs one process per command.
const MEMORY_NOTE =
  "the memory provider keeps keys only in this process's memory: the key below lives while this command " +
  'runs and is gone when it exits; nothing is stored';
const MEMORY_NEXT =
  "to keep a key, create it with a provider that stores it ('keystore doctor' shows which this machine offers)";
const MEMORY_WARNING = `${MEMORY_NOTE}; ${MEMORY_NEXT}`;

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** `--force`: replace an existing `--out` file. */
const force = (ctx: CommandContext): boolean => ctx.values.force === true;

function keyOptions(session: StoreSession) {
  return {
    ...(session.provider === undefined ? {} : { provider: session.provider }),
    ...(session.scope === undefined ? {} : { scope: session.scope }),
    ...(session.signal === undefined ? {} : { signal: session.signal }),
  };
}

/** Opens the key named by the first positional argument, runs `body`, closes the key. */
export async function withKey(ctx: CommandContext, body: (key: KeyStoreKey) => Promise<number>): Promise<number> {
  return withStore(ctx, async (session) => {
    const key = await session.store.openKey(ctx.positionals[0] as string, keyOptions(session));
    try {
      return await body(key);
    } finally {
      await key.close().catch(() => undefined);
    }
  });
}

/** How long `keys create` waits before telling a terminal that key generation is still going on. */
const SLOW_CREATE_NOTICE_MS = 1_000;

export async function create(ctx: CommandContext): Promise<number> {
  const name = ctx.positionals[0] as string;
  return withStore(ctx, async (session) => {
    const algorithm = str(ctx, 'algorithm') as KeyAlgorithm;
    // A TPM can take seconds to generate a key: after a moment, say so on a terminal.
    const stderr = ctx.io.stderr as NodeJS.WritableStream & { isTTY?: boolean };
    const status =
      !ctx.json && stderr.isTTY === true
        ? setTimeout(() => {
            stderr.write(
              `keystore: still creating the ${algorithm} key ${name}… (a TPM can take seconds; Ctrl-C cancels)\n`,
            );
          }, SLOW_CREATE_NOTICE_MS)
        : undefined;
    let key: KeyStoreKey;
    try {
      key = await session.store.createKey(name, {
        algorithm,
        exportable: ctx.values.exportable === true,
        ...keyOptions(session),
      });
    } finally {
      clearTimeout(status);
    }
    try {
      const persistent = key.providerId !== MEMORY;
      const warnings = persistent ? [] : [MEMORY_WARNING];
      const publicKey = key.exportPublicKey('pem');
      if (ctx.json) {
        await json(ctx.io.stdout, {
          ref: key.ref,
          name: key.name,
          provider: key.providerId,
          algorithm: key.algorithm,
          scope: key.scope,
          exportable: key.exportable,
          isolation: key.isolation,
          publicKey,
          persistent,
          warnings,
        });
      } else {
        const out = ctx.io.stdout;
        if (!persistent) await line(out, `Note: ${MEMORY_NOTE}.`);
        await line(out, `Created key ${key.name}${persistent ? '' : " in this process's memory"}`);
        await line(out, `  ref:        ${key.ref}`);
        await line(out, `  provider:   ${key.providerId}`);
        await line(out, `  algorithm:  ${key.algorithm}`);
        await line(out, `  scope:      ${key.scope}`);
        await line(out, `  exportable: ${key.exportable ? 'yes' : 'no'}`);
        for (const text of describeReceipt(key.isolation)) await line(out, text);
        if (!persistent) {
          await line(out, 'Its public key:');
          await write(out, publicKey.endsWith('\n') ? publicKey : `${publicKey}\n`);
          await line(out, `This key is gone once the command ends: ${MEMORY_NEXT}.`);
        }
      }
      return EXIT_OK;
    } finally {
      await key.close().catch(() => undefined);
    }
  });
}

export async function list(ctx: CommandContext): Promise<number> {
  return withStore(ctx, async (session) => {
    const { keys, errors } = await session.store.listKeys(keyOptions(session));
    const rows = keys.map((k) => ({
      ref: k.ref,
      name: k.name,
      provider: k.providerId,
      scope: k.scope,
      algorithm: k.algorithm ?? null,
    }));
    // One provider that cannot list does not hide the others' keys; it is reported, and the exit code
    // says the listing is incomplete.
    const failures = errors.map((e) => ({ provider: e.provider, code: e.code, message: e.message }));
    if (ctx.json) {
      await json(ctx.io.stdout, { keys: rows, errors: failures });
    } else {
      if (rows.length === 0) {
        await line(ctx.io.stdout, failures.length === 0 ? 'No keys.' : 'No keys from the providers that answered.');
      } else {
        const width = Math.max(...rows.map((r) => r.ref.length)) + 2;
        for (const row of rows) await line(ctx.io.stdout, `${row.ref.padEnd(width)}${row.algorithm ?? '(unknown)'}`);
      }
    }
    for (const e of errors) {
      await write(
        ctx.io.stderr,
        `keystore: ${e.provider} could not list its keys: ${oneLine(e.message)} (${e.code})\n`,
      );
    }
    return failures.length === 0 ? EXIT_OK : EXIT_KEYSTORE_ERROR;
  });
}

export async function remove(ctx: CommandContext): Promise<number> {
  return withStore(ctx, async (session) => {
    // Like rm: every name is tried; each failure gets its line, and the first one sets the exit code.
    const deleted: string[] = [];
    const failed: { name: string; error: Record<string, unknown> }[] = [];
    let exit: number = EXIT_OK;
    for (const name of ctx.positionals) {
      try {
        await session.store.deleteKey(name, keyOptions(session));
      } catch (err) {
        const report = describeError(err);
        if (report.code === 'ERR_INTERNAL' || report.code === 'ERR_KEYSTORE_CANCELLED') throw err;
        failed.push({ name, error: report.body });
        if (exit === EXIT_OK) exit = report.exit;
        await write(ctx.io.stderr, errorLines(report));
        continue;
      }
      deleted.push(name);
      if (!ctx.json) await line(ctx.io.stdout, `Deleted ${name}`);
    }
    if (ctx.json) await json(ctx.io.stdout, { deleted, failed });
    return exit;
  });
}

export async function publicKey(ctx: CommandContext): Promise<number> {
  const format = (str(ctx, 'format') ?? 'pem') as 'pem' | 'der' | 'jwk';
  const out = str(ctx, 'out');
  return withKey(ctx, async (key) => {
    const exported = key.exportPublicKey(format);
    const bytes = format === 'jwk' ? `${JSON.stringify(exported, null, 2)}\n` : (exported as Buffer | string);
    if (ctx.json) {
      if (out !== undefined) await writeOutput(ctx.io, out, bytes, force(ctx));
      const value = format === 'der' ? (exported as Buffer).toString('base64') : exported;
      await json(ctx.io.stdout, {
        ref: key.ref,
        name: key.name,
        provider: key.providerId,
        algorithm: key.algorithm,
        format,
        publicKey: value,
        ...(out === undefined ? {} : { out }),
      });
    } else {
      await writeOutput(ctx.io, out, bytes, force(ctx));
    }
    return EXIT_OK;
  });
}

function signOptions(ctx: CommandContext) {
  return {
    hash: (str(ctx, 'hash') ?? 'sha256') as HashAlgorithm,
    padding: (str(ctx, 'padding') ?? 'pkcs1') as RsaPadding,
    dsaEncoding: (str(ctx, 'encoding') ?? 'der') as DsaEncoding,
  };
}

export async function sign(ctx: CommandContext): Promise<number> {
  const out = str(ctx, 'out');
  const data = await readInput(ctx.io, str(ctx, 'in'));
  return withKey(ctx, async (key) => {
    const options = signOptions(ctx);
    const signature = await key.sign(data, { ...options, ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) });
    if (ctx.json) {
      if (out !== undefined) await writeOutput(ctx.io, out, signature, force(ctx));
      await json(ctx.io.stdout, {
        ref: key.ref,
        algorithm: key.algorithm,
        hash: options.hash,
        padding: key.algorithm.startsWith('RSA') ? options.padding : null,
        encoding: key.algorithm.startsWith('RSA') ? null : options.dsaEncoding,
        signature: signature.toString('base64'),
        ...(out === undefined ? {} : { out }),
      });
    } else {
      await writeOutput(ctx.io, out, signature, force(ctx));
    }
    return EXIT_OK;
  });
}

export async function verify(ctx: CommandContext): Promise<number> {
  const stdin = (value: string | undefined) => value === undefined || value === '-';
  if (str(ctx, 'signature') === '-' && stdin(str(ctx, 'in'))) {
    throw new UsageError('--signature and the data cannot both come from stdin; pass --in FILE');
  }
  const signature = await readInput(ctx.io, str(ctx, 'signature'), '--signature');
  const data = await readInput(ctx.io, str(ctx, 'in'));
  return withKey(ctx, async (key) => {
    const valid = await key.verify(data, signature, signOptions(ctx));
    if (ctx.json) await json(ctx.io.stdout, { ref: key.ref, valid });
    else await line(ctx.io.stdout, valid ? 'Signature valid' : 'Signature invalid');
    return valid ? EXIT_OK : EXIT_INVALID;
  });
}

export async function decrypt(ctx: CommandContext): Promise<number> {
  const out = str(ctx, 'out');
  const ciphertext = await readInput(ctx.io, str(ctx, 'in'));
  return withKey(ctx, async (key) => {
    const hash = (str(ctx, 'hash') ?? 'sha256') as OaepHash;
    const plaintext = await key.decrypt(ciphertext, { hash, ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) });
    if (ctx.json) {
      if (out !== undefined) await writeOutput(ctx.io, out, plaintext, force(ctx));
      await json(ctx.io.stdout, {
        ref: key.ref,
        hash,
        ...(out === undefined ? { plaintext: plaintext.toString('base64') } : { out }),
      });
    } else {
      await writeOutput(ctx.io, out, plaintext, force(ctx));
    }
    return EXIT_OK;
  });
}
