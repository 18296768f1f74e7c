// The built binary's -show-configuration under every shipped distro waagent.conf (the recorded fixtures), run with an
// empty environment (no PATH). The expected values below were written by reading each fixture file, not copied from
// the program: they list every key the file sets, in the output's rendering (y/n -> True/False). Every other key
// must print its schema default, and every schema key must be printed exactly once, sorted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BINARY_X64, FIXTURES, REPO_ROOT } from '../helpers/paths.ts';
import { SCHEMA, formatValue, type ConfigKey } from '../../src/config/index.ts';

// Shared by almost every file; each table says which of these it has and adds its own.
const RD = 'ResourceDisk.MountPoint=/mnt/resource ResourceDisk.EnableSwap=False ResourceDisk.SwapSizeMB=0';
const OS = 'OS.EnableFIPS=False OS.RootDeviceScsiTimeout=300 OS.OpensslPath=None OS.SshDir=/etc/ssh';
const ROLES = 'Role.StateConsumer=None Role.ConfigurationConsumer=None Role.TopologyConsumer=None';

const EXPECTED: Record<string, string> = {
  'waagent.conf': `Extensions.Enabled=True Extensions.GoalStatePeriod=6 Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=True
    Provisioning.MonitorHostNamePeriod=30 Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False
    Provisioning.AllowResetSysUser=False ResourceDisk.Format=True ResourceDisk.Filesystem=ext4 ${RD} ResourceDisk.MountOptions=None
    Logs.Verbose=False Logs.Collect=True Logs.CollectPeriod=3600 ${OS} OS.RootDeviceScsiTimeoutPeriod=30 OS.EnableFirewall=True
    OS.EnableFirewallPeriod=30 OS.RemovePersistentNetRulesPeriod=30 OS.MonitorDhcpClientRestartPeriod=30`,
  'alpine/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=False
    Provisioning.DecodeCustomData=True Provisioning.ExecuteCustomData=True ResourceDisk.Format=True ResourceDisk.Filesystem=ext4 ${RD}
    ResourceDisk.MountOptions=None LBProbeResponder=True Logs.Console=True Logs.Verbose=False Network.Interface=eth0 ${OS}
    OS.EnableFirewall=True`,
  'arch/waagent.conf': `Provisioning.Agent=auto Provisioning.DeleteRootPassword=False Provisioning.RegenerateSshHostKeyPair=True
    Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=True Provisioning.DecodeCustomData=False
    Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=True ResourceDisk.Filesystem=ext4 ${RD}
    ResourceDisk.MountOptions=None LBProbeResponder=True Logs.Verbose=False ${OS} OS.EnableFirewall=True`,
  'bigip/waagent.conf': `${ROLES} Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=False
    ResourceDisk.Format=True ResourceDisk.Filesystem=ext4 ${RD} LBProbeResponder=True Logs.Verbose=False ${OS}
    Lib.Dir=/shared/vadc/azure/waagent/ OS.SshdConfigPath=/config/ssh/sshd_config OS.EnableRDMA=False OS.EnableFirewall=True`,
  'chainguard/waagent.conf': `Extensions.Enabled=False Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=auto Provisioning.MonitorHostName=True
    Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=True
    ResourceDisk.Filesystem=ext4 ${RD} ResourceDisk.MountOptions=None Logs.Verbose=False Logs.Collect=True Logs.CollectPeriod=3600 ${OS}
    AutoUpdate.UpdateToLatestVersion=False OS.EnableFirewall=True`,
  'clearlinux/waagent.conf': `${ROLES} Provisioning.Agent=auto Provisioning.DeleteRootPassword=True Provisioning.RegenerateSshHostKeyPair=True
    Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=True Provisioning.DecodeCustomData=True
    Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=True ResourceDisk.Filesystem=ext4 ${RD}
    Logs.Verbose=False ${OS} AutoUpdate.GAFamily=Prod OS.EnableFirewall=True`,
  'coreos/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=False
    Provisioning.RegenerateSshHostKeyPair=False Provisioning.SshHostKeyPairType=ed25519 Provisioning.MonitorHostName=True
    Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=True
    ResourceDisk.Filesystem=ext4 ${RD} ResourceDisk.MountOptions=None LBProbeResponder=True Logs.Verbose=False ${OS} OS.AllowHTTP=True
    OS.EnableFirewall=True`,
  'debian/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=auto Provisioning.MonitorHostName=True
    Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=True
    ResourceDisk.Filesystem=ext4 ${RD} ResourceDisk.MountOptions=None Logs.Verbose=False Logs.Collect=True Logs.CollectPeriod=3600 ${OS}
    OS.EnableFirewall=False`,
  'devuan/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=auto Provisioning.MonitorHostName=True
    Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=True
    ResourceDisk.Filesystem=ext4 ${RD} ResourceDisk.MountOptions=None Logs.Verbose=False ${OS} OS.EnableFirewall=True
    CGroups.EnforceLimits=False CGroups.Excluded=customscript,runcommand`,
  'freebsd/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=True
    Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False ResourceDisk.Format=True ResourceDisk.Filesystem=ufs
    ResourceDisk.MountPoint=/mnt/resource ResourceDisk.EnableSwap=True ResourceDisk.SwapSizeMB=16384 ResourceDisk.MountOptions=None
    Logs.Verbose=False ${OS} OS.PasswordPath=/etc/master.passwd OS.SudoersDir=/usr/local/etc/sudoers.d OS.EnableFirewall=True`,
  'gaia/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=False
    Provisioning.RegenerateSshHostKeyPair=False Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=False
    Provisioning.DecodeCustomData=True Provisioning.ExecuteCustomData=False Provisioning.PasswordCryptId=1
    Provisioning.AllowResetSysUser=True ResourceDisk.Format=True ResourceDisk.Filesystem=ext3 ResourceDisk.MountPoint=/mnt/resource
    ResourceDisk.EnableSwap=True ResourceDisk.SwapSizeMB=1024 ResourceDisk.MountOptions=None Logs.Verbose=False OS.EnableFIPS=False
    OS.RootDeviceScsiTimeout=300 OS.OpensslPath=/var/lib/waagent/openssl OS.SshDir=/etc/ssh OS.EnableRDMA=False AutoUpdate.Enabled=False
    OS.EnableFirewall=True`,
  'iosxe/waagent.conf': `Provisioning.Agent=auto Provisioning.DeleteRootPassword=True Provisioning.RegenerateSshHostKeyPair=False
    Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=False Provisioning.DecodeCustomData=False
    Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=False ResourceDisk.Filesystem=ext4 ${RD}
    ResourceDisk.MountOptions=None Logs.Verbose=False ${OS} OS.EnableFirewall=True`,
  'mariner/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto ${ROLES} Provisioning.Enabled=False
    Provisioning.DeleteRootPassword=True Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=rsa
    Provisioning.MonitorHostName=True Provisioning.DecodeCustomData=True Provisioning.ExecuteCustomData=False
    Provisioning.AllowResetSysUser=False ResourceDisk.Format=False ResourceDisk.Filesystem=ext4 ${RD} Logs.Verbose=False ${OS}
    AutoUpdate.GAFamily=Prod OS.EnableFirewall=True`,
  'nsbsd/waagent.conf': `Provisioning.Agent=auto Provisioning.DeleteRootPassword=False Provisioning.RegenerateSshHostKeyPair=False
    Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=True Provisioning.DecodeCustomData=False
    Provisioning.ExecuteCustomData=False ResourceDisk.Format=False ResourceDisk.Filesystem=ufs ${RD} ResourceDisk.MountOptions=None
    Logs.Verbose=False ${OS} OS.PasswordPath=/etc/master.passwd OS.SudoersDir=/usr/local/etc/sudoers.d
    Lib.Dir=/usr/Firewall/lib/waagent Extension.LogDir=/log/azure AutoUpdate.Enabled=False OS.EnableFirewall=False`,
  'openbsd/waagent.conf': `Provisioning.Agent=auto Provisioning.DeleteRootPassword=True Provisioning.RegenerateSshHostKeyPair=True
    Provisioning.SshHostKeyPairType=auto Provisioning.MonitorHostName=True Provisioning.DecodeCustomData=False
    Provisioning.ExecuteCustomData=False ResourceDisk.Format=True ResourceDisk.Filesystem=ufs2 ResourceDisk.MountPoint=/mnt/resource
    ResourceDisk.EnableSwap=True ResourceDisk.SwapSizeMB=65536 ResourceDisk.MountOptions=None Logs.Verbose=False OS.EnableFIPS=False
    OS.RootDeviceScsiTimeout=300 OS.OpensslPath=/usr/local/bin/eopenssl OS.SshDir=/etc/ssh OS.PasswordPath=/etc/master.passwd
    OS.EnableFirewall=True`,
  'photonos/waagent.conf': `${ROLES} Provisioning.Enabled=False Provisioning.UseCloudInit=True Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=True
    Provisioning.DecodeCustomData=True Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=False
    ResourceDisk.Filesystem=ext4 ${RD} Logs.Verbose=False ${OS} AutoUpdate.GAFamily=Prod`,
  'suse/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=True Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=True
    Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=True
    ResourceDisk.Filesystem=btrfs ${RD} ResourceDisk.MountOptions=compress=lzo LBProbeResponder=True Logs.Verbose=False Logs.Collect=True
    Logs.CollectPeriod=3600 ${OS} OS.EnableFirewall=True`,
  'ubuntu/waagent.conf': `Extensions.Enabled=True Provisioning.Agent=auto Provisioning.DeleteRootPassword=True
    Provisioning.RegenerateSshHostKeyPair=False Provisioning.SshHostKeyPairType=rsa Provisioning.MonitorHostName=False
    Provisioning.DecodeCustomData=False Provisioning.ExecuteCustomData=False Provisioning.AllowResetSysUser=False ResourceDisk.Format=False
    ResourceDisk.Filesystem=ext4 ResourceDisk.MountPoint=/mnt ResourceDisk.EnableSwap=False ResourceDisk.SwapSizeMB=0
    ResourceDisk.MountOptions=None LBProbeResponder=True Logs.Verbose=False Logs.Collect=True Logs.CollectPeriod=3600 ${OS}
    OS.EnableFirewall=True`,
};

