// src/config: conversions, validation, warnings and the file errors (docs/protocol.md §8.8, docs/contract.md §4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Config,
  loadConfig,
  parseConfig,
  formatValue,
  SCHEMA,
  convert,
  parsePyInt,
  specOf,
  type ConfigKey,
} from '../../../src/config/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';

const F = '/etc/waagent.conf';

/** loadConfig's error message for `file`; as root (who reads anything) it is asked as the user nobody. */
function messageOfLoad(file: string): string {
  if (process.getuid?.() !== 0) {
    try {
      loadConfig(file);
      return 'no error';
    } catch (e) {
      return (e as Error).message;
    }
  }
  const url = new URL('../../../src/config/index.ts', import.meta.url).href;
  // The module is imported as root, then the process becomes nobody: the checkout (and the node binary in it) may sit
  // in a directory nobody cannot enter (a clone in a `mktemp -d` folder, 0700).
  const script = `const m = await import(${JSON.stringify(url)}); process.setgroups([]); process.setgid(65534); process.setuid(65534); try { m.loadConfig(${JSON.stringify(file)}); console.log('no error') } catch (e) { console.log(e.message) }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}
const parse = (text: string) => parseConfig(text, F);

test('switches take y/n in any case; anything else warns and keeps the default', () => {
  const c = parse('Logs.Verbose=Y\nLogs.Console=N\nOS.AllowHTTP=yes\nOS.EnableFIPS=true\nLogs.Collect=0\n');
  assert.equal(c.bool('Logs.Verbose'), true);
  assert.equal(c.bool('Logs.Console'), false);
  assert.equal(c.bool('OS.AllowHTTP'), false);
  assert.equal(c.bool('OS.EnableFIPS'), false);
  assert.equal(c.bool('Logs.Collect'), true);
  assert.deepEqual(
    c.warnings.map((w) => w.message),
    [
      `${F}:3: OS.AllowHTTP = "yes" is not y or n; the default n applies`,
      `${F}:4: OS.EnableFIPS = "true" is not y or n; the default n applies`,
      `${F}:5: Logs.Collect = "0" is not y or n; the default y applies`,
    ],
  );
  assert.deepEqual(
    { file: c.warnings[0]!.file, line: c.warnings[0]!.line, key: c.warnings[0]!.key, value: c.warnings[0]!.value },
    { file: F, line: 3, key: 'OS.AllowHTTP', value: 'yes' },
  );
});

test('integers follow Python int(): sign, underscores between digits, leading zeros', () => {
  assert.equal(parsePyInt('42'), 42);
  assert.equal(parsePyInt('+7'), 7);
  assert.equal(parsePyInt('-3'), -3);
  assert.equal(parsePyInt('007'), 7);
  assert.equal(parsePyInt('1_000'), 1000);
  assert.ok(Object.is(parsePyInt('-0'), 0));
  for (const bad of ['', '1.5', '1e3', '0x10', '1__0', '_1', '1_', '12abc', '- 1', 'ten']) {
    assert.equal(parsePyInt(bad), undefined, bad);
  }
  const c = parse('Autoupdate.Frequency=1_800\nLogs.CollectPeriod=+60\nResourceDisk.SwapSizeMB=2048\n');
  assert.equal(c.int('Autoupdate.Frequency'), 1800);
  assert.equal(c.int('Logs.CollectPeriod'), 60);
  assert.equal(c.int('ResourceDisk.SwapSizeMB'), 2048);
  assert.deepEqual(c.warnings, []);
});

test('a bad integer warns with file, line, key and value, and the default applies', () => {
  const c = parse('# comment\nAutoupdate.Frequency=1h\nResourceDisk.SwapSizeMB=99999999999999999999\n');
  assert.equal(c.int('Autoupdate.Frequency'), 3600);
  assert.equal(c.int('ResourceDisk.SwapSizeMB'), 0);
  assert.deepEqual(
    c.warnings.map((w) => w.message),
    [
      `${F}:2: Autoupdate.Frequency = "1h" is not an integer; the default 3600 applies`,
      `${F}:3: ResourceDisk.SwapSizeMB = "99999999999999999999" is too large; the default 0 applies`,
    ],
  );
});

test('periods must be positive, sizes not negative, ports in 1..65535', () => {
  const c = parse(
    'OS.EnableFirewallPeriod=0\nProvisioning.MonitorHostNamePeriod=-5\nResourceDisk.SwapSizeMB=-1\nHttpProxy.Port=70000\nProtocol.HostGAPluginPort=0\nOS.SshClientAliveInterval=0\nHttpProxy.Port=3128\n',
  );
  assert.equal(c.int('OS.EnableFirewallPeriod'), 300);
  assert.equal(c.int('Provisioning.MonitorHostNamePeriod'), 30);
  assert.equal(c.int('ResourceDisk.SwapSizeMB'), 0);
  assert.equal(c.int('HttpProxy.Port'), 3128, 'the later valid line wins; the earlier bad one is not even looked at');
  assert.equal(c.int('Protocol.HostGAPluginPort'), 32526);
  assert.equal(c.int('OS.SshClientAliveInterval'), 0, '0 is a valid ClientAliveInterval');
  assert.deepEqual(
    c.warnings.map((w) => w.message),
    [
      `${F}:1: OS.EnableFirewallPeriod = "0" is not a positive integer; the default 300 applies`,
      `${F}:2: Provisioning.MonitorHostNamePeriod = "-5" is not a positive integer; the default 30 applies`,
      `${F}:3: ResourceDisk.SwapSizeMB = "-1" is below the minimum 0; the default 0 applies`,
      `${F}:5: Protocol.HostGAPluginPort = "0" is below the minimum 1; the default 32526 applies`,
    ],
  );
  assert.match(
    parse('HttpProxy.Port=70000\n').warnings[0]!.message,
    /HttpProxy.Port = "70000" is above the maximum 65535; the default None applies$/,
  );
});

test('choices: matched in any case and stored as listed; anything else warns', () => {
  const c = parse(
    'Provisioning.Agent=Cloud-Init\nProvisioning.SshHostKeyPairType=ED25519\nProvisioning.PasswordCryptId=2A\nResourceDisk.Filesystem=xfs\n',
  );
  assert.equal(c.str('Provisioning.Agent'), 'cloud-init');
  assert.equal(c.str('Provisioning.SshHostKeyPairType'), 'ed25519');
  assert.equal(c.str('Provisioning.PasswordCryptId'), '2a');
  assert.equal(c.str('ResourceDisk.Filesystem'), 'xfs');
  assert.deepEqual(c.warnings, []);

  const bad = parse(
    'Provisioning.Agent=chef\nProvisioning.SshHostKeyPairType=rsa1\nProvisioning.PasswordCryptId=7\nResourceDisk.Filesystem=fat\nProtocol.EndpointDiscovery=magic\nProvisioning.Agent=\n',
  );
  assert.equal(bad.str('Provisioning.Agent'), 'auto');
  assert.equal(bad.str('Provisioning.SshHostKeyPairType'), 'rsa');
  assert.equal(bad.str('Provisioning.PasswordCryptId'), '6');
  assert.equal(bad.str('ResourceDisk.Filesystem'), 'ext4');
  assert.equal(bad.str('Protocol.EndpointDiscovery'), 'dhcp');
  assert.deepEqual(
    bad.warnings.map((w) => w.message),
    [
      `${F}:2: Provisioning.SshHostKeyPairType = "rsa1" is not one of rsa, dsa, ecdsa, ed25519, auto; the default rsa applies`,
      `${F}:3: Provisioning.PasswordCryptId = "7" is not one of 1, 2a, 5, 6; the default 6 applies`,
      `${F}:4: ResourceDisk.Filesystem = "fat" is not one of ext2, ext3, ext4, xfs, btrfs, ufs, ufs2, ntfs; the default ext4 applies`,
      `${F}:5: Protocol.EndpointDiscovery = "magic" is not one of dhcp, static; the default dhcp applies`,
      `${F}:6: Provisioning.Agent = "" is not one of auto, waagent, cloud-init, disabled; the default auto applies`,
    ],
  );
});

test('strings are taken as written, the empty string included; None unsets', () => {
  const c = parse(
    'Lib.Dir="/srv/waagent"\nOS.SshDir=\nHttpProxy.Host=None\nAutoUpdate.GAFamily=Test # ring\nResourceDisk.MountOptions=compress=lzo\n',
  );
  assert.equal(c.str('Lib.Dir'), '/srv/waagent');
  assert.equal(c.str('OS.SshDir'), '', 'Python keeps an empty string value (only None is unset)');
  assert.equal(c.str('HttpProxy.Host'), null);
  assert.equal(c.str('AutoUpdate.GAFamily'), 'Test');
  assert.equal(c.str('ResourceDisk.MountOptions'), 'compress=lzo');
});

test('None, also after a value, brings the default back; an empty switch or integer warns', () => {
  const c = parse('Logs.Verbose=y\nLogs.Verbose=None\nOS.RootDeviceScsiTimeout=60\nOS.RootDeviceScsiTimeout=None\nLogs.Console=\n');
  assert.equal(c.bool('Logs.Verbose'), false);
  assert.equal(c.int('OS.RootDeviceScsiTimeout'), 300);
  assert.equal(c.bool('Logs.Console'), true);
  assert.deepEqual(
    c.warnings.map((w) => w.line),
    [5],
  );
});

test('later lines win and only the effective line is judged; keys are case-sensitive', () => {
  const c = parse('Logs.Verbose=maybe\nLogs.Verbose=y\nlogs.verbose=n\n');
  assert.equal(c.bool('Logs.Verbose'), true);
  assert.deepEqual(
    c.warnings.map((w) => w.message),
    [`${F}:3: unknown key logs.verbose is ignored`],
  );
});

test('unknown keys and key-less lines warn, in line order', () => {
  const c = parse('Foo.Bar=1\nLogs.Verbose=y\n=orphan\nOS.EnableFirewal=y\n');
  assert.deepEqual(
    c.warnings.map((w) => w.message),
    [
      `${F}:1: unknown key Foo.Bar is ignored`,
      `${F}:3: the line "=orphan" has no key before "=" and is ignored`,
      `${F}:4: unknown key OS.EnableFirewal is ignored`,
    ],
  );
  assert.deepEqual(c.warnings[0]!.value, '1');
});

test('legacy keys of the distro files are known: no warning', () => {
  const c = parse(
    'Role.StateConsumer=None\nCGroups.EnforceLimits=n\nCGroups.Excluded=customscript\nNetwork.Interface=eth0\nOS.SshdConfigPath=/config/ssh/sshd_config\nLBProbeResponder=y\nProvisioning.UseCloudInit=y\n',
  );
  assert.deepEqual(c.warnings, []);
  assert.equal(c.str('Network.Interface'), 'eth0');
  assert.equal(c.bool('Provisioning.UseCloudInit'), true);
});

test('Extensions.InitialGoalStatePeriod defaults to Extensions.GoalStatePeriod, as conf.py computes it', () => {
  assert.equal(parse('Extensions.GoalStatePeriod=10\n').int('Extensions.InitialGoalStatePeriod'), 10);
  assert.equal(parse('Extensions.GoalStatePeriod=10\nExtensions.InitialGoalStatePeriod=2\n').int('Extensions.InitialGoalStatePeriod'), 2);
  assert.equal(Config.defaults().int('Extensions.InitialGoalStatePeriod'), 6);
  const bad = parse('Extensions.GoalStatePeriod=12\nExtensions.InitialGoalStatePeriod=x\n');
  assert.equal(bad.int('Extensions.InitialGoalStatePeriod'), 12);
  assert.match(bad.warnings[0]!.message, /the default \(the value of Extensions.GoalStatePeriod\) applies$/);
});

test('Extensions.WaitForCloudInitTimeout is read as an integer (not as the switch upstream reads it)', () => {
  assert.equal(parse('Extensions.WaitForCloudInitTimeout=120\n').int('Extensions.WaitForCloudInitTimeout'), 120);
  assert.equal(parse('Extensions.WaitForCloudInitTimeout=y\n').int('Extensions.WaitForCloudInitTimeout'), 3600);
});

test('defaults: the documented ones where the platform documentation states one, else the Python code default', () => {
  const d = Config.defaults();
  // https://learn.microsoft.com/azure/virtual-machines/extensions/agent-linux (documented), where conf.py differs
  assert.equal(d.bool('Provisioning.RegenerateSshHostKeyPair'), true);
  assert.equal(d.bool('Provisioning.MonitorHostName'), true);
  assert.equal(d.bool('ResourceDisk.Format'), true);
  assert.equal(d.str('ResourceDisk.Filesystem'), 'ext4');
  assert.equal(d.int('OS.RootDeviceScsiTimeout'), 300);
  assert.equal(d.str('OS.OpensslPath'), null);
  assert.equal(d.bool('LBProbeResponder'), true);
  // conf.py
  assert.equal(d.int('OS.EnableFirewallPeriod'), 300);
  assert.equal(d.str('Provisioning.Agent'), 'auto');
  assert.equal(d.int('Autoupdate.Frequency'), 3600);
  assert.equal(d.int('HttpProxy.Port'), null);
  assert.equal(d.int('Debug.AgentMemoryQuota'), 30 * 1024 * 1024);
});

test('the schema: every key has a doc sentence, defaults of its own type, and valid limits and choices', () => {
  for (const key of Object.keys(SCHEMA) as ConfigKey[]) {
    const s = specOf(key);
    assert.ok(s.doc.length > 10, `${key} has no doc`);
    if (s.default !== null) assert.equal(typeof s.default, { bool: 'boolean', int: 'number', string: 'string' }[s.type], key);
    if (s.choices && s.default !== null) assert.ok(s.choices.includes(s.default as string), `${key}: default outside choices`);
    if (s.type === 'int' && typeof s.default === 'number') {
      // the default must itself pass the validation it stands in for
      assert.deepEqual(convert(s, String(s.default)), { ok: true, value: s.default }, key);
    }
    if (s.defaultFrom !== undefined) assert.ok(s.defaultFrom in SCHEMA, `${key}: defaultFrom names an unknown key`);
  }
});

test('the schema holds every key of conf.py, the §8.8 table, and docs/contract.md §4', () => {
  const expected = [
    // docs/protocol.md §8.8
    'Lib.Dir',
    'DVD.MountPoint',
    'Pid.File',
    'Extension.LogDir',
    'OS.OpensslPath',
    'OS.SshDir',
    'OS.HomeDir',
    'OS.PasswordPath',
    'OS.SudoersDir',
    'OS.SshClientAliveInterval',
    'OS.RootDeviceScsiTimeout',
    'OS.RootDeviceScsiTimeoutPeriod',
    'OS.EnableFirewall',
    'OS.EnableFirewallPeriod',
    'OS.EnableRDMA',
    'OS.EnableFIPS',
    'OS.AllowHTTP',
    'OS.MonitorDhcpClientRestartPeriod',
    'OS.RemovePersistentNetRulesPeriod',
    'HttpProxy.Host',
    'HttpProxy.Port',
    'Protocol.EndpointDiscovery',
    'Policy.PolicyFilePath',
    'Provisioning.Agent',
    'Provisioning.DeleteRootPassword',
    'Provisioning.RegenerateSshHostKeyPair',
    'Provisioning.SshHostKeyPairType',
    'Provisioning.MonitorHostName',
    'Provisioning.MonitorHostNamePeriod',
    'Provisioning.DecodeCustomData',
    'Provisioning.ExecuteCustomData',
    'Provisioning.PasswordCryptId',
    'Provisioning.PasswordCryptSaltLength',
    'Provisioning.AllowResetSysUser',
    'ResourceDisk.Format',
    'ResourceDisk.EnableSwap',
    'ResourceDisk.Filesystem',
    'ResourceDisk.MountPoint',
    'ResourceDisk.SwapSizeMB',
    'ResourceDisk.MountOptions',
    'Extensions.Enabled',
    'Extensions.GoalStatePeriod',
    'Extensions.InitialGoalStatePeriod',
    'Extensions.WaitForCloudInit',
    'Extensions.WaitForCloudInitTimeout',
    'AutoUpdate.UpdateToLatestVersion',
    'AutoUpdate.Enabled',
    'AutoUpdate.GAFamily',
    'Autoupdate.Frequency',
    'EnableOverProvisioning',
    'Logs.Verbose',
    'Logs.Console',
    'Logs.Collect',
    'Logs.CollectPeriod',
    'DetectScvmmEnv',
    'CGroups.Enabled',
    // conf.py beyond the table
    'OS.UpdateRdmaDriver',
    'OS.CheckRdmaDriver',
    'ResourceDisk.EnableSwapEncryption',
    'Monitor.NetworkConfigurationChanges',
    'Debug.CgroupCheckPeriod',
    'Debug.AgentCpuQuota',
    'Debug.AgentMemoryQuota',
    'Debug.EnableFastTrack',
    'Debug.EnableGAVersioning',
    'Debug.AutoUpdateHotfixFrequency',
    'Debug.SelfUpdateHotfixFrequency',
    'Debug.SelfUpdateRegularFrequency',
    // docs/contract.md §4
    'Protocol.WireServerEndpoint',
    'Protocol.HostGAPluginPort',
    'Protocol.ImdsEndpoint',
    'DVD.Device',
    'Logs.File',
    'Debug.RetryDelayPercent',
  ];
  assert.deepEqual(
    expected.filter((k) => !(k in SCHEMA)),
    [],
  );
});

test('formatValue renders as the Python agent prints', () => {
  assert.equal(formatValue(true), 'True');
  assert.equal(formatValue(false), 'False');
  assert.equal(formatValue(null), 'None');
  assert.equal(formatValue(42), '42');
  assert.equal(formatValue(''), '');
});

test('CRLF and a BOM: same configuration as the plain file', () => {
  const plain = parse('Logs.Verbose=y\nLib.Dir="/x"\n').entries();
  assert.deepEqual(parse('\ufeffLogs.Verbose=y\r\nLib.Dir="/x"\r\n').entries(), plain);
  assert.deepEqual(parse('\ufeffLogs.Verbose=y\r\n').warnings, []);
});

test('an empty file is a config error naming the file; so is one of only whitespace', () => {
  for (const text of ['', '\ufeff', ' \n\r\n\t']) {
    assert.throws(
      () => parse(text),
      (e) => isAgentError(e, 'config') && e.message === `the configuration file ${F} is empty` && e.exitCode === 2,
    );
  }
  // only comments is not empty: the Python agent accepts it, every default applies
  assert.deepEqual(parse('# nothing set\n').warnings, []);
});

test('loadConfig: a missing, unreadable or directory path is a config error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-conf-'));
  try {
    const missing = join(dir, 'none.conf');
    assert.throws(
      () => loadConfig(missing),
      (e) => isAgentError(e, 'config') && e.message === `the configuration file ${missing} does not exist`,
    );
    assert.throws(
      () => loadConfig(dir),
      (e) => isAgentError(e, 'config') && e.message === `the configuration file ${dir} is a directory`,
    );
    const empty = join(dir, 'empty.conf');
    writeFileSync(empty, '');
    assert.throws(
      () => loadConfig(empty),
      (e) => isAgentError(e, 'config') && e.message.includes(empty) && /is empty$/.test(e.message),
    );
    const good = join(dir, 'good.conf');
    writeFileSync(good, 'Logs.Verbose=y\nBad.Key=1\n');
    const c = loadConfig(good);
    assert.equal(c.bool('Logs.Verbose'), true);
    assert.equal(c.path, good);
    assert.deepEqual(
      c.warnings.map((w) => w.message),
      [`${good}:2: unknown key Bad.Key is ignored`],
    );
    chmodSync(dir, 0o755);
    chmodSync(good, 0o000);
    assert.equal(messageOfLoad(good), `the configuration file ${good} is not readable`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Config.from overlays values as given and keeps the rest at their defaults', () => {
  const c = Config.from({ 'Lib.Dir': '/tmp/x', 'Logs.Verbose': true });
  assert.equal(c.str('Lib.Dir'), '/tmp/x');
  assert.equal(c.bool('Logs.Verbose'), true);
  assert.equal(c.str('OS.SshDir'), '/etc/ssh');
  assert.equal(c.entries().length, Object.keys(SCHEMA).length);
});
