// Finding the provisioning DVD (docs/protocol.md §4.3 step 1). The Python agent takes the first /dev
// entry matching sr[0-9]|hd[c-z]|cdrom[0-9]|cd[0-9]|vd[b-z] in readdir order; readdir order is not
// stable, so candidates are ranked instead (sr* first) and the caller tries them in turn.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CLASSES: readonly RegExp[] = [/^sr\d+$/, /^cdrom\d*$/, /^cd\d+$/, /^hd[c-z]$/, /^vd[b-z]$/];

function rank(name: string): number {
  return CLASSES.findIndex((re) => re.test(name));
}

/**
 * Block devices under `devRoot` that may be the provisioning DVD, best first, one path per device
 * (/dev/cdrom → /dev/sr0 is listed once). A missing or unreadable `devRoot` gives an empty list.
 */
export function dvdCandidates(devRoot = '/dev'): string[] {
  let names: string[];
  try {
    names = readdirSync(devRoot);
  } catch {
    return [];
  }
  const seen = new Set<string>();
  const out: string[] = [];
  const ranked = names.filter((n) => rank(n) >= 0).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true }));
  for (const name of ranked) {
    const path = join(devRoot, name);
    try {
      if (!statSync(path).isBlockDevice()) continue;
      const real = realpathSync(path);
      if (seen.has(real)) continue;
      seen.add(real);
    } catch {
      continue; // a dangling link
    }
    out.push(path);
  }
  return out;
}

/** virtio disks are never ejected (§4.3 step 5). */
export function isEjectable(device: string): boolean {
  return !/(^|\/)vd[a-z]+$/.test(device);
}
