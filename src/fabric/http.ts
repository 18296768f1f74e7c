// The one place that does HTTP (docs/protocol.md §2.1): per-attempt timeouts, the retry / back-off / throttle
// rules, 410 and InvalidContainerConfiguration as 'resource-gone', a size cap on every response body, and a proxy
// only for blob/artifact requests. undici is loaded on the first request so -version and -help never pay for it.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { AgentError, describeError, isAgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { redactUrl } from '../log/redact.ts';
import { USER_AGENT } from '../util/version.ts';
import { proxyFor, type ProxySettings } from './proxy.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_ATTEMPTS = 6;
export const DEFAULT_RETRY_DELAY_MS = 1_000;
export const THROTTLE_DELAY_MS = 1_000;
export const THROTTLE_MIN_ATTEMPTS = 25;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

const OK = new Set([200, 201, 202]);
export const RETRY_STATUSES: ReadonlySet<number> = new Set([205, 206, 403, 500, 501, 502, 503, 504, 507, 429]);
export const THROTTLE_STATUSES: ReadonlySet<number> = new Set([403, 503, 429]);

export interface HttpRequest {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'HEAD';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** 'platform' (WireServer, HostGAPlugin, IMDS: never proxied) or 'external' (blob storage: proxy allowed). */
  target?: 'platform' | 'external';
  /** Per attempt, connect to last body byte. */
  timeoutMs?: number;
  maxAttempts?: number;
  /** The Fibonacci base: attempt n waits retryDelayMs × 2, 3, 5, 8, 13 … */
  retryDelayMs?: number;
  /** false for telemetry: throttling does not raise the attempt cap (§2.1). */
  throttleRaisesAttempts?: boolean;
  /** Statuses retried on top of RETRY_STATUSES (e.g. 400 for HGAP /extensionArtifact, §3.3). */
  extraRetryStatuses?: readonly number[];
  /** Non-OK statuses handed back to the caller instead of thrown (e.g. 304 and 404 for vmSettings). */
  acceptStatuses?: readonly number[];
  /** Largest response body accepted; the request is aborted beyond it. */
  maxBodyBytes?: number;
  /** Absolute time (ms, the client's clock) after which no attempt starts and none is waited for. */
  deadline?: number;
  /** Stop retrying at once on "network is unreachable" (health reports, §3.1 and §10 item 42, as cloud-init does). */
  giveUpOnUnreachable?: boolean;
  /**
   * Stream an OK body into this file (created 0600, truncated on every attempt) instead of memory; the response's
   * `body` is then empty and `bodyBytes` tells the size. The caller renames or removes the file.
   */
  toFile?: string;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Bytes received: body.length, or the size written to `toFile`. */
  bodyBytes: number;
  attempts: number;
  text(): string;
}

export interface HttpClientOptions {
  proxy?: ProxySettings;
  userAgent?: string;
  /** Injectable so tests do not wait for real. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Default for HttpRequest.deadline: bounds every request this client sends (e.g. one -goal-state run). */
  deadline?: number;
  /**
   * Checked before every attempt: once true, requests fail without another attempt (the daemon stopping on
   * SIGTERM must not sit out the retry back-off). Give a `sleep` that also ends early then.
   */
  cancelled?: () => boolean;
}

export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>;
  /** HTTP requests sent (every attempt counts). */
  readonly requestCount: number;
  close(): Promise<void>;
}

/** Fibonacci-scaled back-off before attempt n (1-based retry count): 2, 3, 5, 8, 13 … × delay (§2.1). */
export function backoffDelay(retry: number, delayMs: number): number {
  let [a, b] = [1, 1];
  for (let i = 0; i < retry; i++) [a, b] = [b, a + b];
  return delayMs * b;
}

function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A failed attempt: IO errors and retryable statuses are retried, the rest thrown as they are. */
class Retryable extends Error {
  readonly status: number;
  /** the network (no route) rather than the server failed */
  readonly unreachable: boolean;
  constructor(message: string, status: number, unreachable = false) {
    super(message);
    this.status = status;
    this.unreachable = unreachable;
  }
}

