// The pure parts of -deprovision (the plan per distro), -serialconsole (the GRUB edits), the DHCP hostname reset,
// and -register-service writing into a directory of the test.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseArgs } from '../../../src/cli.ts';
import { registerServiceCommand, systemdUnit } from '../../../src/commands/register-service.ts';
import { networkSetupUnit } from '../../../src/daemon/persist-firewall.ts';
import { flatcarGrubCfgWithSerialConsole, grubDefaultWithSerialConsole } from '../../../src/commands/serialconsole.ts';
import { Config } from '../../../src/config/index.ts';
import { parseOsRelease } from '../../../src/os/distro.ts';
import { profileFor } from '../../../src/os/distro-profile.ts';
import { setDhcpHostname, withShellVar } from '../../../src/os/dhcp-hostname.ts';
import { withoutSudoersUser } from '../../../src/deprovision/execute.ts';
import { buildPlan } from '../../../src/deprovision/plan.ts';
import { REPO_ROOT } from '../../helpers/paths.ts';

const profile = (name: string) => profileFor(parseOsRelease(readFileSync(join(REPO_ROOT, 'test/fixtures/os-release', name), 'utf8')));
const tmp = () => mkdtempSync(join(tmpdir(), 'oscmd-'));

describe('deprovision plan', () => {
  const facts = { ovfUser: 'alice', resolvConfTarget: '/etc/resolv.conf' };
  it('follows the documented order, with the optional steps only when configured', () => {
    const off = buildPlan(
      Config.from({ 'Provisioning.RegenerateSshHostKeyPair': false, 'Provisioning.DeleteRootPassword': false }),
      profile('rhel-9.4'),
      facts,
      false,
    );
    assert.deepEqual(
      off.actions.map((a) => a.kind),
      ['stop-service', 'empty-dirs', 'remove-files', 'reset-hostname', 'empty-dirs', 'remove-files', 'remove-files', 'remove-files'],
    );
    assert.deepEqual(off.actions[0], { kind: 'stop-service', unit: 'waagent' });
    const on = buildPlan(
      Config.from({ 'Provisioning.RegenerateSshHostKeyPair': true, 'Provisioning.DeleteRootPassword': true }),
      profile('debian-12'),
      facts,
      true,
    );
    assert.deepEqual(on.actions[0], { kind: 'stop-service', unit: 'walinuxagent' });
    assert.deepEqual(on.actions[1], { kind: 'remove-files', globs: ['/etc/ssh/ssh_host_*key*'] });
    assert.ok(on.actions.some((a) => a.kind === 'lock-root'));
    assert.deepEqual(
      on.actions.find((a) => a.kind === 'delete-user'),
      { kind: 'delete-user', user: 'alice' },
    );
  });

  it('handles resolv.conf per distro, machine-id on Flatcar, AUTO on SUSE', () => {
    const c = Config.defaults();
    const files = (p: ReturnType<typeof buildPlan>) => p.actions.flatMap((a) => (a.kind === 'remove-files' ? a.globs : []));
    assert.ok(!files(buildPlan(c, profile('ubuntu-22.04'), facts, false)).includes('/etc/resolv.conf'));
    const old = buildPlan(c, profile('ubuntu-16.04'), { ...facts, resolvConfTarget: '/run/resolvconf/resolv.conf' }, false);
    assert.ok(files(old).includes('/etc/resolvconf/resolv.conf.d/tail') && !files(old).includes('/etc/resolv.conf'));
    assert.ok(files(buildPlan(c, profile('ubuntu-16.04'), facts, false)).includes('/etc/resolv.conf'));
    const flatcar = buildPlan(c, profile('flatcar'), facts, false);
    assert.ok(files(flatcar).includes('/etc/machine-id'));
    assert.equal(flatcar.warnings.at(-1), 'WARNING! /etc/machine-id will be removed.');
    assert.deepEqual(
      buildPlan(c, profile('sles-15-sp5'), facts, false).actions.find((a) => a.kind === 'reset-hostname'),
      {
        kind: 'reset-hostname',
        hostname: 'localhost.localdomain',
        dhcpHostname: 'AUTO',
      },
    );
  });

  it('refuses a configuration without Lib.Dir', () => {
    assert.throws(() => buildPlan(Config.from({ 'Lib.Dir': null }), profile('debian-12'), facts, false), /Lib\.Dir is not set/);
  });

  it('removes only the user’s own sudo rules', () => {
    assert.equal(withoutSudoersUser('alice ALL=(ALL) ALL\nalice2 ALL=(ALL) ALL\n# alice\n', 'alice'), 'alice2 ALL=(ALL) ALL\n# alice\n');
  });
});

