// What -deprovision and -deprovision+user will do (docs/protocol.md §8.1), as data: the warnings printed before
// the prompt and the actions run after it, in the Python agent's order. Built before anything changes, so the
// user name comes from ovf-env.xml while it still exists (step 9 reads it before step 6 empties the lib dir).
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { parseOvfEnv } from '../provisioning/ovf-env.ts';
import type { DistroProfile } from '../os/distro-profile.ts';

export type DeprovisionAction =
  | { kind: 'stop-service'; unit: string }
  | { kind: 'remove-files'; globs: string[] }
  | { kind: 'empty-dirs'; dirs: string[] }
  | { kind: 'reset-hostname'; hostname: string; dhcpHostname: string }
  | { kind: 'lock-root' }
  | { kind: 'delete-user'; user: string };

export interface DeprovisionPlan {
  warnings: string[];
  actions: DeprovisionAction[];
}

/** What the plan depends on besides the configuration and the distro. */
export interface DeprovisionFacts {
  /** the provisioned user from <lib>/ovf-env.xml; null when the file is missing or unreadable */
  ovfUser: string | null;
  /** realpath of /etc/resolv.conf (Ubuntu with resolvconf points it into /run/resolvconf) */
  resolvConfTarget: string | null;
}

export const DHCP_LEASE_DIRS = ['/var/lib/dhclient', '/var/lib/dhcpcd', '/var/lib/dhcp'];
export const DHCP_LEASE_FILES = ['/var/db/dhclient.leases.*', '/var/lib/NetworkManager/dhclient-*.lease', '/run/systemd/netif/leases/*'];
export const OPENBSD_FILES = [
  '/etc/random.seed',
  '/var/db/host.random',
  '/etc/isakmpd/local.pub',
  '/etc/isakmpd/private/local.key',
  '/etc/iked/private/local.key',
  '/etc/iked/local.pub',
];
const RESOLVCONF_FILES = ['/etc/resolvconf/resolv.conf.d/tail', '/etc/resolvconf/resolv.conf.d/original'];
const CGROUP_DROP_INS = ['10-Slice.conf', '11-CPUAccounting.conf', '12-CPUQuota.conf', '13-MemoryAccounting.conf'];
const LOGCOLLECTOR_SLICE = 'azure-walinuxagent-logcollector.slice';
const FIREWALL_UNIT = 'waagent-network-setup.service';
/**
 * Written by -deprovision under systemd before it stops the agent; the units of -register-service and init/ say
 * ConditionPathExists=!this, so nothing starts the agent again (a restarted multi-user.target, a sysext refresh, a
 * stray `systemctl start`) until the machine boots again: on a captured image that is the new VM's first boot,
 * and /run is empty then.
 */
export const DEPROVISIONED_MARKER = '/run/waagent/deprovisioned';

function required(config: Config, key: 'OS.SshDir'): string {
  const v = config.str(key);
  if (!v) throw new AgentError('config', `${key} is not set, so -deprovision does not know which files to remove`, { key });
  return v;
}

export function gatherFacts(config: Config): DeprovisionFacts {
  let ovfUser: string | null = null;
  try {
    ovfUser =
      parseOvfEnv(readFileSync(join(libDirOf(config, '-deprovision does not know which files to remove'), 'ovf-env.xml'), 'utf8'))
        .username || null;
  } catch {
    ovfUser = null;
  }
  let resolvConfTarget: string | null = null;
  try {
    resolvConfTarget = realpathSync('/etc/resolv.conf');
  } catch {
    resolvConfTarget = null;
  }
  return { ovfUser, resolvConfTarget };
}

