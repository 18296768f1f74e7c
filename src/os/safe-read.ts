// Reading a file that someone else can write (an extension's status file, a user's home directory) without
// following a link they planted: the last component is opened with O_NOFOLLOW, O_NONBLOCK keeps a FIFO from
// blocking the agent, fstat on the open descriptor refuses anything but a regular file, the size is checked before
// reading, and, given `within`, the file the descriptor really names must lie under that directory (a link in a
// directory on the way is caught here, since /proc/self/fd names the file actually opened).
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import { sep } from 'node:path';
import { AgentError } from '../util/errors.ts';

export interface SafeReadOptions {
  /** refuse larger files (checked on the open descriptor, before reading) */
  maxBytes: number;
  /** the directory the file must really be in (resolved once; links on the way out of it are refused) */
  within?: string;
  /** the uid the file must belong to (files the agent itself writes: a different owner means someone swapped it) */
  owner?: number;
}

/** Why a file was refused; `missing` is its own kind, since callers often treat it as "not there yet". */
export type RefusalReason = 'missing' | 'symlink' | 'not-regular' | 'too-large' | 'outside' | 'wrong-owner' | 'unreadable';

export class UnsafeFileError extends AgentError {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string, path: string, cause?: unknown) {
    super('io', message, { path, reason }, cause);
    this.reason = reason;
  }
}

function kindOf(mode: number): string {
  const t = mode & constants.S_IFMT;
  if (t === constants.S_IFIFO) return 'a FIFO';
  if (t === constants.S_IFSOCK) return 'a socket';
  if (t === constants.S_IFCHR || t === constants.S_IFBLK) return 'a device';
  if (t === constants.S_IFDIR) return 'a directory';
  return 'not a regular file';
}

function openNoFollow(path: string): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UnsafeFileError('missing', `${path} does not exist`, path, e);
    if (code === 'ELOOP') throw new UnsafeFileError('symlink', `${path} is a symbolic link, which the agent does not follow`, path, e);
    throw new UnsafeFileError('unreadable', `${path} cannot be opened: ${(e as Error).message}`, path, e);
  }
}

function checkWithin(fd: number, path: string, within: string): void {
  let root: string;
  let actual: string;
  try {
    root = realpathSync.native(within); // one realpath(3), not an lstat per component (every cycle, issue 14)
    actual = readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) {
    throw new UnsafeFileError('unreadable', `${path} cannot be located: ${(e as Error).message}`, path, e);
  }
  if (!actual.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new UnsafeFileError('outside', `${path} leads outside ${within} through a symbolic link, which the agent does not follow`, path);
  }
}

