/**
 * Node.js builds for the pack test, from the npm registry's `node-<os>-<arch>` packages (which carry
 * the Node.js release binaries; npm checks each tarball against the registry's integrity hash),
 * fetched once with `npm pack` into a per-user cache outside the clone, shared by every clone:
 * `$KEYSTORE_NODE_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/keystore-node/<version>/bin/node`.
 * Only `bin/node` and the licence are kept (about 120 MB a version).
 */
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The Node.js versions the packed packages are run on besides this machine's: the lowest versions
 * `engines.node` admits (`^20.19.0 || >=22.12.0`, where `require()` of an ES module works without a
 * flag), and the newest 22 and 24 at the time of writing (the LTS lines). Raise these with a release.
 */
export const testedNodeVersions = ['20.19.0', '22.12.0', '22.23.5', '24.22.3'] as const;

/** The directory that holds one subdirectory per fetched version. */
export function nodeCacheDir(): string {
  if (process.env.KEYSTORE_NODE_CACHE) return process.env.KEYSTORE_NODE_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'keystore-node');
}

function registryPackage(): string {
  const os = process.platform === 'win32' ? 'win' : process.platform;
  return `node-${os}-${process.arch}`;
}

/** The cache runs what it holds: it must be ours and writable by nobody else. */
function checkOwned(path: string): void {
  const st = lstatSync(path);
  const uid = process.getuid?.();
  if (st.isSymbolicLink() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) {
    throw new Error(
      `${path} is a symbolic link, not owned by this user, or writable by others: refusing to run Node.js from it (remove it, or set KEYSTORE_NODE_CACHE)`,
    );
  }
}

async function versionOf(node: string): Promise<string> {
  const { stdout } = await run(node, ['--version'], { timeout: 60_000 });
  return stdout.trim().replace(/^v/, '');
}

/**
 * The path of Node.js `version`'s binary, fetched into the cache first when it is not there. Two
 * fetchers racing each unpack into their own temporary directory and rename it into place; the
 * loser keeps the winner's copy.
 */
export async function nodeBinary(version: string): Promise<string> {
  const cache = nodeCacheDir();
  const dir = join(cache, version);
  const exe = join(dir, 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
  mkdirSync(cache, { recursive: true, mode: 0o755 });
  checkOwned(cache);
  if (!existsSync(exe)) {
    const tmp = mkdtempSync(join(cache, '.fetch-'));
    try {
      // A throwaway npm cache, so the 50 MB tarball is not kept a second time in ~/.npm.
      await run('npm', ['pack', '--silent', '--cache', join(tmp, 'npm-cache'), `${registryPackage()}@${version}`], {
        cwd: tmp,
        timeout: 600_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
      if (!tarball) throw new Error(`npm pack ${registryPackage()}@${version} left no tarball`);
      const bin = process.platform === 'win32' ? 'package/bin/node.exe' : 'package/bin/node';
      await run('tar', ['xzf', tarball, bin, 'package/LICENSE'], { cwd: tmp, timeout: 300_000 });
      try {
        renameSync(join(tmp, 'package'), dir);
      } catch (err) {
        if (!existsSync(exe)) throw err;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  checkOwned(dir);
  checkOwned(exe);
  const found = await versionOf(exe);
  if (found !== version) throw new Error(`${exe} reports Node.js ${found}, not ${version}: remove ${dir}`);
  return exe;
}
