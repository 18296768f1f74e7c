// Finds the resource (temporary) disk (docs/protocol.md §8.3): the udev link /dev/disk/azure/resource when the
// image ships the Azure udev rules, else the VMBus device tree the Python agent searches. Every root path is a
// parameter so tests can point at a fake tree.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { log } from '../../log/logger.ts';

/** Device id of SCSI controller 0 on a Gen2 VM: LUN 0 = OS disk, 1 = resource disk, 2 = CD-ROM (§8.3). */
export const GEN2_DEVICE_ID = 'f8b3781a-1e82-4818-a1c3-63d806ec15bb';
/** Device id prefix of IDE controller 0, port 1 on a Gen1 VM (the Python agent's device_for_ide_port(1)). */
export const GEN1_DEVICE_PREFIX = '00000000-0001';

export interface DetectPaths {
  /** sysfs root (default /sys); the VMBus devices are under <sysRoot>/bus/vmbus/devices */
  sysRoot?: string;
  /** device directory (default /dev); found disks are <devRoot>/<name> */
  devRoot?: string;
  /** directory of the Azure udev links (default <devRoot>/disk/azure) */
  azureLinkDir?: string;
}

export type DetectedBy = 'udev-link' | 'vmbus-gen1' | 'vmbus-gen2' | 'vmbus-legacy';

export interface DetectedDisk {
  /** path of the whole-disk device node, e.g. /dev/sdb */
  device: string;
  detectedBy: DetectedBy;
}

export interface VmbusMatch {
  /** kernel name of the block device, e.g. "sdb" */
  name: string;
  detectedBy: Exclude<DetectedBy, 'udev-link'>;
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function sortedEntries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/**
 * Walks one VMBus device directory top-down like the Python agent's os.walk: the first `block` directory whose
 * first child names the disk (for the Gen2 controller only the one below LUN 1), or an old kernel's `block:<name>`
 * entry. Like os.walk, links to directories are listed but not descended into (sysfs links back up the tree).
 */
function walkForBlock(dir: string, gen2: boolean): { name: string; legacy: boolean } | null {
  const children = sortedEntries(dir).filter((n) => isDir(join(dir, n)));
  const parts = dir.split('/');
  if (parts[parts.length - 1] === 'block' && (!gen2 || (parts[parts.length - 2] ?? '').split(':').pop() === '1')) {
    return children[0] ? { name: children[0], legacy: false } : null;
  }
  for (const c of children) {
    const [head, name] = c.split(':');
    if (head === 'block' && name) return { name, legacy: true };
  }
  for (const c of children) {
    if (readlinkOrNull(join(dir, c)) !== null) continue;
    const found = walkForBlock(join(dir, c), gen2);
    if (found) return found;
  }
  return null;
}

function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/** The resource disk's kernel name from <sysRoot>/bus/vmbus/devices, as the Python agent searches it; null if absent. */
export function findVmbusResourceDisk(sysRoot = '/sys'): VmbusMatch | null {
  const base = join(sysRoot, 'bus', 'vmbus', 'devices');
  for (const entry of sortedEntries(base)) {
    const guid = (readTrimmed(join(base, entry, 'device_id')) ?? '').replace(/^\{|\}$/g, '').toLowerCase();
    const gen2 = guid === GEN2_DEVICE_ID;
    if (!gen2 && !guid.startsWith(GEN1_DEVICE_PREFIX)) continue;
    // the top is usually a link into /sys/devices: follow it, but nothing below
    const top = join(base, entry);
    if (!isDir(top)) continue;
    const found = walkForBlock(top, gen2);
    if (found) {
      log.verbose(`resource disk: VMBus device ${entry} (${guid}) holds block device ${found.name}`);
      return { name: found.name, detectedBy: found.legacy ? 'vmbus-legacy' : gen2 ? 'vmbus-gen2' : 'vmbus-gen1' };
    }
  }
  return null;
}

/** The whole-disk node the udev link <azureLinkDir>/resource points at (resolved relative to the link); null if absent. */
export function findResourceDiskLink(azureLinkDir: string): string | null {
  const link = join(azureLinkDir, 'resource');
  const target = readlinkOrNull(link);
  if (target === null) return null;
  return resolve(dirname(link), target);
}

/** The resource disk, or null when this VM has none that can be found. */
export function detectResourceDisk(paths: DetectPaths = {}): DetectedDisk | null {
  const devRoot = paths.devRoot ?? '/dev';
  const linked = findResourceDiskLink(paths.azureLinkDir ?? join(devRoot, 'disk', 'azure'));
  if (linked) return { device: linked, detectedBy: 'udev-link' };
  const vmbus = findVmbusResourceDisk(paths.sysRoot ?? '/sys');
  if (vmbus) return { device: join(devRoot, vmbus.name), detectedBy: vmbus.detectedBy };
  return null;
}

/** The node of partition n of a disk: sdb → sdb1, nvme0n1 / loop3 / mmcblk0 → …p1 (the kernel's naming rule). */
export function partitionPath(device: string, n = 1): string {
  return /\d$/.test(device) ? `${device}p${n}` : `${device}${n}`;
}
