/**
 * The process streams and environment a command runs with, and helpers to read and write through them.
 *
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import { outputError } from './usage.js';

/**
 * What a command reads from and writes to. {@link run} fills in the current process's for every member
 * left out.
 *
 * @since 0.1.0
 */
export interface CliIo {
  /** Input data for `keys sign`, `keys verify`, `keys decrypt` when `--in` is omitted. */
  readonly stdin: Readable;
  /** Results. */
  readonly stdout: Writable;
  /** Errors and notes. */
  readonly stderr: Writable;
  /**
   * Environment (`KEYSTORE_DEBUG`, `TSS2_LOG` …). Not the machine policies: those are read from the
   * process itself (`KEYSTORE_MACHINE_POLICY` in `process.env`), so no caller can drop one.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory that relative paths are resolved against. */
  readonly cwd: string;
  /** Cancels the command's key-store operations (the `keystore` binary aborts it on Ctrl-C). */
  readonly signal?: AbortSignal;
}

/**
 * Writes and waits until the stream has taken the data. A failed write (`ENOSPC` on a full disk,
 * `EPIPE` when the reader went away, `EBADF` on a closed descriptor) rejects with an `OutputError`
 * (exit 7): output that was not delivered is never reported as success.
 */
export function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((done, fail) => {
    const earlier = (stream as Writable & { errored?: Error | null }).errored;
    if (earlier) return fail(outputError('the output', earlier));
    if (stream.destroyed) return fail(outputError('the output', Object.assign(new Error('closed'), { code: 'EBADF' })));
    try {
      stream.write(data, (err?: Error | null) => (err ? fail(outputError('the output', err)) : done()));
    } catch (err) {
      fail(outputError('the output', err));
    }
  });
}

/** Writes `text` plus a newline. */
export function line(stream: Writable, text = ''): Promise<void> {
  return write(stream, `${text}\n`);
}

/** Writes `value` as indented JSON plus a newline. */
export function json(stream: Writable, value: unknown): Promise<void> {
  return write(stream, `${JSON.stringify(value, null, 2)}\n`);
}
