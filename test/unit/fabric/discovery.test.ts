// Endpoint discovery (docs/protocol.md §1): route table, lease files (recorded fixtures), DHCP packets,
// the persisted endpoint, the configured overrides and the URL redirection of docs/contract.md §4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Config } from '../../../src/config/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import {
  buildDiscover,
  discoverWireServer,
  endpointFromLeaseFiles,
  hasWireServerRoute,
  macBytes,
  parseClasslessRoutes,
  parseDhclientLeases,
  parseNetworkdLease,
  parseReply,
  readPersistedEndpoint,
  sendDiscover,
  writePersistedEndpoint,
} from '../../../src/fabric/discovery/index.ts';
import { platformEndpoints, redirectPlatformUrl } from '../../../src/fabric/endpoints.ts';
import { fixtureProfile } from '../../helpers/distro.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const DATA = join(FIXTURES, 'tests', 'data');
const NOW = new Date('2024-01-01T00:00:00Z');
const DEBIAN_LEASES = fixtureProfile('debian-12').leaseGlobs;
const ROUTE_HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';

function tempDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'discovery-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('the route table check finds 10813FA8 and nothing else', () => {
  const withRoute = ROUTE_HEADER + 'eth0\t10813FA8\t0100000A\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n';
  const without = ROUTE_HEADER + 'eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n';
  assert.equal(hasWireServerRoute(withRoute), true);
  assert.equal(hasWireServerRoute(without), false);
  assert.equal(hasWireServerRoute(''), false);
});

test('dhclient leases: the last unexpired block with option 245 wins (recorded fixtures)', () => {
  // dhcp.leases: never-expiring 168.63.129.16, an expired one, and one valid until 2152
  assert.equal(parseDhclientLeases(readFileSync(join(DATA, 'dhcp.leases'), 'utf8'), NOW), '168.63.129.16');
  // custom.dns: a8:3f:81:01 (never), a8:3f:81:02 (expired), a8:3f:81:10 (valid): the last valid block
  assert.equal(parseDhclientLeases(readFileSync(join(DATA, 'dhcp.leases.custom.dns'), 'utf8'), NOW), '168.63.129.16');
  // after 2152 only the never-expiring block is left
  assert.equal(parseDhclientLeases(readFileSync(join(DATA, 'dhcp.leases.custom.dns'), 'utf8'), new Date('2153-01-01Z')), '168.63.129.1');
  const expiredOnly = 'lease {\n  option unknown-245 a8:3f:81:02;\n  expire 4 2015/06/16 16:58:54;\n}\n';
  assert.equal(parseDhclientLeases(expiredOnly, NOW), null);
  assert.equal(parseDhclientLeases('lease {\n  expire 0 never;\n}\n', NOW), null);
});

test('systemd-networkd lease: OPTION_245 as 8 hex characters (recorded fixture tests/data/2)', () => {
  assert.equal(parseNetworkdLease(readFileSync(join(DATA, '2'), 'utf8')), '168.63.129.16');
  assert.equal(parseNetworkdLease('ADDRESS=10.0.0.4\n'), null);
  assert.equal(parseNetworkdLease('OPTION_245=a83f81\n'), null);
});

