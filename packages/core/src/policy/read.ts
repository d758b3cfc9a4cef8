/**
 * Reading policy files without trusting what is at the path: a machine policy file must be a regular
 * file that only root can change (the way sshd's StrictModes checks `authorized_keys`), and no file
 * (a FIFO, a device, a huge file) may hang the process or fill its memory. Internal to the package.
 *
 * @module
 */
import { constants, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KeyStoreError, throwIfAborted } from '../errors.js';
import { invalidPolicyError } from './validate.js';

// node:fs/promises (with the readline and stream modules it loads) is loaded when a policy file is
// first read, not when @keystore/core is imported.
let fsPromises: Promise<typeof import('node:fs/promises')> | undefined;
const fsp = () => (fsPromises ??= import('node:fs/promises'));
const open = async (path: string, flags: number): Promise<FileHandle> => (await fsp()).open(path, flags);
const stat = async (path: string): Promise<Stats> => (await fsp()).stat(path);
const lstat = async (path: string): Promise<Stats> => (await fsp()).lstat(path);
const realpath = async (path: string): Promise<string> => (await fsp()).realpath(path);

/** The largest policy file read, in bytes: a policy is a few hundred bytes; more is not a policy. */
const MAX_POLICY_BYTES = 1024 * 1024;

/** What a read found: the text, or {@link MISSING} when no file is there (only where that is allowed). */
export const MISSING = Symbol('missing');

/** Where a fixed-path machine policy file is, and the directory at which the owner check stops. */
interface FixedPolicyLocation {
  /** The file (absolute). */
  readonly path: string;
  /** The highest directory checked, inclusive (`/` in production). */
  readonly trustRoot: string;
}

function invalid(path: string, message: string, hint: string, cause?: unknown): KeyStoreError {
  return invalidPolicyError([{ pointer: '', message }], path, { hint, ...(cause === undefined ? {} : { cause }) });
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

function cancelled(signal: AbortSignal | undefined, cause: unknown): KeyStoreError | undefined {
  return signal?.aborted
    ? new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'the operation was cancelled', { cause: signal.reason })
    : cause instanceof KeyStoreError
      ? cause
      : undefined;
}

/** The error for a file system failure other than "not there". */
function readError(path: string, error: unknown): KeyStoreError {
  const code = errno(error);
  if (code === 'EACCES' || code === 'EPERM') {
    return new KeyStoreError('ERR_KEYSTORE_ACCESS_DENIED', `${path}: cannot read the policy file (${code})`, {
      cause: error,
      hint: 'give the account running the app read access to the policy file',
    });
  }
  if (code === 'ENOTDIR') {
    return invalid(
      path,
      'a directory on the path is not a directory',
      'make every directory on the path a directory',
      error,
    );
  }
  if (code === 'ELOOP') {
    return invalid(
      path,
      'too many symbolic links, or a symbolic link where a file was expected',
      'point the path at a regular file',
      error,
    );
  }
  if (code === 'ENXIO' || code === 'EOPNOTSUPP') {
    return invalid(path, 'not a regular file (a socket or device)', 'a policy file must be a regular JSON file', error);
  }
  return invalid(
    path,
    `cannot read the file: ${(error as Error)?.message ?? String(error)}`,
    'a policy file must be a readable JSON file',
    error,
  );
}

/** Names what `stats` is, for a message. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function notRegular(path: string, stats: Stats): KeyStoreError {
  return invalid(path, `${kindOf(stats)}, not a regular file`, 'a policy file must be a regular JSON file');
}

/**
 * Opens `path` without blocking (a FIFO with no writer would block an ordinary open forever), checks
 * through the descriptor that it is a regular file of at most {@link MAX_POLICY_BYTES}, and reads
 * at most that many bytes plus one. `check` sees the descriptor's stats before anything is read.
 */
async function readRegular(
  path: string,
  flags: number,
  signal: AbortSignal | undefined,
  check?: (stats: Stats) => void,
): Promise<string> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, flags);
    const stats = await handle.stat();
    if (!stats.isFile()) throw notRegular(path, stats);
    check?.(stats);
    if (stats.size > MAX_POLICY_BYTES) {
      throw invalid(
        path,
        `${stats.size} bytes, more than the ${MAX_POLICY_BYTES} a policy file may hold`,
        'a policy file is a small JSON document',
      );
    }
    // The size said by fstat may be wrong (files that grow, /proc): read in chunks, at most one byte
    // more than the limit, so that a file that is too big is told apart from one exactly at it.
    const chunks: Buffer[] = [];
    let length = 0;
    while (length <= MAX_POLICY_BYTES) {
      throwIfAborted(signal);
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, MAX_POLICY_BYTES + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
    }
    const buffer = Buffer.concat(chunks, length);
    if (length > MAX_POLICY_BYTES) {
      throw invalid(
        path,
        `more than the ${MAX_POLICY_BYTES} bytes a policy file may hold`,
        'a policy file is a small JSON document',
      );
    }
    const text = buffer.subarray(0, length).toString('utf8');
    // Editors on Windows like to start UTF-8 files with a byte-order mark, which JSON.parse rejects.
    return text.startsWith('\uFEFF') ? text.slice(1) : text;
  } catch (error) {
    throw cancelled(signal, error) ?? readError(path, error);
  } finally {
    await handle?.close();
  }
}

