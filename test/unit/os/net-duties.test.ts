// The network-side OS duties: routes from our own DHCPDISCOVER (docs/protocol.md §1.1), the DHCP client restart
// watch (§7.1 Env) and hostname publishing by distro family (§4.6). `ip`, nmcli & co. are recording fakes on PATH.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { dhcpClientProcess, dhcpWatchApplies, dhcpWatchTask, pidsOf } from '../../../src/daemon/dhcp-watch.ts';
import { discoverWireServer, parseReply, buildDiscover, macBytes } from '../../../src/fabric/discovery/index.ts';
import { log } from '../../../src/log/logger.ts';
import { parseOsRelease } from '../../../src/os/distro.ts';
import { profileFor } from '../../../src/os/distro-profile.ts';
import {
  applyDhcpRoutes,
  learnedDhcpRoutes,
  parseRouteTable,
  planDhcpRoutes,
  rememberDhcpRoutes,
  routeAddArgv,
  type DhcpRoutes,
} from '../../../src/os/routes.ts';
import { publishHostname, type PublishOptions } from '../../../src/provisioning/hostname.ts';
import { REPO_ROOT } from '../../helpers/paths.ts';
import { configOn, fakeTools, tempRoot } from '../provisioning/prov-helpers.ts';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';
// eth0 192.0.2.0/24 on-link only: no default route, nothing names the WireServer
const ONLINK = HEADER + 'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
// a default route via 192.0.2.1 and the WireServer /32 already there
const FULL =
  ONLINK +
  'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' +
  'eth0\t10813FA8\t010200C0\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n';

const REPLY: DhcpRoutes = {
  wireServer: '168.63.129.16',
  gateway: '192.0.2.1',
  routes: [
    { network: '198.51.100.0', bits: 24, gateway: '192.0.2.254' },
    { network: '169.254.169.254', bits: 32, gateway: '192.0.2.1' },
  ],
};

const profile = (name: string) => profileFor(parseOsRelease(readFileSync(join(REPO_ROOT, 'test/fixtures/os-release', name), 'utf8')));

function captureLog(): string[] {
  const lines: string[] = [];
  log.addSink({ write: (l) => void lines.push(l) }, 'INFO');
  return lines;
}

