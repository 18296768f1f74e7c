// One HTTP attempt on the wire, for http.ts (the one place that does HTTP): the request sent and its response head,
// the body left to the caller as a stream. Direct http:// requests (every platform request, and storage without a
// proxy) go over a plain socket (http1-socket.ts); https:// and http:// storage through a plain HTTP proxy
// (absolute-form target, docs/protocol.md §2.1) through node:http; one connection per request as `Connection: close`
// asks. undici is loaded (one dynamic import, on first need) only for
// what node:http cannot do simply: https:// storage through a proxy (CONNECT tunnel) and any https:// proxy.
// Keeping undici off the platform path spares its WebAssembly parser (~10 MiB private) and its per-response error
// objects for every `Connection: close` answer (issue 14).
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Dispatcher } from 'undici';
import { sendHttp1 } from './http1-socket.ts';
import { proxyFor, type ProxySettings } from './proxy.ts';

/** What http.ts needs of a response: status, headers (names in lower case) and the body as a stream of chunks. */
export interface WireResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer>;
}

export interface WireRequest {
  url: URL;
  /** From WireTransport.proxyFor: the proxy URL, or null for a direct connection. */
  proxy: string | null;
  method: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
  /** Aborting it ends the attempt (request and body); the reason is the abort's. */
  signal: AbortSignal;
}

/** The connections of one HTTP client: node:http agents made on first use, undici proxy agents per proxy URL. */
export interface WireTransport {
  /** The proxy a request to `url` goes through, or null; platform requests never use one. Throws on a malformed proxy setting. */
  proxyFor(url: URL, target: 'platform' | 'external'): string | null;
  open(req: WireRequest): Promise<WireResponse>;
  close(): Promise<void>;
}

type Undici = typeof import('undici');
type Https = typeof import('node:https');

// Each loaded once per process: esbuild's bundle copies a module's exports on every import() it evaluates.
let httpsModule: Promise<Https> | null = null;
let undiciModule: Promise<Undici> | null = null;

/** Content-Length as undici set it: the body's size, 0 for a PUT/POST without one, unless the caller gave it. */
function withContentLength(req: WireRequest): Record<string, string> {
  if (Object.keys(req.headers).some((k) => k.toLowerCase() === 'content-length')) return req.headers;
  if (req.body !== undefined) return { ...req.headers, 'Content-Length': String(Buffer.byteLength(req.body)) };
  if (req.method === 'PUT' || req.method === 'POST') return { ...req.headers, 'Content-Length': '0' };
  return req.headers;
}

/** Basic credentials of a proxy URL (user:password@), as undici's ProxyAgent sends them. */
function proxyAuthorization(proxy: URL): string | null {
  if (!proxy.username) return null;
  const user = decodeURIComponent(proxy.username);
  const password = proxy.password ? decodeURIComponent(proxy.password) : '';
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Sends the request through node:http(s) to `to` (the origin, or the proxy) and resolves on the response head; errors before it reject. */
function sendNode(
  send: (url: URL, opts: RequestOptions, cb: (res: IncomingMessage) => void) => ClientRequest,
  to: URL,
  opts: RequestOptions,
  req: WireRequest,
): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const r = send(to, { ...opts, method: req.method, signal: req.signal }, (res) =>
      resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res }),
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

export function createWireTransport(proxy: ProxySettings): WireTransport {
  // Connection: close on every request, so no socket is pooled; the agents only bound concurrency per host.
  let httpAgent: HttpAgent | null = null;
  let httpsAgent: HttpsAgent | null = null;
  const tunnels = new Map<string, Dispatcher>();

  async function direct(req: WireRequest): Promise<WireResponse> {
    const headers = withContentLength(req);
    if (req.url.protocol === 'http:') return sendHttp1({ ...req, headers });
    httpsModule ??= import('node:https');
    const https = await httpsModule;
    httpsAgent ??= new https.Agent({ keepAlive: false });
    return sendNode(https.request, req.url, { agent: httpsAgent, headers }, req);
  }

  /** http:// through a plain HTTP proxy: the absolute URL as the request target, Host naming the origin. */
  async function forward(req: WireRequest, via: URL): Promise<WireResponse> {
    const auth = proxyAuthorization(via);
    const headers: Record<string, string> = { Host: req.url.host, ...withContentLength(req) };
    if (auth) headers['Proxy-Authorization'] = auth;
    httpAgent ??= new HttpAgent({ keepAlive: false });
    const res = await sendNode(httpRequest, via, { agent: httpAgent, path: req.url.href, auth: undefined, headers }, req);
    if (res.statusCode === 407) {
      // as undici's ProxyAgent did: an IO error (retried), not a status of the origin
      for await (const _ of res.body) void _;
      throw new Error('Proxy Authentication Required (407)');
    }
    return res;
  }

  /** CONNECT through the proxy (https:// targets) or TLS to an https:// proxy: undici's ProxyAgent. */
  async function tunnel(req: WireRequest, via: string): Promise<WireResponse> {
    undiciModule ??= import('undici');
    const u = await undiciModule;
    let d = tunnels.get(via);
    if (!d) {
      d = new u.ProxyAgent({ uri: via });
      tunnels.set(via, d);
    }
    const res = await u.request(req.url, {
      method: req.method as Dispatcher.HttpMethod,
      headers: req.headers,
      body: req.body,
      dispatcher: d,
      signal: req.signal,
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body as AsyncIterable<Buffer> };
  }

  return {
    proxyFor: (url, target) => (target === 'external' ? proxyFor(url, proxy) : null),
    open(req) {
      if (req.proxy === null) return direct(req);
      const via = new URL(req.proxy);
      if (req.url.protocol === 'http:' && via.protocol === 'http:') return forward(req, via);
      return tunnel(req, req.proxy);
    },
    async close() {
      httpAgent?.destroy();
      httpsAgent?.destroy();
      httpAgent = httpsAgent = null;
      const all = [...tunnels.values()];
      tunnels.clear();
      await Promise.all(all.map((d) => d.close().catch(() => undefined)));
    },
  };
}