/** A regular file opened without following a link, its fstat checked: kind, owner, `within`. The caller closes fd. */
export function openRegular(path: string, opts: Omit<SafeReadOptions, 'maxBytes'>): { fd: number; st: Stats } {
  const fd = openNoFollow(path);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafeFileError('not-regular', `${path} is ${kindOf(st.mode)}, not a regular file`, path);
    if (opts.owner !== undefined && st.uid !== opts.owner) {
      throw new UnsafeFileError('wrong-owner', `${path} belongs to uid ${st.uid}, not to uid ${opts.owner} as expected`, path);
    }
    if (opts.within !== undefined) checkWithin(fd, path, opts.within);
    return { fd, st };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function readUpTo(fd: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let n = 0;
  while (n < buf.length) {
    const got = readSync(fd, buf, n, buf.length - n, null);
    if (got === 0) break;
    n += got;
  }
  return buf.subarray(0, n);
}

/** The whole file and its fstat (taken on the same descriptor), or an UnsafeFileError saying in one sentence why not. */
export function readRegularFile(path: string, opts: SafeReadOptions): { data: Buffer; stats: Stats } {
  const { fd, st } = openRegular(path, opts);
  try {
    if (st.size > opts.maxBytes) {
      throw new UnsafeFileError('too-large', `${path} is ${st.size} bytes, over the ${opts.maxBytes}-byte limit the agent reads`, path);
    }
    // the size fstat gave, no more: a file that grows while it is read is cut there
    return { data: readUpTo(fd, st.size), stats: st };
  } finally {
    closeSync(fd);
  }
}

/** The whole file, or an UnsafeFileError saying in one sentence why it was refused. */
export function readFileNoFollow(path: string, opts: SafeReadOptions): Buffer {
  return readRegularFile(path, opts).data;
}

/** The file's text, or null when it does not exist; any other refusal is an UnsafeFileError. */
export function readTextNoFollow(path: string, opts: SafeReadOptions): string | null {
  try {
    return readFileNoFollow(path, opts).toString('utf8');
  } catch (e) {
    if (e instanceof UnsafeFileError && e.reason === 'missing') return null;
    throw e;
  }
}

/** At most the first `maxBytes` of a regular file however large it is (a log being written, a capture file). */
export function readHeadNoFollow(path: string, maxBytes: number, opts: Omit<SafeReadOptions, 'maxBytes'> = {}): Buffer {
  const { fd, st } = openRegular(path, opts);
  try {
    return readUpTo(fd, Math.min(st.size, maxBytes));
  } finally {
    closeSync(fd);
  }
}

export interface OwnerAndMode {
  uid?: number;
  gid?: number;
  mode?: number;
  /** what the path must be (default: a regular file) */
  kind?: 'file' | 'directory';
}

/**
 * chown/chmod of a file or directory someone else can reach, through its open descriptor (fchown/fchmod): the
 * path is opened with O_NOFOLLOW (a link is refused, never changed through) and O_NONBLOCK (a FIFO does not
 * block), and fstat must show the expected kind, so a swap after a check cannot redirect the change.
 */
export function setOwnerAndModeNoFollow(path: string, want: OwnerAndMode): void {
  const dir = want.kind === 'directory';
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (dir ? constants.O_DIRECTORY : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UnsafeFileError('missing', `${path} does not exist`, path, e);
    // O_NOFOLLOW|O_DIRECTORY on a link fails with ELOOP or ENOTDIR: lstat tells which it was
    let link = code === 'ELOOP';
    if (!link && code === 'ENOTDIR') {
      try {
        link = lstatSync(path).isSymbolicLink();
      } catch {
        /* gone meanwhile */
      }
    }
    if (link) throw new UnsafeFileError('symlink', `${path} is a symbolic link, which the agent does not follow`, path, e);
    if (code === 'ENOTDIR') throw new UnsafeFileError('not-regular', `${path} is not a directory`, path, e);
    throw new UnsafeFileError('unreadable', `${path} cannot be opened: ${(e as Error).message}`, path, e);
  }
  try {
    const st = fstatSync(fd);
    if (dir ? !st.isDirectory() : !st.isFile()) {
      throw new UnsafeFileError('not-regular', `${path} is ${kindOf(st.mode)}, not a ${dir ? 'directory' : 'regular file'}`, path);
    }
    if (want.uid !== undefined || want.gid !== undefined) fchownSync(fd, want.uid ?? -1, want.gid ?? -1);
    if (want.mode !== undefined) fchmodSync(fd, want.mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Before the agent writes into a directory someone else can change (a handler's config/ and status/, its log
 * folder under Extension.LogDir): every component of `dir` below `within` must be a real directory, never a
 * symbolic link (lstat, nothing followed), so a link planted there cannot turn the write into a root write
 * elsewhere. A missing component is fine (the caller creates it). `within` itself is the agent's and trusted.
 * Node has no openat(), so a swap between this check and the write remains possible: the files are then written
 * with O_EXCL temporary names and renamed (src/os/atomic-file.ts), which never follow a link at the last step.
 */
export function checkRealDirectory(dir: string, within: string): void {
  const root = within.endsWith(sep) ? within.slice(0, -1) : within;
  if (dir !== root && !dir.startsWith(root + sep)) {
    throw new UnsafeFileError('outside', `${dir} is not inside ${within}`, dir);
  }
  let path = root;
  for (const part of dir.slice(root.length).split(sep).filter(Boolean)) {
    path += sep + part;
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new UnsafeFileError('unreadable', `${path} cannot be examined: ${(e as Error).message}`, path, e);
    }
    if (st.isSymbolicLink())
      throw new UnsafeFileError('symlink', `${path} is a symbolic link, which the agent does not write through`, path);
    if (!st.isDirectory())
      throw new UnsafeFileError('not-regular', `${path} is ${st.isFile() ? 'a regular file' : kindOf(st.mode)}, not a directory`, path);
  }
}
