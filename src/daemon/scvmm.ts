// System Center VMM (DetectScvmmEnv=y; upstream daemon/scvmm.py): before anything else the daemon looks on the CD
// devices (sr[0-9], hd[c-z], cdrom[0-9], cd[0-9]+ — DVD.Device alone when it is set) for VMM's
// linuxosconfiguration.xml. On the first medium that has it, VMM's `install` script is started in the background as
// upstream starts it (`/bin/bash <mount>/install "-p <mount>"`, output discarded) with the medium left at
// DVD.MountPoint, and the agent does nothing more: it waits 5 minutes and exits 0 (VMM's own agent takes over).
// Where the kernel cannot mount the medium (no iso9660/udf, or an image file), its root files are read in user
// space and written to DVD.MountPoint instead, so the script finds them where a mount would have put them.
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import { spawnDetached } from '../os/exec.ts';
import { dvdCandidates } from '../provisioning/media/device.ts';
import {
  DEFAULT_COMMANDS,
  kernelMediaFilesystems,
  mountReadOnly,
  unmount,
  type MountCommands,
} from '../provisioning/media/kernel-mount.ts';
import { readRootFilesFromImage } from '../provisioning/media/read-file.ts';
import { describeError } from '../util/errors.ts';

export const VMM_CONF_FILE_NAME = 'linuxosconfiguration.xml';
export const VMM_STARTUP_SCRIPT_NAME = 'install';
/** upstream sleeps this long after starting VMM's script, then exits */
export const SCVMM_EXIT_DELAY_MS = 300_000;
/** bounds on what the user-space reader copies off the medium */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const MAX_TOTAL_BYTES = 256 * 1024 * 1024;
/** upstream's device pattern (re.match: a prefix) — no virtio disks, unlike the provisioning media */
const SCVMM_DEVICE = /^(sr[0-9]|hd[c-z]|cdrom[0-9]?|cd[0-9]+)/;

export interface ScvmmOptions {
  devRoot?: string;
  procRoot?: string;
  commands?: Partial<MountCommands>;
  /** starts the script (tests record the command line instead); default: detached, output to /dev/null */
  start?: (argv: string[]) => void;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The media to look at: DVD.Device when set, else upstream's CD devices. */
function devices(config: Config, devRoot: string): string[] {
  const configured = config.str('DVD.Device');
  if (configured) return [configured];
  return dvdCandidates(devRoot).filter((d) => SCVMM_DEVICE.test(d.slice(d.lastIndexOf('/') + 1)));
}

/** Kernel mount first; true when the medium's root is at `mountPoint` with VMM's configuration (left mounted then). */
async function viaKernel(device: string, mountPoint: string, opts: ScvmmOptions): Promise<boolean> {
  const filesystems = kernelMediaFilesystems(opts.procRoot);
  if (filesystems.length === 0 || !statSync(device).isBlockDevice()) return false;
  const commands = { ...DEFAULT_COMMANDS, ...opts.commands };
  if (!(await mountReadOnly(device, mountPoint, filesystems, commands))) return false;
  if (isFile(join(mountPoint, VMM_CONF_FILE_NAME))) return true;
  await unmount(mountPoint, commands);
  return false;
}

/** The user-space reader: true when the medium has VMM's configuration, its root files then written to `mountPoint`. */
async function viaReader(device: string, mountPoint: string): Promise<boolean> {
  const { format, files } = await readRootFilesFromImage(device, MAX_FILE_BYTES, MAX_TOTAL_BYTES);
  if (!files.some((f) => f.name === VMM_CONF_FILE_NAME)) return false;
  mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
  for (const f of files) {
    const path = join(mountPoint, f.name);
    writeFileSync(path, f.data, { mode: 0o600 });
    chmodSync(path, f.name === VMM_STARTUP_SCRIPT_NAME ? 0o700 : 0o600);
  }
  log.info(`copied ${files.length} files of ${device} (${format}, read in user space) to ${mountPoint}`);
  return true;
}

/**
 * Looks for VMM's configuration and, when found, starts VMM's install script; true then (the daemon must stop).
 * A medium that cannot be read is logged and skipped, as upstream skips a device it cannot mount.
 */
export async function detectScvmm(config: Config, opts: ScvmmOptions = {}): Promise<boolean> {
  log.info('Detecting Microsoft System Center VMM Environment');
  const mountPoint = config.str('DVD.MountPoint');
  for (const device of devices(config, opts.devRoot ?? '/dev')) {
    let found = false;
    try {
      found = (await viaKernel(device, mountPoint, opts)) || (await viaReader(device, mountPoint));
    } catch (e) {
      log.verbose(`no VMM configuration on ${device}: ${describeError(e)}`);
    }
    if (!found) continue;
    log.info(`found ${VMM_CONF_FILE_NAME} on ${device}; Starting Microsoft System Center VMM Initialization Process`);
    const script = join(mountPoint, VMM_STARTUP_SCRIPT_NAME);
    if (!existsSync(script)) log.warn(`${device} has ${VMM_CONF_FILE_NAME} but no ${VMM_STARTUP_SCRIPT_NAME} script`);
    // as upstream: one argument "-p <mount point>", not two
    const argv = ['/bin/bash', script, `-p ${mountPoint}`];
    (opts.start ?? ((a: string[]) => void spawnDetached(a)))(argv);
    return true;
  }
  return false;
}
