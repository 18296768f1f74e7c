// Setting the hostname (azure-protocol.md §4.4 step 6) and publishing it through the DHCP client in use (§4.6).
// Publishing is bounded (3 s by default, all steps together): unlike the Python agent's ifdown/ifup retries
// (up to 15 s), a missing tool or a slow NIC only costs a warning, never a late Ready.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { run, which } from '../os/exec.ts';

export interface HostnameOptions {
  /** default /etc/hostname */
  hostnameFile?: string;
  /** present when systemd is PID 1; default /run/systemd/system */
  systemdMarker?: string;
}

/** RFC 1123 labels, at most 64 characters in all (Linux HOST_NAME_MAX). */
export function validateHostname(name: string): string {
  const n = name.trim();
  const ok = n.length > 0 && n.length <= 64 && n.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
  if (!ok) throw new AgentError('provisioning', `the hostname "${n}" is not a valid host name`, { hostname: n });
  return n;
}

export async function setHostname(name: string, opts: HostnameOptions = {}): Promise<void> {
  const host = validateHostname(name);
  writeFileAtomic(opts.hostnameFile ?? '/etc/hostname', host + '\n', { mode: 0o644 });
  await run(['hostname', host], { timeoutMs: 3000 });
  if (existsSync(opts.systemdMarker ?? '/run/systemd/system') && (await which('hostnamectl'))) {
    // Keeps systemd-hostnamed's idea in step; the file and the kernel name are already set if this fails.
    await run(['hostnamectl', 'set-hostname', '--static', host], { timeoutMs: 3000 }).catch((e: Error) => log.warn(e.message));
  }
  log.info(`hostname set to ${host}`);
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

export interface PublishOptions {
  /** default 3000 ms for everything */
  budgetMs?: number;
  /** default the three ISC dhclient locations of §4.6 */
  dhclientConfs?: string[];
  /** default /proc/net/route */
  routeTable?: string;
  /** default /run (systemd/netif for networkd, NetworkManager for NM) */
  runDir?: string;
}

export interface PublishResult {
  interface: string | null;
  /** how the DHCP server was told: networkd, NetworkManager, or only dhclient.conf (read at the next renewal) */
  via: 'networkd' | 'NetworkManager' | 'dhclient.conf' | 'none';
  ok: boolean;
}

/** Tells the DHCP server the new name; never throws for the network part, and writes <Lib.Dir>/published_hostname. */
export async function publishHostname(config: Config, name: string, opts: PublishOptions = {}): Promise<PublishResult> {
  const host = validateHostname(name);
  const deadline = Date.now() + (opts.budgetMs ?? 3000);
  const left = () => Math.max(1, deadline - Date.now());
  const runDir = opts.runDir ?? '/run';
  let via: PublishResult['via'] = 'none';
  for (const conf of opts.dhclientConfs ?? ['/etc/dhcp/dhclient.conf', '/etc/dhcp3/dhclient.conf', '/etc/dhclient.conf']) {
    let text: string;
    try {
      text = readFileSync(conf, 'utf8');
    } catch {
      continue;
    }
    const edited = dhclientConfWithHostname(text, host);
    if (edited !== null) writeFileAtomic(conf, edited, { mode: 0o644 });
    via = 'dhclient.conf';
    break;
  }
  let iface: string | null = null;
  try {
    iface = primaryInterface(readFileSync(opts.routeTable ?? '/proc/net/route', 'utf8'));
  } catch {
    /* no route table */
  }
  let ok = via !== 'none';
  if (iface !== null) {
    // networkd and NetworkManager send the system hostname by default; a new DHCP exchange carries the new name.
    const attempts: Array<[PublishResult['via'], string, string[]]> = [
      ['networkd', join(runDir, 'systemd', 'netif'), ['networkctl', 'reconfigure', iface]],
      ['NetworkManager', join(runDir, 'NetworkManager'), ['nmcli', 'device', 'reapply', iface]],
    ];
    for (const [name, marker, argv] of attempts) {
      if (!existsSync(marker) || !(await which(argv[0]!))) continue;
      try {
        await run(argv, { timeoutMs: left(), processGroup: true });
        via = name;
        ok = true;
      } catch (e) {
        log.warn(`hostname ${host} not published through ${name}: ${(e as Error).message}`);
        ok = false;
      }
      break;
    }
  }
  const lib = config.str('Lib.Dir');
  if (lib) writeFileAtomic(join(lib, 'published_hostname'), host, { mode: 0o644, mkdir: true });
  log.info(`hostname ${host} published via ${via}${iface ? ` on ${iface}` : ''}`);
  return { interface: iface, via, ok };
}