const NONBLOCK = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Reads a policy file an app or an environment variable names: whoever may name it may write it, so
 * its owner is not checked, but it must be a regular file (after symbolic links), and reading it
 * never hangs. A file that is not there is {@link MISSING}; the caller decides what that means.
 */
export async function readNamedPolicyFile(path: string, signal?: AbortSignal): Promise<string | typeof MISSING> {
  throwIfAborted(signal);
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (error) {
    if (errno(error) === 'ENOENT') {
      // A symbolic link to nothing is a broken link, not an absent file.
      const link = await lstat(path).catch(() => undefined);
      if (link?.isSymbolicLink())
        throw invalid(
          path,
          'a symbolic link to a file that does not exist',
          'point the link at the policy file, or remove it',
        );
      return MISSING;
    }
    throw cancelled(signal, error) ?? readError(path, error);
  }
  // Checked before opening too, so that opening a device (which may have side effects) is never tried.
  if (!stats.isFile()) throw notRegular(path, stats);
  return readRegular(path, NONBLOCK, signal);
}

/** The hint for an untrusted file or directory on a machine policy's path. */
function trustHint(path: string, directory: boolean): string {
  return directory
    ? `only root may change the directories above a machine policy: chown root:root ${path}; chmod 755 ${path}`
    : `only root may change a machine policy: chown root:root ${path}; chmod 644 ${path}`;
}

/** Refuses `stats` of `path` unless root owns it and neither group nor others may write it. */
function checkTrusted(path: string, stats: Stats, directory: boolean, origin: string): void {
  const problems: string[] = [];
  if (stats.uid !== 0) problems.push(`is owned by uid ${stats.uid}, not root`);
  if ((stats.mode & 0o022) !== 0)
    problems.push(
      `is writable by ${(stats.mode & 0o002) !== 0 ? 'others' : 'its group'} (mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')})`,
    );
  if (problems.length > 0) {
    throw invalid(
      origin,
      `${directory ? 'the directory ' : ''}${path} ${problems.join(' and ')}, so someone other than root could change the machine policy`,
      trustHint(path, directory),
    );
  }
}

/** Checks `directory` (a real path, no symbolic links) and every directory above it up to `trustRoot` (or `/`). */
async function checkDirectoryChain(directory: string, trustRoot: string, origin: string): Promise<void> {
  let current = directory;
  for (;;) {
    const stats = await stat(current);
    if (!stats.isDirectory())
      throw invalid(origin, `${current} is not a directory`, `make ${current} a directory owned by root`);
    checkTrusted(current, stats, true, origin);
    const parent = dirname(current);
    if (current === trustRoot || parent === current) return;
    current = parent;
  }
}

/**
 * Reads the machine policy file at a fixed path (POSIX). Only a file that is truly not there, in a
 * trusted directory (or whose directory is not there), is {@link MISSING}. Everything else fails
 * closed with `ERR_KEYSTORE_INVALID_POLICY`: a file or directory on the path that someone other than
 * root owns or that group or others may write (the symbolic link's target and its directories are
 * checked the same way), a broken symbolic link, a file where a directory should be, anything but a
 * regular file, a file over {@link MAX_POLICY_BYTES}.
 */
export async function readFixedPolicyFile(
  location: FixedPolicyLocation,
  signal?: AbortSignal,
): Promise<string | typeof MISSING> {
  throwIfAborted(signal);
  const path = resolve(location.path);
  const trustRoot = resolve(location.trustRoot);
  try {
    let link: Stats;
    try {
      link = await lstat(path);
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
      // No file: "no machine policy", but only if the directory that would hold it is sound (or
      // absent); a file or a symbolic link to nothing where the directory should be fails closed.
      const directory = dirname(path);
      let realDirectory: string;
      try {
        realDirectory = await realpath(directory);
      } catch (dirError) {
        if (errno(dirError) === 'ENOENT') {
          const dirLink = await lstat(directory).catch(() => undefined);
          if (dirLink?.isSymbolicLink()) {
            throw invalid(
              path,
              `${directory} is a symbolic link to nothing`,
              `remove ${directory} or point it at a directory owned by root`,
            );
          }
          return MISSING;
        }
        throw dirError;
      }
      await checkDirectoryChain(realDirectory, trustRoot, path);
      return MISSING;
    }
    let real: string;
    try {
      real = await realpath(path);
    } catch (error) {
      if (errno(error) === 'ENOENT' && link.isSymbolicLink()) {
        throw invalid(
          path,
          'a symbolic link to a file that does not exist',
          `point the link at the policy file, or remove ${path}`,
        );
      }
      throw error;
    }
    // The link's own directory (who may replace the link) and the target's (who may replace the file).
    await checkDirectoryChain(await realpath(dirname(path)), trustRoot, path);
    if (dirname(real) !== (await realpath(dirname(path)))) await checkDirectoryChain(dirname(real), trustRoot, path);
    const stats = await stat(real);
    if (!stats.isFile()) throw notRegular(path, stats);
    checkTrusted(real, stats, false, path);
    return await readRegular(real, NONBLOCK | (constants.O_NOFOLLOW ?? 0), signal, (opened) => {
      // The file may have been swapped between the checks and the open: judge what was opened.
      checkTrusted(real, opened, false, path);
    });
  } catch (error) {
    throw cancelled(signal, error) ?? readError(path, error);
  }
}
