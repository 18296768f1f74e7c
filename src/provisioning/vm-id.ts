// The VM unique id (SMBIOS system UUID) and the byte-swap-aware comparison of docs/protocol.md §4.4 step 1
// and §10 item 27: Gen1 VMs expose the UUID with its first three groups byte-swapped, so both forms are one VM.
import { readFileSync } from 'node:fs';
import { AgentError } from '../util/errors.ts';
import { run } from '../os/exec.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const DEFAULT_PRODUCT_UUID_PATH = '/sys/class/dmi/id/product_uuid';

export function isUuid(text: string): boolean {
  return UUID.test(text.trim());
}

/** Reverses the bytes of the first three groups: D0DF4C54-4ECB-4A4B-… ↔ 544CDFD0-CB4E-4B4A-… */
export function byteSwapUuid(uuid: string): string {
  const u = uuid.trim();
  if (!UUID.test(u)) throw new AgentError('provisioning', `the VM id "${u}" is not a UUID`, { vmId: u });
  const swap = (hex: string) => hex.match(/../g)!.reverse().join('');
  const [a, b, c, ...rest] = u.split('-');
  return [swap(a!), swap(b!), swap(c!), ...rest].join('-');
}

/** True when a and b name the same VM: equal ignoring case, or equal once one of them is byte-swapped. */
export function vmIdsMatch(a: string, b: string): boolean {
  const x = a.trim().toLowerCase();
  const y = b.trim().toLowerCase();
  if (x === '' || y === '') return false;
  if (x === y) return true;
  return UUID.test(x) && UUID.test(y) && byteSwapUuid(x).toLowerCase() === y;
}

/** The VM unique id: the DMI product_uuid, else `dmidecode --string system-uuid`; upper-case like the Python agent. */
export async function readVmId(productUuidPath: string = DEFAULT_PRODUCT_UUID_PATH): Promise<string> {
  try {
    const id = readFileSync(productUuidPath, 'utf8').trim();
    if (isUuid(id)) return id.toUpperCase();
  } catch {
    /* not exposed (containers, some kernels): ask dmidecode */
  }
  let out = '';
  try {
    out = (await run(['dmidecode', '--string', 'system-uuid'], { timeoutMs: 5000 })).stdout.trim();
  } catch {
    /* reported below */
  }
  if (!isUuid(out)) {
    throw new AgentError('provisioning', `cannot read the VM id from ${productUuidPath} or dmidecode`, { path: productUuidPath });
  }
  return out.toUpperCase();
}
