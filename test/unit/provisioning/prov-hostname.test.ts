import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  dhclientConfWithHostname,
  primaryInterface,
  publishHostname,
  setHostname,
  validateHostname,
} from '../../../src/provisioning/hostname.ts';
import { fixtureProfile } from '../../helpers/distro.ts';
import { configOn, fakeTools, rejectsWith, tempRoot } from './prov-helpers.ts';

const DEBIAN = fixtureProfile('debian-12');
const UBUNTU = fixtureProfile('ubuntu-22.04'); // systemd-networkd

const ROUTES =
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
  'eth1\t00000000\t0100A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n' +
  'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' +
  'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n';

describe('hostname', () => {
  it('validates names', async () => {
    assert.equal(validateHostname(' vm-01.example '), 'vm-01.example');
    for (const bad of ['', '-vm', 'vm_1', 'a'.repeat(65), 'vm..x', 'vm;reboot']) {
      await rejectsWith(() => validateHostname(bad), 'provisioning', /is not a valid host name/);
    }
  });

  // The kernel name goes to a file standing in for /proc/sys/kernel/hostname (never the host's): written when it can
  // be, else the `hostname` command (a fake here) sets it.
  function kernelFile(root: string): string {
    const k = join(root, 'kernel-hostname');
    writeFileSync(k, 'old-name-longer-than-the-new');
    return k;
  }

  it('etc-hostname (Debian): writes the hostname file and the kernel name, and runs hostnamectl only under systemd', async () => {
    const root = tempRoot();
    const tools = fakeTools({ hostname: '', hostnamectl: '' });
    const file = join(root, 'hostname');
    const kernelHostname = kernelFile(root);
    await setHostname('vm-01', { profile: DEBIAN, hostnameFile: file, systemdMarker: join(root, 'no-systemd'), kernelHostname });
    assert.equal(readFileSync(file, 'utf8'), 'vm-01\n');
    assert.equal(readFileSync(kernelHostname, 'utf8'), 'vm-01', 'the whole old name replaced');
    assert.deepEqual(tools.calls(), [], 'no hostname command');
    mkdirSync(join(root, 'systemd'));
    await setHostname('vm-02', { profile: DEBIAN, hostnameFile: file, systemdMarker: join(root, 'systemd'), kernelHostname });
    assert.equal(readFileSync(kernelHostname, 'utf8'), 'vm-02');
    assert.deepEqual(tools.calls(), ['hostnamectl set-hostname --static vm-02']);
  });

  it('runs the hostname command when the kernel name cannot be written, never creating the file', async () => {
    const root = tempRoot();
    const tools = fakeTools({ hostname: '', hostnamectl: '' });
    const kernelHostname = join(root, 'proc', 'sys', 'kernel', 'hostname');
    await setHostname('vm-01', { profile: DEBIAN, hostnameFile: join(root, 'h'), systemdMarker: join(root, 'x'), kernelHostname });
    assert.deepEqual(tools.calls(), ['hostname vm-01']);
    const missing = join(root, 'missing');
    await setHostname('vm-02', { profile: DEBIAN, hostnameFile: join(root, 'h'), systemdMarker: join(root, 'x'), kernelHostname: missing });
    assert.equal(existsSync(missing), false, 'no O_CREAT');
    // a link in its place is not followed
    const target = join(root, 'target');
    writeFileSync(target, 'keep');
    symlinkSync(target, join(root, 'link'));
    await setHostname('vm-03', {
      profile: DEBIAN,
      hostnameFile: join(root, 'h'),
      systemdMarker: join(root, 'x'),
      kernelHostname: join(root, 'link'),
    });
    assert.equal(readFileSync(target, 'utf8'), 'keep');
    assert.deepEqual(tools.calls(), ['hostname vm-01', 'hostname vm-02', 'hostname vm-03']);
  });

  it('hostnamectl (RHEL): hostnamed writes the file; the agent writes it only without systemd or when hostnamectl fails', async () => {
    const root = tempRoot();
    const tools = fakeTools({ hostname: '', hostnamectl: '' });
    const file = join(root, 'hostname');
    const kernelHostname = kernelFile(root);
    mkdirSync(join(root, 'systemd'));
    const rhel = fixtureProfile('rhel-9.4');
    assert.equal(rhel.hostname, 'hostnamectl');
    await setHostname('vm-01', { profile: rhel, hostnameFile: file, systemdMarker: join(root, 'systemd'), kernelHostname });
    assert.equal(existsSync(file), false, 'the file is left to systemd-hostnamed');
    assert.deepEqual(tools.calls(), ['hostnamectl set-hostname --static vm-01']);
    assert.equal(readFileSync(kernelHostname, 'utf8'), 'vm-01');
    // the same profile field on a made-up distro: it is the field, not the distro, that decides
    await setHostname('vm-02', {
      profile: { ...DEBIAN, hostname: 'hostnamectl' },
      hostnameFile: file,
      systemdMarker: join(root, 'systemd'),
      kernelHostname,
    });
    assert.equal(existsSync(file), false);
    assert.deepEqual(tools.calls().slice(1), ['hostnamectl set-hostname --static vm-02']);
    await setHostname('vm-03', { profile: rhel, hostnameFile: file, systemdMarker: join(root, 'no-systemd'), kernelHostname });
    assert.equal(readFileSync(file, 'utf8'), 'vm-03\n');
    assert.deepEqual(tools.calls().slice(2), []);
    const failing = fakeTools({ hostname: '', hostnamectl: 'exit 1' });
    await setHostname('vm-04', { profile: rhel, hostnameFile: file, systemdMarker: join(root, 'systemd'), kernelHostname });
    assert.equal(readFileSync(file, 'utf8'), 'vm-04\n', 'written by the agent after hostnamectl failed');
    assert.equal(readFileSync(kernelHostname, 'utf8'), 'vm-04');
    assert.deepEqual(failing.calls(), ['hostnamectl set-hostname --static vm-04']);
  });

  it('fails with the command when the kernel name cannot be written and hostname fails', async () => {
    const root = tempRoot();
    fakeTools({ hostname: 'echo "hostname: you must be root to change the host name" >&2; exit 1' });
    await rejectsWith(
      setHostname('vm-01', {
        profile: DEBIAN,
        hostnameFile: join(root, 'h'),
        systemdMarker: join(root, 'x'),
        kernelHostname: join(root, 'no', 'hostname'),
      }),
      'command',
      /hostname vm-01 failed .*must be root/,
    );
  });
});

