// Every configuration key the agent knows: its type, default, limits and a one-line description.
//
// Sources: the Python agent's azurelinuxagent/common/conf.py (the option tables and the getters, which read a
// few keys the tables do not list), the keys the shipped distro waagent.conf files use (older ones kept as
// legacy keys so that those files load without warnings), and the waagent-ts keys of docs/contract.md §4.
// Defaults follow docs/contract.md §4: where the published documentation (https://learn.microsoft.com/azure/virtual-machines/extensions/agent-linux) states a default
// it is ours, otherwise the Python code's default (docs/protocol.md §8.8).
//
// Beyond the Python agent, a value outside `choices` or `min`/`max` is treated like an unparsable one: a
// warning, and the default applies (choices match case-insensitively and are stored in the listed spelling).

export type KeyType = 'bool' | 'int' | 'string';
export type Value = boolean | number | string | null;

export interface KeySpec {
  type: KeyType;
  /** null = unset (printed as None) */
  default: Value;
  doc: string;
  /** string keys: the accepted values */
  choices?: readonly string[];
  /** int keys: inclusive limits */
  min?: number;
  max?: number;
  /** the default is the effective value of this other key (conf.py computes it so) */
  defaultFrom?: string;
  /** not read by the current Python agent; known so that the distro files that set it load cleanly */
  legacy?: boolean;
}

interface BoolSpec extends KeySpec {
  type: 'bool';
  default: boolean;
}
interface IntSpec extends KeySpec {
  type: 'int';
  default: number | null;
}
interface StringSpec extends KeySpec {
  type: 'string';
  default: string | null;
}

type Extra = Pick<KeySpec, 'choices' | 'min' | 'max' | 'defaultFrom' | 'legacy'>;

// Generic in the default so that SCHEMA's type keeps whether a key has one (null: None), for the getters' types.
function b(def: boolean, doc: string, extra: Extra = {}): BoolSpec {
  return { type: 'bool', default: def, doc, ...extra };
}
function i<D extends number | null>(def: D, doc: string, extra: Extra = {}): IntSpec & { default: D } {
  return { type: 'int', default: def, doc, ...extra };
}
function s<D extends string | null>(def: D, doc: string, extra: Extra = {}): StringSpec & { default: D } {
  return { type: 'string', default: def, doc, ...extra };
}
/** A period or other count of seconds: must be positive. */
function secs(def: number, doc: string, extra: Extra = {}): IntSpec & { default: number } {
  return i(def, doc, { min: 1, ...extra });
}
const PORT: Extra = { min: 1, max: 65535 };
const LEGACY: Extra = { legacy: true };

