// The one place that does HTTP (docs/protocol.md §2.1): per-attempt timeouts, the retry / back-off / throttle
// rules (the policy itself is in http-retry.ts), 410 and InvalidContainerConfiguration as 'resource-gone', a size cap
// on every response body, and a proxy only for blob/artifact requests. The attempt on the wire is http-wire.ts
// (node:http; undici only for proxied https, loaded then).
import { countIoError } from './io-error-counter.ts';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { AgentError, describeError, isAgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { redactUrl } from '../log/redact.ts';
import { USER_AGENT } from '../util/version.ts';
import { RetryPolicy } from './http-retry.ts';
import type { ProxySettings } from './proxy.ts';
import { createWireTransport, type WireTransport } from './http-wire.ts';
import { monotonicNow } from '../util/clock.ts';

export {
  backoffDelay,
  DEFAULT_ATTEMPTS,
  DEFAULT_RETRY_DELAY_MS,
  RETRY_STATUSES,
  THROTTLE_DELAY_MS,
  THROTTLE_MIN_ATTEMPTS,
  THROTTLE_STATUSES,
} from './http-retry.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

const OK = new Set([200, 201, 202]);

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
  /** The Fibonacci base: retry n ≥ 2 waits retryDelayMs × 3, 5, 8, 13 … (the first retry 0.5 s; docs/contract.md §4) */
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
  /**
   * Multiplies every wait between attempts (back-off and throttle delay); 1 (the default) is the protocol's timing.
   * Below 1 only for test and offline fabrics (Debug.RetryDelayPercent): the attempts and their order stay the same.
   */
  retryDelayScale?: number;
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

/** ENETUNREACH anywhere in the error's cause chain (undici, on the proxied route, wraps the socket error). */
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

/** The request's URL, refused with one sentence unless it is a valid http(s) URL. */
function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AgentError('http', `the URL ${redactUrl(raw)} is not valid`, { url: redactUrl(raw) });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AgentError('http', `the URL ${redactUrl(raw)} is not http or https`, { url: redactUrl(raw) });
  }
  return url;
}

/** The `toFile` of a request: an OK body streamed into a 0600 file, with its write error kept apart from the network's. */
class FileSink {
  readonly path: string;
  readonly #stream: WriteStream;
  #error: Error | null = null;
  #ended = false;

  constructor(path: string) {
    this.path = path;
    this.#stream = createWriteStream(path, { mode: 0o600 });
    this.#stream.on('error', (e) => (this.#error ??= e));
  }

  async write(chunk: Buffer): Promise<void> {
    if (!this.#stream.write(chunk)) await Promise.race([once(this.#stream, 'drain'), once(this.#stream, 'close')]);
    if (this.#error) throw this.#error;
  }

  async end(): Promise<void> {
    this.#stream.end();
    await finished(this.#stream);
    this.#ended = true;
  }

  /** `e` came from writing the file (or the file failed at all), not from the network. */
  failedWith(e: unknown): boolean {
    return this.#error !== null || e === this.#stream.errored;
  }

  /** Closes the file of an attempt that did not end well. */
  destroy(): void {
    if (!this.#ended) this.#stream.destroy();
  }
}

function tooLarge(maxBody: number, length: number): AgentError {
  return new AgentError('http', `the response is larger than the ${maxBody}-byte limit`, { length });
}

/** A body as it is read: the chunks kept in memory and the bytes received so far (also when the read failed). */
interface BodyRead {
  chunks: Buffer[];
  size: number;
}

/** Reads a body into memory or `sink`, aborting the request once it passes `maxBody`. */
async function readBody(
  body: AsyncIterable<Buffer>,
  maxBody: number,
  ac: AbortController,
  sink: FileSink | null,
  read: BodyRead,
): Promise<void> {
  for await (const chunk of body) {
    read.size += chunk.length;
    if (read.size > maxBody) {
      ac.abort();
      throw tooLarge(maxBody, read.size);
    }
    if (sink) await sink.write(chunk);
    else read.chunks.push(chunk);
  }
}

/** A connection cut mid-body is a truncated download, not a short document (docs/contract.md §5: truncated bodies). */
function isTruncated(req: HttpRequest, status: number, declared: number, size: number): boolean {
  return Number.isFinite(declared) && size !== declared && req.method !== 'HEAD' && status !== 204 && status !== 304;
}

/** What one attempt needs besides the request. */
interface AttemptContext {
  transport: WireTransport;
  proxy: string | null;
  userAgent: string;
  timeoutMs: number;
  maxBody: number;
}

/**
 * One attempt: the request, its body (in memory or into `toFile`) and the checks on it, all within `timeoutMs`.
 * Network failures and truncated bodies come back as Retryable; an oversized body or a file that cannot be
 * written as AgentError (not retried).
 */
async function sendAttempt(req: HttpRequest, url: URL, ctx: AttemptContext): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'User-Agent': ctx.userAgent, ...req.headers, Connection: 'close' };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Retryable(`no complete answer within ${ctx.timeoutMs} ms`, 0)), ctx.timeoutMs);
  let sink: FileSink | null = null;
  let declared = Number.NaN;
  const read: BodyRead = { chunks: [], size: 0 };
  try {
    const res = await ctx.transport.open({
      url,
      proxy: ctx.proxy,
      method: req.method ?? 'GET',
      headers,
      body: req.body,
      signal: ac.signal,
    });
    declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > ctx.maxBody) {
      ac.abort();
      throw tooLarge(ctx.maxBody, declared);
    }
    if (req.toFile !== undefined && OK.has(res.statusCode)) sink = new FileSink(req.toFile);
    await readBody(res.body, ctx.maxBody, ac, sink, read);
    if (isTruncated(req, res.statusCode, declared, read.size)) throw truncated(read.size, declared);
    await sink?.end();
    const body = Buffer.concat(read.chunks);
    return {
      status: res.statusCode,
      headers: headerRecord(res.headers),
      body,
      bodyBytes: read.size,
      attempts: 0,
      text: () => body.toString('utf8'),
    };
  } catch (e) {
    if (e instanceof AgentError || e instanceof Retryable) throw e;
    if (sink?.failedWith(e)) throw new AgentError('io', `cannot write ${sink.path}: ${describeError(e)}`, { path: sink.path }, e);
    if (ac.signal.reason instanceof Retryable) throw ac.signal.reason;
    // node:http ends a body cut short of its Content-Length with an error ("aborted"): the same truncated download
    if (Number.isFinite(declared) && read.size < declared) throw truncated(read.size, declared);
    throw new Retryable(describeError(e), 0, isNetworkUnreachable(e));
  } finally {
    clearTimeout(timer);
    sink?.destroy();
  }
}

