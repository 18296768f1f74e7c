// Reading zips in process, and extracting them without trusting them (extension packages, docs/protocol.md §5.3:
// a package comes from a URL in the goal state and is unpacked by root, so a hostile one must not write outside
// its directory, plant links out of it, or fill the disk).
//
// API:
//   readZipEntries(buf: Buffer, what?: string): ZipEntry[]                 (zip-format.ts)
//   readZipEntryData(buf: Buffer, entry: ZipEntry, what?: string): Buffer   (zip-format.ts)
//   zipEntryChunks(buf: Buffer, entry: ZipEntry, what?: string): AsyncGenerator<Buffer>
//   extractZipSafely(zipPath: string, destDir: string, limits: ExtractLimits): Promise<void>
//       Extracts into a temporary sibling of destDir and renames it into place only when every entry is written,
//       so a failure leaves nothing behind. destDir must not exist yet. Refuses (AgentError 'extension', naming the
//       entry): absolute names, ".." components, backslashes, duplicate names, a file that is also a directory,
//       symlinks that point outside destDir or at nothing, more than maxEntries entries, more than maxTotalBytes
//       of data (counted while inflating, whatever the headers say), and corrupt or truncated archives.
//       File system failures are AgentError 'io'. Unix permission bits are kept from the external attributes
//       masked with 0755 (root runs what is unpacked, so nothing in it may be group- or world-writable, and no
//       setuid/setgid/sticky bit survives); entries without unix attributes get 0644 / 0755.
//   interface ExtractLimits { maxTotalBytes: number; maxEntries: number }
import { lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, chmodSync, constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AgentError, describeError } from '../util/errors.ts';
import { readZipEntries, readZipEntryData, zipEntryChunks, type ZipEntry } from './zip-format.ts';
import { safeEntryPath, symlinkTargetInside } from './zip-paths.ts';

export { readZipEntries, readZipEntryData, zipEntryChunks, type ZipEntry } from './zip-format.ts';

export interface ExtractLimits {
  /** Total bytes of all entries once inflated. */
  maxTotalBytes: number;
  maxEntries: number;
}

interface Planned {
  entry: ZipEntry;
  path: string;
  kind: 'dir' | 'file' | 'symlink';
  mode: number;
  target?: string;
}

const MAX_LINK_TARGET = 4096;

/** No group/world write, no setuid/setgid/sticky on anything unpacked for root to run. */
const ENTRY_MODE_MASK = 0o755;

function refuse(what: string, name: string, why: string): AgentError {
  return new AgentError('extension', `entry "${name}" of ${what} is refused: ${why}`, { archive: what, entry: name });
}

/** Checks every name, link target and the declared sizes before anything touches the disk. */
function plan(buf: Buffer, entries: ZipEntry[], what: string, limits: ExtractLimits): Planned[] {
  if (entries.length > limits.maxEntries) {
    throw new AgentError('extension', `${what} has ${entries.length} entries, more than the limit of ${limits.maxEntries}`, {
      archive: what,
    });
  }
  const out: Planned[] = [];
  const seen = new Map<string, string>();
  const impliedDirs = new Set<string>();
  let declared = 0;
  for (const entry of entries) {
    const path = safeEntryPath(entry.name, what);
    const earlier = seen.get(path);
    if (earlier !== undefined) throw refuse(what, entry.name, `it has the same path as entry "${earlier}"`);
    seen.set(path, entry.name);
    for (let d = dirname(path); d !== '.'; d = dirname(d)) impliedDirs.add(d);
    declared += entry.uncompressedSize;
    if (entry.isSymlink && !entry.name.endsWith('/')) {
      if (entry.uncompressedSize > MAX_LINK_TARGET) throw refuse(what, entry.name, 'its symlink target is too long');
      const target = readZipEntryData(buf, entry, what).toString('utf8');
      if (!symlinkTargetInside(path, target))
        throw refuse(what, entry.name, `it is a symlink to "${target}", outside the extraction directory`);
      out.push({ entry, path, kind: 'symlink', mode: 0o777, target });
    } else if (entry.isDirectory) {
      out.push({ entry, path, kind: 'dir', mode: (entry.mode ?? 0o755) & ENTRY_MODE_MASK });
    } else {
      out.push({ entry, path, kind: 'file', mode: (entry.mode ?? 0o644) & ENTRY_MODE_MASK });
    }
  }
  for (const p of out) {
    if (p.kind !== 'dir' && impliedDirs.has(p.path))
      throw refuse(what, p.entry.name, 'it is not a directory, but other entries are inside it');
  }
  if (declared > limits.maxTotalBytes) {
    throw new AgentError('extension', `${what} declares ${declared} bytes of content, more than the limit of ${limits.maxTotalBytes}`, {
      archive: what,
    });
  }
  return out;
}

