// OS.RootDeviceScsiTimeout (docs/protocol.md §8.5): every OS.RootDeviceScsiTimeoutPeriod the daemon writes the
// value to /sys/block/sd*/device/timeout of every sd* disk whose current value differs, as the Python agent
// does, so a storage hiccup on the host does not turn into I/O errors on the OS and data disks.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';

export interface ScsiTimeoutResult {
  /** devices whose timeout was written */
  changed: string[];
  /** devices already at the value */
  unchanged: string[];
  /** devices that could not be read or written, with the reason */
  failed: Array<{ device: string; error: string }>;
}

/** Sets the timeout (seconds) on every sd* block device under <sysRoot>/block. A sysfs attribute: written in place. */
export function setScsiTimeouts(timeoutSecs: number, sysRoot = '/sys'): ScsiTimeoutResult {
  if (!Number.isInteger(timeoutSecs) || timeoutSecs <= 0) {
    throw new AgentError('config', `OS.RootDeviceScsiTimeout must be a positive whole number of seconds, not ${timeoutSecs}`, {
      timeoutSecs,
    });
  }
  const result: ScsiTimeoutResult = { changed: [], unchanged: [], failed: [] };
  let devices: string[];
  try {
    devices = readdirSync(join(sysRoot, 'block'))
      .filter((d) => d.startsWith('sd'))
      .sort();
  } catch (e) {
    log.verbose(`no block devices to set the SCSI timeout on: ${describeError(e)}`);
    return result;
  }
  const want = String(timeoutSecs);
  for (const dev of devices) {
    const file = join(sysRoot, 'block', dev, 'device', 'timeout');
    try {
      const current = readFileSync(file, 'utf8').split('\n')[0]!.trim();
      if (current === want) {
        result.unchanged.push(dev);
        continue;
      }
      writeFileSync(file, want);
      log.info(`set the SCSI timeout of ${dev} to ${want} s (was ${current})`);
      result.changed.push(dev);
    } catch (e) {
      log.warn(`cannot set the SCSI timeout of ${dev}: ${describeError(e)}`);
      result.failed.push({ device: dev, error: describeError(e) });
    }
  }
  return result;
}

/** The periodic task's body: applies OS.RootDeviceScsiTimeout when it is set; null when it is unset. */
export function applyScsiTimeoutConfig(config: Config, sysRoot = '/sys'): ScsiTimeoutResult | null {
  const timeout = config.int('OS.RootDeviceScsiTimeout');
  return timeout === null ? null : setScsiTimeouts(timeout, sysRoot);
}
