// Step 2 of DHCP discovery (docs/protocol.md §1.1): option 245 (the WireServer address) in the DHCP client's
// lease files. ISC dhclient writes `lease { … option unknown-245 a8:3f:81:10; expire 4 2015/06/16 16:58:54; }`
// blocks (the last unexpired block wins); systemd-networkd writes `OPTION_245=a83f8110`. Which files are read is the
// distro profile's `leaseGlobs`; each file is parsed by what it holds, whichever client wrote it.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { log } from '../../log/logger.ts';

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
    if (opt)
      cached = opt
        .slice(1, 5)
        .map((h) => parseInt(h, 16))
        .join('.');
  }
  return endpoint;
}

/** OPTION_245=a83f8110 in a systemd-networkd lease file → 168.63.129.16, or null. */
export function parseNetworkdLease(text: string): string | null {
  const m = /^OPTION_245=([0-9a-f]{8})\s*$/im.exec(text);
  if (!m) return null;
  return [0, 2, 4, 6].map((i) => parseInt(m[1]!.slice(i, i + 2), 16)).join('.');
}

/** The files a glob with `*` in its last component names (directories are literal), sorted. */
function filesMatching(root: string, glob: string): string[] {
  const dir = dirname(glob);
  const escaped = basename(glob).replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^${escaped.replace(/\*/g, '.*')}$`);
  try {
    return readdirSync(root + dir)
      .filter((n) => pattern.test(n))
      .sort()
      .map((n) => `${root}${dir}/${n}`);
  } catch {
    return [];
  }
}

/** An ISC dhclient or a systemd-networkd lease file's WireServer address, or null. */
function endpointInLeaseFile(path: string, now: Date): string | null {
  try {
    const text = readFileSync(path, 'utf8');
    return parseDhclientLeases(text, now) ?? parseNetworkdLease(text);
  } catch (e) {
    log.verbose(`cannot read the lease file ${path}: ${(e as Error).message}`);
    return null;
  }
}

/**
 * The WireServer address from the lease files the profile names under `root`: its globs are tried in order (most
 * likely first) and the first that gives an address wins; within one glob the last file with an address wins, as
 * upstream reads them.
 */
export function endpointFromLeaseFiles(root: string, leaseGlobs: readonly string[], now: Date = new Date()): string | null {
  for (const glob of leaseGlobs) {
    let endpoint: string | null = null;
    for (const f of filesMatching(root, glob)) endpoint = endpointInLeaseFile(f, now) ?? endpoint;
    if (endpoint !== null) return endpoint;
  }
  return null;
}
