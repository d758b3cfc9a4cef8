/**
 * The CLI's own errors: a command line it cannot parse (exit 2), output it cannot deliver (exit 7).
 *
 * @module
 */

/** An unknown command or option, a missing or extra argument, a value outside an option's choices. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Output that could not be delivered (`ERR_OUTPUT`, exit 7): an `--out` file that exists or is a
 * symbolic link, a write that failed (`ENOSPC`, `EBADF`, `EPIPE` …).
 */
export class OutputError extends Error {
  /** What to do about it. */
  readonly hint: string | undefined;
  /** The system error code (`ENOSPC` …), when there is one. */
  readonly errno: string | undefined;

  constructor(message: string, options: { hint?: string; errno?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OutputError';
    this.hint = options.hint;
    this.errno = options.errno;
  }
}

const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EPIPE: 'the reader closed the pipe',
  EBADF: 'it is closed',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'no such directory',
  EISDIR: 'it is a directory',
  ELOOP: 'it is a symbolic link',
  ERR_STREAM_DESTROYED: 'it is closed',
};

/** `cannot write WHAT: REASON (ERRNO)` for a failed write. */
export function outputError(what: string, err: unknown): OutputError {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    (errno === undefined ? undefined : REASONS[errno]) ?? (err instanceof Error ? err.message : String(err));
  return new OutputError(`cannot write ${what}: ${reason}${errno === undefined ? '' : ` (${errno})`}`, {
    ...(errno === undefined ? {} : { errno }),
    cause: err,
  });
}