describe('publishing the hostname (§4.6)', () => {
  it('edits dhclient.conf: replaces send host-name, keeps the rest', () => {
    const conf = '# comment\nrequest subnet-mask;\nsend host-name "old";\n';
    assert.equal(dhclientConfWithHostname(conf, 'vm-01'), '# comment\nrequest subnet-mask;\nsend host-name "vm-01";\n');
    assert.equal(dhclientConfWithHostname('send host-name = gethostname();\n', 'vm-01'), null);
    assert.equal(
      dhclientConfWithHostname('#send host-name = gethostname();\n', 'vm-01'),
      '#send host-name = gethostname();\nsend host-name "vm-01";\n',
    );
  });

  it('finds the interface of the default route with the lowest metric', () => {
    assert.equal(primaryInterface(ROUTES), 'eth0');
    assert.equal(
      primaryInterface(ROUTES.split('\n').slice(0, 1).concat('eth2\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0').join('\n')),
      'eth2',
    );
    assert.equal(primaryInterface('Iface\tDestination\n'), null);
  });

  it('uses networkctl reconfigure when the profile says networkd, and records published_hostname', async () => {
    const root = tempRoot();
    const tools = fakeTools({ networkctl: '', nmcli: '' });
    mkdirSync(join(root, 'run', 'systemd', 'netif'), { recursive: true });
    mkdirSync(join(root, 'run', 'NetworkManager'), { recursive: true }); // running too, but not the profile's client
    writeFileSync(join(root, 'route'), ROUTES);
    const r = await publishHostname(configOn(root), 'vm-01', {
      runDir: join(root, 'run'),
      routeTable: join(root, 'route'),
      dhclientConfs: [],
      profile: UBUNTU,
    });
    assert.deepEqual(r, { interface: 'eth0', via: 'networkd', ok: true });
    assert.deepEqual(tools.calls(), ['networkctl reconfigure eth0']);
    assert.equal(readFileSync(join(root, 'lib', 'published_hostname'), 'utf8'), 'vm-01');
  });

  it('uses nmcli when the profile says NetworkManager, after editing dhclient.conf', async () => {
    const root = tempRoot();
    const tools = fakeTools({ nmcli: '', networkctl: '' });
    mkdirSync(join(root, 'run', 'NetworkManager'), { recursive: true });
    mkdirSync(join(root, 'run', 'systemd', 'netif'), { recursive: true });
    writeFileSync(join(root, 'route'), ROUTES);
    writeFileSync(join(root, 'dhclient.conf'), 'send host-name "old";\n');
    const opts = {
      runDir: join(root, 'run'),
      routeTable: join(root, 'route'),
      dhclientConfs: [join(root, 'missing'), join(root, 'dhclient.conf')],
    };
    // a made-up profile: Debian's dhclient.conf, NetworkManager as the client
    const r = await publishHostname(configOn(root), 'vm-01', { ...opts, profile: { ...DEBIAN, dhcpClient: 'NetworkManager' } });
    assert.deepEqual(r, { interface: 'eth0', via: 'NetworkManager', ok: true });
    assert.deepEqual(tools.calls(), ['nmcli device reapply eth0']);
    assert.equal(readFileSync(join(root, 'dhclient.conf'), 'utf8'), 'send host-name "vm-01";\n');
    // Debian itself: ISC dhclient reads dhclient.conf at its next renewal; no other client is asked
    const deb = await publishHostname(configOn(root), 'vm-02', { ...opts, profile: DEBIAN });
    assert.deepEqual(deb, { interface: 'eth0', via: 'dhclient.conf', ok: true });
    assert.deepEqual(tools.calls(), ['nmcli device reapply eth0']);
    assert.equal(readFileSync(join(root, 'dhclient.conf'), 'utf8'), 'send host-name "vm-02";\n');
  });

  it('is bounded: a hanging tool costs the budget and a warning, not an error', async () => {
    const root = tempRoot();
    fakeTools({ networkctl: 'sleep 20' });
    mkdirSync(join(root, 'run', 'systemd', 'netif'), { recursive: true });
    writeFileSync(join(root, 'route'), ROUTES);
    const t0 = Date.now();
    const r = await publishHostname(configOn(root), 'vm-01', {
      budgetMs: 400,
      runDir: join(root, 'run'),
      routeTable: join(root, 'route'),
      dhclientConfs: [],
      profile: UBUNTU,
    });
    const took = Date.now() - t0;
    assert.ok(took < 3000, `took ${took} ms`);
    assert.deepEqual(r, { interface: 'eth0', via: 'none', ok: false });
    assert.equal(readFileSync(join(root, 'lib', 'published_hostname'), 'utf8'), 'vm-01');
  });

  it('with no DHCP client known, only records the name', async () => {
    const root = tempRoot();
    const r = await publishHostname(configOn(root), 'vm-01', {
      runDir: join(root, 'run'),
      routeTable: join(root, 'none'),
      dhclientConfs: [],
      profile: DEBIAN,
    });
    assert.deepEqual(r, { interface: null, via: 'none', ok: false });
    assert.equal(readFileSync(join(root, 'lib', 'published_hostname'), 'utf8'), 'vm-01');
  });
});
