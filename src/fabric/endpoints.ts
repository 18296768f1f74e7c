// Where the WireServer, HostGAPlugin and IMDS are, and the URL redirection of docs/contract.md §4: when
// Protocol.WireServerEndpoint is set, every URL in a platform document whose host is 168.63.129.16 goes to the
// override instead (HostGAPlugin URLs on port 32526: same host, Protocol.HostGAPluginPort).
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { WIRESERVER_IP } from '../util/wireserver-ip.ts';

export { WIRESERVER_IP };
export const DEFAULT_HGAP_PORT = 32526;

export interface PlatformEndpoints {
  /** host[:port] of the WireServer. */
  readonly wireServer: string;
  /** host:port of the HostGAPlugin. */
  readonly hostPlugin: string;
  /** host[:port] of IMDS. */
  readonly imds: string;
  /** true when Protocol.WireServerEndpoint is set: document URLs are redirected. */
  readonly overridden: boolean;
}

/** Checks a `host` or `host:port` value; returns it as a URL authority. */
export function parseAuthority(value: string, key: string): { host: string; port: string; authority: string } {
  let u: URL;
  try {
    u = new URL(`http://${value.trim()}`);
  } catch {
    throw new AgentError('config', `${key}=${value} is not a host or host:port`, { key, value });
  }
  if (u.pathname !== '/' || u.search || u.hash || u.username || !u.hostname) {
    throw new AgentError('config', `${key}=${value} is not a host or host:port`, { key, value });
  }
  return { host: u.hostname, port: u.port, authority: u.host };
}

/** The configured WireServer override (Protocol.WireServerEndpoint), or null when discovery should run. */
export function wireServerOverride(config: Config): string | null {
  const v = config.str('Protocol.WireServerEndpoint');
  return v?.trim() ? parseAuthority(v, 'Protocol.WireServerEndpoint').authority : null;
}

/** The endpoints, given the WireServer address that discovery (or the override) produced. */
export function platformEndpoints(config: Config, wireServer: string): PlatformEndpoints {
  const override = wireServerOverride(config);
  const ws = parseAuthority(override ?? wireServer, 'Protocol.WireServerEndpoint');
  const hgapPort = config.int('Protocol.HostGAPluginPort');
  if (!Number.isInteger(hgapPort) || hgapPort < 1 || hgapPort > 65535) {
    throw new AgentError('config', `Protocol.HostGAPluginPort=${hgapPort} is not a TCP port`, { key: 'Protocol.HostGAPluginPort' });
  }
  const hostName = ws.authority.replace(/:\d+$/, '');
  const imds = parseAuthority(config.str('Protocol.ImdsEndpoint'), 'Protocol.ImdsEndpoint').authority;
  return { wireServer: ws.authority, hostPlugin: `${hostName}:${hgapPort}`, imds, overridden: override !== null };
}

/**
 * Sends a URL from a platform document to the configured endpoints: with an override, host 168.63.129.16
 * becomes the override (port 32526 becomes the HostGAPlugin endpoint). Other URLs are returned unchanged.
 */
export function redirectPlatformUrl(url: string, ep: PlatformEndpoints): string {
  if (!ep.overridden) return url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.hostname !== WIRESERVER_IP || u.protocol !== 'http:') return url;
  const target = u.port === String(DEFAULT_HGAP_PORT) ? ep.hostPlugin : ep.wireServer;
  return `http://${target}${u.pathname}${u.search}`;
}

export function wireServerUrl(ep: PlatformEndpoints, pathAndQuery: string): string {
  return `http://${ep.wireServer}${pathAndQuery}`;
}
export function hostPluginUrl(ep: PlatformEndpoints, pathAndQuery: string): string {
  return `http://${ep.hostPlugin}${pathAndQuery}`;
}
export function imdsUrl(ep: PlatformEndpoints, pathAndQuery: string): string {
  return `http://${ep.imds}${pathAndQuery}`;
}
