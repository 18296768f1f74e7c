// Which proxy, if any, a blob/artifact request goes through (docs/protocol.md §2.1, §10 item 4).
// Platform endpoints (WireServer, HostGAPlugin, IMDS) never get here: http.ts sends them direct.
import { isIPv4 } from 'node:net';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';

export interface ProxySettings {
  /** HttpProxy.Host / HttpProxy.Port from the configuration; both must be set to count. */
  configHost: string | null;
  configPort: number | null;
  /** The process environment (http_proxy, https_proxy, no_proxy in either case). */
  env: NodeJS.ProcessEnv;
}

function envVar(env: NodeJS.ProcessEnv, name: string): string | null {
  const v = env[name] ?? env[name.toUpperCase()];
  return v?.trim() ? v.trim() : null;
}

/** A proxy URL with a scheme; a bare `host:port` (as people write in http_proxy) means http://host:port. */
function normalizeProxyUrl(raw: string, source: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  try {
    const u = new URL(withScheme);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return withScheme;
  } catch {
    throw new AgentError('config', `the proxy ${source} is not a valid http(s) URL`, { source });
  }
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** True when the IPv4 address `ip` is inside `cidr` (a.b.c.d/n). */
export function inCidr(ip: string, cidr: string): boolean {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIPv4(m[1]!) || !isIPv4(ip)) return false;
  const bits = Number(m[2]);
  if (bits > 32) return false;
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
  return (ipv4ToInt(ip) & mask) >>> 0 === (ipv4ToInt(m[1]!) & mask) >>> 0;
}

/**
 * True when no_proxy says `host` goes direct: `*`, an exact host or IP, a CIDR holding the IP, or a domain
 * suffix (`example.com`, `.example.com` and `*.example.com` all cover `a.example.com`). Upstream compares with a
 * bare endsWith, so `example.com` also covered `badexample.com`; we match on a label boundary instead.
 */
export function bypassesProxy(host: string, noProxy: string | null): boolean {
  if (!noProxy) return false;
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  for (let entry of noProxy.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    if (entry.includes('/')) {
      if (inCidr(h, entry)) return true;
      continue;
    }
    entry = entry.replace(/:\d+$/, '');
    if (isIPv4(h) || isIPv4(entry)) {
      if (h === entry) return true;
      continue;
    }
    const domain = entry.replace(/^\*?\./, '');
    if (h === domain || h.endsWith('.' + domain)) return true;
  }
  return false;
}

/** The proxy URL for `url`, or null for a direct connection. HttpProxy.* wins over the environment. */
export function proxyFor(url: URL, s: ProxySettings): string | null {
  if (bypassesProxy(url.hostname, envVar(s.env, 'no_proxy'))) return null;
  if (s.configHost && s.configPort !== null) {
    return normalizeProxyUrl(`${s.configHost}:${s.configPort}`, `HttpProxy.Host/HttpProxy.Port ${s.configHost}:${s.configPort}`);
  }
  const name = url.protocol === 'https:' ? 'https_proxy' : 'http_proxy';
  const raw = envVar(s.env, name);
  return raw ? normalizeProxyUrl(raw, `in ${name}`) : null;
}

/** HttpProxy.Host/Port from the configuration plus the process environment. */
export function proxySettings(config: Config, env: NodeJS.ProcessEnv = process.env): ProxySettings {
  return { configHost: config.str('HttpProxy.Host'), configPort: config.int('HttpProxy.Port'), env };
}
