/**
 * The command-line entry of the Windows example (the example itself is `example.ts`):
 *
 * ```sh
 * npm run build && node examples/windows-keys/dist/main.js                     # on Windows
 * npm run build && scripts/wine/node.sh examples/windows-keys/dist/main.js --floor in-process   # under Wine
 * ```
 *
 * Exit codes: 0 a key was made and its signature verified; 1 no key was made (no provider qualifies),
 * the signature did not verify, or an error; 2 a bad command line; 3 the packages are not built. Each
 * failure is one line on stderr, never a stack trace (`KEYSTORE_DEBUG=1` adds it for an error).
 */
import { pathToFileURL } from 'node:url';

const USAGE = 'usage: node examples/windows-keys/dist/main.js [--floor LEVEL]';

/** One line for an error; the stack only with KEYSTORE_DEBUG=1. */
function describe(err: unknown): string {
  if (process.env.KEYSTORE_DEBUG === '1' && err instanceof Error && err.stack) return err.stack;
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, ' ');
}

/** Runs the example with `argv` and resolves to the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  let example: typeof import('./example.js');
  try {
    example = await import('./example.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      console.error(
        `windows-keys: the keystore packages are not built (${describe(err)}); run \`npm run build\` at the repository root first`,
      );
      return 3;
    }
    throw err;
  }
  try {
    return (await example.main(argv)) ? 0 : 1;
  } catch (err) {
    if (err instanceof example.UsageError) {
      console.error(`windows-keys: ${err.message}; ${USAGE}`);
      return 2;
    }
    const code = (err as { code?: unknown }).code;
    console.error(`windows-keys: ${describe(err)}${typeof code === 'string' ? ` (${code})` : ''}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