/** ENETUNREACH anywhere in the error's cause chain (undici wraps the socket error). */
function isNetworkUnreachable(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    if ((c as NodeJS.ErrnoException).code === 'ENETUNREACH') return true;
  }
  return false;
}

function headerRecord(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export function createHttpClient(opts: HttpClientOptions = {}): HttpClient {
  const sleep = opts.sleep ?? realSleep;
  const now = opts.now ?? Date.now;
  const userAgent = opts.userAgent ?? USER_AGENT;
  const proxy: ProxySettings = opts.proxy ?? { configHost: null, configPort: null, env: process.env };
  let count = 0;
  let direct: Dispatcher | null = null;
  const proxies = new Map<string, Dispatcher>();

  async function dispatcherFor(url: URL, target: 'platform' | 'external'): Promise<Dispatcher> {
    const undici = await import('undici');
    const via = target === 'external' ? proxyFor(url, proxy) : null;
    if (via === null) {
      direct ??= new undici.Agent();
      return direct;
    }
    let d = proxies.get(via);
    if (!d) {
      d = new undici.ProxyAgent({ uri: via });
      proxies.set(via, d);
    }
    return d;
  }

  async function attempt(req: HttpRequest, url: URL, timeoutMs: number, maxBody: number): Promise<HttpResponse> {
    const { request } = await import('undici');
    const dispatcher = await dispatcherFor(url, req.target ?? 'platform');
    const headers: Record<string, string> = { 'User-Agent': userAgent, ...req.headers, Connection: 'close' };
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Retryable(`no complete answer within ${timeoutMs} ms`, 0)), timeoutMs);
    let sink: WriteStream | null = null;
    let sinkError: Error | null = null;
    count++;
    try {
      const res = await request(url, {
        method: req.method ?? 'GET',
        headers,
        body: req.body,
        dispatcher,
        signal: ac.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBody) {
        ac.abort();
        throw new AgentError('http', `the response is larger than the ${maxBody}-byte limit`, { length: declared });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      if (req.toFile !== undefined && OK.has(res.statusCode)) {
        sink = createWriteStream(req.toFile, { mode: 0o600 });
        sink.on('error', (e) => (sinkError ??= e));
      }
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > maxBody) {
          ac.abort();
          throw new AgentError('http', `the response is larger than the ${maxBody}-byte limit`, { length: size });
        }
        if (!sink) chunks.push(chunk as Buffer);
        else if (!sink.write(chunk)) await Promise.race([once(sink, 'drain'), once(sink, 'close')]);
        if (sinkError) throw sinkError;
      }
      // A connection cut mid-body is a truncated download, not a short document (docs/contract.md §5: truncated bodies).
      if (Number.isFinite(declared) && size !== declared && req.method !== 'HEAD' && res.statusCode !== 204 && res.statusCode !== 304) {
        throw new Retryable(`the body ended after ${size} of ${declared} bytes`, 0);
      }
      if (sink) {
        sink.end();
        await finished(sink);
        sink = null;
      }
      const body = Buffer.concat(chunks);
      return { status: res.statusCode, headers: headerRecord(res.headers), body, bodyBytes: size, attempts: 0, text: () => body.toString('utf8') };
    } catch (e) {
      if (e instanceof AgentError || e instanceof Retryable) throw e;
      if (sinkError || (sink && e === sink.errored)) {
        throw new AgentError('io', `cannot write ${req.toFile}: ${describeError(e)}`, { path: req.toFile ?? '' }, e);
      }
      const reason = ac.signal.reason instanceof Retryable ? ac.signal.reason.message : describeError(e);
      throw new Retryable(reason, 0, isNetworkUnreachable(e));
    } finally {
      clearTimeout(timer);
      sink?.destroy();
    }
  }

  async function send(req: HttpRequest): Promise<HttpResponse> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      throw new AgentError('http', `the URL ${redactUrl(req.url)} is not valid`, { url: redactUrl(req.url) });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AgentError('http', `the URL ${redactUrl(req.url)} is not http or https`, { url: redactUrl(req.url) });
    }
    const shown = redactUrl(req.url);
    if (req.deadline === undefined && opts.deadline !== undefined) req = { ...req, deadline: opts.deadline };
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBody = req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const delayMs = req.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    const retryStatuses = new Set([...RETRY_STATUSES, ...(req.extraRetryStatuses ?? [])]);
    let maxAttempts = Math.max(1, req.maxAttempts ?? DEFAULT_ATTEMPTS);
    let throttled = false;
    let lastError = '';
    let lastStatus = 0;
    let attempts = 0;
    let outOfTime = false;
    let cancelled = false;
    while (attempts < maxAttempts) {
      if (attempts > 0) {
        const wait = throttled ? THROTTLE_DELAY_MS : backoffDelay(attempts, delayMs);
        if (req.deadline !== undefined && now() + wait >= req.deadline) {
          outOfTime = true;
          break;
        }
        await sleep(wait);
      }
      if (req.deadline !== undefined && now() >= req.deadline) {
        outOfTime = true;
        break;
      }
      if (opts.cancelled?.()) {
        cancelled = true;
        break;
      }
      attempts++;
      const left = req.deadline === undefined ? timeoutMs : Math.min(timeoutMs, Math.max(1, req.deadline - now()));
      let res: HttpResponse;
      try {
        res = await attempt(req, url, left, maxBody);
      } catch (e) {
        if (e instanceof Retryable) {
          lastError = e.message;
          lastStatus = 0;
          log.verbose(`HTTP ${req.method ?? 'GET'} ${shown} failed (attempt ${attempts}): ${e.message}`);
          if (e.unreachable && req.giveUpOnUnreachable) break;
          continue;
        }
        if (isAgentError(e, 'http')) {
          throw new AgentError('http', `${req.method ?? 'GET'} ${shown} failed: ${e.message}`, { ...e.context, url: shown, status: 0, attempts });
        }
        throw e;
      }
      res.attempts = attempts;
      if (OK.has(res.status) || req.acceptStatuses?.includes(res.status)) return res;
      if (res.status === 410 || (res.status === 400 && res.text().includes('InvalidContainerConfiguration'))) {
        // The caller refreshes the goal state (container id, config name) and retries once (§2.1, §10 item 2).
        throw new AgentError('resource-gone', `${req.method ?? 'GET'} ${shown} answered ${res.status}: the goal state is stale`, {
          url: shown,
          status: res.status,
          attempts,
        });
      }
      lastStatus = res.status;
      lastError = `HTTP status ${res.status}`;
      if (!retryStatuses.has(res.status)) break;
      if (THROTTLE_STATUSES.has(res.status)) {
        throttled = true;
        if (req.throttleRaisesAttempts !== false) maxAttempts = Math.max(maxAttempts, THROTTLE_MIN_ATTEMPTS);
      }
      log.verbose(`HTTP ${req.method ?? 'GET'} ${shown} answered ${res.status} (attempt ${attempts}), retrying`);
    }
    const why = cancelled
      ? `the agent is stopping${lastError ? ` (last: ${lastError})` : ''}`
      : attempts === 0
        ? 'the deadline passed before the first attempt'
        : outOfTime ? `${lastError} (no time left to retry)` : lastError;
    throw new AgentError('http', `${req.method ?? 'GET'} ${shown} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${why}`, {
      url: shown,
      status: lastStatus,
      attempts,
    });
  }

  return {
    request: send,
    get requestCount() {
      return count;
    },
    async close() {
      const all = [...(direct ? [direct] : []), ...proxies.values()];
      direct = null;
      proxies.clear();
      await Promise.all(all.map((d) => d.close().catch(() => undefined)));
    },
  };
}
