/**
 * The error of a command line the CLI cannot parse (exit 2).
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
