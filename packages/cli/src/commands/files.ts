/**
 * Reading command input and writing command output: files named by options, or stdin/stdout.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants, lstatSync } from 'node:fs';
import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { KeyStoreError } from '@keystore/core';
import { type CliIo, write } from '../io.js';
import { OutputError, outputError, UsageError } from '../usage.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function fileError(what: string, path: string, err: unknown): KeyStoreError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'it is a directory'
          : err instanceof Error
            ? err.message
            : String(err);
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `cannot ${what} ${path}: ${reason}`, { cause: err });
}

/** Reads `path` (relative to `io.cwd`), or standard input when `path` is undefined or `-`. */
export async function readInput(io: CliIo, path: string | undefined, option = '--in'): Promise<Buffer> {
  if (path === undefined || path === '-') {
    if ((io.stdin as Readable & { isTTY?: boolean }).isTTY) {
      throw new UsageError(`no input: stdin is a terminal; pass ${option} FILE or pipe the data in`);
    }
    return readAll(io.stdin);
  }
  const full = resolve(io.cwd, path);
  try {
    return await readFile(full);
  } catch (err) {
    throw fileError('read', path, err);
  }
}

/** Owner read/write only: output files may hold plaintext or signatures. */
const FILE_MODE = 0o600;

/**
 * Create exclusively, write only, and never through a symbolic link (`O_NOFOLLOW` is POSIX-only; on
 * Windows `O_EXCL` alone refuses an existing link, since the name exists).
 */
const CREATE_FLAGS =
  constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | ((constants as { O_NOFOLLOW?: number }).O_NOFOLLOW ?? 0);

/** Writes all of `data` to a new file at `full` (mode 0600, exclusive); removes it again on failure. */
async function createFile(full: string, data: string | Uint8Array): Promise<void> {
  const handle: FileHandle = await open(full, CREATE_FLAGS, FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => undefined);
    // A partial file (a full disk) must not pass for the whole output.
    await unlink(full).catch(() => undefined);
    throw err;
  }
}

function existsAt(full: string): 'file' | 'link' | 'other' | undefined {
  try {
    const stat = lstatSync(full);
    return stat.isSymbolicLink() ? 'link' : stat.isFile() ? 'file' : 'other';
  } catch {
    return undefined;
  }
}

/**
 * Writes `data` to `path` (relative to `io.cwd`), or to standard output when `path` is undefined or `-`.
 * The file is created with mode 0600 and `O_CREAT|O_EXCL|O_NOFOLLOW`: an existing file (or symbolic
 * link) is refused with `ERR_OUTPUT` unless `force`; with `force` the data goes to a new 0600 file in
 * the same directory that is then renamed over `path`, so a symbolic link there is replaced, never
 * followed.
 */
export async function writeOutput(
  io: CliIo,
  path: string | undefined,
  data: string | Uint8Array,
  force = false,
): Promise<void> {
  if (path === undefined || path === '-') return write(io.stdout, data);
  const full = resolve(io.cwd, path);
  const existing = existsAt(full);
  if (existing === 'other') {
    // A directory or a device: never replaced, never written into.
    throw new OutputError(`cannot write ${path}: it is not a regular file`, { hint: 'name a new file with --out' });
  }
  if (!force) {
    try {
      await createFile(full, data);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ELOOP') {
        const what = existsAt(full) === 'link' ? 'is a symbolic link' : 'exists';
        throw new OutputError(`cannot write ${path}: it ${what}; not overwriting it`, {
          errno: code,
          hint: '--force replaces it (a symbolic link is replaced, not followed)',
          cause: err,
        });
      }
      throw outputError(path, err);
    }
  }
  const temp = join(dirname(full), `.${basename(full)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await createFile(temp, data);
  } catch (err) {
    throw outputError(path, err);
  }
  try {
    await rename(temp, full);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw outputError(path, err);
  }
}
