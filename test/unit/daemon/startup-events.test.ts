// The start-up telemetry of upstream's ExtHandler (src/daemon/startup-events.ts): the OSInfo message field for field,
// the OSUtil class name upstream's factory picks, ConfigurationChange for what differs from upstream's defaults,
// ProtocolEndpoint off the known address, and that the events are queued once, only after a goal state.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import {
  configurationChanges,
  hostFacts,
  osInfoMessage,
  openSslNotes,
  osUtilName,
  protocolEndpointMessage,
  startupEventsTask,
  type HostFacts,
} from '../../../src/daemon/startup-events.ts';
import { platformEndpoints } from '../../../src/fabric/endpoints.ts';
import { profileFor } from '../../../src/os/distro-profile.ts';
import { TelemetryRecorder } from '../../../src/telemetry/recorder.ts';
import { fakeTools } from '../provisioning/prov-helpers.ts';

const FACTS: HostFacts = {
  systemd: true,
  systemdVersion: 'systemd 255 (255.4-1ubuntu8)',
  lisDrivers: 'Absent',
  logrotate: 'logrotate 3.21.0',
};
const ubuntu = { id: 'ubuntu', version: '24.04', name: 'Ubuntu', idLike: ['debian'] };

test('osUtilName: the class upstream osutil/factory.py picks', () => {
  const cases: Array<[string, string, string]> = [
    ['ubuntu', '16.04', 'Ubuntu16OSUtil'],
    ['ubuntu', '18.04', 'Ubuntu18OSUtil'],
    ['ubuntu', '24.04', 'Ubuntu18OSUtil'],
    ['ubuntu', '24.10', 'UbuntuOSUtil'],
    ['debian', '12', 'DebianOSModernUtil'],
    ['rhel', '8.4', 'RedhatOSUtil'],
    ['rhel', '9.4', 'RedhatOSModernUtil'],
    ['almalinux', '6.10', 'Redhat6xOSUtil'],
    ['sles', '15.5', 'SUSEOSUtil'],
    ['flatcar', '3975.2.0', 'CoreOSUtil'],
    ['azurelinux', '3.0', 'MarinerOSUtil'],
    ['fedora', '40', 'FedoraOSUtil'],
    ['gentoo', '2.15', 'DefaultOSUtil'],
  ];
  assert.deepEqual(
    cases.map(([id, version]) => osUtilName({ id, version })),
    cases.map((c) => c[2]),
  );
});

test('OSInfo: upstream message, field for field', () => {
  const profile = profileFor(ubuntu);
  assert.equal(
    osInfoMessage(profile, FACTS, 'x86_64'),
    `Distro: ubuntu-24.04; OSUtil: Ubuntu18OSUtil; AgentService: walinuxagent; Python: none (Node.js ${process.versions.node}); Arch: x86_64; systemd: True; systemd_version: systemd 255 (255.4-1ubuntu8); LISDrivers: Absent; logrotate: logrotate 3.21.0;`,
  );
});

test('hostFacts: systemd is whether /run/systemd/system exists under the root', async () => {
  const root = mkdtempSync(join(tmpdir(), 'facts-'));
  assert.equal((await hostFacts(`${root}/`)).systemd, false);
  mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
  const f = await hostFacts(`${root}/`);
  assert.equal(f.systemd, true);
  assert.ok(f.systemdVersion.length > 0 && f.lisDrivers.length > 0 && f.logrotate.length > 0);
});

test('ConfigurationChange: with the defaults only the firewall; upstream messages, in its order, for what differs', () => {
  // upstream's default for OS.EnableFirewall is False too (its waagent.conf sets it), so it is reported
  assert.deepEqual(configurationChanges(Config.defaults()), ['OS.EnableFirewall is set to False, not processing the operation']);
  const changed = Config.from({
    'Extensions.GoalStatePeriod': 1,
    'OS.EnableFirewall': true,
    'OS.EnableFirewallPeriod': 30,
    'Extensions.Enabled': false,
    'AutoUpdate.Enabled': false,
    'AutoUpdate.UpdateToLatestVersion': true,
    'Lib.Dir': '/srv/waagent',
  });
  const note =
    'Changing this value affects how often extensions are processed and status for the VM is reported. Too small a value may report the VM as unresponsive';
  assert.deepEqual(configurationChanges(changed), [
    `Extensions.GoalStatePeriod changed from its default: 6. New value: 1. ${note}`,
    `Extensions.InitialGoalStatePeriod changed from its default: 6. New value: 1. ${note}`,
    'Extensions.Enabled is set to False, not processing the operation',
    'AutoUpdate.Enabled is set to False, not processing the operation',
    "AutoUpdate.Enabled property is **Deprecated** now but it's set to different value from AutoUpdate.UpdateToLatestVersion. Please consider removing it if added by mistake",
    'OS.EnableFirewallPeriod changed from its default: 300. New value: 30. ',
    'lib dir is in an unexpected location: /srv/waagent',
  ]);
  assert.deepEqual(configurationChanges(Config.from({ 'Debug.EnableGAVersioning': false, 'OS.EnableFirewall': true })), [
    "Agent : 2.15.0.1 doesn't support GA Versioning",
  ]);
});

