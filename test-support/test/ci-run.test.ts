// `.ci/run` refuses a Node.js older than engines.node before it installs or runs anything, with one
// line that says how to get a supported one. It runs here from a copy (with the root package.json)
// in a temporary directory, with node, npm, apt-get and sudo replaced by stand-ins on PATH, so that
// nothing is installed and the clone's node_modules is never touched, whatever the script does.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const required = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } })
  .engines.node;

describe.skipIf(process.platform === 'win32' || !existsSync('/bin/bash'))(
  '.ci/run checks Node.js first (needs bash)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'keystore-ci-run-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'repo/.ci'), { recursive: true });
    copyFileSync(join(repoRoot, '.ci/run'), join(dir, 'repo/.ci/run'));
    copyFileSync(join(repoRoot, 'package.json'), join(dir, 'repo/package.json'));
    const marker = join(dir, 'ran');

    const run = (version: string) => {
      const nodeVersion = version === 'none' ? undefined : version;
      const bin = join(dir, `bin-${version}`);
      mkdirSync(bin, { recursive: true });
      const stub = (name: string, body: string) => {
        writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
      };
      for (const tool of ['npm', 'apt-get', 'sudo', 'fuser']) stub(tool, `echo ${tool} >> '${marker}'; exit 97`);
      // Without a node stand-in, `node` must be missing from PATH altogether: only the tools the
      // script's first lines use are linked.
      if (nodeVersion) stub('node', `echo ${nodeVersion}`);
      const path = nodeVersion ? `${bin}:${process.env.PATH}` : bin;
      if (!nodeVersion) {
        for (const tool of ['bash', 'dirname', 'date', 'sed', 'head', 'sort']) {
          const found = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
          if (found) spawnSync('ln', ['-sf', found, join(bin, tool)]);
        }
      }
      rmSync(marker, { force: true });
      const r = spawnSync('/bin/bash', [join(dir, 'repo/.ci/run')], {
        encoding: 'utf8',
        env: { ...process.env, PATH: path },
        timeout: 60_000,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, ran: existsSync(marker) };
    };

    it('engines.node is the range the versions below were chosen around', () => {
      expect(required).toBe('^20.19.0 || >=22.12.0');
    });

    it.each([
      ['18.19.0', 'found 18.19.0'],
      ['20.18.3', 'found 20.18.3'],
      ['none', 'found no node on PATH'],
    ])('with Node.js %s it exits 1 with one line saying what to install, before apt or npm', (version, found) => {
      const r = run(version);
      expect(r.status).toBe(1);
      expect(r.ran).toBe(false);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`needs Node.js ${required} (engines.node in package.json; 20.19.0 at the lowest)`);
      expect(lines[0]).toContain(found);
      expect(lines[0]).toContain('install Node.js 22 or 24');
      expect(lines[0]).toContain('https://nodejs.org');
    });

    // ^20.19.0 admits 20.19.0 and later 20s, not 21; >=22.12.0 admits 22.12.0 and everything later.
    it.each([
      ['20.19.0', true],
      ['20.20.2', true],
      ['21.7.3', false],
      ['22.11.0', false],
      ['22.12.0', true],
      ['22.23.5', true],
      ['24.22.3', true],
      ['26.0.0', true],
    ])('with Node.js %s admitted: %s, as engines.node says', (version, admitted) => {
      const r = run(version);
      if (admitted) {
        expect(r.stdout).toContain(`ci: Node.js ${version} (needs ${required})`);
        expect(r.stderr).not.toContain('needs Node.js');
        expect(r.ran).toBe(true);
        expect(r.status).toBe(97);
      } else {
        expect(r.stderr).toContain(`needs Node.js ${required} `);
        expect(r.ran).toBe(false);
        expect(r.status).toBe(1);
      }
    });
  },
);
