// Every configuration key the agent knows: its type, default and a one-line description.
// Defaults follow design.md §4: the platform's published documentation wins where it states one,
// otherwise the Python agent's code default (azure-protocol.md §8.8).

export type KeyType = 'bool' | 'int' | 'string';

export interface KeySpec {
  type: KeyType;
  /** null = unset */
  default: boolean | number | string | null;
  doc: string;
}

interface BoolSpec extends KeySpec { type: 'bool'; default: boolean }
interface IntSpec extends KeySpec { type: 'int'; default: number | null }
interface StringSpec extends KeySpec { type: 'string'; default: string | null }

function b(def: boolean, doc: string): BoolSpec {
  return { type: 'bool', default: def, doc };
}
function i(def: number | null, doc: string): IntSpec {
  return { type: 'int', default: def, doc };
}
function s(def: string | null, doc: string): StringSpec {
  return { type: 'string', default: def, doc };
}

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
  'Logs.CollectPeriod': i(3600, 'seconds between periodic log collections'),

  // --- protocol
  'Protocol.EndpointDiscovery': s('dhcp', 'how the WireServer address is found: dhcp or static'),
  'Protocol.WireServerEndpoint': s(null, '(waagent-ts) host or host:port of the WireServer; skips discovery'),
  'Protocol.HostGAPluginPort': i(32526, '(waagent-ts) port of the HostGAPlugin'),
  'Protocol.ImdsEndpoint': s('169.254.169.254', '(waagent-ts) host or host:port of IMDS'),
  'HttpProxy.Host': s(null, 'proxy host for blob storage downloads (never for platform endpoints)'),
  'HttpProxy.Port': i(null, 'proxy port for blob storage downloads'),

  // --- provisioning
  'Provisioning.Enabled': b(true, 'legacy switch: n disables provisioning (Provisioning.Agent takes precedence)'),
  'Provisioning.Agent': s('auto', 'who provisions: auto, waagent, cloud-init or disabled'),
  'Provisioning.UseCloudInit': b(false, 'legacy switch: y lets cloud-init provision'),
  'Provisioning.DeleteRootPassword': b(false, 'erase the root password during provisioning'),
  'Provisioning.RegenerateSshHostKeyPair': b(true, 'delete the SSH host keys and generate a fresh pair'),
  'Provisioning.SshHostKeyPairType': s('rsa', 'type of the fresh host key: rsa, dsa, ecdsa, ed25519 or auto'),
  'Provisioning.MonitorHostName': b(true, 'watch the hostname and publish changes'),
  'Provisioning.MonitorHostNamePeriod': i(30, 'seconds between hostname checks'),
  'Provisioning.DecodeCustomData': b(false, 'base64-decode the custom data'),
  'Provisioning.ExecuteCustomData': b(false, 'run the custom data after provisioning'),
  'Provisioning.AllowResetSysUser': b(false, 'allow setting the password of a system user'),
  'Provisioning.PasswordCryptId': s('6', 'crypt(3) scheme of the provisioned password: 6 SHA-512, 5 SHA-256, 1 MD5'),
  'Provisioning.PasswordCryptSaltLength': i(10, 'salt length of the password hash'),

  // --- OS
  'OS.AllowHTTP': b(false, 'allow extension downloads over plain HTTP'),
  'OS.EnableFirewall': b(false, 'allow only root to reach the WireServer'),
  'OS.EnableFirewallPeriod': i(300, 'seconds between firewall rule checks'),
  'OS.EnableFIPS': b(false, 'run in FIPS mode'),
  'OS.EnableRDMA': b(false, 'set up RDMA where the VM has it'),
  'OS.UpdateRdmaDriver': b(false, 'update the RDMA driver'),
  'OS.CheckRdmaDriver': b(false, 'check the RDMA driver version'),
  'OS.HomeDir': s('/home', 'home directory root; $HOME in SSH key paths means this'),
  'OS.MonitorDhcpClientRestartPeriod': i(30, 'seconds between DHCP client restart checks'),
  'OS.OpensslPath': s('/usr/bin/openssl', 'openssl binary, used only as a fallback'),
  'OS.PasswordPath': s('/etc/shadow', 'the shadow password file'),
  'OS.RemovePersistentNetRulesPeriod': i(30, 'seconds between persistent-net rule checks'),
  'OS.RootDeviceScsiTimeout': s('300', 'SCSI timeout (seconds) for the OS and data disks'),
  'OS.RootDeviceScsiTimeoutPeriod': i(30, 'seconds between SCSI timeout checks'),
  'OS.SshClientAliveInterval': i(180, 'ClientAliveInterval written to sshd_config'),
  'OS.SshDir': s('/etc/ssh', 'directory of the SSH server configuration'),
  'OS.SudoersDir': s('/etc/sudoers.d', 'directory for the sudoers drop-in'),

  // --- resource disk
  'ResourceDisk.Format': b(true, 'format and mount the resource disk'),
  'ResourceDisk.Filesystem': s('ext4', 'file system of the resource disk'),
  'ResourceDisk.MountPoint': s('/mnt/resource', 'mount point of the resource disk'),
  'ResourceDisk.MountOptions': s(null, 'mount options of the resource disk'),
  'ResourceDisk.EnableSwap': b(false, 'create a swap file on the resource disk'),
  'ResourceDisk.EnableSwapEncryption': b(false, 'encrypt the swap file'),
  'ResourceDisk.SwapSizeMB': i(0, 'size of the swap file in MB'),

  // --- extensions and updates
  'Extensions.Enabled': b(true, 'process VM extensions'),
  'Extensions.GoalStatePeriod': i(6, 'seconds between goal state fetches'),
  'Extensions.InitialGoalStatePeriod': i(6, 'seconds between goal state fetches until the first converges'),
  'Extensions.WaitForCloudInit': b(false, 'wait for cloud-init to finish before extensions'),
  'Extensions.WaitForCloudInitTimeout': i(3600, 'seconds to wait for cloud-init'),
  'AutoUpdate.Enabled': b(true, 'update the agent automatically'),
  'AutoUpdate.UpdateToLatestVersion': b(true, 'update to the latest version of the family'),
  'AutoUpdate.GAFamily': s('Prod', 'agent family to follow'),
  'Autoupdate.Frequency': i(3600, 'seconds between update checks (lower-case u, as upstream)'),
  'EnableOverProvisioning': b(true, 'honour over-provisioning'),
  'LBProbeResponder': b(true, 'legacy: answer load balancer probes'),
  'DetectScvmmEnv': b(false, 'detect System Center VMM'),
  'CGroups.Enabled': b(true, 'put the agent and extensions under cgroups'),
  'Policy.PolicyFilePath': s('/etc/waagent_policy.json', 'extension policy file'),
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof SCHEMA;
type TypeOf<K extends ConfigKey> = (typeof SCHEMA)[K]['type'];
export type BoolKey = { [K in ConfigKey]: TypeOf<K> extends 'bool' ? K : never }[ConfigKey];
export type IntKey = { [K in ConfigKey]: TypeOf<K> extends 'int' ? K : never }[ConfigKey];
export type StringKey = { [K in ConfigKey]: TypeOf<K> extends 'string' ? K : never }[ConfigKey];

export function isKnownKey(key: string): key is ConfigKey {
  return Object.prototype.hasOwnProperty.call(SCHEMA, key);
}
