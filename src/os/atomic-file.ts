// The one place that writes files atomically: a temporary file in the same directory, fsync, rename,
// fsync of the directory. A process killed mid-write leaves either the old file or the new one.
import {
  closeSync,
  fchownSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open as openAsync, rename as renameAsync, unlink as unlinkAsync } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AgentError } from '../util/errors.ts';

export interface AtomicWriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /**
   * Create the parent directory when missing, mode 0700: what the agent writes with this is its own state
   * (Lib.Dir and below), which no other user needs to list; Lib.Dir holds private keys (as upstream, 0700).
   */
  mkdir?: boolean;
  /**
   * false: atomic but not durable — no fsync of the file or the directory (issue 14). For copies kept for diagnostics
   * (the goal-state history): a crash may leave the old file, or an empty new one, never half of one; each fsync costs
   * milliseconds on a VM's disk (tens when it is busy) and a new goal state wrote a dozen of them.
   */
  durable?: boolean;
}

/** Directories whose fsync waits for flushDirectorySyncs(); null: each durable write syncs its own directory. */
let deferredDirs: Set<string> | null = null;

/**
 * From now until flushDirectorySyncs(), durable writes still fsync each file before its rename, but leave the
 * directory's fsync (which makes the rename itself durable) to the flush, which runs them side by side on libuv's
 * thread pool (issue 14: provisioning's ~20 directory fsyncs took ~40–90 ms of its main thread). Every write is
 * still atomic; a crash before the flush may only lose renames, as if it had come a little earlier. For a phase that
 * ends in one commit point (provisioning: the provisioned marker, written after the flush).
 */
export function deferDirectorySyncs(): void {
  deferredDirs ??= new Set();
}

/** The deferred directory fsyncs, all of them, in parallel; durable writes sync their own directory again after it. */
export async function flushDirectorySyncs(): Promise<void> {
  const dirs = deferredDirs;
  deferredDirs = null;
  if (dirs) await Promise.all([...dirs].map(fsyncDirAsync));
}

/** true when the directory's fsync is left to flushDirectorySyncs() (recorded), false when the caller makes it. */
function deferDirectorySync(dir: string): boolean {
  deferredDirs?.add(dir);
  return deferredDirs !== null;
}

function syncDirectory(dir: string): void {
  if (!deferDirectorySync(dir)) fsyncDir(dir);
}

export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  if (opts.mkdir) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = tempPathBeside(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', opts.mode ?? 0o644);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    // the owner is set on the open descriptor, never by path: in a directory its user can write (~/.ssh), the
    // temporary name could be swapped for a link between close and a chown by path
    if (opts.uid !== undefined || opts.gid !== undefined) fchownSync(fd, opts.uid ?? -1, opts.gid ?? -1);
    if (opts.durable !== false) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw writeError(path, e);
  }
  if (opts.durable !== false) syncDirectory(dir);
  sweepStaleTemps(dir);
}

/**
 * writeFileAtomic with every step on libuv's thread pool: the same temporary file, fsync, rename and directory fsync,
 * in the same order, but the event loop runs meanwhile. For the writes on the way to Ready (issue 14): each fsync
 * costs the main thread milliseconds, and provisioning's dozen of them otherwise add up on its critical path.
 */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  if (opts.mkdir) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = tempPathBeside(path);
  try {
    const fh = await openAsync(tmp, 'wx', opts.mode ?? 0o644);
    try {
      await fh.writeFile(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      // on the descriptor, never by path (see writeFileAtomic)
      if (opts.uid !== undefined || opts.gid !== undefined) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
      if (opts.durable !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await renameAsync(tmp, path);
  } catch (e) {
    await unlinkAsync(tmp).catch(() => undefined);
    throw writeError(path, e);
  }
  if (opts.durable !== false && !deferDirectorySync(dir)) await fsyncDirAsync(dir);
  sweepStaleTemps(dir);
}

function writeError(path: string, e: unknown): AgentError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'the disk is full' : err.message;
  return new AgentError('io', `cannot write ${path}: ${why}`, { path, code: err.code }, e);
}

/**
 * writeFileAtomic unless the file already holds exactly `data` as a regular file (not a link) with the mode and owner
 * asked for: then nothing is written (no fsyncs). Returns whether it wrote. For state rewritten with the same content
 * on every goal state (the tenant certificates, SharedConfig.xml).
 */
export function writeFileAtomicIfChanged(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): boolean {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (holdsAlready(path, buf, opts)) return false;
  writeFileAtomic(path, buf, opts);
  return true;
}

/** writeFileAtomicIfChanged through writeFileAtomicAsync. */
export async function writeFileAtomicIfChangedAsync(
  path: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): Promise<boolean> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (holdsAlready(path, buf, opts)) return false;
  await writeFileAtomicAsync(path, buf, opts);
  return true;
}

/** The file is a regular file (not a link) holding exactly `buf` with the mode and owner asked for. */
function holdsAlready(path: string, buf: Uint8Array, opts: AtomicWriteOptions): boolean {
  try {
    const st = lstatSync(path);
    return (
      st.isFile() &&
      st.size === buf.length &&
      (st.mode & 0o7777) === (opts.mode ?? 0o644) &&
      (opts.uid === undefined || st.uid === opts.uid) &&
      (opts.gid === undefined || st.gid === opts.gid) &&
      readFileSync(path).equals(buf)
    );
  } catch {
    return false; // missing or unreadable: written
  }
}

/**
 * A fresh hidden temporary name in the directory of `path`, so that a rename into place is atomic:
 * `.<name>.<pid>.<random>.tmp`. The writer's pid in the name lets a later writer remove what a killed one left.
 */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

const STALE_TEMP = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;
const swept = new Set<string>();

function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A writer killed with SIGKILL whose parent has not reaped it yet is a zombie: it writes nothing any more.
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return true;
  }
}

/**
 * Once per directory and process, after a successful write there: removes the temporary files that writers which
 * no longer run left behind (a process killed between creating its temporary file and the rename). The old file,
 * or the new one, is in place either way; only the clutter goes. unlink never follows a link.
 */
function sweepStaleTemps(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = STALE_TEMP.exec(name);
    if (!m || running(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, name));
    } catch {
      /* gone already, or not ours to remove */
    }
  }
}

/**
 * Moves a finished temporary file (written elsewhere, e.g. a streamed download into tempPathBeside(path)) into
 * place the same way: fsync the file, rename, fsync the directory. The temporary file is removed on failure.
 */
export function renameIntoPlace(tmp: string, path: string): void {
  try {
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw new AgentError(
      'io',
      `cannot move ${tmp} to ${path}: ${(e as Error).message}`,
      { path, code: (e as NodeJS.ErrnoException).code },
      e,
    );
  }
  syncDirectory(dirname(path));
  sweepStaleTemps(dirname(path));
}

async function fsyncDirAsync(dir: string): Promise<void> {
  try {
    const dh = await openAsync(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* as fsyncDir */
  }
}

function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* some file systems refuse fsync on directories; the rename is still atomic */
  }
}
