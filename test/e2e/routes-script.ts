// Runs INSIDE the namespace sandbox (started by routes.test.ts, never on the host): our own DHCPDISCOVER answered
// by a loopback "DHCP server" with options 245, 3 and 249, the real `ip route add`s that follow (§1.1), then the
// DHCP client restart watch (§7.1) putting the routes back after a fake dhclient "restarts" and they were flushed.
// Prints one JSON object: what discovery found, `ip route` after each step, and the watch's findings.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Config } from '../../src/config/index.ts';
import { dhcpWatchTask, pidsOf } from '../../src/daemon/dhcp-watch.ts';
import { discoverWireServer } from '../../src/fabric/discovery/index.ts';
import { detectProfile } from '../../src/os/distro-profile.ts';
import { learnedDhcpRoutes } from '../../src/os/routes.ts';

const ipRoute = () => execFileSync('ip', ['route', 'show', 'table', 'main'], { encoding: 'utf8' });

const server = createSocket('udp4');
await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
server.on('message', (req, rinfo) => {
  // 245: 168.63.129.16; 3: 192.0.2.1; 249: 198.51.100.0/24 via 192.0.2.254
  const routes = [24, 198, 51, 100, 192, 0, 2, 254];
  const opts = [53, 1, 2, 245, 4, 168, 63, 129, 16, 3, 4, 192, 0, 2, 1, 249, routes.length, ...routes, 255];
  server.send(Buffer.concat([req.subarray(0, 0xf0), Buffer.from(opts)]), rinfo.port, rinfo.address);
});
const out: Record<string, unknown> = { before: ipRoute() };
const config = Config.from({ 'Lib.Dir': '/var/lib/waagent' });
out.found = await discoverWireServer({
  config,
  leaseGlobs: detectProfile().leaseGlobs,
  dhcp: {
    mac: process.argv[2]!,
    target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
    bindPort: 0,
    timeoutMs: 5000,
    schedule: [0],
  },
});
server.close();
out.learned = learnedDhcpRoutes();
out.afterDiscovery = ipRoute();

// a "dhclient": sleep under that name, so /proc/<pid>/comm says dhclient
copyFileSync('/bin/sleep', '/tmp/dhclient');
const startClient = (): ChildProcess => spawn('/tmp/dhclient', ['300'], { stdio: 'ignore' });
let client = startClient();
await sleep(100);
const task = dhcpWatchTask(config, { process: 'dhclient' });
await task.run(); // remembers the pid
out.firstPids = pidsOf('dhclient');
// the DHCP client restarts and reconfigures the interface: our routes are gone
for (const dest of ['default', '198.51.100.0/24', '168.63.129.16/32']) execFileSync('ip', ['route', 'del', dest]);
out.flushed = ipRoute();
await task.run(); // same pid: nothing to do
out.samePid = ipRoute();
client.kill('SIGKILL');
await new Promise((r) => client.once('exit', r));
client = startClient();
await sleep(100);
out.secondPids = pidsOf('dhclient');
await task.run(); // a new pid: the routes come back
out.restored = ipRoute();
client.kill('SIGKILL');
process.stdout.write(JSON.stringify(out));