describe('DHCP hostname reset', () => {
  it('edits dhclient.conf, ifcfg and the SUSE dhcp file in place, and creates none', () => {
    const etc = tmp();
    assert.equal(setDhcpHostname('dhclient-conf', 'localhost.localdomain', { etcDir: etc }), null);
    mkdirSync(join(etc, 'dhcp'));
    writeFileSync(join(etc, 'dhcp/dhclient.conf'), 'send host-name "vm1";\ntimeout 300;\n');
    assert.equal(setDhcpHostname('dhclient-conf', 'localhost.localdomain', { etcDir: etc }), join(etc, 'dhcp/dhclient.conf'));
    assert.equal(readFileSync(join(etc, 'dhcp/dhclient.conf'), 'utf8'), 'timeout 300;\nsend host-name "localhost.localdomain";\n');
    mkdirSync(join(etc, 'sysconfig/network-scripts'), { recursive: true });
    writeFileSync(join(etc, 'sysconfig/network-scripts/ifcfg-eth0'), 'DEVICE=eth0\nDHCP_HOSTNAME=vm1\n');
    setDhcpHostname('ifcfg', 'localhost.localdomain', { etcDir: etc, routeTable: join(etc, 'none') });
    assert.equal(
      readFileSync(join(etc, 'sysconfig/network-scripts/ifcfg-eth0'), 'utf8'),
      'DEVICE=eth0\nDHCP_HOSTNAME=localhost.localdomain\n',
    );
    assert.equal(
      withShellVar('# c\nDHCLIENT_HOSTNAME_OPTION="vm1"\nX=1\n', 'DHCLIENT_HOSTNAME_OPTION', '"AUTO"'),
      '# c\nDHCLIENT_HOSTNAME_OPTION="AUTO"\nX=1\n',
    );
  });
});

describe('serialconsole edits', () => {
  it('adds the missing arguments to GRUB_CMDLINE_LINUX in any quoting, or the line itself', () => {
    assert.equal(grubDefaultWithSerialConsole("GRUB_CMDLINE_LINUX='a b'\n"), "GRUB_CMDLINE_LINUX='a b console=ttyS0 earlyprintk=ttyS0'\n");
    assert.equal(grubDefaultWithSerialConsole('GRUB_CMDLINE_LINUX=""\n'), 'GRUB_CMDLINE_LINUX="console=ttyS0 earlyprintk=ttyS0"\n');
    assert.equal(
      grubDefaultWithSerialConsole('GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"\n'),
      'GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 earlyprintk=ttyS0"\n',
    );
    assert.equal(
      grubDefaultWithSerialConsole('GRUB_TIMEOUT=1\n'),
      'GRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX="console=ttyS0 earlyprintk=ttyS0"\n',
    );
    assert.equal(grubDefaultWithSerialConsole('GRUB_CMDLINE_LINUX="console=ttyS0 earlyprintk=ttyS0"\n'), null);
  });

  it('Flatcar: linux_append in the OEM grub.cfg, unchanged when the console is already set', () => {
    assert.equal(
      flatcarGrubCfgWithSerialConsole('set oem_id="azure"\n'),
      'set oem_id="azure"\nset linux_append="$linux_append console=ttyS0 earlyprintk=ttyS0"\n',
    );
    assert.equal(
      flatcarGrubCfgWithSerialConsole('set linux_append="flatcar.autologin"\n'),
      'set linux_append="flatcar.autologin console=ttyS0 earlyprintk=ttyS0"\n',
    );
    assert.equal(flatcarGrubCfgWithSerialConsole('set linux_console="console=ttyS0,115200n8 earlyprintk=ttyS0,115200"\n'), null);
  });
});

