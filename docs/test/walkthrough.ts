/**
 * Runs a documented shell walkthrough as written. A page marks each block to run with an HTML comment
 * on the line before its fence, `<!-- walkthrough: NAME -->`, and a file the reader is told to save with
 * `<!-- walkthrough-file: NAME FILE -->`. The commands run in document order in a scratch project
 * whose `node_modules` links the workspace's built packages (standing for the page's `npm install`),
 * one `bash` per command, with exported variables carried from one command to the next. A trailing
 * comment `# exits N` says a command is expected to exit N; every other must exit 0.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** One shell command of a walkthrough (continuation lines joined). */
export interface CommandStep {
  kind: 'command';
  /** The markdown line it starts on, for failure messages. */
  line: number;
  command: string;
  expectedExit: number;
}

/** A file the page tells the reader to save. */
export interface FileStep {
  kind: 'file';
  line: number;
  file: string;
  content: string;
}

export type Step = CommandStep | FileStep;

/** The steps of walkthrough `name` in the markdown file `page` (relative to the repository root). */
export function walkthroughSteps(page: string, name: string): Step[] {
  const lines = readFileSync(join(root, page), 'utf8').split('\n');
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = /^<!--\s*walkthrough(-file)?:\s*(\S+)(?:\s+(\S+))?\s*-->\s*$/.exec(lines[i] ?? '');
    if (!marker || marker[2] !== name) continue;
    const fence = /^```(\w*)\s*$/.exec(lines[i + 1] ?? '');
    if (!fence) throw new Error(`${page}:${i + 1}: a walkthrough marker must be followed by a fenced block`);
    let end = i + 2;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    const body = lines.slice(i + 2, end);
    if (marker[1] === '-file') {
      if (!marker[3]) throw new Error(`${page}:${i + 1}: walkthrough-file needs a file name`);
      steps.push({ kind: 'file', line: i + 3, file: marker[3], content: `${body.join('\n')}\n` });
    } else {
      if (fence[1] !== 'sh') throw new Error(`${page}:${i + 1}: a walkthrough block must be \`\`\`sh`);
      for (let j = 0; j < body.length; j++) {
        const start = j;
        let command = body[j] ?? '';
        while (command.endsWith('\\') && j + 1 < body.length) command = `${command.slice(0, -1)} ${body[++j]}`;
        if (command.trim() === '' || command.trim().startsWith('#')) continue;
        const exits = /#.*\bexits (\d+)\b/.exec(command);
        steps.push({ kind: 'command', line: i + 3 + start, command, expectedExit: exits ? Number(exits[1]) : 0 });
      }
    }
    i = end;
  }
  return steps;
}

/** What a command did. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A scratch project to run a walkthrough in, laid out as `npm install @keystore/core @keystore/cli
 * @keystore/provider-tpm` lays it out: `node_modules/@keystore/` holds a copy of the built CLI (so that
 * it finds providers beside itself here, as an installed CLI does, not in the workspace) and links to
 * the workspace's core, TPM provider and the CNG provider the TPM provider depends on;
 * `node_modules/.bin/keystore` is the CLI's bin, so `npx keystore` runs it without the registry (npm
 * runs offline here: nothing is fetched).
 */
export class WalkthroughProject {
  readonly dir: string;
  readonly #state: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #rewrite: (command: string) => string;

  /** `rewrite` turns a documented command into the one to run (e.g. other port numbers). */
  constructor(rewrite: (command: string) => string = (c) => c) {
    this.dir = mkdtempSync(join(tmpdir(), 'keystore-walkthrough-'));
    this.#state = join(this.dir, '.walkthrough-env');
    this.#rewrite = rewrite;
    const scope = join(this.dir, 'node_modules', '@keystore');
    mkdirSync(scope, { recursive: true });
    for (const pkg of ['core', 'provider-tpm', 'provider-cng']) {
      symlinkSync(join(root, 'packages', pkg), join(scope, pkg), 'dir');
    }
    cpSync(join(root, 'packages/cli/dist'), join(scope, 'cli/dist'), { recursive: true });
    cpSync(join(root, 'packages/cli/package.json'), join(scope, 'cli/package.json'));
    mkdirSync(join(this.dir, 'node_modules', '.bin'));
    symlinkSync('../@keystore/cli/dist/bin.js', join(this.dir, 'node_modules', '.bin', 'keystore'));
    writeFileSync(join(this.dir, 'package.json'), JSON.stringify({ name: 'walkthrough', private: true }));
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Only what the walkthrough sets: no machine policy or TPM config from the caller's shell.
    for (const key of Object.keys(env)) if (/^(KEYSTORE_|TSS2_|npm_)/i.test(key)) delete env[key];
    Object.assign(env, {
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    });
    this.#env = env;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Runs a command of the page in its own bash, with the variables earlier commands exported. */
  run(command: string): CommandResult {
    const script = [
      `if [ -f ${this.#state} ]; then . ${this.#state}; fi`,
      this.#rewrite(command),
      'status=$?',
      `export -p > ${this.#state}`,
      'exit $status',
    ].join('\n');
    const r = spawnSync('bash', ['-c', script], { cwd: this.dir, env: this.#env, encoding: 'utf8', timeout: 120_000 });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Writes a file the page tells the reader to save. */
  write(file: string, content: string): void {
    writeFileSync(join(this.dir, file), content);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a walkthrough needs beyond swtpm: the built packages, npx and openssl. */
export function missingForWalkthrough(): string[] {
  const which = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
  const built = ['core/dist/index.js', 'cli/dist/bin.js', 'provider-tpm/dist/index.js'].every((f) =>
    existsSync(join(root, 'packages', f)),
  );
  return [
    ...['bash', 'npx', 'openssl'].filter((t) => !which(t)),
    ...(built ? [] : ['the built packages (npm run build)']),
  ];
}

/** A command that ran, with what it did. */
export interface Ran {
  step: CommandStep;
  result: CommandResult;
}

/**
 * Runs the steps in order and returns every command's result; stops at the first command whose exit
 * code is not the expected one, with an error naming the page's line and the command's output.
 */
export function runSteps(project: WalkthroughProject, page: string, steps: Step[]): Ran[] {
  const ran: Ran[] = [];
  for (const step of steps) {
    if (step.kind === 'file') {
      project.write(step.file, step.content);
      continue;
    }
    const result = project.run(step.command);
    if (result.code !== step.expectedExit) {
      throw new Error(
        `${page}:${step.line}: \`${step.command}\` exited ${result.code}, expected ${step.expectedExit}\n` +
          `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
      );
    }
    ran.push({ step, result });
  }
  return ran;
}

/** The results of the commands matching `pattern` (at least one must have run). */
export function commandsLike(ran: Ran[], pattern: RegExp): Ran[] {
  const found = ran.filter((r) => pattern.test(r.step.command));
  if (found.length === 0) throw new Error(`the walkthrough has no command like ${pattern}`);
  return found;
}

/** Kills the simulator a walkthrough started from its pid file, when it is still running. */
export function stopSimulator(pidFile: string): void {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // never started, or already stopped by the walkthrough
  }
}

/** Whether a process is alive. */
export function alive(pidFile: string): boolean {
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}
