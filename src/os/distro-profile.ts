// What differs between distributions, as the Python agent's osutil classes (and its deprovision handlers) encode it:
// the agent's unit name, the sshd unit and how it is restarted, how the hostname is set and told to the DHCP server,
// the DHCP client, where units and leases live, and which tool rebuilds the GRUB configuration. One record per
// family, picked from /etc/os-release (ID, then ID_LIKE); anything unknown gets the Python DefaultOSUtil's answers.
import { detectDistro, type Distro } from './distro.ts';

export type DistroFamily = 'flatcar' | 'ubuntu' | 'debian' | 'rhel' | 'suse' | 'azurelinux' | 'other';

/** How the hostname is set: `hostname` + /etc/hostname (DefaultOSUtil), or `hostnamectl set-hostname` (RHEL ≥7, SUSE). */
export type HostnameMechanism = 'etc-hostname' | 'hostnamectl';

/** Where the DHCP client is told the hostname to send (DefaultOSUtil / RedhatOSUtil / SUSEOSUtil set_dhcp_hostname). */
export type DhcpHostnameMechanism =
  | 'dhclient-conf' // `send host-name "<name>";` in dhclient.conf
  | 'ifcfg' // DHCP_HOSTNAME=<name> in /etc/sysconfig/network-scripts/ifcfg-<if>
  | 'sysconfig-dhcp' // DHCLIENT_HOSTNAME_OPTION="<name>" in /etc/sysconfig/network/dhcp
  | 'none'; // systemd-networkd sends the system hostname itself

export type DhcpClient = 'dhclient' | 'systemd-networkd' | 'NetworkManager' | 'wicked';

/** What -deprovision does with /etc/resolv.conf (docs/protocol.md §8.1 step 8). */
export type ResolvConfPolicy = 'delete' | 'resolvconf' | 'keep';

export type GrubTool =
  /** /etc/default/grub, then the first of these commands that exists on the machine */
  | { kind: 'mkconfig'; defaultFile: string; commands: string[][] }
  /** Flatcar: no /etc/default/grub; the OEM partition's grub.cfg sets linux_append (first existing path) */
  | { kind: 'flatcar-oem'; paths: string[] };

export interface DistroProfile {
  family: DistroFamily;
  distro: Distro;
  /** systemd unit (without .service) of the agent: the name the distro's own package uses */
  agentService: string;
  /** systemd unit of sshd; null on Flatcar, where sshd is socket-activated and never restarted */
  sshdService: string | null;
  /** the command that makes sshd read its configuration again; null when none is needed */
  sshdRestart: string[] | null;
  hostname: HostnameMechanism;
  dhcpHostname: DhcpHostnameMechanism;
  /** the value -deprovision gives the DHCP hostname setting (SUSEDeprovisionHandler uses AUTO) */
  deprovisionDhcpHostname: string;
  dhcpClient: DhcpClient;
  /** lease files to read the WireServer option 245 from, most likely first (globs: `*` in the file name only) */
  leaseGlobs: string[];
  /** where -register-service writes the unit (Flatcar: /etc, since /usr is read-only) */
  unitDir: string;
  /** the agent comes as a systemd system extension (Flatcar): its unit is ordered after systemd-sysext.service */
  agentSysext: boolean;
  confPath: string;
  binaryPath: string;
  grub: GrubTool;
  resolvConf: ResolvConfPolicy;
  /** CoreOSDeprovisionHandler also removes /etc/machine-id */
  deprovisionRemovesMachineId: boolean;
  /** the persistent-net udev rules are moved aside every 30 s (§8.7; not on Debian/Ubuntu) */
  removePersistentNetRules: boolean;
}

/** Leading numeric parts of a version string: "15-SP5" → [15], "22.04" → [22, 4]. */
export function versionParts(v: string): number[] {
  const m = /^\d+(?:\.\d+)*/.exec(v.trim());
  return m ? m[0].split('.').map(Number) : [];
}

export function versionAtLeast(v: string, min: number[]): boolean {
  const p = versionParts(v);
  if (p.length === 0) return true; // an unversioned (rolling) release is taken as current
  for (let i = 0; i < min.length; i++) {
    const a = p[i] ?? 0;
    if (a !== min[i]) return a > min[i]!;
  }
  return true;
}

export function familyOf(d: Distro): DistroFamily {
  const ids = [d.id, ...d.idLike];
  if (d.id === 'flatcar' || d.id === 'coreos') return 'flatcar';
  if (d.id === 'azurelinux' || d.id === 'mariner') return 'azurelinux';
  if (d.id === 'ubuntu' || d.idLike.includes('ubuntu')) return 'ubuntu';
  if (ids.some((i) => i === 'sles' || i === 'suse' || i.startsWith('opensuse'))) return 'suse';
  // FedoraOSUtil is RedhatOSUtil's sibling; the RHEL rebuilds say rhel/centos/fedora in ID_LIKE.
  if (ids.some((i) => ['rhel', 'centos', 'fedora', 'almalinux', 'rocky', 'ol'].includes(i))) return 'rhel';
  if (ids.includes('debian')) return 'debian';
  return 'other';
}

const DEBIAN_GRUB: GrubTool = {
  kind: 'mkconfig',
  defaultFile: '/etc/default/grub',
  commands: [['update-grub'], ['grub-mkconfig', '-o', '/boot/grub/grub.cfg']],
};
const GRUB2: GrubTool = {
  kind: 'mkconfig',
  defaultFile: '/etc/default/grub',
  commands: [
    ['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg'],
    ['grub-mkconfig', '-o', '/boot/grub/grub.cfg'],
  ],
};
const ANY_GRUB: GrubTool = { kind: 'mkconfig', defaultFile: '/etc/default/grub', commands: [...DEBIAN_GRUB.commands, ...GRUB2.commands] };

