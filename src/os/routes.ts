// The routes a DHCP reply of our own DHCPDISCOVER asks for (docs/protocol.md §1.1, "After a DISCOVER"): a default
// route through the option-3 gateway when there is none, each classless static route (options 121/249), and a /32
// to the WireServer through the gateway when no route names it, so the next start finds it by the route check.
// The Python agent ignores `ip route add` failures (a route added meanwhile by the DHCP client is the usual one);
// so do we, with a warning. The routes learned in this process are kept for the DHCP client restart watch (§7.1).
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { WIRESERVER_IP } from '../util/wireserver-ip.ts';
import { primaryInterface } from './dhcp-hostname.ts';
import { run } from './exec.ts';

/** What a DHCP reply says about routes (fabric's DhcpReply has this shape, and more). */
export interface DhcpRoutes {
  /** option 245, or null when the reply does not carry it */
  wireServer: string | null;
  /** option 3, the first router, or null */
  gateway: string | null;
  /** classless static routes (options 249/121): destination a.b.c.d/bits through gateway */
  routes: ReadonlyArray<{ network: string; bits: number; gateway: string }>;
}

/** One line of /proc/net/route, addresses in dotted form. */
export interface KernelRoute {
  iface: string;
  destination: string;
  gateway: string;
  bits: number;
}

export interface RouteAdd {
  /** "default" or "a.b.c.d/n" */
  destination: string;
  gateway: string;
  /** the interface to pin the route to; null lets the kernel pick it from the gateway */
  iface: string | null;
}

/** /proc/net/route prints addresses as 8 hex digits of the little-endian word: 0100000A is 10.0.0.1. */
function fromHex(hex: string): string | null {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return null;
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

function maskBits(mask: string): number {
  return mask.split('.').reduce((sum, o) => sum + (Number(o).toString(2).match(/1/g)?.length ?? 0), 0);
}

/** The main table as /proc/net/route shows it; lines that do not parse are left out. */
export function parseRouteTable(text: string): KernelRoute[] {
  const out: KernelRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const destination = fromHex(f[1]!);
    const gateway = fromHex(f[2]!);
    const mask = fromHex(f[7]!);
    if (destination === null || gateway === null || mask === null) continue;
    out.push({ iface: f[0]!, destination, gateway, bits: maskBits(mask) });
  }
  return out;
}

/** What to add for `reply`, given the current table: nothing that is already there. */
export function planDhcpRoutes(reply: DhcpRoutes, table: readonly KernelRoute[], iface: string | null): RouteAdd[] {
  const has = (dest: string, bits: number) => table.some((r) => r.destination === dest && r.bits === bits);
  const plan: RouteAdd[] = [];
  const planned = new Set<string>();
  const add = (destination: string, gateway: string) => {
    if (planned.has(destination)) return;
    planned.add(destination);
    plan.push({ destination, gateway, iface });
  };
  if (reply.gateway && !has('0.0.0.0', 0)) add('default', reply.gateway);
  for (const r of reply.routes) {
    if (has(r.network, r.bits)) continue;
    add(r.bits === 0 ? 'default' : `${r.network}/${r.bits}`, r.gateway);
  }
  const ws = reply.wireServer ?? WIRESERVER_IP;
  const wsNamed =
    table.some((r) => r.destination === ws || r.gateway === ws) || reply.routes.some((r) => r.network === ws && r.bits === 32);
  if (reply.gateway && !wsNamed) add(`${ws}/32`, reply.gateway);
  return plan;
}

export function routeAddArgv(r: RouteAdd): string[] {
  return ['ip', 'route', 'add', r.destination, 'via', r.gateway, ...(r.iface ? ['dev', r.iface] : [])];
}

function firstExternalInterface(): string | null {
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if ((list ?? []).some((i) => !i.internal)) return name;
  }
  return null;
}

export interface ApplyRoutesOptions {
  /** default /proc/net/route */
  routeTable?: string;
  /** default the primary interface (§4.6), else the first non-loopback one */
  iface?: string | null;
}

/** Adds the planned routes; returns the ones `ip` accepted. Never throws for a route that cannot be added. */
export async function applyDhcpRoutes(reply: DhcpRoutes, opts: ApplyRoutesOptions = {}): Promise<RouteAdd[]> {
  let text = '';
  try {
    text = readFileSync(opts.routeTable ?? '/proc/net/route', 'utf8');
  } catch (e) {
    log.warn(`cannot read the route table: ${describeError(e)}; adding the DHCP routes anyway`);
  }
  const iface = opts.iface !== undefined ? opts.iface : (primaryInterface(text) ?? firstExternalInterface());
  const added: RouteAdd[] = [];
  for (const r of planDhcpRoutes(reply, parseRouteTable(text), iface)) {
    const argv = routeAddArgv(r);
    const res = await run(argv, { allowFailure: true, timeoutMs: 10_000 }).catch((e: unknown) => ({ code: -1, stderr: describeError(e) }));
    if (res.code === 0) {
      added.push(r);
      log.info(`route added from the DHCP reply: ${argv.slice(3).join(' ')}`);
    } else {
      log.warn(`\`${argv.join(' ')}\` failed: ${res.stderr.trim() || `exit code ${res.code}`}`);
    }
  }
  return added;
}

// The daemon is one process: the reply of its own DISCOVER is what the restart watch puts back (§7.1).
let learned: DhcpRoutes | null = null;

/** Records the routes of a DHCP reply for the restart watch; a reply without routes clears the record. */
export function rememberDhcpRoutes(reply: DhcpRoutes | null): void {
  learned =
    reply && (reply.gateway || reply.routes.length > 0)
      ? { wireServer: reply.wireServer, gateway: reply.gateway, routes: [...reply.routes] }
      : null;
}

export function learnedDhcpRoutes(): DhcpRoutes | null {
  return learned;
}
