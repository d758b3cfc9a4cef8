/**
 * `@keystore/cli`: the `keystore` command as a function, for embedding and tests. {@link run} takes the
 * arguments (without `node` and the script) and returns the exit code; the `EXIT_*` constants name the
 * codes. The `keystore` binary is a thin wrapper around it.
 *
 * Guide: {@link "The keystore command" | the `keystore` command}.
 *
 * @example
 * ```ts
 * import { run, EXIT_OK } from '@keystore/cli';
 * const code = await run(['doctor', '--json']);
 * if (code !== EXIT_OK) console.error('no provider satisfies the policy');
 * ```
 * @module @keystore/cli
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { COMMANDS, type CommandSpec, GROUPS, groupHelp, mainHelp } from './commands.js';
import { oneLine, report } from './errors.js';
import { EXIT_OK } from './exit-codes.js';
import { type CliIo, write } from './io.js';
import { UsageError } from './usage.js';

export { exitCodeFor } from './errors.js';
export type { ExitCode } from './exit-codes.js';
export {
  EXIT_BELOW_REQUIRED,
  EXIT_CANCELLED,
  EXIT_INTERNAL,
  EXIT_INVALID,
  EXIT_KEY_NOT_FOUND,
  EXIT_KEYSTORE_ERROR,
  EXIT_NO_PROVIDER,
  EXIT_OK,
  EXIT_OUTPUT,
  EXIT_USAGE,
} from './exit-codes.js';
export type { CliIo } from './io.js';
export type { DiscoveredProvider, DiscoverOptions } from './providers.js';
export { discoverProviders, providerSearchDirs } from './providers.js';

function packageDir(): string {
  try {
    return join(dirname(fileURLToPath(import.meta.url)), '..');
  } catch {
    return join(__dirname, '..');
  }
}

/**
 * The version of `@keystore/cli`, as `keystore --version` prints it.
 *
 * @since 0.1.0
 */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageDir(), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Whether `args` ask for help (before any `--`). */
function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

function findCommand(path: readonly string[]): CommandSpec | undefined {
  return COMMANDS.find((c) => c.path.length === path.length && c.path.every((p, i) => p === path[i]));
}

/**
 * `keystore --version` (`-V`): the version as a line, or with `--json` as
 * `{ "name": "@keystore/cli", "version": "…" }`. Any other argument is a usage error.
 */
function versionOutput(rest: readonly string[]): { help: string } {
  const extra = rest.find((arg) => arg !== '--json');
  if (extra !== undefined)
    throw new UsageError(`unexpected argument '${extra}' for '--version'; see 'keystore --help'`);
  if (rest.includes('--json')) return { help: JSON.stringify({ name: '@keystore/cli', version: version() }, null, 2) };
  return { help: version() };
}

/** Splits argv into the command and its own arguments; throws {@link UsageError}. */
function route(argv: readonly string[]): { spec: CommandSpec; args: string[] } | { help: string } {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError("missing command; see 'keystore --help'");
  if (first === '--help' || first === '-h') return { help: mainHelp(version()) };
  if (first === '--version' || first === '-V') return versionOutput(argv.slice(1));
  if (first === 'help') {
    const rest = argv.slice(1);
    if (rest.length === 0) return { help: mainHelp(version()) };
    const spec = findCommand(rest);
    if (spec) return { help: spec.help };
    if (rest.length === 1 && rest[0] !== undefined && Object.hasOwn(GROUPS, rest[0]))
      return { help: groupHelp(rest[0]) };
    throw new UsageError(`unknown command '${rest.join(' ')}'; see 'keystore --help'`);
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'; see 'keystore --help'`);
  if (Object.hasOwn(GROUPS, first)) {
    if (second === undefined || second.startsWith('-')) {
      if (wantsHelp(argv.slice(1))) return { help: groupHelp(first) };
      throw new UsageError(`missing ${first} command; see 'keystore ${first} --help'`);
    }
    const spec = findCommand([first, second]);
    if (!spec) throw new UsageError(`unknown command '${first} ${second}'; see 'keystore ${first} --help'`);
    return { spec, args: argv.slice(2) };
  }
  const spec = findCommand([first]);
  if (!spec) throw new UsageError(`unknown command '${first}'; see 'keystore --help'`);
  return { spec, args: argv.slice(1) };
}

function parseCommand(spec: CommandSpec, args: string[]) {
  const name = spec.path.join(' ');
  const see = `see 'keystore ${name} --help'`;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: spec.options, allowPositionals: true, strict: true });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: string }).code;
    const option = /'([^']+)'/.exec(text)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) {
      throw new UsageError(`unknown option '${option}' for '${name}'; ${see}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
      const wanted = /argument missing/.test(text) ? 'needs a value' : 'takes no value';
      throw new UsageError(`option '${option.split(' ')[0]}' ${wanted}; ${see}`);
    }
    throw new UsageError(`${oneLine(text).split('. ')[0]}; ${see}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const { positionals } = parsed;
  const { min, max, names } = spec.positionals;
  if (positionals.length < min) throw new UsageError(`'${name}' needs ${names}; ${see}`);
  if (positionals.length > max) {
    throw new UsageError(`unexpected argument '${positionals[max]}' for '${name}'; ${see}`);
  }
  for (const option of spec.required ?? []) {
    if (values[option] === undefined) throw new UsageError(`'${name}' needs --${option}; ${see}`);
  }
  for (const [option, allowed] of Object.entries(spec.choices ?? {})) {
    const value = values[option];
    if (typeof value === 'string' && !allowed.includes(value)) {
      throw new UsageError(`--${option} must be one of ${allowed.join(', ')} (got '${value}'); ${see}`);
    }
  }
  for (const [option, value] of Object.entries(values)) {
    if (value === '') throw new UsageError(`--${option} needs a value; ${see}`);
  }
  return { values, positionals };
}

/**
 * Runs the `keystore` command with `argv` (the arguments after the program name) and resolves to its
 * exit code; it never rejects. Output goes to `io.stdout`, errors to `io.stderr` (one line
 * `keystore: MESSAGE (CODE)`, for `ERR_KEYSTORE_NO_PROVIDER` followed by an indented line per
 * provider, then `hint: …` when there is a hint; with `--json` also an
 * `{ "error": { code, message, hint } }` object on stdout). Members of `io` left out default to the
 * current process's.
 *
 * @example
 * ```ts
 * import { run } from '@keystore/cli';
 * process.exitCode = await run(['policy', 'check', 'policy.json', '--json']);
 * ```
 * @since 0.1.0
 */
export async function run(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = {
    stdin: io.stdin ?? process.stdin,
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
  };
  const json = wantsJson(argv);
  try {
    const routed = route(argv);
    if ('help' in routed) {
      await write(full.stdout, `${routed.help}\n`);
      return EXIT_OK;
    }
    const { spec, args } = routed;
    if (wantsHelp(args)) {
      await write(full.stdout, `${spec.help}\n`);
      return EXIT_OK;
    }
    const { values, positionals } = parseCommand(spec, args);
    const handler = await spec.handler();
    return await handler({ io: full, values, positionals, json: values.json === true });
  } catch (err) {
    return report(full, err, json);
  }
}
