/**
 * A PIN held where object dumps cannot reach it.
 *
 * @module
 */
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * Holds a PIN in a private field: `util.inspect` (any depth), `JSON.stringify`, string
 * conversion and structured logging see `[redacted]`; only {@link Secret.reveal} gives the value,
 * to the native call that needs it. Objects that hold a PIN (the provider, its session pool)
 * hold one of these, never the string.
 *
 * @since 0.1.0
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The PIN itself. */
  reveal(): string {
    return this.#value;
  }

  /** `[redacted]`. */
  toJSON(): string {
    return REDACTED;
  }

  /** `[redacted]`. */
  toString(): string {
    return REDACTED;
  }

  /** `[redacted]` for `util.inspect` and `console.log`. */
  [inspect.custom](): string {
    return REDACTED;
  }
}
