// Mounting the provisioning DVD through the kernel when it has udf or iso9660 (docs/protocol.md §4.3
// steps 2 and 5), read-only, and unmounting and ejecting it afterwards. Every command is bounded in
// time; unmount and eject failures only warn.
import { readFileSync, realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { run, which } from '../../os/exec.ts';

export interface MountCommands {
  mount: string;
  umount: string;
  eject: string;
}

export const DEFAULT_COMMANDS: MountCommands = { mount: 'mount', umount: 'umount', eject: 'eject' };
const COMMAND_TIMEOUT_MS = 10_000;

/** The DVD file systems the running kernel supports, from <procRoot>/filesystems. */
export function kernelMediaFilesystems(procRoot = '/proc'): Array<'udf' | 'iso9660'> {
  let text: string;
  try {
    text = readFileSync(join(procRoot, 'filesystems'), 'utf8');
  } catch {
    return [];
  }
  const names = new Set(text.split('\n').map((l) => l.trim().split(/\s+/).pop() ?? ''));
  return (['udf', 'iso9660'] as const).filter((f) => names.has(f));
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Where `device` is already mounted according to <procRoot>/mounts, or null. */
export function existingMountPoint(device: string, procRoot = '/proc'): string | null {
  let text: string;
  let real = device;
  try {
    real = realpathSync(device);
  } catch {
    /* compare the path as given */
  }
  try {
    text = readFileSync(join(procRoot, 'mounts'), 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [src, target] = line.split(' ');
    if (!src || !target) continue;
    const s = unescapeMountField(src);
    if (s === device || s === real) return unescapeMountField(target);
  }
  return null;
}

/** Mounts `device` read-only at `mountPoint`, trying each file system in turn; false when none worked. */
export async function mountReadOnly(
  device: string,
  mountPoint: string,
  filesystems: readonly string[],
  commands: MountCommands = DEFAULT_COMMANDS,
): Promise<boolean> {
  await mkdir(mountPoint, { recursive: true, mode: 0o755 });
  for (const fs of filesystems) {
    try {
      const r = await run([commands.mount, '-o', 'ro', '-t', fs, device, mountPoint], {
        timeoutMs: COMMAND_TIMEOUT_MS,
        allowFailure: true,
      });
      if (r.code === 0) {
        log.info(`mounted the provisioning media ${device} (${fs}) at ${mountPoint}`);
        return true;
      }
      log.verbose(`mounting ${device} as ${fs} failed: ${(r.stderr || r.stdout).trim()}`);
    } catch (e) {
      log.verbose(`mounting ${device} as ${fs} failed: ${describeError(e)}`);
    }
  }
  return false;
}

export async function unmount(mountPoint: string, commands: MountCommands = DEFAULT_COMMANDS): Promise<void> {
  try {
    await run([commands.umount, mountPoint], { timeoutMs: COMMAND_TIMEOUT_MS });
  } catch (e) {
    log.warn(`could not unmount the provisioning media at ${mountPoint}: ${describeError(e)}`);
  }
}

/** Ejects the DVD, best effort; skipped when there is no eject command. */
export async function eject(device: string, commands: MountCommands = DEFAULT_COMMANDS): Promise<void> {
  if (!(await which(commands.eject))) {
    log.verbose(`no ${commands.eject} command; the provisioning media ${device} is left in the drive`);
    return;
  }
  try {
    await run([commands.eject, device], { timeoutMs: COMMAND_TIMEOUT_MS });
  } catch (e) {
    log.warn(`could not eject the provisioning media ${device}: ${describeError(e)}`);
  }
}
