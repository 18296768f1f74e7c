// The per-distribution differences, from real os-release files (test/fixtures/os-release/).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseOsRelease } from '../../../src/os/distro.ts';
import { detectProfile, familyOf, profileFor, versionAtLeast, versionParts } from '../../../src/os/distro-profile.ts';
import { REPO_ROOT } from '../../helpers/paths.ts';

const DIR = join(REPO_ROOT, 'test', 'fixtures', 'os-release');
const profile = (name: string) => profileFor(parseOsRelease(readFileSync(join(DIR, name), 'utf8')));

describe('distro profile', () => {
  it('puts every fixture in its family', () => {
    const families = Object.fromEntries(
      readdirSync(DIR)
        .sort()
        .map((f) => [f, profile(f).family]),
    );
    assert.deepEqual(families, {
      'almalinux-9.4': 'rhel',
      arch: 'other',
      'azurelinux-3.0': 'azurelinux',
      'centos-7': 'rhel',
      'debian-12': 'debian',
      'fedora-40': 'rhel',
      flatcar: 'flatcar',
      'mariner-2.0': 'azurelinux',
      'ol-8.9': 'rhel',
      'opensuse-leap-15.5': 'suse',
      'rhel-9.4': 'rhel',
      'rocky-8.9': 'rhel',
      'sles-15-sp5': 'suse',
      'ubuntu-16.04': 'ubuntu',
      'ubuntu-22.04': 'ubuntu',
      'ubuntu-24.04': 'ubuntu',
    });
  });

  it('Flatcar: units in /etc, socket-activated sshd, networkd, OEM grub.cfg, machine-id removed', () => {
    const p = profile('flatcar');
    assert.equal(p.agentService, 'waagent');
    assert.equal(p.unitDir, '/etc/systemd/system');
    assert.equal(p.sshdService, null);
    assert.equal(p.sshdRestart, null);
    assert.equal(p.dhcpClient, 'systemd-networkd');
    assert.equal(p.dhcpHostname, 'none');
    assert.deepEqual(p.grub, { kind: 'flatcar-oem', paths: ['/oem/grub.cfg', '/usr/share/oem/grub.cfg'] });
    assert.equal(p.deprovisionRemovesMachineId, true);
    assert.equal(p.resolvConf, 'delete');
  });

  it('Ubuntu: walinuxagent and ssh units, update-grub; resolv.conf kept from 18.04, resolvconf before', () => {
    const modern = profile('ubuntu-22.04');
    assert.equal(modern.agentService, 'walinuxagent');
    assert.equal(modern.sshdService, 'ssh');
    assert.deepEqual(modern.sshdRestart, ['systemctl', '--job-mode=ignore-dependencies', 'try-reload-or-restart', 'ssh']);
    assert.equal(modern.dhcpClient, 'systemd-networkd');
    assert.equal(modern.resolvConf, 'keep');
    assert.equal(modern.removePersistentNetRules, false);
    assert.deepEqual(modern.grub.kind === 'mkconfig' && modern.grub.commands[0], ['update-grub']);
    const old = profile('ubuntu-16.04');
    assert.equal(old.dhcpClient, 'dhclient');
    assert.equal(old.dhcpHostname, 'dhclient-conf');
    assert.equal(old.resolvConf, 'resolvconf');
    assert.equal(profile('ubuntu-24.04').resolvConf, 'keep');
  });

  it('Debian: walinuxagent, ssh, dhclient leases in /var/lib/dhcp', () => {
    const p = profile('debian-12');
    assert.equal(p.agentService, 'walinuxagent');
    assert.equal(p.sshdService, 'ssh');
    assert.equal(p.dhcpHostname, 'dhclient-conf');
    assert.equal(p.leaseGlobs[0], '/var/lib/dhcp/dhclient.*.leases');
    assert.equal(p.resolvConf, 'delete');
    assert.equal(p.unitDir, '/lib/systemd/system');
  });

  it('RHEL family: hostnamectl, ifcfg DHCP_HOSTNAME, NetworkManager, grub2-mkconfig', () => {
    for (const f of ['rhel-9.4', 'almalinux-9.4', 'rocky-8.9', 'ol-8.9', 'centos-7']) {
      const p = profile(f);
      assert.equal(p.agentService, 'waagent', f);
      assert.equal(p.sshdService, 'sshd', f);
      assert.equal(p.hostname, 'hostnamectl', f);
      assert.equal(p.dhcpHostname, 'ifcfg', f);
      assert.equal(p.dhcpClient, 'NetworkManager', f);
      assert.equal(p.unitDir, '/usr/lib/systemd/system', f);
      assert.deepEqual(p.grub.kind === 'mkconfig' && p.grub.commands[0], ['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg'], f);
    }
  });

  it('SUSE family: wicked, DHCLIENT_HOSTNAME_OPTION reset to AUTO, sshd restarted', () => {
    for (const f of ['sles-15-sp5', 'opensuse-leap-15.5']) {
      const p = profile(f);
      assert.equal(p.dhcpClient, 'wicked', f);
      assert.equal(p.dhcpHostname, 'sysconfig-dhcp', f);
      assert.equal(p.deprovisionDhcpHostname, 'AUTO', f);
      assert.deepEqual(p.sshdRestart, ['systemctl', 'restart', 'sshd.service'], f);
      assert.equal(p.hostname, 'hostnamectl', f);
    }
  });

  it('Azure Linux and Mariner: networkd, sshd restarted, grub2', () => {
    for (const f of ['azurelinux-3.0', 'mariner-2.0']) {
      const p = profile(f);
      assert.equal(p.dhcpClient, 'systemd-networkd', f);
      assert.deepEqual(p.sshdRestart, ['systemctl', 'restart', 'sshd'], f);
      assert.equal(p.grub.kind === 'mkconfig' && p.grub.commands[0]![0], 'grub2-mkconfig', f);
    }
  });

  // Every distro difference the code reads, per family: one table, so a changed field shows up as one diff.
  const SWITCHES = (name: string) => {
    const p = profile(name);
    return {
      sshd: [p.sshdService, p.sshdRestart?.join(' ') ?? null],
      hostname: p.hostname,
      dhcp: [p.dhcpClient, p.dhcpHostname],
      leases: p.leaseGlobs,
      persistentNet: p.removePersistentNetRules,
      unit: [p.agentService, p.unitDir, p.agentSysext],
    };
  };

  it('Flatcar: every switch', () => {
    assert.deepEqual(SWITCHES('flatcar'), {
      sshd: [null, null],
      hostname: 'etc-hostname',
      dhcp: ['systemd-networkd', 'none'],
      leases: ['/run/systemd/netif/leases/*'],
      persistentNet: true,
      unit: ['waagent', '/etc/systemd/system', true],
    });
  });

  it('Ubuntu 22.04: every switch', () => {
    assert.deepEqual(SWITCHES('ubuntu-22.04'), {
      sshd: ['ssh', 'systemctl --job-mode=ignore-dependencies try-reload-or-restart ssh'],
      hostname: 'etc-hostname',
      dhcp: ['systemd-networkd', 'none'],
      leases: ['/run/systemd/netif/leases/*', '/var/lib/dhcp/dhclient.*.leases'],
      persistentNet: false,
      unit: ['walinuxagent', '/lib/systemd/system', false],
    });
  });

  it('Debian 12: every switch', () => {
    assert.deepEqual(SWITCHES('debian-12'), {
      sshd: ['ssh', 'systemctl --job-mode=ignore-dependencies try-reload-or-restart ssh'],
      hostname: 'etc-hostname',
      dhcp: ['dhclient', 'dhclient-conf'],
      leases: ['/var/lib/dhcp/dhclient.*.leases', '/run/systemd/netif/leases/*'],
      persistentNet: false,
      unit: ['walinuxagent', '/lib/systemd/system', false],
    });
  });

  it('RHEL family: every switch, the same for each rebuild', () => {
    const rhel = SWITCHES('rhel-9.4');
    assert.deepEqual(rhel, {
      sshd: ['sshd', 'systemctl --job-mode=ignore-dependencies try-reload-or-restart sshd'],
      hostname: 'hostnamectl',
      dhcp: ['NetworkManager', 'ifcfg'],
      leases: ['/var/lib/dhclient/dhclient-*.lease', '/var/lib/dhclient/dhclient-*.leases', '/var/lib/NetworkManager/dhclient-*.lease'],
      persistentNet: true,
      unit: ['waagent', '/usr/lib/systemd/system', false],
    });
    for (const f of ['almalinux-9.4', 'rocky-8.9', 'ol-8.9', 'centos-7', 'fedora-40']) assert.deepEqual(SWITCHES(f), rhel, f);
  });

  it('SLES and openSUSE: every switch', () => {
    const sles = SWITCHES('sles-15-sp5');
    assert.deepEqual(sles, {
      sshd: ['sshd', 'systemctl restart sshd.service'],
      hostname: 'hostnamectl',
      dhcp: ['wicked', 'sysconfig-dhcp'],
      leases: ['/var/lib/wicked/lease-*-dhcp-ipv4.xml', '/var/lib/dhcp/dhclient.*.leases'],
      persistentNet: true,
      unit: ['waagent', '/usr/lib/systemd/system', false],
    });
    assert.deepEqual(SWITCHES('opensuse-leap-15.5'), sles);
  });

  it('Azure Linux and Mariner: every switch', () => {
    const azl = SWITCHES('azurelinux-3.0');
    assert.deepEqual(azl, {
      sshd: ['sshd', 'systemctl restart sshd'],
      hostname: 'etc-hostname',
      dhcp: ['systemd-networkd', 'none'],
      leases: ['/run/systemd/netif/leases/*'],
      persistentNet: true,
      unit: ['waagent', '/usr/lib/systemd/system', false],
    });
    assert.deepEqual(SWITCHES('mariner-2.0'), azl);
  });

  it('an unknown distribution reads the leases of every supported DHCP client', () => {
    assert.deepEqual(profile('arch').leaseGlobs, [
      '/var/lib/dhclient/dhclient-*.leases',
      '/var/lib/dhclient/dhclient-*.lease',
      '/var/lib/dhcp/dhclient.*.leases',
      '/var/lib/NetworkManager/dhclient-*.lease',
      '/run/systemd/netif/leases/*',
    ]);
  });

  it('an unknown distribution gets the defaults, with every GRUB tool to try', () => {
    const p = profile('arch');
    assert.equal(p.family, 'other');
    assert.equal(p.agentService, 'waagent');
    assert.equal(p.hostname, 'etc-hostname');
    assert.equal(p.grub.kind === 'mkconfig' && p.grub.commands.length, 4);
    assert.equal(familyOf({ id: 'linuxmint', version: '21', name: 'Mint', idLike: ['ubuntu', 'debian'] }), 'ubuntu');
    assert.equal(familyOf({ id: 'kali', version: '', name: 'Kali', idLike: ['debian'] }), 'debian');
  });

  it('compares versions by their leading numbers', () => {
    assert.deepEqual(versionParts('15-SP5'), [15]);
    assert.deepEqual(versionParts('22.04'), [22, 4]);
    assert.equal(versionAtLeast('18.04', [18]), true);
    assert.equal(versionAtLeast('17.10', [18]), false);
    assert.equal(versionAtLeast('', [18]), true);
  });

  it('detects the profile from a tree with only usr/lib/os-release', () => {
    const root = mkdtempSync(join(tmpdir(), 'profile-'));
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    writeFileSync(join(root, 'usr/lib/os-release'), readFileSync(join(DIR, 'flatcar')));
    assert.equal(detectProfile(root + '/').family, 'flatcar');
    assert.equal(detectProfile(join(root, 'nothing') + '/').family, 'other');
  });
});
