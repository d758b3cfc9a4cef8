/**
 * The claim a create holds on a key name while it runs, so that two creates of one name never both
 * make a key. `Fapi_CreateKey` does not prevent that: it checks that the path is free when it starts
 * and writes the key's `object.json` when it ends, so two creates of one path that overlap both pass
 * the check and the later one overwrites the earlier key; and a name with another algorithm is
 * another path (another profile directory), so two creates of one name with different algorithms
 * leave two keys under it.
 *
 * A claim is taken in two places: a set in this process (any provider on the same FAPI keystore
 * directories), and a lock file made with `O_EXCL` in each FAPI keystore directory this process can
 * write (`<dir>/.keystore-create/<name>.lock`, the directory there only while a claim is held), which
 * other processes see. A lock file holds the pid and the time it was taken; one whose process is
 * gone, or older than {@link STALE_AFTER_MS}, was left by a crash and is taken over.
 *
 * @module
 */

import { closeSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KeyStoreError } from '@keystore/core';

/** Claims held by this process: `<keystore dir>\0<name>`. */
const held = new Set<string>();

/** The directory of the lock files inside a FAPI keystore directory. */
const LOCK_DIR = '.keystore-create';

/**
 * A lock file older than this is taken over even if its pid is alive (pids are reused). No create
 * holds a claim this long with the default timeouts: its native calls time out well before.
 */
const STALE_AFTER_MS = 10 * 60_000;
/** An empty lock file (its pid not written yet) older than this was left by a crash. */
const EMPTY_STALE_AFTER_MS = 10_000;

/** A claim on a key name, released once the create (and its rollback) has ended. */
export interface CreateClaim {
  /** Releases the claim (idempotent). */
  release(): void;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  // A file of this process that the set does not hold: another copy of this module (the package
  // installed twice) holds it. Only a pid that is gone makes a file stale.
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a lock file was left by a process that is gone (or is too old to be a live create's). */
function stale(file: string): boolean {
  let text: string;
  let age: number;
  try {
    age = Date.now() - statSync(file).mtimeMs;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
  if (age > STALE_AFTER_MS) return true;
  // An empty file is being written by a live create, unless it was left empty by a crash long ago.
  if (text.length === 0) return age > EMPTY_STALE_AFTER_MS;
  return !alive(Number(text.trim().split(' ')[0]));
}

/**
 * Makes the lock file; `false` when another live create holds it; `undefined` when the directory is
 * not usable. The lock directory exists only while a create holds a claim (`Fapi_List` of `/` shows
 * it, as `/.keystore-create`): another create may remove it between our mkdir and open, so an open
 * that finds no directory makes it again.
 */
function lockFile(dir: string, name: string): string | false | undefined {
  const folder = join(dir, LOCK_DIR);
  const file = join(folder, `${name}.lock`);
  let tookOver = false;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      // The keystore's own mode and the umask decide who else may lock here (a system keystore is
      // shared by a group); a lock file only holds a pid and a time.
      mkdirSync(folder, { recursive: true });
    } catch {
      return undefined; // Not writable here (a system keystore of another user): the other places still count.
    }
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code !== 'EEXIST') return undefined;
      if (!tookOver && stale(file)) {
        tookOver = true;
        try {
          unlinkSync(file);
        } catch {
          // Another process took it over first: the next open says who holds it.
        }
        continue;
      }
      return false;
    }
    try {
      writeSync(fd, `${process.pid} ${Date.now()}\n`);
    } finally {
      closeSync(fd);
    }
    return file;
  }
  return undefined;
}

/** Removes a lock file, and the lock directory once no create holds a claim there. */
function unlock(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already: nothing to release.
  }
  try {
    rmdirSync(dirname(file));
  } catch {
    // Another create holds a claim there (ENOTEMPTY), or it is gone already.
  }
}

function inUse(name: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_KEY_EXISTS', `a TPM key "${name}" is being created by another create`, {
    providerId: 'tpm',
    hint: 'key names are unique in one FAPI keystore; open the key once that create has ended, or use another name',
  });
}

/**
 * Claims `name` for a create in the FAPI keystore directories `dirs` (user, then system). Throws
 * `ERR_KEYSTORE_KEY_EXISTS` when another create of that name holds a claim, in this process or
 * another. Directories this process cannot write are skipped (the claim there is not needed to
 * write a key this process could not write either).
 */
export function claimKeyName(dirs: readonly string[], name: string): CreateClaim {
  const keys = dirs.map((dir) => `${dir}\0${name}`);
  if (keys.some((k) => held.has(k))) throw inUse(name);
  for (const k of keys) held.add(k);
  const files: string[] = [];
  const release = () => {
    for (const file of files.splice(0)) unlock(file);
    for (const k of keys) held.delete(k);
  };
  try {
    for (const dir of dirs) {
      const file = lockFile(dir, name);
      if (file === false) throw inUse(name);
      if (file !== undefined) files.push(file);
    }
  } catch (err) {
    release();
    throw err;
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      release();
    },
  };
}