test('lease files are read where the distro profile says (§1.1), its first glob with an address winning', (t) => {
  const root = tempDir(t);
  const debian = fixtureProfile('debian-12').leaseGlobs; // dhclient's /var/lib/dhcp, then networkd's
  const flatcar = fixtureProfile('flatcar').leaseGlobs; // networkd's only
  assert.equal(endpointFromLeaseFiles(root, debian, NOW), null);
  mkdirSync(join(root, 'var/lib/dhcp'), { recursive: true });
  writeFileSync(join(root, 'var/lib/dhcp/dhclient.eth0.leases'), 'lease {\n  option unknown-245 0a:00:00:05;\n  expire 0 never;\n}\n');
  writeFileSync(join(root, 'var/lib/dhcp/unrelated.leases'), 'lease {\n  option unknown-245 0a:00:00:09;\n  expire 0 never;\n}\n');
  assert.equal(endpointFromLeaseFiles(root, debian, NOW), '10.0.0.5');
  assert.equal(endpointFromLeaseFiles(root, flatcar, NOW), null, 'Flatcar has no dhclient: /var/lib/dhcp is not read');
  mkdirSync(join(root, 'run/systemd/netif/leases'), { recursive: true });
  writeFileSync(join(root, 'run/systemd/netif/leases/2'), readFileSync(join(DATA, '2')));
  assert.equal(endpointFromLeaseFiles(root, flatcar, NOW), '168.63.129.16');
  assert.equal(endpointFromLeaseFiles(root, debian, NOW), '10.0.0.5', "Debian's dhclient leases come first");
  // RHEL: NetworkManager's dhclient leases (.lease); the Debian path is not among its globs
  const rhel = fixtureProfile('rhel-9.4').leaseGlobs;
  assert.equal(endpointFromLeaseFiles(root, rhel, NOW), null);
  mkdirSync(join(root, 'var/lib/NetworkManager'), { recursive: true });
  writeFileSync(
    join(root, 'var/lib/NetworkManager/dhclient-1234-eth0.lease'),
    'lease {\n  option unknown-245 0a:00:00:07;\n  expire 0 never;\n}\n',
  );
  assert.equal(endpointFromLeaseFiles(root, rhel, NOW), '10.0.0.7');
  // a made-up profile: only its own file is read
  writeFileSync(join(root, 'custom.lease'), 'OPTION_245=0a000008\n');
  assert.equal(endpointFromLeaseFiles(root, ['/nowhere/*', '/custom.lease'], NOW), '10.0.0.8');
});

test('DHCPDISCOVER packet layout (§1.1)', () => {
  const xid = Buffer.from([1, 2, 3, 4]);
  const mac = macBytes('00:15:5d:38:aa:38');
  const first = buildDiscover(xid, mac, false);
  assert.equal(first.length, 244);
  assert.deepEqual([...first.subarray(0, 3)], [1, 1, 6]);
  assert.deepEqual([...first.subarray(4, 8)], [1, 2, 3, 4]);
  assert.equal(first[0x0a], 0);
  assert.deepEqual([...first.subarray(0x1c, 0x22)], [0x00, 0x15, 0x5d, 0x38, 0xaa, 0x38]);
  assert.deepEqual([...first.subarray(0xec, 0xf4)], [0x63, 0x82, 0x53, 0x63, 53, 1, 1, 255]);
  assert.equal(buildDiscover(xid, mac, true)[0x0a], 0x80);
  assert.throws(() => macBytes('00:15:5d'), /is not six hex octets/);
});

test('the recorded DHCP reply (tests/data/dhcp) parses into option 245 and the router', () => {
  const reply = readFileSync(join(DATA, 'dhcp'));
  // build the request that this reply answers: its xid and MAC
  const request = buildDiscover(reply.subarray(4, 8), reply.subarray(0x1c, 0x22), false);
  const parsed = parseReply(reply, request);
  assert.equal(parsed.wireServer, '10.62.144.140');
  assert.equal(parsed.gateway, '10.62.144.1');
  assert.deepEqual(parsed.routes, []);
});

test('a DHCP reply for another xid, MAC or cookie, or too short, is refused', () => {
  const reply = readFileSync(join(DATA, 'dhcp'));
  const mac = reply.subarray(0x1c, 0x22);
  assert.throws(() => parseReply(reply, buildDiscover(Buffer.from([9, 9, 9, 9]), mac, false)), /transaction id other than the request/);
  assert.throws(() => parseReply(reply, buildDiscover(reply.subarray(4, 8), macBytes('02:00:00:00:00:01'), false)), /for another MAC/);
  const noCookie = Buffer.from(reply);
  noCookie[0xec] = 0;
  assert.throws(() => parseReply(noCookie, buildDiscover(reply.subarray(4, 8), mac, false)), /wrong magic cookie/);
  assert.throws(() => parseReply(reply.subarray(0, 100), buildDiscover(reply.subarray(4, 8), mac, false)), /shorter than 246/);
});