test('ProtocolEndpoint: only when the WireServer is not 168.63.129.16', () => {
  assert.equal(protocolEndpointMessage(platformEndpoints(Config.defaults(), '168.63.129.16')), null);
  assert.equal(
    protocolEndpointMessage(platformEndpoints(Config.defaults(), '10.1.2.3')),
    'Protocol endpoint (10.1.2.3) is not known wireserver ip: 168.63.129.16',
  );
});

test('start-up events: queued once, only once a goal state gave the container id', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'startup-')), 'events');
  const rec = new TelemetryRecorder(() => 1_700_000_000_000);
  rec.start(dir);
  let endpoints: ReturnType<typeof platformEndpoints> | null = null;
  let factsAsked = 0;
  const task = startupEventsTask(
    Config.from({ 'Extensions.Enabled': false, 'OS.EnableFirewall': true }),
    profileFor(ubuntu),
    () => endpoints,
    rec,
    async () => {
      factsAsked++;
      return FACTS;
    },
    async () => [{ isSuccess: true, message: 'OpenSSL version: OpenSSL 3.0.13 30 Jan 2024 (Library: OpenSSL 3.0.13 30 Jan 2024)\n' }],
  );
  const queued = () => {
    try {
      return readdirSync(dir)
        .sort()
        .map((n) => {
          const e = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { parameters: Array<{ name: string; value: unknown }> };
          const p = Object.fromEntries(e.parameters.map((x) => [x.name, x.value]));
          return `${p.Operation}|${p.OperationSuccess}|${p.ContainerId}|${String(p.Message).slice(0, 40)}`;
        });
    } catch {
      return [];
    }
  };
  await task.run();
  endpoints = platformEndpoints(Config.defaults(), '10.1.2.3');
  await task.run();
  assert.deepEqual(queued(), [], 'no goal state yet: no container id for the events');
  rec.setVm({ containerId: 'c-1' });
  await task.run();
  await task.run();
  assert.equal(factsAsked, 1);
  assert.deepEqual(queued().sort(), [
    'ConfigurationChange|true|c-1|Extensions.Enabled is set to False, not ',
    'OSInfo|true|c-1|Distro: ubuntu-24.04; OSUtil: Ubuntu18OS',
    'OpenSsl|true|c-1|OpenSSL version: OpenSSL 3.0.13 30 Jan 2',
    'ProtocolEndpoint|true|c-1|Protocol endpoint (10.1.2.3) is not know',
  ]);
});

test("OpenSsl: the version line, and the pkey command when it fails, with upstream's CommandError text", async () => {
  const path = process.env.PATH;
  try {
    fakeTools({
      openssl: 'case "$1" in version) echo "OpenSSL 1.0.2k-fips  26 Jan 2017";; *) echo "unknown command pkey" >&2; exit 1;; esac',
    });
    assert.deepEqual(await openSslNotes(), [
      { isSuccess: true, message: 'OpenSSL version: OpenSSL 1.0.2k-fips  26 Jan 2017\n' },
      { isSuccess: false, message: "OpenSSL does not support the pkey command: 'openssl' failed: 1 (unknown command pkey)" },
    ]);
    process.env.PATH = '/nonexistent';
    const missing = await openSslNotes();
    assert.equal(missing.length, 2);
    assert.ok(missing.every((n) => !n.isSuccess));
    assert.match(missing[0]!.message, /^Failed to get OpenSSL version: .*openssl/);
  } finally {
    process.env.PATH = path;
  }
});
