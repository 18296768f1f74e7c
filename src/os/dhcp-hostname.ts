// The DHCP client's hostname setting, as -deprovision resets it (docs/protocol.md §8.1 step 4): the Python
// agent's set_dhcp_hostname per distro — dhclient.conf `send host-name`, RHEL's ifcfg DHCP_HOSTNAME, SUSE's
// DHCLIENT_HOSTNAME_OPTION. Only files that exist are edited; none is created.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import type { DhcpHostnameMechanism } from './distro-profile.ts';

export interface DhcpHostnameOptions {
  /** default /etc; the three dhclient.conf locations and /etc/sysconfig are found below it */
  etcDir?: string;
  /** default /proc/net/route */
  routeTable?: string;
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

/** Writes the hostname into the DHCP client's configuration; returns the files changed. */
export function setDhcpHostname(mechanism: DhcpHostnameMechanism, name: string, opts: DhcpHostnameOptions = {}): string[] {
  const etc = opts.etcDir ?? '/etc';
  const changed: string[] = [];
  const update = (path: string, edit: (text: string) => string | null) => {
    const text = read(path);
    if (text === null) return false;
    const next = edit(text);
    if (next !== null && next !== text) {
      writeFileAtomic(path, next, { mode: 0o644 });
      changed.push(path);
    }
    return true;
  };
  switch (mechanism) {
    case 'dhclient-conf':
      for (const f of ['dhcp/dhclient.conf', 'dhcp3/dhclient.conf', 'dhclient.conf']) {
        if (update(join(etc, f), (t) => dhclientConfWithHostname(t, name))) break;
      }
      break;
    case 'ifcfg': {
      const iface = primaryInterface(read(opts.routeTable ?? '/proc/net/route') ?? '') ?? 'eth0';
      update(join(etc, 'sysconfig/network-scripts', `ifcfg-${iface}`), (t) => withShellVar(t, 'DHCP_HOSTNAME', name));
      break;
    }
    case 'sysconfig-dhcp':
      update(join(etc, 'sysconfig/network/dhcp'), (t) => withShellVar(t, 'DHCLIENT_HOSTNAME_OPTION', `"${name}"`));
      break;
    case 'none':
      break;
  }
  return changed;
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