test('a built reply round-trips options 245, 3 and 249 (classless routes)', () => {
  const request = buildDiscover(Buffer.from([7, 7, 7, 7]), macBytes('02:00:00:00:00:02'), true);
  const reply = Buffer.from(request);
  reply[0] = 2;
  const routes249 = [32, 168, 63, 129, 16, 10, 0, 0, 1, 0, 10, 0, 0, 1, 24, 10, 1, 2, 10, 0, 0, 254];
  const options = Buffer.from([53, 1, 2, 245, 4, 10, 0, 0, 9, 3, 4, 10, 0, 0, 1, 249, routes249.length, ...routes249, 255]);
  const full = Buffer.concat([reply.subarray(0, 0xf0), options]);
  const parsed = parseReply(full, request);
  assert.equal(parsed.wireServer, '10.0.0.9');
  assert.equal(parsed.gateway, '10.0.0.1');
  assert.deepEqual(parsed.routes, [
    { network: '168.63.129.16', bits: 32, gateway: '10.0.0.1' },
    { network: '0.0.0.0', bits: 0, gateway: '10.0.0.1' },
    { network: '10.1.2.0', bits: 24, gateway: '10.0.0.254' },
  ]);
  assert.throws(() => parseClasslessRoutes(Buffer.from([24, 10, 1])), /truncated classless static route/);
  const truncated = Buffer.concat([reply.subarray(0, 0xf0), Buffer.from([245, 4, 10, 0, 0, 0, 0, 0, 0, 0, 0, 245, 40, 1])]);
  assert.throws(() => parseReply(truncated, request), /truncated option 245/);
});

test('sendDiscover ignores a foreign reply, accepts the matching one, and is bounded in time', async (t) => {
  // a loopback "DHCP server": first a reply with the wrong xid, then the right one
  const server = createSocket('udp4');
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  t.after(() => server.close());
  let clientPort = 0;
  server.on('message', (req, rinfo) => {
    clientPort = rinfo.port;
    const wrong = Buffer.from(req);
    wrong[4] ^= 0xff;
    const good = Buffer.concat([req.subarray(0, 0xf0), Buffer.from([245, 4, 10, 9, 8, 7, 255, 0])]);
    server.send(wrong, rinfo.port, rinfo.address, () => server.send(good, rinfo.port, rinfo.address));
  });
  const target = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  const reply = await sendDiscover({ mac: '02:00:00:00:00:03', target, bindPort: 0, timeoutMs: 2000, schedule: [0] });
  assert.equal(reply.wireServer, '10.9.8.7');
  assert.ok(clientPort > 0);

  // nobody answers: every try times out, the sleeps follow the schedule, then one clear error
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  t.after(() => silent.close());
  const sleeps: number[] = [];
  const started = Date.now();
  const err = await sendDiscover({
    mac: '02:00:00:00:00:03',
    target: { host: '127.0.0.1', port: (silent.address() as AddressInfo).port },
    bindPort: 0,
    timeoutMs: 100,
    schedule: [0, 10, 30],
    sleep: async (ms) => void sleeps.push(ms),
  }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'protocol'));
  assert.match(err.message, /DHCP discovery failed after 3 tries: no valid reply within 100 ms/);
  assert.deepEqual(sleeps, [10_000, 30_000]);
  assert.ok(Date.now() - started < 2000);
});

