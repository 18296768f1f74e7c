// Getting ovf-env.xml from the provisioning media (docs/protocol.md §4.3): DVD.Device or the detected
// DVD; an existing mount is used as is; otherwise a read-only kernel mount when the kernel has udf or
// iso9660, else the user-space reader. Unmount and eject afterwards, best effort and bounded in time.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config/index.ts';
import { AgentError, describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { dvdCandidates, isEjectable } from './device.ts';
import {
  DEFAULT_COMMANDS,
  eject,
  existingMountPoint,
  kernelMediaFilesystems,
  mountReadOnly,
  unmount,
  type MountCommands,
} from './kernel-mount.ts';
import { MAX_FILE_SIZE, readFileFromImage } from './read-file.ts';

export const OVF_ENV_NAME = 'ovf-env.xml';

export interface MediaOptions {
  /** Where DVD devices are looked for (default /dev). */
  devRoot?: string;
  /** Where filesystems and mounts are read from (default /proc). */
  procRoot?: string;
  /** The mount, umount and eject commands (tests substitute their own). */
  commands?: Partial<MountCommands>;
}

export interface OvfEnvSource {
  xml: string;
  /** Where it came from, for the log: "/dev/sr0 (UDF, read in user space)". */
  source: string;
}

function decode(data: Buffer, where: string): string {
  try {
    // ignoreBOM keeps a leading BOM in the text, removed here so that both encodings of it go.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data).replace(/^\ufeff/, '');
  } catch {
    throw new AgentError('provisioning', `the ${OVF_ENV_NAME} on ${where} is not valid UTF-8 text`, { device: where });
  }
}

/** Reads the file from a mounted directory, matching its name case-insensitively. */
async function readFromDirectory(dir: string, where: string): Promise<Buffer> {
  const name = (await readdir(dir)).find((n) => n.toLowerCase() === OVF_ENV_NAME);
  if (!name)
    throw new AgentError('provisioning', `the provisioning media ${where} has no ${OVF_ENV_NAME} in its root directory`, { device: where });
  const path = join(dir, name);
  const st = await stat(path);
  if (!st.isFile() || st.size > MAX_FILE_SIZE) {
    throw new AgentError('provisioning', `${path} is not a regular file of at most ${MAX_FILE_SIZE} bytes`, { path, size: st.size });
  }
  return readFile(path);
}

async function readFromDevice(config: Config, device: string, opts: MediaOptions, commands: MountCommands): Promise<OvfEnvSource> {
  const st = await stat(device).catch((e: NodeJS.ErrnoException) => {
    throw new AgentError(
      'provisioning',
      `the provisioning media ${device} ${e.code === 'ENOENT' ? 'does not exist' : `cannot be examined (${e.code})`}`,
      { device },
    );
  });
  if (st.isFile()) {
    const { data, format } = await readFileFromImage(device, OVF_ENV_NAME);
    return { xml: decode(data, device), source: `${device} (${format} image, read in user space)` };
  }
  if (!st.isBlockDevice())
    throw new AgentError('provisioning', `the provisioning media ${device} is neither a block device nor an image file`, { device });

  const mounted = existingMountPoint(device, opts.procRoot);
  if (mounted)
    return { xml: decode(await readFromDirectory(mounted, device), device), source: `${device} (already mounted at ${mounted})` };

  const mountPoint = config.str('DVD.MountPoint');
  const filesystems = kernelMediaFilesystems(opts.procRoot);
  let result: OvfEnvSource;
  if (filesystems.length > 0 && (await mountReadOnly(device, mountPoint, filesystems, commands))) {
    try {
      result = { xml: decode(await readFromDirectory(mountPoint, device), device), source: `${device} (mounted at ${mountPoint})` };
    } finally {
      await unmount(mountPoint, commands);
    }
  } else {
    if (filesystems.length > 0) log.info(`mounting ${device} failed; reading it in user space`);
    const { data, format } = await readFileFromImage(device, OVF_ENV_NAME);
    result = { xml: decode(data, device), source: `${device} (${format}, read in user space)` };
  }
  if (isEjectable(device)) await eject(device, commands);
  return result;
}

/**
 * Reads ovf-env.xml from `DVD.Device` when set, else from the first detected DVD that holds it.
 * Throws AgentError kind 'provisioning' naming the device and the reason when there is none.
 */
export async function readOvfEnv(config: Config, opts: MediaOptions = {}): Promise<OvfEnvSource> {
  const commands = { ...DEFAULT_COMMANDS, ...opts.commands };
  const configured = config.str('DVD.Device');
  if (configured) return readFromDevice(config, configured, opts, commands);

  const devRoot = opts.devRoot ?? '/dev';
  const candidates = dvdCandidates(devRoot);
  if (candidates.length === 0) {
    throw new AgentError('provisioning', `no provisioning media was found: ${devRoot} has no DVD device and DVD.Device is not set`, {
      devRoot,
    });
  }
  let first: unknown = null;
  for (const device of candidates) {
    try {
      const r = await readFromDevice(config, device, opts, commands);
      log.info(`read ${OVF_ENV_NAME} from ${r.source}`);
      return r;
    } catch (e) {
      log.verbose(`no ${OVF_ENV_NAME} on ${device}: ${describeError(e)}`);
      first ??= e;
    }
  }
  throw new AgentError(
    'provisioning',
    `no DVD device (${candidates.join(', ')}) holds a readable ${OVF_ENV_NAME}; ${candidates[0]}: ${describeError(first)}`,
    { devices: candidates.join(' ') },
    first,
  );
}
