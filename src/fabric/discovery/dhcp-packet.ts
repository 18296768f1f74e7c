// The DHCPDISCOVER the agent sends when neither the route table nor a lease names the WireServer, and the
// parser of the reply (docs/protocol.md §1.1, §10 item 36). Other machines' replies arrive on port 68 too,
// so a reply counts only when its xid, magic cookie and MAC equal the request's.
import { isIPv4 } from 'node:net';
import { AgentError } from '../../util/errors.ts';

export const REQUEST_LENGTH = 244;
const XID = 4;
const FLAGS = 0x0a;
const CHADDR = 0x1c;
const COOKIE = 0xec;
const OPTIONS = 0xf0;
const MAGIC_COOKIE = Buffer.from([0x63, 0x82, 0x53, 0x63]);
export const MIN_REPLY_LENGTH = 0xf6;

export interface DhcpRoute {
  /** destination network a.b.c.d */
  network: string;
  /** prefix length 0..32 */
  bits: number;
  gateway: string;
}

export interface DhcpReply {
  /** option 245, or null when the reply does not carry it */
  wireServer: string | null;
  /** option 3, the first router, or null */
  gateway: string | null;
  /** option 249, Microsoft classless static routes; else option 121 (RFC 3442, the same format) */
  routes: DhcpRoute[];
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with dashes) into 6 bytes; throws a clear error for anything else. */
export function macBytes(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p))) {
    throw new AgentError('protocol', `the MAC address ${JSON.stringify(mac)} is not six hex octets`, { mac });
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/** 244 zero bytes with op/htype/hlen, xid, the broadcast flag (every run after the first), MAC, cookie, DISCOVER. */
export function buildDiscover(xid: Buffer, mac: Buffer, broadcast: boolean): Buffer {
  if (xid.length !== 4) throw new AgentError('protocol', 'a DHCP transaction id must be 4 bytes', { length: xid.length });
  if (mac.length !== 6) throw new AgentError('protocol', 'a DHCP client MAC must be 6 bytes', { length: mac.length });
  const p = Buffer.alloc(REQUEST_LENGTH);
  p[0] = 1; // BOOTREQUEST
  p[1] = 1; // Ethernet
  p[2] = 6; // hardware address length
  xid.copy(p, XID);
  if (broadcast) p[FLAGS] = 0x80;
  mac.copy(p, CHADDR);
  MAGIC_COOKIE.copy(p, COOKIE);
  p[0xf0] = 53; // DHCP message type
  p[0xf1] = 1;
  p[0xf2] = 1; // DISCOVER
  p[0xf3] = 255; // end
  return p;
}

function ipAt(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function bad(why: string): AgentError {
  return new AgentError('protocol', `the DHCP reply ${why}`, { document: 'DHCP reply' });
}

/** Option 249: repeated (prefix bits, ceil(bits/8) network bytes, 4 gateway bytes). */
export function parseClasslessRoutes(data: Buffer): DhcpRoute[] {
  const routes: DhcpRoute[] = [];
  let i = 0;
  while (i < data.length) {
    const bits = data[i]!;
    if (bits > 32) throw bad(`has a classless route with a ${bits}-bit prefix`);
    const n = Math.ceil(bits / 8);
    if (i + 1 + n + 4 > data.length) throw bad('has a truncated classless static route (option 249)');
    const net = [0, 0, 0, 0];
    for (let k = 0; k < n; k++) net[k] = data[i + 1 + k]!;
    routes.push({ network: net.join('.'), bits, gateway: ipAt(data, i + 1 + n) });
    i += 1 + n + 4;
  }
  return routes;
}

/** Validates a reply against the request and reads options 245, 3 and 249. Throws one sentence when invalid. */
export function parseReply(reply: Buffer, request: Buffer): DhcpReply {
  if (reply.length < MIN_REPLY_LENGTH) throw bad(`is ${reply.length} bytes long, shorter than ${MIN_REPLY_LENGTH}`);
  if (!reply.subarray(COOKIE, COOKIE + 4).equals(request.subarray(COOKIE, COOKIE + 4))) throw bad('has the wrong magic cookie');
  if (!reply.subarray(XID, XID + 4).equals(request.subarray(XID, XID + 4))) throw bad('has a transaction id other than the request');
  if (!reply.subarray(CHADDR, CHADDR + 6).equals(request.subarray(CHADDR, CHADDR + 6))) throw bad('is for another MAC address');
  const out: DhcpReply = { wireServer: null, gateway: null, routes: [] };
  let i = OPTIONS;
  let has249 = false;
  while (i < reply.length) {
    const code = reply[i]!;
    if (code === 255) break;
    if (code === 0) {
      i++; // pad
      continue;
    }
    if (i + 1 >= reply.length) throw bad(`has a truncated option ${code}`);
    const len = reply[i + 1]!;
    if (i + 2 + len > reply.length) throw bad(`has a truncated option ${code}`);
    const data = reply.subarray(i + 2, i + 2 + len);
    if (code === 245 && len === 4) out.wireServer = ipAt(data, 0);
    else if (code === 3 && len >= 4) out.gateway = ipAt(data, 0);
    else if (code === 249 || (code === 121 && !has249)) out.routes = parseClasslessRoutes(data);
    if (code === 249) has249 = true;
    i += 2 + len;
  }
  if (out.wireServer !== null && !isIPv4(out.wireServer)) out.wireServer = null;
  return out;
}
