import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, Sandbox, stderrLines } from './helpers.js';

const COMMANDS = [
  ['doctor'],
  ['policy'],
  ['policy', 'check'],
  ['policy', 'effective'],
  ['keys'],
  ['keys', 'create'],
  ['keys', 'list'],
  ['keys', 'delete'],
  ['keys', 'public'],
  ['keys', 'sign'],
  ['keys', 'verify'],
  ['keys', 'decrypt'],
  ['migrate'],
];

let box: Sandbox;
beforeAll(() => {
  box = new Sandbox();
});
afterAll(() => box.cleanup());

describe('keystore --help and --version', () => {
  it('prints the main help with the exit code table', () => {
    for (const flag of ['--help', '-h']) {
      const r = box.run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: keystore');
      for (const code of ['0', '1', '2', '3', '4', '5']) expect(r.stdout).toMatch(new RegExp(`^  ${code}  `, 'm'));
    }
  });

  it.each(COMMANDS)('%s %s --help exits 0', (...path) => {
    for (const flag of ['--help', '-h']) {
      const r = box.run([...path, flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('Usage: keystore');
      expect(r.stderr).toBe('');
    }
  });

  it('migrate --help offers --unsafe-allow-weak-target in both usage lines, the move and the scan', () => {
    const r = box.run(['migrate', '--help']);
    expect(r.code, r.stderr).toBe(0);
    const usage = r.stdout.slice(0, r.stdout.indexOf('\n\n')).split('\n');
    const scanAt = usage.findIndex((l) => l.includes('keystore migrate --scan'));
    expect(scanAt).toBeGreaterThan(0);
    const move = usage.slice(0, scanAt).join(' ');
    const scan = usage.slice(scanAt).join(' ');
    expect(move).toContain('keystore migrate --from');
    expect(move).toContain('[--unsafe-allow-weak-target]');
    expect(scan).toContain('[--unsafe-allow-weak-target]');
    expect(r.stdout).toMatch(/^ {2}--unsafe-allow-weak-target {2}/m);
  });

  it('help COMMAND prints the same help', () => {
    expect(box.run(['help', 'keys', 'sign']).stdout).toBe(box.run(['keys', 'sign', '--help']).stdout);
  });

  it('--help wins over otherwise bad arguments', () => {
    expect(box.run(['keys', 'sign', '--bogus', '--help']).code).toBe(0);
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = box.run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  });

  it('--version --json (and -V --json) prints { name, version } as JSON', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = box.run([flag, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ name: '@keystore/cli', version: pkg.version });
    }
  });

  it('--version with another argument is a usage error (exit 2)', () => {
    const r = box.run(['--version', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^keystore: unexpected argument '--bogus' for '--version'.*\(ERR_USAGE\)$/m);
  });

  it('the main help lists -V beside --version', () => {
    expect(box.run(['--help']).stdout).toMatch(/^ {2}-V, --version {2,}print the version/m);
  });
});

describe('usage errors', () => {
  const cases: [string, string[]][] = [
    ['no command', []],
    ['unknown command', ['frobnicate']],
    ['unknown group command', ['keys', 'frobnicate']],
    ['missing group command', ['keys']],
    ['unknown option', ['doctor', '--bogus']],
    ['unknown global option', ['--bogus']],
    ['missing positional', ['policy', 'check']],
    ['extra positional', ['policy', 'check', 'a.json', 'b.json']],
    ['missing required option', ['keys', 'create', 'k1']],
    ['option without value', ['keys', 'create', 'k1', '--algorithm']],
    ['value outside choices', ['keys', 'create', 'k1', '--algorithm', 'DSA-1024']],
    ['bad scope', ['keys', 'list', '--scope', 'galaxy']],
    ['bad hash', ['keys', 'sign', 'k1', '--hash', 'md5']],
    ['bad format', ['keys', 'public', 'k1', '--format', 'xml']],
    ['verify without --signature', ['keys', 'verify', 'k1']],
    ['signature and data both on stdin', ['keys', 'verify', 'k1', '--signature', '-']],
    ['help for an unknown command', ['help', 'frobnicate']],
    ['policy effective takes no --provider', ['policy', 'effective', '--provider', 'memory']],
  ];

  it.each(cases)('%s: exit 2, one stderr line, no stack', (_name, args) => {
    const r = box.run(args);
    expect(r.code).toBe(2);
    const lines = stderrLines(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^keystore: .+ \(ERR_USAGE\)$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('with --json, the error is also a JSON object on stdout', () => {
    const r = box.run(['doctor', '--json', '--bogus']);
    expect(r.code).toBe(2);
    expect(parse<{ error: { code: string; message: string } }>(r).error.code).toBe('ERR_USAGE');
    expect(stderrLines(r)).toHaveLength(1);
  });
});
