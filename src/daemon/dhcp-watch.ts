// The DHCP client restart watch (docs/protocol.md §1.1 last paragraph, §7.1 "Env"): a restarted DHCP client
// reconfigures the interface and may drop the routes the agent added from its own DHCPDISCOVER, so every
// OS.MonitorDhcpClientRestartPeriod the client's pids are compared with the last ones seen and, when they changed,
// those routes are added again. Pids come from /proc/<pid>/comm (what `pidof` reads), not from a spawned pidof.
import { readdirSync, readFileSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import { wireServerOverride } from '../fabric/endpoints.ts';
import type { DhcpClient, DistroProfile } from '../os/distro-profile.ts';
import { applyDhcpRoutes, learnedDhcpRoutes, type DhcpRoutes } from '../os/routes.ts';
import type { PeriodicTask } from '../util/periodic.ts';

/** The process the Python agent's osutil watches for each DHCP client (RedhatOSUtil still looks for dhclient). */
export function dhcpClientProcess(client: DhcpClient): string {
  switch (client) {
    case 'systemd-networkd':
      return 'systemd-networkd';
    case 'wicked':
      return 'wickedd-dhcp4';
    default:
      return 'dhclient';
  }
}

/** Sorted pids whose comm is `name` (the kernel keeps 15 characters of it: "systemd-network"). */
export function pidsOf(name: string, procRoot = '/proc'): number[] {
  const comm = name.slice(0, 15);
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`${procRoot}/${e}/comm`, 'utf8').trim() === comm) pids.push(Number(e));
    } catch {
      /* the process ended meanwhile */
    }
  }
  return pids.sort((a, b) => a - b);
}

export interface DhcpWatchOptions {
  /** the process name to watch (default from the DHCP client of the distro profile) */
  process: string;
  procRoot?: string;
  /** the routes to put back; default those this process learned from its own DHCPDISCOVER */
  routes?: () => DhcpRoutes | null;
  apply?: (routes: DhcpRoutes) => Promise<unknown>;
}

export function dhcpWatchTask(config: Config, opts: DhcpWatchOptions): PeriodicTask {
  const routes = opts.routes ?? learnedDhcpRoutes;
  const apply = opts.apply ?? ((r: DhcpRoutes) => applyDhcpRoutes(r));
  let known: number[] = [];
  let warned = false;
  return {
    name: 'DHCP client restart watch',
    periodMs: config.int('OS.MonitorDhcpClientRestartPeriod') * 1000,
    async run() {
      const wanted = routes();
      if (!wanted) return; // no DISCOVER of ours was answered with routes: nothing to put back
      const now = pidsOf(opts.process, opts.procRoot);
      if (now.length === 0) {
        if (!warned) log.warn(`the DHCP client (${opts.process}) is not running`);
        warned = true;
        return;
      }
      warned = false;
      if (known.length === 0) {
        known = now;
        return;
      }
      if (now.join(',') === known.join(',')) return;
      log.info(`the DHCP client ${opts.process} restarted (pid ${known.join(',')} -> ${now.join(',')}): restoring the routes`);
      known = now;
      await apply(wanted);
    },
  };
}

/**
 * Whether the daemon runs the watch: only when its own DHCPDISCOVER can have added routes (Protocol.EndpointDiscovery
 * is dhcp and no WireServer address is configured). The Python agent always runs it, but its Env thread's
 * DhcpHandler has never sent a DISCOVER, so its gateway and routes are empty and the watch restores nothing.
 */
export function dhcpWatchApplies(config: Config): boolean {
  return !wireServerOverride(config) && config.str('Protocol.EndpointDiscovery').toLowerCase() === 'dhcp';
}

/** The watch for the DHCP client of the machine's distro profile. */
export function machineDhcpWatchTask(config: Config, profile: DistroProfile): PeriodicTask {
  return dhcpWatchTask(config, { process: dhcpClientProcess(profile.dhcpClient) });
}
