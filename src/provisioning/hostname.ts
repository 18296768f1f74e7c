// Setting the hostname (docs/protocol.md §4.4 step 6) with the profile's tool, and publishing it through the
// profile's DHCP client (§4.6): where the distro family keeps the name to send (the profile's dhcpHostname, as the
// Python osutil classes do it, edited by os/dhcp-hostname.ts), then a new DHCP exchange through networkd,
// NetworkManager or wicked, whichever the profile's dhcpClient is.
// Publishing is bounded (3 s by default, all steps together): unlike the Python agent's ifdown/ifup retries
// (up to 15 s), a missing tool or a slow NIC only costs a warning, never a late Ready.
import { closeSync, constants, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { dhclientConfWithHostname, primaryInterface, setDhcpHostname } from '../os/dhcp-hostname.ts';
import type { DhcpClient, DistroProfile } from '../os/distro-profile.ts';
import { run, which } from '../os/exec.ts';
import { monotonicNow } from '../util/clock.ts';

export { dhclientConfWithHostname, primaryInterface };

export interface HostnameOptions {
  /** the machine's distro profile: its `hostname` says which tool sets the name */
  profile: DistroProfile;
  /** default /etc/hostname */
  hostnameFile?: string;
  /** present when systemd is PID 1; default /run/systemd/system */
  systemdMarker?: string;
  /** the kernel's host name of this UTS namespace; default /proc/sys/kernel/hostname */
  kernelHostname?: string;
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
/**
 * How long one hostname command may take. They answer at once; the bound only stops a hung hostnamed from holding
 * provisioning, so it is generous: on a loaded machine or under emulation 3 s was too tight for `hostname` itself.
 */
const SET_HOSTNAME_TIMEOUT_MS = 10_000;

/**
 * The kernel host name, as `hostname NAME` sets it (sethostname(2)), by writing /proc/sys/kernel/hostname: the same
 * per-UTS-namespace value and the same CAP_SYS_ADMIN check, without forking the agent for a command (issue 14).
 * No O_CREAT: without /proc nothing is created. The command is the fall-back (no /proc, a read-only /proc/sys, a
 * security module that allows the sethostname call but not the write).
 */
async function setKernelHostname(host: string, path: string): Promise<void> {
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
    try {
      writeSync(fd, host);
    } finally {
      closeSync(fd);
    }
    return;
  } catch (e) {
    log.verbose(`cannot write ${path} (${(e as Error).message}); setting the hostname with the hostname command`);
  }
  await run(['hostname', host], { timeoutMs: SET_HOSTNAME_TIMEOUT_MS });
}

export async function setHostname(name: string, opts: HostnameOptions): Promise<void> {
  const host = validateHostname(name);
  const hostnamed = existsSync(opts.systemdMarker ?? '/run/systemd/system') && (await which('hostnamectl'));
  const setStatic = () => run(['hostnamectl', 'set-hostname', '--static', host], { timeoutMs: SET_HOSTNAME_TIMEOUT_MS });
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
  await setKernelHostname(host, opts.kernelHostname ?? '/proc/sys/kernel/hostname');
  if (hostnamed && opts.profile.hostname === 'etc-hostname') {
    // Keeps systemd-hostnamed's idea in step; the file and the kernel name are already set if this fails.
    await setStatic().catch((e: Error) => log.warn(e.message));
  }
  log.info(`hostname set to ${host}${viaHostnamed ? ' (hostnamectl)' : ''}`);
}

export interface PublishOptions {
  /** default 3000 ms for everything */
  budgetMs?: number;
  /** default the three ISC dhclient locations of §4.6 */
  dhclientConfs?: readonly string[];
  /** default /proc/net/route */
  routeTable?: string;
  /** default /run: the profile's DHCP client is asked again only when its runtime directory is there (it runs) */
  runDir?: string;
  /** the machine's distro profile: its dhcpHostname says which file carries the name, its dhcpClient who is asked */
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

/**
 * How each DHCP client is made to send the new name now: networkd and NetworkManager send the system hostname by
 * default, and a new exchange carries the new one; SUSEOSUtil's `ifup <if>` makes wicked ask again without taking the
 * link down. ISC dhclient sends what dhclient.conf says at its next renewal.
 */
const RENEW: Record<DhcpClient, { via: PublishResult['via']; runtimeDir: string; argv: (iface: string) => string[] } | null> = {
  'systemd-networkd': { via: 'networkd', runtimeDir: 'systemd/netif', argv: (i) => ['networkctl', 'reconfigure', i] },
  NetworkManager: { via: 'NetworkManager', runtimeDir: 'NetworkManager', argv: (i) => ['nmcli', 'device', 'reapply', i] },
  wicked: { via: 'wicked', runtimeDir: 'wicked', argv: (i) => ['ifup', i] },
  dhclient: null,
};

/** Tells the DHCP server the new name; never throws for the network part, and writes <Lib.Dir>/published_hostname. */
export async function publishHostname(config: Config, name: string, opts: PublishOptions): Promise<PublishResult> {
  const host = validateHostname(name);
  const deadline = monotonicNow() + (opts.budgetMs ?? 3000);
  const left = () => Math.max(1, deadline - monotonicNow());
  const runDir = opts.runDir ?? '/run';
  let via: PublishResult['via'] = 'none';
  let iface: string | null = null;
  try {
    iface = primaryInterface(readFileSync(opts.routeTable ?? '/proc/net/route', 'utf8'));
  } catch {
    /* no route table */
  }
  // dhclient.conf also on networkd distros ('none'), when ISC dhclient is installed (DefaultOSUtil's set_dhcp_hostname)
  const mechanism = opts.profile.dhcpHostname === 'none' ? 'dhclient-conf' : opts.profile.dhcpHostname;
  const { etcDir, dhclientConfs, routeTable } = opts;
  const file = setDhcpHostname(mechanism, host, { etcDir, dhclientConfs, routeTable, keepAuto: true });
  if (file !== null) via = mechanism === 'dhclient-conf' ? 'dhclient.conf' : mechanism;
  let ok = via !== 'none';
  const renew = RENEW[opts.profile.dhcpClient];
  const argv = renew && iface !== null ? renew.argv(iface) : null;
  if (renew && argv && existsSync(join(runDir, renew.runtimeDir)) && (await which(argv[0]!))) {
    try {
      await run(argv, { timeoutMs: left(), processGroup: true });
      via = renew.via;
      ok = true;
    } catch (e) {
      log.warn(`hostname ${host} not published through ${renew.via}: ${(e as Error).message}`);
      ok = false;
    }
  }
  const lib = config.str('Lib.Dir');
  if (lib) writeFileAtomic(join(lib, 'published_hostname'), host, { mode: 0o644, mkdir: true });
  log.info(`hostname ${host} published via ${via}${iface ? ` on ${iface}` : ''}`);
  return { interface: iface, via, ok };
}