function truncated(size: number, declared: number): Retryable {
  return new Retryable(`the body ended after ${size} of ${declared} bytes`, 0);
}

/** 410, or 400 with InvalidContainerConfiguration: the URL came from a goal state that is no longer current. */
function isStaleGoalState(res: HttpResponse): boolean {
  return res.status === 410 || (res.status === 400 && res.text().includes('InvalidContainerConfiguration'));
}

/** Why the retries ended without an answer. */
type RetriesEnd = 'exhausted' | 'out-of-time' | 'cancelled';

function failureReason(end: RetriesEnd, attempts: number, lastError: string): string {
  if (end === 'cancelled') return `the agent is stopping${lastError ? ` (last: ${lastError})` : ''}`;
  if (attempts === 0) return 'the deadline passed before the first attempt';
  return end === 'out-of-time' ? `${lastError} (no time left to retry)` : lastError;
}

export function createHttpClient(opts: HttpClientOptions = {}): HttpClient {
  const sleep = opts.sleep ?? realSleep;
  const now = opts.now ?? monotonicNow;
  const userAgent = opts.userAgent ?? USER_AGENT;
  const transport = createWireTransport(opts.proxy ?? { configHost: null, configPort: null, env: process.env });
  let count = 0;

  async function attempt(req: HttpRequest, url: URL, timeoutMs: number, maxBody: number): Promise<HttpResponse> {
    const proxy = transport.proxyFor(url, req.target ?? 'platform');
    count++;
    return sendAttempt(req, url, { transport, proxy, userAgent, timeoutMs, maxBody });
  }

  async function send(req: HttpRequest): Promise<HttpResponse> {
    const url = parseHttpUrl(req.url);
    const shown = redactUrl(req.url);
    const method = req.method ?? 'GET';
    const policy = new RetryPolicy({ ...req, deadline: req.deadline ?? opts.deadline }, opts.retryDelayScale);
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBody = req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    let last = { error: '', status: 0 };
    let end: RetriesEnd = 'exhausted';
    for (;;) {
      const step = policy.next(now());
      if ('stop' in step) {
        end = step.stop;
        break;
      }
      if (policy.attempts > 0) {
        // one line per wait: what the back-off chose is visible in the log (and summed by bench/provision.ts --faults)
        log.info(`HTTP ${method} ${shown}: retry ${policy.attempts} in ${step.waitMs} ms`);
        await sleep(step.waitMs);
      }
      if (policy.expired(now())) {
        end = 'out-of-time';
        break;
      }
      if (opts.cancelled?.()) {
        end = 'cancelled';
        break;
      }
      const left = policy.begin(now(), timeoutMs);
      let res: HttpResponse;
      try {
        res = await attempt(req, url, left, maxBody);
      } catch (e) {
        if (isAgentError(e, 'http')) {
          throw new AgentError('http', `${method} ${shown} failed: ${e.message}`, {
            ...e.context,
            url: shown,
            status: 0,
            attempts: policy.attempts,
          });
        }
        if (!(e instanceof Retryable)) throw e;
        countIoError(url.host);
        last = { error: e.message, status: 0 };
        log.verbose(`HTTP ${method} ${shown} failed (attempt ${policy.attempts}): ${e.message}`);
        if (!policy.retriesError(e.unreachable)) break;
        continue;
      }
      res.attempts = policy.attempts;
      if (OK.has(res.status) || req.acceptStatuses?.includes(res.status)) return res;
      if (isStaleGoalState(res)) {
        // The caller refreshes the goal state (container id, config name) and retries once (§2.1, §10 item 2).
        throw new AgentError('resource-gone', `${method} ${shown} answered ${res.status}: the goal state is stale`, {
          url: shown,
          status: res.status,
          attempts: policy.attempts,
        });
      }
      last = { error: `HTTP status ${res.status}`, status: res.status };
      if (!policy.retriesStatus(res.status)) break;
      log.verbose(`HTTP ${method} ${shown} answered ${res.status} (attempt ${policy.attempts}), retrying`);
    }
    const attempts = policy.attempts;
    throw new AgentError(
      'http',
      `${method} ${shown} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${failureReason(end, attempts, last.error)}`,
      {
        url: shown,
        status: last.status,
        attempts,
      },
    );
  }

  return {
    request: send,
    get requestCount() {
      return count;
    },
    close: () => transport.close(),
  };
}