test('discovery order: override, route, lease, persisted, default', async (t) => {
  const root = tempDir(t);
  const lib = join(root, 'lib');
  const conf = (extra: Record<string, string | null> = {}) => Config.from({ 'Lib.Dir': lib, ...extra });
  assert.deepEqual(
    await discoverWireServer({ config: conf({ 'Protocol.WireServerEndpoint': '127.0.0.1:8080' }), leaseGlobs: DEBIAN_LEASES, root }),
    {
      endpoint: '127.0.0.1:8080',
      source: 'config',
    },
  );
  assert.deepEqual(await discoverWireServer({ config: conf(), leaseGlobs: DEBIAN_LEASES, root, dhcp: false }), {
    endpoint: '168.63.129.16',
    source: 'default',
  });
  writePersistedEndpoint(lib, '10.0.0.77');
  assert.equal(readPersistedEndpoint(lib), '10.0.0.77');
  assert.deepEqual(await discoverWireServer({ config: conf(), leaseGlobs: DEBIAN_LEASES, root }), {
    endpoint: '10.0.0.77',
    source: 'persisted',
  });
  mkdirSync(join(root, 'var/lib/dhcp'), { recursive: true });
  writeFileSync(join(root, 'var/lib/dhcp/dhclient.eth0.leases'), readFileSync(join(DATA, 'dhcp.leases.custom.dns')));
  assert.deepEqual(await discoverWireServer({ config: conf(), leaseGlobs: DEBIAN_LEASES, root, now: new Date('2153-01-01Z') }), {
    endpoint: '168.63.129.1',
    source: 'lease',
  });
  // Protocol.EndpointDiscovery other than dhcp skips route and leases
  assert.equal(
    (await discoverWireServer({ config: conf({ 'Protocol.EndpointDiscovery': 'static' }), leaseGlobs: DEBIAN_LEASES, root })).source,
    'persisted',
  );
  mkdirSync(join(root, 'proc/net'), { recursive: true });
  writeFileSync(join(root, 'proc/net/route'), ROUTE_HEADER + 'eth0\t10813FA8\t0100000A\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n');
  assert.deepEqual(await discoverWireServer({ config: conf(), leaseGlobs: DEBIAN_LEASES, root }), {
    endpoint: '168.63.129.16',
    source: 'route',
  });
  // a persisted file that is not an address is ignored
  writeFileSync(join(lib, 'WireServerEndpoint'), 'garbage\n');
  assert.equal(readPersistedEndpoint(lib), null);
});

test('endpoints from configuration, and bad values named in one sentence', () => {
  const ep = platformEndpoints(Config.from({ 'Protocol.HostGAPluginPort': 40000, 'Protocol.ImdsEndpoint': '127.0.0.1:9090' }), '10.0.0.5');
  assert.deepEqual(ep, { wireServer: '10.0.0.5', hostPlugin: '10.0.0.5:40000', imds: '127.0.0.1:9090', overridden: false });
  assert.throws(
    () => platformEndpoints(Config.from({ 'Protocol.WireServerEndpoint': 'http://x/y' }), '1.2.3.4'),
    /Protocol.WireServerEndpoint=http:\/\/x\/y is not a host or host:port/,
  );
  assert.throws(() => platformEndpoints(Config.from({ 'Protocol.HostGAPluginPort': 70000 }), '1.2.3.4'), /is not a TCP port/);
});

test('redirectPlatformUrl sends 168.63.129.16 URLs to the override, HostGAPlugin port included', () => {
  const ep = platformEndpoints(
    Config.from({ 'Protocol.WireServerEndpoint': '127.0.0.1:8081', 'Protocol.HostGAPluginPort': 8082 }),
    'unused',
  );
  assert.equal(
    redirectPlatformUrl('http://168.63.129.16:80/machine/abc/role?comp=config&type=sharedConfig&incarnation=1', ep),
    'http://127.0.0.1:8081/machine/abc/role?comp=config&type=sharedConfig&incarnation=1',
  );
  assert.equal(
    redirectPlatformUrl('http://168.63.129.16/machine/?comp=certificates', ep),
    'http://127.0.0.1:8081/machine/?comp=certificates',
  );
  assert.equal(redirectPlatformUrl('http://168.63.129.16:32526/status', ep), 'http://127.0.0.1:8082/status');
  assert.equal(redirectPlatformUrl('https://x.blob.core.windows.net/c/b?sig=1', ep), 'https://x.blob.core.windows.net/c/b?sig=1');
  // without an override nothing is rewritten
  const plain = platformEndpoints(Config.from({}), '168.63.129.16');
  assert.equal(redirectPlatformUrl('http://168.63.129.16:80/machine/x', plain), 'http://168.63.129.16:80/machine/x');
});
