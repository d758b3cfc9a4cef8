/**
 * Reading command input and writing command output: files named by options, or stdin/stdout.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { KeyStoreError } from '@keystore/core';
import { type CliIo, write } from '../io.js';
import { UsageError } from '../usage.js';

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

/** Writes `data` to `path` (relative to `io.cwd`), or to standard output when `path` is undefined or `-`. */
export async function writeOutput(io: CliIo, path: string | undefined, data: string | Uint8Array): Promise<void> {
  if (path === undefined || path === '-') return write(io.stdout, data);
  const full = resolve(io.cwd, path);
  try {
    await writeFile(full, data);
  } catch (err) {
    throw fileError('write', path, err);
  }
}
