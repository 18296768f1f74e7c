// Setting the hostname (docs/protocol.md §4.4 step 6) and publishing it through the DHCP client in use (§4.6):
// where the distro family keeps the name to send (the profile's dhcpHostname, as the Python osutil classes do it),
// then a new DHCP exchange through networkd, NetworkManager or wicked.
// Publishing is bounded (3 s by default, all steps together): unlike the Python agent's ifdown/ifup retries
// (up to 15 s), a missing tool or a slow NIC only costs a warning, never a late Ready.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { dhclientConfWithHostname, primaryInterface, setDhcpHostname } from '../os/dhcp-hostname.ts';

export { dhclientConfWithHostname, primaryInterface };
import type { DistroProfile } from '../os/distro-profile.ts';
import { run, which } from '../os/exec.ts';

export interface HostnameOptions {
  /** the machine's distro profile: its `hostname` says which tool sets the name */
  profile: DistroProfile;
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

/**
 * Sets the hostname with the profile's tool. `hostnamectl` (RedhatOSUtil, SUSEOSUtil): systemd-hostnamed writes
 * /etc/hostname itself (keeping the file's SELinux label), and the file is written here only when that fails or
 * systemd is not running. `etc-hostname` (DefaultOSUtil): the file and the kernel name are set here, and hostnamed,
 * when it runs, is told too.
 */
export async function setHostname(name: string, opts: HostnameOptions): Promise<void> {
  const host = validateHostname(name);
  const hostnamed = existsSync(opts.systemdMarker ?? '/run/systemd/system') && (await which('hostnamectl'));
  const setStatic = () => run(['hostnamectl', 'set-hostname', '--static', host], { timeoutMs: 3000 });
  let viaHostnamed = false;
  if (hostnamed && opts.profile.hostname === 'hostnamectl') {
    try {
      await setStatic();
      viaHostnamed = true;
    } catch (e) {
      log.warn(`${(e as Error).message}; writing the hostname file instead`);
    }
  }
  if (!viaHostnamed) writeFileAtomic(opts.hostnameFile ?? '/etc/hostname', host + '\n', { mode: 0o644 });
  await run(['hostname', host], { timeoutMs: 3000 });
  if (hostnamed && opts.profile.hostname === 'etc-hostname') {
    // Keeps systemd-hostnamed's idea in step; the file and the kernel name are already set if this fails.
    await setStatic().catch((e: Error) => log.warn(e.message));
  }
  log.info(`hostname set to ${host}${viaHostnamed ? ' (hostnamectl)' : ''}`);
}


/** SUSE: DHCLIENT_HOSTNAME_OPTION=AUTO (quoted or not) already sends the current hostname. */
function suseSendsHostnameItself(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  const line = text.split('\n').find((l) => l.startsWith('DHCLIENT_HOSTNAME_OPTION='));
  return line !== undefined && line.slice(line.indexOf('=') + 1).trim().replace(/^"(.*)"$/, '$1') === 'AUTO';
}


export interface PublishOptions {
  /** default 3000 ms for everything */
  budgetMs?: number;
  /** default the three ISC dhclient locations of §4.6 */
  dhclientConfs?: string[];
  /** default /proc/net/route */
  routeTable?: string;
  /** default /run (systemd/netif for networkd, NetworkManager for NM, wicked) */
  runDir?: string;
  /** the machine's distro profile: its dhcpHostname says which file carries the name */
  profile: DistroProfile;
  /** default /etc: sysconfig/network-scripts/ifcfg-<if> (RHEL) and sysconfig/network/dhcp (SUSE) below it */
  etcDir?: string;
}

export interface PublishResult {
  interface: string | null;
  /** how the DHCP server was told: a new exchange (networkd, NetworkManager, wicked), else only the file the client reads at the next renewal */
  via: 'networkd' | 'NetworkManager' | 'wicked' | 'dhclient.conf' | 'ifcfg' | 'sysconfig-dhcp' | 'none';
  ok: boolean;
}

/** Tells the DHCP server the new name; never throws for the network part, and writes <Lib.Dir>/published_hostname. */
export async function publishHostname(config: Config, name: string, opts: PublishOptions): Promise<PublishResult> {
  const host = validateHostname(name);
  const deadline = Date.now() + (opts.budgetMs ?? 3000);
  const left = () => Math.max(1, deadline - Date.now());
  const runDir = opts.runDir ?? '/run';
  let via: PublishResult['via'] = 'none';
  let iface: string | null = null;
  try {
    iface = primaryInterface(readFileSync(opts.routeTable ?? '/proc/net/route', 'utf8'));
  } catch {
    /* no route table */
  }
  const mechanism = opts.profile.dhcpHostname;
  if (mechanism === 'ifcfg' || mechanism === 'sysconfig-dhcp') {
    // RedhatOSUtil / SUSEOSUtil set_dhcp_hostname; the file must exist (none is created)
    const etcDir = opts.etcDir ?? '/etc';
    const file =
      mechanism === 'ifcfg' ? join(etcDir, 'sysconfig/network-scripts', `ifcfg-${iface ?? 'eth0'}`) : join(etcDir, 'sysconfig/network/dhcp');
    if (!(mechanism === 'sysconfig-dhcp' && suseSendsHostnameItself(file))) setDhcpHostname(mechanism, host, { etcDir, routeTable: opts.routeTable });
    if (existsSync(file)) via = mechanism;
  } else {
    // dhclient.conf, also on networkd distros (DefaultOSUtil's set_dhcp_hostname, when ISC dhclient is installed)
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
  }
  let ok = via !== 'none';
  if (iface !== null) {
    // networkd and NetworkManager send the system hostname by default; a new DHCP exchange carries the new name.
    const attempts: Array<[PublishResult['via'], string, string[]]> = [
      ['networkd', join(runDir, 'systemd', 'netif'), ['networkctl', 'reconfigure', iface]],
      ['NetworkManager', join(runDir, 'NetworkManager'), ['nmcli', 'device', 'reapply', iface]],
      // SUSEOSUtil: `ifup <if>` makes wicked ask again without taking the link down
      ['wicked', join(runDir, 'wicked'), ['ifup', iface]],
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
