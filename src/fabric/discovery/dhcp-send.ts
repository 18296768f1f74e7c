// Step 3 of DHCP discovery (docs/protocol.md §1.1): broadcast our own DHCPDISCOVER from port 68 and wait,
// bounded in time, for a reply that matches it. Only the daemon does this, and only without an override.
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { AgentError, describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { buildDiscover, macBytes, parseReply, type DhcpReply } from './dhcp-packet.ts';

/** Pause before each try, seconds (§1.1). */
export const DISCOVER_SCHEDULE_S: readonly number[] = [0, 10, 30, 60, 60];

export interface DiscoverOptions {
  /** Receive timeout per try (10 s upstream). */
  timeoutMs?: number;
  schedule?: readonly number[];
  /** Set on every run after the first in the process: ask for a broadcast reply (§1.1). */
  broadcast?: boolean;
  mac?: string;
  /** Where to send: the limited broadcast address upstream; tests use loopback. */
  target?: { host: string; port: number };
  bindPort?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** The MAC address of the first non-loopback interface that has one. */
export function primaryMac(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (!i.internal && i.mac && i.mac !== '00:00:00:00:00:00') return i.mac;
  }
  return null;
}

/** One try: send the request and resolve with the first reply that validates, or null after the timeout. */
function tryOnce(request: Buffer, opts: Required<Pick<DiscoverOptions, 'timeoutMs' | 'target' | 'bindPort'>>): Promise<DhcpReply | null> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    let done = false;
    const finish = (v: DhcpReply | null, err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(v);
    };
    const timer = setTimeout(() => finish(null), opts.timeoutMs);
    sock.on('error', (e) => finish(null, e));
    sock.on('message', (msg) => {
      try {
        finish(parseReply(msg, request));
      } catch (e) {
        log.verbose(`ignored a DHCP reply: ${describeError(e)}`);
      }
    });
    sock.bind(opts.bindPort, () => {
      sock.setBroadcast(true);
      sock.send(request, opts.target.port, opts.target.host, (e) => e && finish(null, e));
    });
  });
}

/** Sends DHCPDISCOVER on the schedule until a valid reply arrives; throws when none did. */
export async function sendDiscover(opts: DiscoverOptions = {}): Promise<DhcpReply> {
  const mac = opts.mac ?? primaryMac();
  if (!mac) throw new AgentError('protocol', 'no network interface with a MAC address was found for DHCP discovery');
  const request = buildDiscover(randomBytes(4), macBytes(mac), opts.broadcast ?? false);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const schedule = opts.schedule ?? DISCOVER_SCHEDULE_S;
  const o = {
    timeoutMs: opts.timeoutMs ?? 10_000,
    target: opts.target ?? { host: '255.255.255.255', port: 67 },
    bindPort: opts.bindPort ?? 68,
  };
  let last = 'no reply';
  for (const pause of schedule) {
    if (pause > 0) await sleep(pause * 1000);
    try {
      const reply = await tryOnce(request, o);
      if (reply) return reply;
      last = `no valid reply within ${o.timeoutMs} ms`;
    } catch (e) {
      last = describeError(e);
    }
    log.info(`DHCP discovery: ${last}`);
  }
  throw new AgentError('protocol', `DHCP discovery failed after ${schedule.length} tries: ${last}`, { tries: schedule.length });
}