async function writeFile(buf: Buffer, p: Planned, full: string, what: string, budget: { left: number; max: number }): Promise<void> {
  // O_EXCL + O_NOFOLLOW: never write through something already there (symlinks are only created after all files).
  const fh = await open(full, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for await (const chunk of zipEntryChunks(buf, p.entry, what)) {
      budget.left -= chunk.length;
      if (budget.left < 0) {
        throw new AgentError('extension', `entry "${p.entry.name}" of ${what} takes the content past the limit of ${budget.max} bytes`, {
          archive: what,
          entry: p.entry.name,
        });
      }
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    await fh.chmod(p.mode);
  } finally {
    await fh.close();
  }
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root + sep);
}

async function writeAll(buf: Buffer, planned: Planned[], root: string, what: string, limits: ExtractLimits): Promise<void> {
  const dirModes = new Map<string, number>();
  const mkdirs = (rel: string): void => {
    for (let d = rel; d !== '.' && !dirModes.has(d); d = dirname(d)) dirModes.set(d, 0o755);
    mkdirSync(join(root, rel), { recursive: true, mode: 0o700 });
  };
  for (const p of planned) {
    if (p.kind === 'dir') {
      mkdirs(p.path);
      dirModes.set(p.path, p.mode);
    } else if (dirname(p.path) !== '.') {
      mkdirs(dirname(p.path));
    }
  }
  const budget = { left: limits.maxTotalBytes, max: limits.maxTotalBytes };
  for (const p of planned) {
    if (p.kind !== 'file') continue;
    try {
      await writeFile(buf, p, join(root, p.path), what, budget);
    } catch (e) {
      if (e instanceof AgentError) throw e;
      throw new AgentError(
        'io',
        `cannot write entry "${p.entry.name}" of ${what}: ${describeError(e)}`,
        { archive: what, entry: p.entry.name },
        e,
      );
    }
  }
  // Symlinks last, so no file above was written through one; a link's directory must be real (no link in its
  // path); then every link must resolve to something inside. realpath.native: the kernel's resolution, which
  // follows ".." after a link physically (Node's JS realpathSync does not).
  const links = planned.filter((p) => p.kind === 'symlink');
  for (const p of links) {
    const parent = join(root, dirname(p.path));
    if (realpathSync.native(parent) !== parent) throw refuse(what, p.entry.name, 'its directory is reached through another symlink');
    symlinkSync(p.target!, join(root, p.path));
  }
  for (const p of links) {
    let real: string;
    try {
      real = realpathSync.native(join(root, p.path));
    } catch {
      throw refuse(what, p.entry.name, `it is a symlink to "${p.target}", which does not exist in the archive`);
    }
    if (!isInside(root, real))
      throw refuse(what, p.entry.name, `it is a symlink to "${p.target}", which resolves outside the extraction directory`);
  }
  // Directory modes last (deepest first), so a read-only directory did not stop its own children being written.
  for (const d of [...dirModes.keys()].sort((a, b) => b.length - a.length)) chmodSync(join(root, d), dirModes.get(d)!);
}

export async function extractZipSafely(zipPath: string, destDir: string, limits: ExtractLimits): Promise<void> {
  const what = `the zip file ${zipPath}`;
  let buf: Buffer;
  try {
    buf = await readFile(zipPath);
  } catch (e) {
    throw new AgentError('io', `cannot read ${what}: ${describeError(e)}`, { archive: zipPath }, e);
  }
  const planned = plan(buf, readZipEntries(buf, what), what, limits);

  const dest = resolve(destDir);
  try {
    lstatSync(dest);
    throw new AgentError('io', `cannot extract ${what} to ${dest}: the directory already exists`, { archive: zipPath, dest });
  } catch (e) {
    if (e instanceof AgentError) throw e;
  }
  let parent: string;
  try {
    mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
    parent = realpathSync.native(dirname(dest));
  } catch (e) {
    throw new AgentError('io', `cannot create the parent directory of ${dest}: ${describeError(e)}`, { dest }, e);
  }
  removeKilledExtractions(parent, basename(dest));
  const tmp = join(parent, `.${basename(dest)}.${randomBytes(6).toString('hex')}.extracting`);
  try {
    mkdirSync(tmp, { mode: 0o700 });
    await writeAll(buf, planned, tmp, what, limits);
    chmodSync(tmp, 0o755);
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof AgentError) throw e;
    throw new AgentError('io', `cannot extract ${what} to ${dest}: ${describeError(e)}`, { archive: zipPath, dest }, e);
  }
}

/**
 * What an extraction of the same directory that was killed part-way left (`.<dest>.<hex>.extracting`): nothing
 * else extracts there meanwhile (one agent, one handler at a time), so it is removed before extracting again.
 */
function removeKilledExtractions(parent: string, destName: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  const prefix = `.${destName}.`;
  for (const n of names) {
    if (n.startsWith(prefix) && /^[0-9a-f]{12}\.extracting$/.test(n.slice(prefix.length))) {
      rmSync(join(parent, n), { recursive: true, force: true });
    }
  }
}