describe('routes from a DHCP reply (§1.1)', () => {
  it('reads /proc/net/route into dotted addresses and prefix lengths', () => {
    assert.deepEqual(parseRouteTable(FULL), [
      { iface: 'eth0', destination: '192.0.2.0', gateway: '0.0.0.0', bits: 24 },
      { iface: 'eth0', destination: '0.0.0.0', gateway: '192.0.2.1', bits: 0 },
      { iface: 'eth0', destination: '168.63.129.16', gateway: '192.0.2.1', bits: 32 },
    ]);
    assert.deepEqual(parseRouteTable(HEADER + 'eth0\tnothex\t00000000\t0001\t0\t0\t0\t00FFFFFF\n' + 'short line\n'), []);
  });

  it('plans the default route, each classless route and the WireServer /32 when the table lacks them', () => {
    const plan = planDhcpRoutes(REPLY, parseRouteTable(ONLINK), 'eth0');
    assert.deepEqual(plan.map(routeAddArgv), [
      ['ip', 'route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'eth0'],
      ['ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'dev', 'eth0'],
      ['ip', 'route', 'add', '169.254.169.254/32', 'via', '192.0.2.1', 'dev', 'eth0'],
      ['ip', 'route', 'add', '168.63.129.16/32', 'via', '192.0.2.1', 'dev', 'eth0'],
    ]);
  });

  it('plans nothing that is already there, and no /32 when a classless route names the WireServer', () => {
    assert.deepEqual(
      planDhcpRoutes(REPLY, parseRouteTable(FULL), 'eth0').map((r) => r.destination),
      ['198.51.100.0/24', '169.254.169.254/32'],
    );
    const withWs: DhcpRoutes = {
      wireServer: null,
      gateway: null,
      routes: [
        { network: '168.63.129.16', bits: 32, gateway: '192.0.2.1' },
        { network: '0.0.0.0', bits: 0, gateway: '192.0.2.1' },
      ],
    };
    assert.deepEqual(planDhcpRoutes(withWs, parseRouteTable(ONLINK), null).map(routeAddArgv), [
      ['ip', 'route', 'add', '168.63.129.16/32', 'via', '192.0.2.1'],
      ['ip', 'route', 'add', 'default', 'via', '192.0.2.1'],
    ]);
    assert.deepEqual(planDhcpRoutes({ wireServer: null, gateway: null, routes: [] }, [], 'eth0'), []);
  });

  it('runs ip for each planned route, keeps going past a failure and reports what was added', async () => {
    const root = tempRoot();
    // `ip` fails for the classless route, as when the DHCP client added it meanwhile
    const tools = fakeTools({ ip: 'case "$*" in *198.51.100.0*) echo "RTNETLINK answers: File exists" >&2; exit 2;; esac' });
    writeFileSync(join(root, 'route'), ONLINK);
    const lines = captureLog();
    const added = await applyDhcpRoutes(REPLY, { routeTable: join(root, 'route') });
    log.reset();
    assert.deepEqual(tools.calls(), [
      'ip route add default via 192.0.2.1 dev eth0',
      'ip route add 198.51.100.0/24 via 192.0.2.254 dev eth0',
      'ip route add 169.254.169.254/32 via 192.0.2.1 dev eth0',
      'ip route add 168.63.129.16/32 via 192.0.2.1 dev eth0',
    ]);
    assert.deepEqual(
      added.map((r) => r.destination),
      ['default', '169.254.169.254/32', '168.63.129.16/32'],
    );
    assert.ok(
      lines.some((l) => l.includes('WARNING') && l.includes('RTNETLINK answers: File exists')),
      lines.join('\n'),
    );
  });

  it('parses option 121 like 249, and 249 wins when both are there', () => {
    const request = buildDiscover(Buffer.from([9, 9, 9, 9]), macBytes('02:00:00:00:00:01'), false);
    const reply = (opts: number[]) => Buffer.concat([request.subarray(0, 0xf0), Buffer.from([...opts, 255, 0, 0, 0, 0, 0])]);
    const r121 = [24, 198, 51, 100, 192, 0, 2, 1];
    const r249 = [32, 168, 63, 129, 16, 192, 0, 2, 1];
    assert.deepEqual(parseReply(reply([121, r121.length, ...r121]), request).routes, [
      { network: '198.51.100.0', bits: 24, gateway: '192.0.2.1' },
    ]);
    const both = [{ network: '168.63.129.16', bits: 32, gateway: '192.0.2.1' }];
    assert.deepEqual(parseReply(reply([121, r121.length, ...r121, 249, r249.length, ...r249]), request).routes, both);
    assert.deepEqual(parseReply(reply([249, r249.length, ...r249, 121, r121.length, ...r121]), request).routes, both);
  });

  it('discovery applies and remembers the routes of its own DISCOVER before using the address', async (t) => {
    const root = tempRoot();
    const server = createSocket('udp4');
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    t.after(() => server.close());
    server.on('message', (req, rinfo) => {
      const routes = [24, 198, 51, 100, 192, 0, 2, 254];
      const opts = [53, 1, 2, 245, 4, 192, 0, 2, 77, 3, 4, 192, 0, 2, 1, 249, routes.length, ...routes, 255];
      server.send(Buffer.concat([req.subarray(0, 0xf0), Buffer.from(opts)]), rinfo.port, rinfo.address);
    });
    const applied: DhcpRoutes[] = [];
    rememberDhcpRoutes(null);
    const found = await discoverWireServer({
      config: Config.from({ 'Lib.Dir': join(root, 'lib') }),
      leaseGlobs: profile('debian-12').leaseGlobs,
      root,
      dhcp: {
        mac: '02:00:00:00:00:09',
        target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
        bindPort: 0,
        timeoutMs: 2000,
        schedule: [0],
      },
      applyRoutes: async (r) => void applied.push(r),
    });
    assert.deepEqual(found, { endpoint: '192.0.2.77', source: 'dhcp' });
    const expected = {
      wireServer: '192.0.2.77',
      gateway: '192.0.2.1',
      routes: [{ network: '198.51.100.0', bits: 24, gateway: '192.0.2.254' }],
    };
    assert.deepEqual(applied, [expected]);
    assert.deepEqual(learnedDhcpRoutes(), expected);
    rememberDhcpRoutes({ wireServer: null, gateway: null, routes: [] });
    assert.equal(learnedDhcpRoutes(), null);
  });
});

describe('DHCP client restart watch (§7.1)', () => {
  function fakeProc(root: string, procs: Record<number, string>): string {
    const proc = join(root, `proc-${Object.keys(procs).join('-')}`);
    mkdirSync(join(proc, 'self'), { recursive: true });
    writeFileSync(join(proc, 'uptime'), '1.0 1.0\n');
    for (const [pid, comm] of Object.entries(procs)) {
      mkdirSync(join(proc, pid), { recursive: true });
      writeFileSync(join(proc, pid, 'comm'), comm + '\n');
    }
    return proc;
  }

  it('finds the client by comm, truncated to 15 characters as the kernel keeps it', () => {
    const root = tempRoot();
    const proc = fakeProc(root, { 1: 'systemd', 812: 'systemd-network', 90: 'dhclient', 1200: 'dhclient', 7: 'dhclient6' });
    assert.deepEqual(pidsOf('dhclient', proc), [90, 1200]);
    assert.deepEqual(pidsOf('systemd-networkd', proc), [812]);
    assert.deepEqual(pidsOf('wickedd-dhcp4', proc), []);
    assert.deepEqual(pidsOf('dhclient', join(root, 'missing')), []);
  });

  it('watches the client each family uses', () => {
    assert.equal(dhcpClientProcess(profile('debian-12').dhcpClient), 'dhclient');
    assert.equal(dhcpClientProcess(profile('ubuntu-22.04').dhcpClient), 'systemd-networkd');
    assert.equal(dhcpClientProcess(profile('flatcar').dhcpClient), 'systemd-networkd');
    assert.equal(dhcpClientProcess(profile('rhel-9.4').dhcpClient), 'dhclient');
    assert.equal(dhcpClientProcess(profile('sles-15-sp5').dhcpClient), 'wickedd-dhcp4');
  });

  it('puts the routes back only when the client pids change', async () => {
    const root = tempRoot();
    const proc = fakeProc(root, { 90: 'dhclient' });
    let routes: DhcpRoutes | null = null;
    const applied: DhcpRoutes[] = [];
    const config = Config.from({ 'OS.MonitorDhcpClientRestartPeriod': 45 });
    const task = dhcpWatchTask(config, {
      process: 'dhclient',
      procRoot: proc,
      routes: () => routes,
      apply: async (r) => void applied.push(r),
    });
    assert.equal(task.periodMs, 45_000);
    const lines = captureLog();
    await task.run(); // nothing learned yet: nothing to do
    routes = REPLY;
    await task.run(); // first look: remembers pid 90
    await task.run(); // same pid
    assert.deepEqual(applied, []);
    writeFileSync(join(proc, '90', 'comm'), 'bash\n');
    await task.run(); // client gone: one warning, nothing applied
    await task.run();
    assert.deepEqual(applied, []);
    mkdirSync(join(proc, '4242'));
    writeFileSync(join(proc, '4242', 'comm'), 'dhclient\n');
    await task.run(); // restarted as 4242
    await task.run();
    log.reset();
    assert.deepEqual(applied, [REPLY]);
    assert.equal(lines.filter((l) => l.includes('is not running')).length, 1, lines.join('\n'));
    assert.ok(
      lines.some((l) => l.includes('restarted (pid 90 -> 4242)')),
      lines.join('\n'),
    );
  });

  it('runs only where our own DISCOVER can have added routes', () => {
    assert.equal(dhcpWatchApplies(Config.from({})), true);
    assert.equal(dhcpWatchApplies(Config.from({ 'Protocol.EndpointDiscovery': 'static' })), false);
    assert.equal(dhcpWatchApplies(Config.from({ 'Protocol.WireServerEndpoint': '127.0.0.1:8080' })), false);
  });
});

describe('hostname publishing by distro family (§4.6)', () => {
  const ROUTES = HEADER + 'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n';

  function tree(): string {
    const root = tempRoot();
    writeFileSync(join(root, 'route'), ROUTES);
    mkdirSync(join(root, 'etc', 'sysconfig', 'network-scripts'), { recursive: true });
    mkdirSync(join(root, 'etc', 'sysconfig', 'network'), { recursive: true });
    mkdirSync(join(root, 'run'), { recursive: true });
    writeFileSync(join(root, 'dhclient.conf'), 'send host-name "old";\n');
    return root;
  }
  const opts = (root: string, extra: Partial<PublishOptions> & Pick<PublishOptions, 'profile'>) => ({
    runDir: join(root, 'run'),
    routeTable: join(root, 'route'),
    etcDir: join(root, 'etc'),
    dhclientConfs: [join(root, 'dhclient.conf')],
    ...extra,
  });

  it('RHEL: DHCP_HOSTNAME in ifcfg-<if>, then nmcli; dhclient.conf is not touched', async () => {
    const root = tree();
    const tools = fakeTools({ nmcli: '' });
    mkdirSync(join(root, 'run', 'NetworkManager'));
    const ifcfg = join(root, 'etc/sysconfig/network-scripts/ifcfg-eth0');
    writeFileSync(ifcfg, 'DEVICE=eth0\nBOOTPROTO=dhcp\nDHCP_HOSTNAME=old\nONBOOT=yes\n');
    const r = await publishHostname(configOn(root), 'vm-rhel', opts(root, { profile: profile('rhel-9.4') }));
    assert.deepEqual(r, { interface: 'eth0', via: 'NetworkManager', ok: true });
    assert.equal(readFileSync(ifcfg, 'utf8'), 'DEVICE=eth0\nBOOTPROTO=dhcp\nDHCP_HOSTNAME=vm-rhel\nONBOOT=yes\n');
    assert.equal(readFileSync(join(root, 'dhclient.conf'), 'utf8'), 'send host-name "old";\n');
    assert.deepEqual(
      tools.calls().filter((c) => c.startsWith('nmcli')),
      ['nmcli device reapply eth0'],
    );
  });

  it('RHEL without an ifcfg file creates none', async () => {
    const root = tree();
    const r = await publishHostname(configOn(root), 'vm-rhel', opts(root, { profile: profile('rocky-8.9') }));
    assert.deepEqual(r, { interface: 'eth0', via: 'none', ok: false });
    assert.equal(existsSync(join(root, 'etc/sysconfig/network-scripts/ifcfg-eth0')), false);
    assert.equal(readFileSync(join(root, 'lib', 'published_hostname'), 'utf8'), 'vm-rhel');
  });

  it('SUSE: DHCLIENT_HOSTNAME_OPTION replaced in place, appended when missing, AUTO left alone; then ifup', async () => {
    const root = tree();
    const tools = fakeTools({ ifup: '' });
    mkdirSync(join(root, 'run', 'wicked'));
    const dhcp = join(root, 'etc/sysconfig/network/dhcp');
    writeFileSync(dhcp, '## comment\nDHCLIENT_HOSTNAME_OPTION="old"\nDHCLIENT_SET_HOSTNAME="no"\n');
    const r = await publishHostname(configOn(root), 'vm-suse', opts(root, { profile: profile('sles-15-sp5') }));
    assert.deepEqual(r, { interface: 'eth0', via: 'wicked', ok: true });
    assert.equal(readFileSync(dhcp, 'utf8'), '## comment\nDHCLIENT_HOSTNAME_OPTION="vm-suse"\nDHCLIENT_SET_HOSTNAME="no"\n');
    assert.deepEqual(
      tools.calls().filter((c) => c.startsWith('ifup')),
      ['ifup eth0'],
    );
    writeFileSync(dhcp, 'DHCLIENT_SET_HOSTNAME="no"\n');
    await publishHostname(configOn(root), 'vm-suse2', opts(root, { profile: profile('opensuse-leap-15.5') }));
    assert.equal(readFileSync(dhcp, 'utf8'), 'DHCLIENT_SET_HOSTNAME="no"\nDHCLIENT_HOSTNAME_OPTION="vm-suse2"\n');
    writeFileSync(dhcp, 'DHCLIENT_HOSTNAME_OPTION="AUTO"\n');
    const auto = await publishHostname(
      configOn(root),
      'vm-suse3',
      opts(root, { profile: profile('sles-15-sp5'), runDir: join(root, 'no-run') }),
    );
    assert.deepEqual(auto, { interface: 'eth0', via: 'sysconfig-dhcp', ok: true });
    assert.equal(readFileSync(dhcp, 'utf8'), 'DHCLIENT_HOSTNAME_OPTION="AUTO"\n');
  });

  it('Debian keeps editing dhclient.conf, and asks no other client; the time bound holds for every family', async () => {
    const root = tree();
    const tools = fakeTools({ nmcli: 'sleep 20' });
    mkdirSync(join(root, 'run', 'NetworkManager'));
    writeFileSync(join(root, 'etc/sysconfig/network-scripts/ifcfg-eth0'), 'DEVICE=eth0\n');
    const deb = await publishHostname(configOn(root), 'vm-deb', opts(root, { profile: profile('debian-12'), budgetMs: 300 }));
    assert.equal(readFileSync(join(root, 'dhclient.conf'), 'utf8'), 'send host-name "vm-deb";\n');
    assert.deepEqual(deb, { interface: 'eth0', via: 'dhclient.conf', ok: true });
    assert.deepEqual(tools.calls(), [], "NetworkManager runs, but Debian's DHCP client is dhclient");
    const t0 = Date.now();
    const rhel = await publishHostname(configOn(root), 'vm-rhel', opts(root, { profile: profile('rhel-9.4'), budgetMs: 300 }));
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
    assert.deepEqual(rhel, { interface: 'eth0', via: 'ifcfg', ok: false });
    assert.equal(readFileSync(join(root, 'etc/sysconfig/network-scripts/ifcfg-eth0'), 'utf8'), 'DEVICE=eth0\nDHCP_HOSTNAME=vm-rhel\n');
  });
});
