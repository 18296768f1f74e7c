// The DHCP client's hostname setting: the Python agent's set_dhcp_hostname per distro — dhclient.conf `send
// host-name`, RHEL's ifcfg DHCP_HOSTNAME, SUSE's DHCLIENT_HOSTNAME_OPTION — as publishing (docs/protocol.md §4.6)
// sets it and -deprovision resets it (§8.1 step 4). The one place these files are edited; only files that exist are
// edited, none is created.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import type { DhcpHostnameMechanism } from './distro-profile.ts';

/** Where ISC dhclient's configuration may be, first match used (§4.6), relative to /etc. */
const DHCLIENT_CONFS = ['dhcp/dhclient.conf', 'dhcp3/dhclient.conf', 'dhclient.conf'];

export interface DhcpHostnameOptions {
  /** default /etc; the three dhclient.conf locations and /etc/sysconfig are found below it */
  etcDir?: string;
  /** the dhclient.conf candidates, first existing one used; default the three locations below etcDir */
  dhclientConfs?: readonly string[];
  /** default /proc/net/route (ifcfg-<if> is the primary interface's) */
  routeTable?: string;
  /** SUSE: leave DHCLIENT_HOSTNAME_OPTION="AUTO" alone (publishing: wicked then sends the current name itself) */
  keepAuto?: boolean;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The sysconfig-style text with `KEY=value` set: the first KEY line replaced in place, else appended. */
export function withShellVar(text: string, key: string, value: string): string {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const i = lines.findIndex((l) => l.startsWith(`${key}=`));
  if (i >= 0) lines[i] = `${key}=${value}`;
  else lines.push(`${key}=${value}`);
  return lines.join('\n') + '\n';
}

/** The value of the first `KEY=` line, unquoted; null when there is none. */
function shellVar(text: string, key: string): string | null {
  const line = text.split('\n').find((l) => l.startsWith(`${key}=`));
  return line === undefined
    ? null
    : line
        .slice(key.length + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
}

/**
 * Writes the hostname into the DHCP client's configuration as `mechanism` keeps it. Returns the file that carries
 * the setting (changed or already right), or null when there is none ('none', or the file does not exist).
 */
export function setDhcpHostname(mechanism: DhcpHostnameMechanism, name: string, opts: DhcpHostnameOptions = {}): string | null {
  const etc = opts.etcDir ?? '/etc';
  /** edits `path` when it exists; false when it does not */
  const update = (path: string, edit: (text: string) => string | null): boolean => {
    const text = read(path);
    if (text === null) return false;
    const next = edit(text);
    if (next !== null && next !== text) writeFileAtomic(path, next, { mode: 0o644 });
    return true;
  };
  switch (mechanism) {
    case 'dhclient-conf': {
      const candidates = opts.dhclientConfs ?? DHCLIENT_CONFS.map((f) => join(etc, f));
      return candidates.find((f) => update(f, (t) => dhclientConfWithHostname(t, name))) ?? null;
    }
    case 'ifcfg': {
      const iface = primaryInterface(read(opts.routeTable ?? '/proc/net/route') ?? '') ?? 'eth0';
      const file = join(etc, 'sysconfig/network-scripts', `ifcfg-${iface}`);
      return update(file, (t) => withShellVar(t, 'DHCP_HOSTNAME', name)) ? file : null;
    }
    case 'sysconfig-dhcp': {
      const file = join(etc, 'sysconfig/network/dhcp');
      const keep = (t: string) => opts.keepAuto === true && shellVar(t, 'DHCLIENT_HOSTNAME_OPTION') === 'AUTO';
      return update(file, (t) => (keep(t) ? null : withShellVar(t, 'DHCLIENT_HOSTNAME_OPTION', `"${name}"`))) ? file : null;
    }
    case 'none':
      return null;
  }
}

/** dhclient.conf with `send host-name "<name>";`; null when it already sends the hostname by itself (§4.6). */
export function dhclientConfWithHostname(text: string, name: string): string | null {
  const lines = text.split('\n');
  const live = lines.filter((l) => !l.trim().startsWith('#'));
  if (live.some((l) => /^\s*send\s+host-name\b.*(gethostname\(\)|<hostname>)/.test(l))) return null;
  const kept = lines.filter((l) => !/^\s*send\s+host-name\b/.test(l));
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  return [...kept, `send host-name "${name}";`].join('\n') + '\n';
}

/** The interface of the default route with the lowest metric in /proc/net/route, else the first non-loopback one. */
export function primaryInterface(routeTable: string): string | null {
  let best: { iface: string; metric: number } | null = null;
  const ifaces: string[] = [];
  for (const line of routeTable.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, , flags, , , metric] = f as [string, string, string, string, string, string, string];
    if (iface !== 'lo' && !ifaces.includes(iface)) ifaces.push(iface);
    const gateway = (Number.parseInt(flags, 16) & 0x2) !== 0; // RTF_GATEWAY
    if (dest === '00000000' && gateway && (best === null || Number(metric) < best.metric)) best = { iface, metric: Number(metric) };
  }
  return best?.iface ?? ifaces[0] ?? null;
}
