// Mounts the resource disk's partition (docs/protocol.md §8.3 steps 1, 2, 5, 6) and leaves the data-loss warning
// file on it.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { run } from '../exec.ts';
import { rereadPartitions } from './partition.ts';

export const DATALOSS_WARNING_FILE = 'DATALOSS_WARNING_README.txt';

// The text the Python agent writes (resourcedisk/default.py DATALOSS_WARNING_FILE_NAME).
export const DATALOSS_WARNING_TEXT =
  'WARNING: THIS IS A TEMPORARY DISK.\n\n' +
  'Any data stored on this drive is SUBJECT TO LOSS and THERE IS NO WAY TO RECOVER IT.\n\n' +
  'Please do not use this disk for storing any personal or application data.\n\n' +
  'For additional details to please refer to the MSDN documentation at :\n' +
  'http://msdn.microsoft.com/en-us/library/windowsazure/jj672979.aspx\n';

export interface MountEntry {
  /** "major:minor" of the mounted device */
  devno: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/PID/mountinfo text. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (f.length < 10 || dash < 6) continue;
    out.push({ devno: f[2]!, mountPoint: unescapeMountField(f[4]!), fsType: f[dash + 1]!, source: unescapeMountField(f[dash + 2]!) });
  }
  return out;
}

/** "major:minor" of a device node (glibc's gnu_dev_major/minor split of st_rdev); null if it is not a device. */
export function deviceNumber(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    if (!st.isBlockDevice()) return null;
    const r = st.rdev;
    const major = ((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn);
    const minor = (r & 0xffn) | ((r >> 12n) & ~0xffn);
    return `${major}:${minor}`;
  } catch {
    return null;
  }
}

/** Where the partition is mounted already (first mount in the table), or null. */
export function findMountPoint(partition: string, mountinfoPath = '/proc/self/mountinfo'): string | null {
  let text: string;
  try {
    text = readFileSync(mountinfoPath, 'utf8');
  } catch {
    return null;
  }
  const devno = deviceNumber(partition);
  const hit = parseMountinfo(text).find((m) => (devno !== null && m.devno === devno) || m.source === partition);
  return hit ? hit.mountPoint : null;
}

export interface MountOptions {
  fs: string;
  mountPoint: string;
  /** the whole disk, whose partition table is re-read before the retry of a failed mount */
  disk: string;
  /** ResourceDisk.MountOptions, passed to mount -o as written */
  options?: string | null;
  mountinfoPath?: string;
}

export interface MountResult {
  mountPoint: string;
  /** true when the partition was mounted before this call (at mountPoint or elsewhere) */
  alreadyMounted: boolean;
}

async function mountOnce(partition: string, o: MountOptions): Promise<{ ok: boolean; why: string }> {
  const argv = ['mount', '-t', o.fs, ...(o.options ? ['-o', o.options] : []), partition, o.mountPoint];
  const r = await run(argv, { allowFailure: true, timeoutMs: 120_000 });
  // exit 32 "already mounted" is success (§10 item 41)
  if (r.code === 0 || (r.code === 32 && /already mounted/i.test(r.stderr))) return { ok: true, why: '' };
  return { ok: false, why: (r.stderr || r.stdout).trim() || `exit code ${r.code}` };
}

/** Mounts the partition at the mount point unless it is mounted already, then writes the warning file. */
export async function mountResourceDisk(partition: string, o: MountOptions): Promise<MountResult> {
  const existing = findMountPoint(partition, o.mountinfoPath);
  if (existing) {
    log.info(`the resource disk ${partition} is already mounted at ${existing}`);
    return { mountPoint: existing, alreadyMounted: true };
  }
  mkdirSync(o.mountPoint, { recursive: true, mode: 0o755 });
  let attempt = await mountOnce(partition, o);
  if (!attempt.ok) {
    log.warn(`mounting ${partition} at ${o.mountPoint} failed (${attempt.why}); re-reading the partition table and retrying`);
    await rereadPartitions(o.disk, partition);
    attempt = await mountOnce(partition, o);
  }
  if (!attempt.ok) {
    throw new AgentError('command', `cannot mount the resource disk ${partition} (${o.fs}) at ${o.mountPoint}: ${attempt.why}`, {
      partition,
      mountPoint: o.mountPoint,
    });
  }
  log.info(`mounted the resource disk ${partition} at ${o.mountPoint}`);
  writeFileAtomic(join(o.mountPoint, DATALOSS_WARNING_FILE), DATALOSS_WARNING_TEXT, { mode: 0o644 });
  return { mountPoint: o.mountPoint, alreadyMounted: false };
}