const reloadArgv = (unit: string) => ['systemctl', '--job-mode=ignore-dependencies', 'try-reload-or-restart', unit];

export function profileFor(distro: Distro): DistroProfile {
  const family = familyOf(distro);
  const base: DistroProfile = {
    family,
    distro,
    agentService: 'waagent',
    sshdService: 'sshd',
    sshdRestart: reloadArgv('sshd'),
    hostname: 'etc-hostname',
    dhcpHostname: 'dhclient-conf',
    deprovisionDhcpHostname: 'localhost.localdomain',
    dhcpClient: 'dhclient',
    // an unknown distribution: wherever a DHCP client of the supported ones keeps its leases
    leaseGlobs: [
      '/var/lib/dhclient/dhclient-*.leases',
      '/var/lib/dhclient/dhclient-*.lease',
      '/var/lib/dhcp/dhclient.*.leases',
      '/var/lib/NetworkManager/dhclient-*.lease',
      '/run/systemd/netif/leases/*',
    ],
    unitDir: '/lib/systemd/system',
    agentSysext: false,
    confPath: '/etc/waagent.conf',
    binaryPath: '/usr/sbin/waagent',
    grub: ANY_GRUB,
    resolvConf: 'delete',
    deprovisionRemovesMachineId: false,
    removePersistentNetRules: true,
  };
  switch (family) {
    case 'flatcar':
      // osutil/flatcar.py (Flatcar's patch) and coreos.py: networkd, socket-activated sshd, units in /etc.
      return {
        ...base,
        sshdService: null,
        sshdRestart: null,
        dhcpHostname: 'none',
        dhcpClient: 'systemd-networkd',
        leaseGlobs: ['/run/systemd/netif/leases/*'],
        unitDir: '/etc/systemd/system',
        agentSysext: true,
        grub: { kind: 'flatcar-oem', paths: ['/oem/grub.cfg', '/usr/share/oem/grub.cfg'] },
        deprovisionRemovesMachineId: true,
      };
    case 'ubuntu': {
      // UbuntuOSUtil (≥18.04: netplan + networkd); the package names the unit walinuxagent.
      const modern = versionAtLeast(distro.version, [18]);
      return {
        ...base,
        agentService: 'walinuxagent',
        sshdService: 'ssh',
        sshdRestart: reloadArgv('ssh'),
        dhcpHostname: modern ? 'none' : 'dhclient-conf',
        dhcpClient: modern ? 'systemd-networkd' : 'dhclient',
        leaseGlobs: modern ? ['/run/systemd/netif/leases/*', '/var/lib/dhcp/dhclient.*.leases'] : ['/var/lib/dhcp/dhclient.*.leases'],
        grub: DEBIAN_GRUB,
        resolvConf: modern ? 'keep' : 'resolvconf',
        removePersistentNetRules: false,
      };
    }
    case 'debian':
      return {
        ...base,
        agentService: 'walinuxagent',
        sshdService: 'ssh',
        sshdRestart: reloadArgv('ssh'),
        leaseGlobs: ['/var/lib/dhcp/dhclient.*.leases', '/run/systemd/netif/leases/*'],
        grub: DEBIAN_GRUB,
        removePersistentNetRules: false,
      };
    case 'rhel':
      // RedhatOSUtil: hostnamectl, DHCP_HOSTNAME in ifcfg, NetworkManager's dhclient leases.
      return {
        ...base,
        hostname: 'hostnamectl',
        dhcpHostname: 'ifcfg',
        dhcpClient: 'NetworkManager',
        leaseGlobs: [
          '/var/lib/dhclient/dhclient-*.lease',
          '/var/lib/dhclient/dhclient-*.leases',
          '/var/lib/NetworkManager/dhclient-*.lease',
        ],
        unitDir: '/usr/lib/systemd/system',
        grub: GRUB2,
      };
    case 'suse':
      // SUSEOSUtil: wicked, hostnamectl, DHCLIENT_HOSTNAME_OPTION; `systemctl restart sshd.service`.
      return {
        ...base,
        sshdRestart: ['systemctl', 'restart', 'sshd.service'],
        hostname: 'hostnamectl',
        dhcpHostname: 'sysconfig-dhcp',
        deprovisionDhcpHostname: 'AUTO',
        dhcpClient: 'wicked',
        leaseGlobs: ['/var/lib/wicked/lease-*-dhcp-ipv4.xml', '/var/lib/dhcp/dhclient.*.leases'],
        unitDir: '/usr/lib/systemd/system',
        grub: GRUB2,
      };
    case 'azurelinux':
      // MarinerOSUtil: systemd-networkd, `systemctl restart sshd`.
      return {
        ...base,
        sshdRestart: ['systemctl', 'restart', 'sshd'],
        dhcpHostname: 'none',
        dhcpClient: 'systemd-networkd',
        leaseGlobs: ['/run/systemd/netif/leases/*'],
        unitDir: '/usr/lib/systemd/system',
        grub: GRUB2,
      };
    default:
      return base;
  }
}

/** The profile of the running machine (or of the tree under `root`, for tests). */
export function detectProfile(root = '/'): DistroProfile {
  return profileFor(detectDistro(root));
}