describe('register-service', () => {
  it('writes the distro’s unit name with this binary and its ssh unit, and does not enable it without systemd', async () => {
    const dir = tmp();
    const out: string[] = [];
    const output = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
    const code = await registerServiceCommand(Config.defaults(), parseArgs(['-register-service']), profile('ubuntu-22.04'), {
      binary: '/opt/waagent',
      unitDir: dir,
      systemdMarker: join(dir, 'no-systemd'),
      output,
    });
    assert.equal(code, 0);
    assert.equal(
      readFileSync(join(dir, 'walinuxagent.service'), 'utf8'),
      systemdUnit({ binary: '/opt/waagent', confPath: '/etc/waagent.conf', sysext: false, sshdService: 'ssh' }),
    );
    assert.match(
      readFileSync(join(dir, 'walinuxagent.service'), 'utf8'),
      /^Wants=network-online\.target ssh\.service sshd-keygen\.service$/m,
    );
    assert.match(out.join(''), /systemd is not running, so it was not enabled/);
  });

  it('OS.EnableFirewall=y: also upstream’s <service>-network-setup.service, running -setup-firewall=<IP> before the network', async () => {
    const dir = tmp();
    const lib = join(dir, 'lib');
    mkdirSync(lib);
    writeFileSync(join(lib, 'WireServerEndpoint'), '10.1.2.3');
    const out: string[] = [];
    const output = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
    const config = Config.from({ 'OS.EnableFirewall': true, 'Lib.Dir': lib });
    const code = await registerServiceCommand(config, parseArgs(['-register-service']), profile('ubuntu-22.04'), {
      binary: '/opt/waagent',
      unitDir: dir,
      systemdMarker: join(dir, 'no-systemd'),
      output,
    });
    assert.equal(code, 0);
    const unit = readFileSync(join(dir, 'walinuxagent-network-setup.service'), 'utf8');
    assert.equal(unit, networkSetupUnit({ binary: '/opt/waagent', wireServer: '10.1.2.3', confPath: null }));
    assert.equal(
      unit,
      [
        '# This unit file (Version=1.4) was created by the Azure VM Agent.',
        '# Do not edit.',
        '[Unit]',
        'Description=Setup network rules for WALinuxAgent',
        'After=local-fs.target',
        'Before=network-pre.target',
        'Wants=network-pre.target',
        'DefaultDependencies=no',
        'ConditionFileIsExecutable=/opt/waagent',
        '',
        '[Service]',
        'Type=oneshot',
        'ExecStart=/opt/waagent -setup-firewall=10.1.2.3',
        'RemainAfterExit=yes',
        '',
        '[Install]',
        'WantedBy=network.target',
        '',
      ].join('\n'),
    );
    assert.match(
      out.join(''),
      /walinuxagent\.service and .*walinuxagent-network-setup\.service; systemd is not running, so they were not enabled/,
    );
  });

  it('OS.EnableFirewall=y without a detected address: 168.63.129.16, or the override’s host; off: no network-setup unit', async () => {
    const run = async (values: Record<string, string | boolean>) => {
      const dir = tmp();
      const output = { write: () => true } as unknown as NodeJS.WritableStream;
      await registerServiceCommand(
        Config.from({ 'Lib.Dir': join(dir, 'lib'), ...values }),
        parseArgs(['-register-service']),
        profile('ubuntu-22.04'),
        {
          binary: '/opt/waagent',
          unitDir: dir,
          systemdMarker: join(dir, 'no-systemd'),
          output,
        },
      );
      try {
        return /^ExecStart=(.*)$/m.exec(readFileSync(join(dir, 'walinuxagent-network-setup.service'), 'utf8'))![1];
      } catch {
        return null;
      }
    };
    assert.equal(await run({ 'OS.EnableFirewall': true }), '/opt/waagent -setup-firewall=168.63.129.16');
    assert.equal(
      await run({ 'OS.EnableFirewall': true, 'Protocol.WireServerEndpoint': '127.0.0.1:8080' }),
      '/opt/waagent -setup-firewall=127.0.0.1',
    );
    assert.equal(await run({}), null);
  });
});
