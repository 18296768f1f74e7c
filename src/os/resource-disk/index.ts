// The resource disk duty of the daemon (docs/protocol.md §7.1 step 2, §8.3): find the disk, make its first
// partition hold ResourceDisk.Filesystem (formatting only a fresh platform disk), mount it, add the swap file.
// It never throws and never outlives its timeout: the daemon runs it off the provisioning critical path, and
// nothing here may hold back the Ready report.
import type { Config } from '../../config/index.ts';
import { describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { detectResourceDisk, partitionPath, type DetectedBy, type DetectPaths } from './detect.ts';
import { findMountPoint, mountResourceDisk } from './mount.ts';
import { preparePartition, type PartitionAction } from './partition.ts';
import { ensureSwapFile, type SwapResult } from './swap.ts';

export { detectResourceDisk, findVmbusResourceDisk, partitionPath } from './detect.ts';
export { ensureSwapFile, parseProcSwaps } from './swap.ts';
export { findMountPoint, parseMountinfo, DATALOSS_WARNING_FILE } from './mount.ts';

export const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export interface ResourceDiskEnv extends DetectPaths {
  /** mount table to check for an existing mount (default /proc/self/mountinfo) */
  mountinfoPath?: string;
  /** active swap table (default /proc/swaps) */
  procSwaps?: string;
  /** the whole job gives up waiting after this long (default 10 min); the result is then 'timed-out' */
  timeoutMs?: number;
  /** partition node checks after repartitioning (default 5 × 5000 ms, §8.3 step 4) */
  waitTries?: number;
  waitIntervalMs?: number;
}

export type SwapOutcome =
  | { state: 'disabled' }
  | { state: 'skipped'; reason: string }
  | { state: 'enabled'; result: SwapResult }
  | { state: 'failed'; error: string };

export type ResourceDiskResult =
  | { status: 'disabled' } // ResourceDisk.Format=n: the daemon leaves the disk to cloud-init or the image
  | { status: 'not-found' }
  | { status: 'timed-out'; timeoutMs: number }
  | { status: 'failed'; device?: string; error: string }
  | {
      status: 'mounted';
      device: string;
      detectedBy: DetectedBy;
      partition: string;
      action: PartitionAction['kind'];
      formatted: boolean;
      mountPoint: string;
      alreadyMounted: boolean;
      swap: SwapOutcome;
    };

async function swapOutcome(config: Config, mountPoint: string, fs: string, env: ResourceDiskEnv): Promise<SwapOutcome> {
  if (!config.bool('ResourceDisk.EnableSwap')) return { state: 'disabled' };
  if (config.bool('ResourceDisk.EnableSwapEncryption')) {
    // The Python agent encrypts swap only on FreeBSD and silently makes it plain on Linux. Plain swap would write
    // memory (keys, secrets) to disk in the clear when encryption was asked for, so no swap file is made instead.
    const reason = 'ResourceDisk.EnableSwapEncryption=y is not supported on Linux; no swap file is created rather than an unencrypted one';
    log.warn(reason);
    return { state: 'skipped', reason };
  }
  const sizeMB = config.int('ResourceDisk.SwapSizeMB');
  if (sizeMB <= 0) {
    const reason = 'ResourceDisk.EnableSwap=y but ResourceDisk.SwapSizeMB is 0; no swap file is created';
    log.warn(reason);
    return { state: 'skipped', reason };
  }
  try {
    return { state: 'enabled', result: await ensureSwapFile({ mountPoint, sizeMB, fs, procSwaps: env.procSwaps }) };
  } catch (e) {
    log.error(`resource disk swap: ${describeError(e)}`);
    return { state: 'failed', error: describeError(e) };
  }
}

async function activate(config: Config, env: ResourceDiskEnv): Promise<ResourceDiskResult> {
  const fs = config.str('ResourceDisk.Filesystem');
  const mountPoint = config.str('ResourceDisk.MountPoint');
  const disk = detectResourceDisk(env);
  if (!disk) {
    log.info('no resource disk was found (no /dev/disk/azure/resource link and none on the VMBus)');
    return { status: 'not-found' };
  }
  log.info(`resource disk: ${disk.device} (found by ${disk.detectedBy})`);
  try {
    // §8.3 step 1: a partition that is mounted already is in use as it is; nothing may repartition or format it
    const partition = partitionPath(disk.device, 1);
    const existing = findMountPoint(partition, env.mountinfoPath);
    const prepared = existing
      ? { partition, action: 'keep' as const, formatted: false }
      : await preparePartition(disk.device, fs, { waitTries: env.waitTries, waitIntervalMs: env.waitIntervalMs });
    const mounted = await mountResourceDisk(prepared.partition, {
      fs,
      mountPoint,
      disk: disk.device,
      options: config.str('ResourceDisk.MountOptions'),
      mountinfoPath: env.mountinfoPath,
    });
    const swap = await swapOutcome(config, mounted.mountPoint, fs, env);
    return {
      status: 'mounted',
      device: disk.device,
      detectedBy: disk.detectedBy,
      partition: prepared.partition,
      action: prepared.action,
      formatted: prepared.formatted,
      mountPoint: mounted.mountPoint,
      alreadyMounted: mounted.alreadyMounted,
      swap,
    };
  } catch (e) {
    log.error(`the resource disk ${disk.device} could not be set up: ${describeError(e)}`);
    return { status: 'failed', device: disk.device, error: describeError(e) };
  }
}

/**
 * Sets up the resource disk as configured. Resolves within env.timeoutMs whatever happens (a command still running
 * then finishes in the background, bounded by its own timeout); never rejects.
 */
export async function ensureResourceDisk(config: Config, env: ResourceDiskEnv = {}): Promise<ResourceDiskResult> {
  if (!config.bool('ResourceDisk.Format')) return { status: 'disabled' };
  const timeoutMs = env.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<ResourceDiskResult>((resolve) => {
    timer = setTimeout(() => {
      log.warn(`the resource disk setup did not finish within ${timeoutMs} ms; carrying on without waiting for it`);
      resolve({ status: 'timed-out', timeoutMs });
    }, timeoutMs);
    timer.unref();
  });
  const work = activate(config, env).catch((e: unknown): ResourceDiskResult => ({ status: 'failed', error: describeError(e) }));
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