/** "K=V K=V" -> map; the first "=" splits, so values may contain "=". */
function table(spec: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const pair of spec.split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    assert.ok(eq > 0, `bad table entry ${pair}`);
    assert.ok(pair.slice(0, eq) in SCHEMA, `table names a key the schema lacks: ${pair}`);
    m.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return m;
}

/** Runs the binary with an empty environment: no PATH, no HOME, nothing. */
function waagent(...args: string[]) {
  return spawnSync('env', ['-i', BINARY_X64, ...args], { encoding: 'utf8' });
}

const KEYS = (Object.keys(SCHEMA) as ConfigKey[]).slice().sort();

test('the binary exists (the test runner builds it)', () => {
  assert.ok(existsSync(BINARY_X64), `${BINARY_X64} is missing: run npm test without WAAGENT_SKIP_BUILD, or npm run build`);
});

test('every distro waagent.conf fixture has a table here', () => {
  const files = spawnSync('find', [join(FIXTURES, 'config'), '-name', 'waagent.conf'], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .map((f) => f.slice(join(FIXTURES, 'config').length + 1))
    .sort();
  assert.ok(files.length >= 18, `only ${files.length} fixture files found`);
  assert.deepEqual(files, Object.keys(EXPECTED).sort());
});

for (const [name, spec] of Object.entries(EXPECTED)) {
  test(`-show-configuration under ${name}`, () => {
    const file = join(FIXTURES, 'config', name);
    const r = waagent('-show-configuration', `-configuration-path:${file}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'a shipped distro file must load without warnings');
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '', 'output ends with a newline');

    // every schema key exactly once, in sorted order, "Key = value"
    const printed = lines.map((l) => {
      const m = /^(\S+) = (.*)$/.exec(l);
      assert.ok(m, `not a "Key = value" line: ${JSON.stringify(l)}`);
      return [m[1]!, m[2]!] as const;
    });
    assert.deepEqual(
      printed.map(([k]) => k),
      KEYS,
    );

    const want = table(spec);
    const got = new Map(printed);
    for (const [k, v] of want) assert.equal(got.get(k), v, `${name}: ${k}`);
    for (const k of KEYS) {
      if (!want.has(k)) assert.equal(got.get(k), formatValue(SCHEMA[k].default), `${name}: ${k} is not set by the file, so its default`);
    }
  });
}

test('-show-configuration without a configuration file exits 2 naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-showconf-'));
  try {
    const missing = join(dir, 'missing.conf');
    const r = waagent('-show-configuration', `-configuration-path:${missing}`);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `waagent: the configuration file ${missing} does not exist\n`);

    const empty = join(dir, 'empty.conf');
    writeFileSync(empty, '');
    const e = waagent('-show-configuration', `-configuration-path:${empty}`);
    assert.equal(e.status, 2);
    assert.equal(e.stderr, `waagent: the configuration file ${empty} is empty\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warnings go to stderr with file and line, and the output still shows every key', () => {
  const file = join(REPO_ROOT, 'test', 'fixtures', 'config', 'warnings.conf');
  const r = waagent('-show-configuration', `-configuration-path:${file}`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stderr.trimEnd().split('\n'), [
    `waagent: warning: ${file}:4: Logs.Verbose = "yes" is not y or n; the default n applies`,
    `waagent: warning: ${file}:5: Autoupdate.Frequency = "1h" is not an integer; the default 3600 applies`,
    `waagent: warning: ${file}:6: Provisioning.Agent = "chef" is not one of auto, waagent, cloud-init, disabled; the default auto applies`,
    `waagent: warning: ${file}:7: unknown key Logs.Verbsoe is ignored`,
  ]);
  const out = r.stdout.split('\n');
  // the file is CRLF with a BOM: its good values still apply
  assert.ok(out.includes('Lib.Dir = /srv/waagent'), r.stdout);
  assert.ok(out.includes('OS.EnableFirewall = True'), r.stdout);
  assert.ok(out.includes('Logs.Verbose = False'));
  assert.ok(out.includes('Provisioning.Agent = auto'));
  assert.equal(out.filter(Boolean).length, KEYS.length);
});
