/**
 * The process streams and environment a command runs with, and helpers to read and write through them.
 *
 * @module
 */
import type { Readable, Writable } from 'node:stream';

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
   * Environment (`KEYSTORE_PROVIDERS_DIR`, `KEYSTORE_DEBUG` …). Not the machine policies: those are
   * read from the process itself (`KEYSTORE_MACHINE_POLICY` in `process.env`), so no caller can drop one.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory that relative paths are resolved against. */
  readonly cwd: string;
  /** Cancels the command's key-store operations (the `keystore` binary aborts it on Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** Writes and waits until the stream has taken the data. */
export function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((done, fail) => {
    const settle = (err?: Error | null) => {
      const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
      // A reader that went away (`| head -1`) ends the output, not the command.
      if (!err || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') done();
      else fail(err);
    };
    if (stream.destroyed) return done();
    stream.write(data, settle);
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
