// The "changed unique id" cleanup (docs/protocol.md §8.1, last paragraph): run during provisioning when the
// provisioned marker names another VM, i.e. the image was captured without deprovisioning. It forgets what
// belonged to the old VM (leases, goal-state files, extension sequence/status) and keeps the rest.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { log } from '../log/logger.ts';

/** DHCP lease directories and files (§8.1 step 3), shared with -deprovision. */
export const DHCP_LEASE_DIRS = ['/var/lib/dhclient', '/var/lib/dhcpcd', '/var/lib/dhcp'];
export const DHCP_LEASE_GLOBS: Array<[dir: string, pattern: RegExp]> = [
  ['/var/db', /^dhclient\.leases\./],
  ['/var/lib/NetworkManager', /^dhclient-.*\.lease$/],
  ['/run/systemd/netif/leases', /./],
];

const LIB_FILES = [
  'HostingEnvironmentConfig.xml',
  'Incarnation',
  'partition',
  'Protocol',
  'SharedConfig.xml',
  'WireServerEndpoint',
  'published_hostname',
  'fast_track.json',
  'initial_goal_state',
  'waagent_rsm_update',
  'waagent_initial_update',
];
const LIB_GLOBS = [/^Extensions\..*\.xml$/, /^ExtensionsConfig\..*\.xml$/, /^GoalState\..*\.xml$/];

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function remove(path: string, removed: string[]): void {
  try {
    statSync(path);
  } catch {
    return;
  }
  rmSync(path, { recursive: true, force: true });
  removed.push(path);
}

/** Deletes the DHCP leases of §8.1 step 3 under `root` (default /); returns what was removed. */
export function deleteDhcpLeases(root = ''): string[] {
  const removed: string[] = [];
  for (const d of DHCP_LEASE_DIRS) remove(root + d, removed);
  for (const [dir, re] of DHCP_LEASE_GLOBS) for (const n of list(root + dir)) if (re.test(n)) remove(join(root + dir, n), removed);
  return removed;
}

/** The whole cleanup; returns the paths removed (for the log and the tests). */
export function changedVmCleanup(config: Config, root = ''): string[] {
  const lib = libDirOf(config);
  const removed = deleteDhcpLeases(root);
  for (const f of LIB_FILES) remove(join(lib, f), removed);
  for (const n of list(lib)) {
    if (LIB_GLOBS.some((re) => re.test(n))) {
      remove(join(lib, n), removed);
      continue;
    }
    // an extension handler directory: <Name>-<Version> holding HandlerManifest.json
    const dir = join(lib, n);
    if (!list(dir).includes('HandlerManifest.json')) continue;
    for (const s of list(join(dir, 'status'))) if (s.endsWith('.status')) remove(join(dir, 'status', s), removed);
    for (const c of list(join(dir, 'config')))
      if (c.endsWith('.settings') || c === 'HandlerStatus') remove(join(dir, 'config', c), removed);
    remove(join(dir, 'mrseq'), removed);
  }
  log.info(`the VM id changed since this image was provisioned: removed ${removed.length} files of the previous VM`);
  return removed;
}
