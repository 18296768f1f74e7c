// Step 1 of DHCP discovery (docs/protocol.md §1.1): a kernel route to 168.63.129.16 means the WireServer is at
// its well-known address. /proc/net/route prints addresses as little-endian hex, so 168.63.129.16 is 10813FA8.
import { readFileSync } from 'node:fs';

export const WIRESERVER_ROUTE_HEX = '10813FA8';

/** True when the route table text has a route whose destination or gateway is 168.63.129.16. */
export function hasWireServerRoute(routeTable: string): boolean {
  return routeTable
    .split('\n')
    .slice(1)
    .some((line) => line.toUpperCase().includes(WIRESERVER_ROUTE_HEX));
}

/** Reads `<root>/proc/net/route`; false when it cannot be read. */
export function routeTableHasWireServer(root: string): boolean {
  try {
    return hasWireServerRoute(readFileSync(`${root}/proc/net/route`, 'utf8'));
  } catch {
    return false;
  }
}

/** True when the route table has a default route (destination 00000000). */
export function hasDefaultRoute(routeTable: string): boolean {
  return routeTable
    .split('\n')
    .slice(1)
    .some((line) => line.trim().split(/\s+/)[1] === '00000000');
}