export function buildPlan(config: Config, profile: DistroProfile, facts: DeprovisionFacts, withUser: boolean): DeprovisionPlan {
  const lib = libDirOf(config, '-deprovision does not know which files to remove');
  const warnings: string[] = [];
  const actions: DeprovisionAction[] = [];

  warnings.push('WARNING! The waagent service will be stopped.');
  actions.push({ kind: 'stop-service', unit: profile.agentService });

  if (config.bool('Provisioning.RegenerateSshHostKeyPair')) {
    warnings.push('WARNING! All SSH host key pairs will be deleted.');
    actions.push({ kind: 'remove-files', globs: [join(required(config, 'OS.SshDir'), 'ssh_host_*key*')] });
  }

  warnings.push('WARNING! Cached DHCP leases will be deleted.');
  actions.push({ kind: 'empty-dirs', dirs: DHCP_LEASE_DIRS });
  actions.push({ kind: 'remove-files', globs: DHCP_LEASE_FILES });

  actions.push({ kind: 'reset-hostname', hostname: 'localhost.localdomain', dhcpHostname: profile.deprovisionDhcpHostname });

  if (config.bool('Provisioning.DeleteRootPassword')) {
    warnings.push('WARNING! root password will be disabled. You will not be able to login as root.');
    actions.push({ kind: 'lock-root' });
  }

  actions.push({ kind: 'empty-dirs', dirs: [lib, config.str('Extension.LogDir')] });
  const logFile = config.str('Logs.File');
  actions.push({ kind: 'remove-files', globs: ['/root/.bash_history', logFile, ...OPENBSD_FILES] });

  if (
    profile.resolvConf === 'delete' ||
    (profile.resolvConf === 'resolvconf' && facts.resolvConfTarget !== '/run/resolvconf/resolv.conf')
  ) {
    warnings.push('WARNING! /etc/resolv.conf will be deleted.');
    actions.push({ kind: 'remove-files', globs: ['/etc/resolv.conf'] });
  } else if (profile.resolvConf === 'resolvconf') {
    warnings.push(`WARNING! ${RESOLVCONF_FILES.join(' and ')} will be deleted.`);
    actions.push({ kind: 'remove-files', globs: RESOLVCONF_FILES });
  }

  if (withUser) {
    if (facts.ovfUser === null) {
      warnings.push('WARNING! ovf-env.xml is not found.', 'WARNING! Skip delete user.');
    } else {
      warnings.push(`WARNING! ${facts.ovfUser} account and entire home directory will be deleted.`);
      actions.push({ kind: 'delete-user', user: facts.ovfUser });
    }
  }

  // The firewall persistence unit and the agent's cgroup drop-ins, wherever this agent or the Python one put them.
  const unitDirs = [...new Set(['/etc/systemd/system', profile.unitDir])];
  actions.push({
    kind: 'remove-files',
    globs: [
      ...unitDirs.flatMap((d) => [...new Set([FIREWALL_UNIT, `${profile.agentService}-network-setup.service`])].map((u) => join(d, u))),
      join(lib, 'waagent-network-setup.py'),
      ...unitDirs.flatMap((d) => CGROUP_DROP_INS.map((f) => join(d, `${profile.agentService}.service.d`, f))),
      ...unitDirs.map((d) => join(d, LOGCOLLECTOR_SLICE)),
    ],
  });

  if (profile.deprovisionRemovesMachineId) {
    warnings.push('WARNING! /etc/machine-id will be removed.');
    actions.push({ kind: 'remove-files', globs: ['/etc/machine-id'] });
  }
  return { warnings, actions };
}

/** One line per action, for the log. */
export function describeAction(a: DeprovisionAction): string {
  switch (a.kind) {
    case 'stop-service':
      return `stop the ${a.unit} service`;
    case 'remove-files':
      return `remove ${a.globs.join(', ')}`;
    case 'empty-dirs':
      return `empty ${a.dirs.join(', ')}`;
    case 'reset-hostname':
      return `set the hostname to ${a.hostname} (DHCP: ${a.dhcpHostname})`;
    case 'lock-root':
      return 'lock the root password';
    case 'delete-user':
      return `delete the user ${a.user} and its home directory`;
  }
}
