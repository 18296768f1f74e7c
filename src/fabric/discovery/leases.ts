// Step 2 of DHCP discovery (docs/protocol.md §1.1): option 245 (the WireServer address) in the DHCP client's
// lease files. ISC dhclient writes `lease { … option unknown-245 a8:3f:81:10; expire 4 2015/06/16 16:58:54; }`
// blocks (the last unexpired block wins); systemd-networkd writes `OPTION_245=a83f8110`.
import { readdirSync, readFileSync } from 'node:fs';
import { log } from '../../log/logger.ts';

/** Directories and file-name patterns of the dhclient lease files of the distros upstream supports. */
export const DHCLIENT_LEASE_GLOBS: ReadonlyArray<{ dir: string; pattern: RegExp }> = [
  { dir: '/var/lib/dhcp', pattern: /^dhclient\..*\.leases$/ },
  { dir: '/var/lib/dhclient', pattern: /^dhclient-.*\.leases?$/ },
  { dir: '/var/lib/NetworkManager', pattern: /^dhclient-.*\.lease$/ },
];
export const NETWORKD_LEASE_DIR = '/run/systemd/netif/leases';

const OPTION_245 = /^\s*option\s+unknown-245\s+([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2});/i;
const EXPIRE = /^\s*expire\s+(?:\d+\s+)?(never|\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2});/;

/** The WireServer address of the last unexpired lease block carrying option 245, or null. */
export function parseDhclientLeases(text: string, now: Date = new Date()): string | null {
  let endpoint: string | null = null;
  let cached: string | null = null;
  let expired = true;
  for (const line of text.split('\n')) {
    if (/^\s*lease\b/.test(line)) {
      cached = null;
      expired = true;
      continue;
    }
    const exp = EXPIRE.exec(line);
    if (exp) {
      if (exp[1] === 'never') expired = false;
      else {
        const at = Date.parse(exp[1]!.replace(/\//g, '-').replace(' ', 'T') + 'Z');
        expired = !(at > now.getTime());
      }
      continue;
    }
    if (/^\s*}/.test(line)) {
      if (!expired && cached !== null) endpoint = cached;
      continue;
    }
    const opt = OPTION_245.exec(line);
    if (opt) cached = opt.slice(1, 5).map((h) => parseInt(h, 16)).join('.');
  }
  return endpoint;
}

/** OPTION_245=a83f8110 in a systemd-networkd lease file → 168.63.129.16, or null. */
export function parseNetworkdLease(text: string): string | null {
  const m = /^OPTION_245=([0-9a-f]{8})\s*$/im.exec(text);
  if (!m) return null;
  return [0, 2, 4, 6].map((i) => parseInt(m[1]!.slice(i, i + 2), 16)).join('.');
}

function filesIn(dir: string, pattern: RegExp): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => pattern.test(n))
      .sort()
      .map((n) => `${dir}/${n}`);
  } catch {
    return [];
  }
}

/** Searches every known lease file under `root`; the last file with an endpoint wins, as upstream. */
export function endpointFromLeaseFiles(root: string, now: Date = new Date()): string | null {
  let endpoint: string | null = null;
  for (const { dir, pattern } of DHCLIENT_LEASE_GLOBS) {
    for (const f of filesIn(root + dir, pattern)) {
      try {
        endpoint = parseDhclientLeases(readFileSync(f, 'utf8'), now) ?? endpoint;
      } catch (e) {
        log.verbose(`cannot read the lease file ${f}: ${(e as Error).message}`);
      }
    }
  }
  for (const f of filesIn(root + NETWORKD_LEASE_DIR, /./)) {
    try {
      endpoint = parseNetworkdLease(readFileSync(f, 'utf8')) ?? endpoint;
    } catch (e) {
      log.verbose(`cannot read the lease file ${f}: ${(e as Error).message}`);
    }
  }
  return endpoint;
}