export const SCHEMA = {
  // --- files and directories
  'Lib.Dir': s('/var/lib/waagent', 'directory of the agent state'),
  'Pid.File': s('/var/run/waagent.pid', 'pid file of the daemon'),
  'Extension.LogDir': s('/var/log/azure', 'directory of extension logs'),
  'Logs.File': s('/var/log/waagent.log', '(waagent-ts) the agent log file'),
  'DVD.MountPoint': s('/mnt/cdrom/secure', 'where the provisioning media is mounted'),
  'DVD.Device': s(null, '(waagent-ts) block device or image file holding ovf-env.xml; detected when unset'),

  // --- logging
  'Logs.Verbose': b(false, 'log VERBOSE lines too'),
  'Logs.Console': b(true, 'also log to the console'),
  'Logs.Collect': b(true, 'collect logs periodically for the platform'),
  'Logs.CollectPeriod': secs(3600, 'seconds between periodic log collections'),

  // --- protocol
  'Protocol.EndpointDiscovery': s(
    'dhcp',
    'how the WireServer address is found: dhcp (DHCP option 245) or static (the well-known address)',
    {
      choices: ['dhcp', 'static'],
    },
  ),
  'Protocol.WireServerEndpoint': s(null, '(waagent-ts) host or host:port of the WireServer; skips discovery'),
  'Protocol.HostGAPluginPort': i(32526, '(waagent-ts) port of the HostGAPlugin', PORT),
  'Protocol.ImdsEndpoint': s('169.254.169.254', '(waagent-ts) host or host:port of IMDS'),
  'HttpProxy.Host': s(null, 'proxy host for blob storage downloads (never for platform endpoints)'),
  'HttpProxy.Port': i(null, 'proxy port for blob storage downloads', PORT),

  // --- provisioning
  'Provisioning.Agent': s('auto', 'who provisions: auto, waagent, cloud-init or disabled', {
    choices: ['auto', 'waagent', 'cloud-init', 'disabled'],
  }),
  'Provisioning.Enabled': b(true, 'legacy switch of older agents: n disables provisioning (Provisioning.Agent takes precedence)', LEGACY),
  'Provisioning.UseCloudInit': b(false, 'legacy switch of older agents: y lets cloud-init provision', LEGACY),
  'Provisioning.DeleteRootPassword': b(false, 'erase the root password during provisioning'),
  'Provisioning.RegenerateSshHostKeyPair': b(true, 'delete the SSH host keys and generate a fresh pair (documented default y; conf.py n)'),
  'Provisioning.SshHostKeyPairType': s('rsa', 'type of the fresh host key: rsa, dsa, ecdsa, ed25519 or auto (all types)', {
    choices: ['rsa', 'dsa', 'ecdsa', 'ed25519', 'auto'],
  }),
  'Provisioning.MonitorHostName': b(true, 'watch the hostname and publish changes (documented default y; conf.py n)'),
  'Provisioning.MonitorHostNamePeriod': secs(30, 'seconds between hostname checks'),
  'Provisioning.DecodeCustomData': b(false, 'base64-decode the custom data'),
  'Provisioning.ExecuteCustomData': b(false, 'run the custom data after provisioning'),
  'Provisioning.AllowResetSysUser': b(false, 'allow setting the password of a system user'),
  'Provisioning.PasswordCryptId': s('6', 'crypt(3) scheme of the provisioned password: 1 MD5, 2a Blowfish, 5 SHA-256, 6 SHA-512', {
    choices: ['1', '2a', '5', '6'],
  }),
  'Provisioning.PasswordCryptSaltLength': i(10, 'salt length of the password hash', { min: 1 }),

  // --- OS
  'OS.AllowHTTP': b(false, 'allow extension downloads over plain HTTP'),
  'OS.EnableFirewall': b(false, 'allow only root to reach the WireServer'),
  'OS.EnableFirewallPeriod': secs(300, 'seconds between firewall rule checks'),
  'OS.EnableFIPS': b(false, 'run in FIPS mode'),
  'OS.EnableRDMA': b(false, 'set up RDMA where the VM has it'),
  'OS.UpdateRdmaDriver': b(false, 'update the RDMA driver (implies OS.EnableRDMA)'),
  'OS.CheckRdmaDriver': b(false, 'check the RDMA driver version (implies OS.EnableRDMA)'),
  'OS.HomeDir': s('/home', 'home directory root; $HOME in SSH key paths means this'),
  'OS.MonitorDhcpClientRestartPeriod': secs(30, 'seconds between DHCP client restart checks'),
  'OS.OpensslPath': s(
    null,
    'openssl binary, used only as a fallback; unset: openssl on PATH (documented default None; conf.py /usr/bin/openssl)',
  ),
  'OS.PasswordPath': s('/etc/shadow', 'the shadow password file'),
  'OS.RemovePersistentNetRulesPeriod': secs(30, 'seconds between persistent-net rule checks'),
  'OS.RootDeviceScsiTimeout': secs(
    300,
    'SCSI timeout in seconds of the OS and data disks (documented as Integer, default 300; conf.py: unset string)',
  ),
  'OS.RootDeviceScsiTimeoutPeriod': secs(30, 'seconds between SCSI timeout checks'),
  'OS.SshClientAliveInterval': i(180, 'ClientAliveInterval written to sshd_config (0: sshd sends no keepalives)', { min: 0 }),
  'OS.SshDir': s('/etc/ssh', 'directory of the SSH server configuration'),
  'OS.SshdConfigPath': s(null, 'legacy key of older agents (F5 BIG-IP conf): path of sshd_config; unset: <OS.SshDir>/sshd_config', LEGACY),
  'OS.SudoersDir': s('/etc/sudoers.d', 'directory for the sudoers drop-in'),
  'Network.Interface': s(null, 'legacy key of older agents (Alpine conf): the primary network interface; not read', LEGACY),

  // --- resource disk
  'ResourceDisk.Format': b(true, 'format and mount the resource disk (documented default y; conf.py n)'),
  'ResourceDisk.Filesystem': s('ext4', 'file system of the resource disk (documented default ext4; conf.py ext3); ntfs: leave it alone', {
    choices: ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'ufs', 'ufs2', 'ntfs'],
  }),
  'ResourceDisk.MountPoint': s('/mnt/resource', 'mount point of the resource disk'),
  'ResourceDisk.MountOptions': s(null, 'mount -o options of the resource disk'),
  'ResourceDisk.EnableSwap': b(false, 'create a swap file on the resource disk'),
  'ResourceDisk.EnableSwapEncryption': b(false, 'encrypt the swap file'),
  'ResourceDisk.SwapSizeMB': i(0, 'size of the swap file in MB', { min: 0 }),

  // --- extensions and goal state
  'Extensions.Enabled': b(true, 'process VM extensions'),
  'Extensions.GoalStatePeriod': secs(6, 'seconds between goal state fetches'),
  'Extensions.InitialGoalStatePeriod': secs(
    6,
    'seconds between goal state fetches until the first converges; unset: Extensions.GoalStatePeriod',
    {
      defaultFrom: 'Extensions.GoalStatePeriod',
    },
  ),
  'Extensions.GoalStateHistoryCleanupPeriod': secs(1800, 'seconds between clean-ups of the goal state history (older agents)'),
  'Extensions.WaitForCloudInit': b(false, 'wait for cloud-init to finish before extensions'),
  // docs/protocol.md §10 item 37: the Python getter reads this key as a switch, so a number there never takes
  // effect (always 3600) while -show-configuration prints it as an int. We read and use it as the integer it is.
  'Extensions.WaitForCloudInitTimeout': secs(
    3600,
    'seconds to wait for cloud-init (an integer here; the Python agent ignores it by reading it as a switch)',
  ),

  // --- self-update
  'AutoUpdate.Enabled': b(true, 'legacy switch for agent self-update; AutoUpdate.UpdateToLatestVersion overrides it'),
  'AutoUpdate.UpdateToLatestVersion': b(true, 'update the agent to the latest version of its family'),
  'AutoUpdate.GAFamily': s('Prod', 'agent family to follow'),
  'Autoupdate.Frequency': secs(3600, 'seconds between update checks (lower-case u, as upstream spells it)'),

  // --- other switches
  EnableOverProvisioning: b(true, 'honour over-provisioning'),
  DetectScvmmEnv: b(false, 'detect System Center VMM'),
  LBProbeResponder: b(true, 'legacy key of older agents: answer load balancer probes (documented default y); not read', LEGACY),
  'Monitor.NetworkConfigurationChanges': b(false, 'log network configuration changes every minute'),
  'CGroups.Enabled': b(true, 'put the agent and extensions under cgroups'),
  'CGroups.EnforceLimits': b(false, 'legacy key of older agents (Devuan conf): enforce cgroup limits on extensions; not read', LEGACY),
  'CGroups.Excluded': s(
    'customscript,runcommand',
    'legacy key of older agents (Devuan conf): extensions exempt from cgroup limits; not read',
    LEGACY,
  ),
  'Policy.PolicyFilePath': s('/etc/waagent_policy.json', 'extension policy file'),
  'Role.StateConsumer': s(null, 'legacy key of agent 1.x: program run with "Ready" or "Shutdown"; not read', LEGACY),
  'Role.ConfigurationConsumer': s(null, 'legacy key of agent 1.x: program run with the path of the configuration XML; not read', LEGACY),
  'Role.TopologyConsumer': s(null, 'legacy key of agent 1.x: program run with the path of the topology XML; not read', LEGACY),

  // --- Debug.*: experimental upstream, may disappear in later versions
  'Debug.CgroupLogMetrics': b(false, 'log resource usage metrics'),
  'Debug.CgroupDisableOnProcessCheckFailure': b(true, 'disable cgroups when foreign processes are found in the agent cgroup'),
  'Debug.CgroupDisableOnQuotaCheckFailure': b(true, 'disable cgroups when the CPU quota check fails'),
  'Debug.CgroupCheckPeriod': secs(300, 'seconds between cgroup checks'),
  'Debug.CgroupMonitorExpiryTime': s('2022-03-31', 'date after which extension cgroup monitoring stops (older agents)', LEGACY),
  'Debug.CgroupMonitorExtensionName': s(
    'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent',
    'extension whose cgroup is monitored (older agents)',
    LEGACY,
  ),
  'Debug.AgentCpuQuota': i(50, 'CPU quota of the agent, percent of one CPU', { min: 1 }),
  'Debug.AgentCpuThrottledTimeThreshold': secs(120, 'seconds of CPU throttling tolerated before cgroups are disabled'),
  'Debug.AgentMemoryQuota': i(31457280, 'memory quota of the agent in bytes (30 MiB)', { min: 1 }),
  'Debug.EnableAgentMemoryUsageCheck': b(false, 'enforce Debug.AgentMemoryQuota'),
  'Debug.EnableCgroupV2ResourceLimiting': b(false, 'apply resource limits under cgroup v2'),
  'Debug.EnableExtensionPolicy': b(false, 'apply the extension policy in Policy.PolicyFilePath (when the file exists)'),
  'Debug.EnableFastTrack': b(true, 'use the HostGAPlugin vmSettings (Fast Track) channel'),
  'Debug.EnableGAVersioning': b(true, 'follow the agent version the platform requests (RSM)'),
  'Debug.EnableSignatureValidation': b(
    false,
    'validate signed extension packages (failures logged; enforced only where the extension policy requires a signature)',
  ),
  'Debug.EtpCollectionPeriod': secs(300, 'seconds between extension telemetry collections'),
  'Debug.FirewallRulesLogPeriod': secs(86400, 'seconds between logs of the firewall rules'),
  'Debug.LogCollectorInitialDelay': i(300, 'seconds before the first log collection', { min: 0 }),
  'Debug.RetryDelayPercent': i(
    100,
    '(waagent-ts) percent of each HTTP retry wait (back-off, throttle delay) actually waited; below 100 for test and offline fabrics only',
    {
      min: 1,
      max: 100,
    },
  ),
  // docs/protocol.md §10 item 37: conf.py lists the AutoUpdate* pair but its getters read the SelfUpdate* pair.
  'Debug.AutoUpdateHotfixFrequency': secs(14400, 'listed upstream but not read: see Debug.SelfUpdateHotfixFrequency'),
  'Debug.AutoUpdateNormalFrequency': secs(86400, 'listed upstream but not read: see Debug.SelfUpdateRegularFrequency'),
  'Debug.SelfUpdateHotfixFrequency': secs(14400, 'upper bound in seconds of the random wait before a hotfix self-update'),
  'Debug.SelfUpdateRegularFrequency': secs(86400, 'upper bound in seconds of the random wait before a regular self-update'),
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof SCHEMA;
type TypeOf<K extends ConfigKey> = (typeof SCHEMA)[K]['type'];
export type BoolKey = { [K in ConfigKey]: TypeOf<K> extends 'bool' ? K : never }[ConfigKey];
export type IntKey = { [K in ConfigKey]: TypeOf<K> extends 'int' ? K : never }[ConfigKey];
export type StringKey = { [K in ConfigKey]: TypeOf<K> extends 'string' ? K : never }[ConfigKey];
/** The key has a default (not None), so its effective value is never null. */
export type HasDefault<K extends ConfigKey> = null extends (typeof SCHEMA)[K]['default'] ? false : true;
/** What Config.str(K) returns: string for a key with a default, string | null for one without. */
export type StringOf<K extends StringKey> = HasDefault<K> extends true ? string : string | null;
/** What Config.int(K) returns: number for a key with a default, number | null for one without. */
export type IntOf<K extends IntKey> = HasDefault<K> extends true ? number : number | null;

export function isKnownKey(key: string): key is ConfigKey {
  return Object.hasOwn(SCHEMA, key);
}

export function specOf(key: ConfigKey): KeySpec {
  return SCHEMA[key];
}

/** A value as it would be written in waagent.conf: y/n, None, or the text. */
export function confSyntax(v: Value): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'y' : 'n';
  return String(v);
}
