// Hyper-V entropy (https://learn.microsoft.com/azure/virtual-machines/extensions/agent-linux "Kernel": "Consumes Hyper-V entropy for /dev/random"): the host hands the
// guest random bytes in the ACPI OEM0 table; the daemon mixes them into the kernel's pool at start, as upstream's
// daemon does (`cat /sys/firmware/acpi/tables/OEM0 > /dev/random`). Writing to /dev/random mixes without crediting
// entropy, so a bad table cannot weaken anything.
import { openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';

export const OEM0_TABLE = '/sys/firmware/acpi/tables/OEM0';
const MAX_BYTES = 64 * 1024;

/** Returns how many bytes were mixed in (0 when there is no table). Never throws. */
export function consumeHypervEntropy(table = OEM0_TABLE, random = '/dev/random'): number {
  let data: Buffer;
  try {
    data = readFileSync(table);
  } catch {
    return 0; // not on Hyper-V, or no table: nothing to do
  }
  if (data.length === 0) return 0;
  data = data.subarray(0, MAX_BYTES);
  let fd: number | undefined;
  try {
    fd = openSync(random, 'w');
    writeSync(fd, data);
    log.info(`mixed ${data.length} bytes of Hyper-V entropy (${table}) into ${random}`);
    return data.length;
  } catch (e) {
    log.warn(`cannot mix the Hyper-V entropy into ${random}: ${describeError(e)}`);
    return 0;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
