/**
 * How the CLI reports errors: one line on stderr (plus a hint line), a JSON body for `--json`, and
 * an exit code per error code.
 *
 * @module
 */
import {
  EXIT_CANCELLED,
  EXIT_INTERNAL,
  EXIT_INVALID,
  EXIT_KEY_NOT_FOUND,
  EXIT_KEYSTORE_ERROR,
  EXIT_NO_PROVIDER,
  EXIT_OUTPUT,
  EXIT_USAGE,
} from './exit-codes.js';
import type { CliIo } from './io.js';
import { OutputError, UsageError } from './usage.js';

const BRAND = Symbol.for('@keystore/core/KeyStoreError');

interface ErrorLike {
  code: string;
  message: string;
  hint?: string;
  toJSON?: () => Record<string, unknown>;
}

/** True for a `KeyStoreError` from any copy of `@keystore/core` (the brand its `is()` checks). */
function isKeyStoreError(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * The exit code for an error `code` of the SDK.
 *
 * | code | exit |
 * |---|---|
 * | `ERR_KEYSTORE_INVALID_ARGUMENT`, `ERR_KEYSTORE_INVALID_NAME`, `ERR_KEYSTORE_INVALID_POLICY` | 1 |
 * | `ERR_KEYSTORE_NO_PROVIDER`, `ERR_KEYSTORE_PROVIDER_UNAVAILABLE` | 3 |
 * | `ERR_KEYSTORE_KEY_NOT_FOUND` | 4 |
 * | `ERR_OUTPUT` (the CLI's own: output not delivered) | 7 |
 * | `ERR_KEYSTORE_CANCELLED` | 130 |
 * | every other code | 5 |
 *
 * @example
 * ```ts
 * exitCodeFor('ERR_KEYSTORE_KEY_NOT_FOUND'); // 4
 * ```
 * @since 0.1.0
 */
export function exitCodeFor(code: string): number {
  switch (code) {
    case 'ERR_KEYSTORE_INVALID_ARGUMENT':
    case 'ERR_KEYSTORE_INVALID_NAME':
    case 'ERR_KEYSTORE_INVALID_POLICY':
      return EXIT_INVALID;
    case 'ERR_KEYSTORE_NO_PROVIDER':
    case 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE':
      return EXIT_NO_PROVIDER;
    case 'ERR_KEYSTORE_KEY_NOT_FOUND':
      return EXIT_KEY_NOT_FOUND;
    case 'ERR_KEYSTORE_CANCELLED':
      return EXIT_CANCELLED;
    case 'ERR_USAGE':
      return EXIT_USAGE;
    case 'ERR_OUTPUT':
      return EXIT_OUTPUT;
    default:
      return EXIT_KEYSTORE_ERROR;
  }
}

export const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

function safeWrite(stream: NodeJS.WritableStream & { destroyed?: boolean }, text: string): void {
  try {
    if (!stream.destroyed) stream.write(text);
  } catch {
    // a closed pipe: nothing more to say
  }
}

/** What the CLI says about an error: its code, message, hint, JSON body and exit code. */
interface ErrorReport {
  readonly code: string;
  readonly message: string;
  readonly hint: string | undefined;
  readonly body: Record<string, unknown>;
  readonly exit: number;
}

/** Describes an error the way every command reports it. */
export function describeError(err: unknown): ErrorReport {
  let code: string;
  let message: string;
  let hint: string | undefined;
  let body: Record<string, unknown>;
  let exit: number;
  if (err instanceof UsageError) {
    code = 'ERR_USAGE';
    message = err.message;
    body = { code, message };
    exit = EXIT_USAGE;
  } else if (err instanceof OutputError) {
    code = 'ERR_OUTPUT';
    message = err.message;
    hint = err.hint;
    body = { code, message, ...(hint === undefined ? {} : { hint }), ...(err.errno ? { errno: err.errno } : {}) };
    exit = EXIT_OUTPUT;
  } else if (isKeyStoreError(err)) {
    code = err.code;
    message = err.message;
    hint = err.hint;
    const full = typeof err.toJSON === 'function' ? err.toJSON() : {};
    const { name: _name, ...rest } = full;
    body = { ...rest, code, message, ...(hint === undefined ? {} : { hint }) };
    exit = exitCodeFor(code);
    if (hint === undefined && code === 'ERR_KEYSTORE_NO_PROVIDER') {
      // The core gives a hint that fits the cause; an older core gives none.
      hint = "'keystore doctor' shows every provider and why it was refused";
      body.hint = hint;
    }
  } else {
    code = 'ERR_INTERNAL';
    message = `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
    hint = 'this is a bug; run with KEYSTORE_DEBUG=1 to see the stack and report it';
    body = { code, message, hint };
    exit = EXIT_INTERNAL;
  }
  return { code, message, hint, body, exit };
}

/**
 * The stderr lines for an error: `keystore: MESSAGE (CODE)`, then, for `ERR_KEYSTORE_NO_PROVIDER`,
 * the message's own indented lines (one per provider), then the hint line. Every other message is
 * folded onto one line.
 */
export function errorLines(report: ErrorReport): string {
  const [first = '', ...more] =
    report.code === 'ERR_KEYSTORE_NO_PROVIDER' ? report.message.split('\n') : [report.message];
  let text = `keystore: ${oneLine(first)} (${report.code})\n`;
  for (const extra of more) if (extra.trim() !== '') text += `  ${oneLine(extra)}\n`;
  if (report.hint) text += `hint: ${oneLine(report.hint)}\n`;
  return text;
}

/** Reports an error on stderr (and as `{ error }` on stdout with `--json`); returns the exit code. */
export function report(io: CliIo, err: unknown, json: boolean): number {
  const described = describeError(err);
  const { body, exit } = described;
  let text = errorLines(described);
  if (io.env.KEYSTORE_DEBUG && io.env.KEYSTORE_DEBUG !== '0' && err instanceof Error && err.stack) {
    text += `${err.stack}\n`;
    let cause = err.cause;
    while (cause instanceof Error) {
      text += `caused by: ${cause.stack ?? cause.message}\n`;
      cause = cause.cause;
    }
  }
  safeWrite(io.stderr, text);
  if (json) safeWrite(io.stdout, `${JSON.stringify({ error: body }, null, 2)}\n`);
  return exit;
}
