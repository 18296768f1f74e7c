// Finding the WireServer (docs/protocol.md §1.1, §1.2): the configured override; else, with
// Protocol.EndpointDiscovery=dhcp, the route table and the lease files; then the persisted endpoint; then (the
// daemon only) our own DHCPDISCOVER; finally the well-known 168.63.129.16.
import { libDirOf, type Config } from '../../config/index.ts';
import { describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { applyDhcpRoutes, rememberDhcpRoutes, type DhcpRoutes } from '../../os/routes.ts';
import { WIRESERVER_IP, wireServerOverride } from '../endpoints.ts';
import { sendDiscover, type DiscoverOptions } from './dhcp-send.ts';
import { endpointFromLeaseFiles } from './leases.ts';
import { readPersistedEndpoint } from './persisted.ts';
import { routeTableHasWireServer } from './route-table.ts';

export { hasWireServerRoute, hasDefaultRoute, routeTableHasWireServer } from './route-table.ts';
export { parseDhclientLeases, parseNetworkdLease, endpointFromLeaseFiles } from './leases.ts';
export { buildDiscover, parseReply, parseClasslessRoutes, macBytes, type DhcpReply, type DhcpRoute } from './dhcp-packet.ts';
export { sendDiscover, primaryMac, DISCOVER_SCHEDULE_S, type DiscoverOptions } from './dhcp-send.ts';
export { readPersistedEndpoint, writePersistedEndpoint, clearPersistedEndpoint, ENDPOINT_FILE } from './persisted.ts';

export type EndpointSource = 'config' | 'route' | 'lease' | 'persisted' | 'dhcp' | 'default';

export interface DiscoveryOptions {
  config: Config;
  /** The DHCP client's lease files (the distro profile's leaseGlobs), most likely first. */
  leaseGlobs: readonly string[];
  /** Prefix for /proc, /var/lib/dhcp, /run …: tests point it at a fixture tree. */
  root?: string;
  now?: Date;
  /** Send our own DHCPDISCOVER when nothing else named the WireServer (daemon only); its options. */
  dhcp?: DiscoverOptions | false;
  /** What to do with the gateway and routes of a DHCP reply (default: add them, §1.1 "After a DISCOVER"). */
  applyRoutes?: (reply: DhcpRoutes) => Promise<unknown>;
}

export interface DiscoveredEndpoint {
  endpoint: string;
  source: EndpointSource;
}

export async function discoverWireServer(opts: DiscoveryOptions): Promise<DiscoveredEndpoint> {
  const override = wireServerOverride(opts.config);
  if (override) return { endpoint: override, source: 'config' };
  const root = opts.root ?? '';
  const useDhcp = opts.config.str('Protocol.EndpointDiscovery').toLowerCase() === 'dhcp';
  if (useDhcp) {
    if (routeTableHasWireServer(root)) return { endpoint: WIRESERVER_IP, source: 'route' };
    const lease = endpointFromLeaseFiles(root, opts.leaseGlobs, opts.now);
    if (lease) return { endpoint: lease, source: 'lease' };
  }
  const persisted = readPersistedEndpoint(libDirOf(opts.config));
  if (persisted) return { endpoint: persisted, source: 'persisted' };
  if (useDhcp && opts.dhcp) {
    try {
      const reply = await sendDiscover(opts.dhcp);
      // the routes first: the WireServer may only be reachable through them
      await (opts.applyRoutes ?? ((r: DhcpRoutes) => applyDhcpRoutes(r, { routeTable: `${root}/proc/net/route` })))(reply);
      rememberDhcpRoutes(reply);
      if (reply.wireServer) return { endpoint: reply.wireServer, source: 'dhcp' };
      log.info('the DHCP reply carries no option 245; using the well-known WireServer address');
    } catch (e) {
      log.warn(`${describeError(e)}; using the well-known WireServer address`);
    }
  }
  return { endpoint: WIRESERVER_IP, source: 'default' };
}
