// The HostGAPlugin client (docs/protocol.md §3.3–§3.5): versions, health, vmSettings (ETag / 304 / 404 back-off /
// 410), the status relay and extensionArtifact. Its container id and config name come from the latest goal state
// (§2.4: they change without an incarnation change), and a 410 refreshes them once through `refresh`.
import { randomUUID } from 'node:crypto';
import { AgentError, isAgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { redactUrl } from '../log/redact.ts';
import { parseVmSettings, type VmSettings } from './documents/index.ts';
import { hostPluginUrl, type PlatformEndpoints } from './endpoints.ts';
import type { HttpClient, HttpRequest, HttpResponse } from './http.ts';
import { monotonicNow } from '../util/clock.ts';

export const HGAP_API_VERSION = '2015-09-01';
/** §3.4: a 404 means "not supported"; ask again after 6 hours. */
export const VMSETTINGS_NOT_SUPPORTED_BACKOFF_MS = 6 * 3600_000;
/** §3.4: HostGAPlugins older than this do not really support vmSettings. */
export const MIN_VMSETTINGS_HGAP_VERSION = '1.0.8.133';
const MAX_JSON_BYTES = 8 * 1024 * 1024;
const MAX_ARTIFACT_BYTES = 256 * 1024 * 1024;

/** The goal-state values the HostGAPlugin headers carry (§2.4). */
export interface HostPluginContext {
  containerId: string;
  configName: string;
  deploymentId: string;
}

export type VmSettingsResult =
  | { kind: 'updated'; etag: string; vmSettings: VmSettings; text: string /** the x-ms-client-correlationid sent */; correlationId: string }
  | { kind: 'unchanged'; etag: string }
  | { kind: 'not-supported'; retryAfter: number };

export interface HostPluginClientOptions {
  http: HttpClient;
  endpoints: PlatformEndpoints;
  /** The current context (updated by every goal-state fetch). */
  context: () => HostPluginContext;
  /** Re-fetches the goal state after a 410 so the context is current (§3.3). */
  refresh: () => Promise<void>;
  now?: () => number;
}

/** Dotted-number comparison: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface ArtifactOptions {
  /** x-ms-artifact-manifest-location: the manifest URL that worked (package downloads). */
  manifestLocation?: string;
  /** x-ms-verify-from-artifacts-blob: true (Fast Track goal states). */
  verifyFromArtifactsBlob?: boolean;
  maxBytes?: number;
  /** Stream the body into this file instead of memory. */
  toFile?: string;
  /** Absolute time (the HTTP client's clock) after which no attempt starts. */
  deadline?: number;
  /** The time one attempt may take for the whole answer (default: the HTTP client's per-attempt timeout). */
  attemptTimeoutMs?: number;
}

export class HostPluginClient {
  readonly #o: HostPluginClientOptions;
  readonly #now: () => number;
  #etag: string | null = null;
  #notSupportedUntil = 0;
  #versionsOk = false;

  constructor(opts: HostPluginClientOptions) {
    this.#o = opts;
    this.#now = opts.now ?? monotonicNow;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    const c = this.#o.context();
    return { 'x-ms-version': HGAP_API_VERSION, 'x-ms-containerid': c.containerId, 'x-ms-host-config-name': c.configName, ...extra };
  }

  /** A request that, on 410 / InvalidContainerConfiguration, refreshes the goal state and is sent once more. */
  async #send(build: () => HttpRequest): Promise<HttpResponse> {
    try {
      return await this.#o.http.request(build());
    } catch (e) {
      if (!isAgentError(e, 'resource-gone')) throw e;
      log.info(`the HostGAPlugin answered ${e.context.status}: refreshing the goal state and retrying once`);
      await this.#o.refresh();
      return this.#o.http.request(build());
    }
  }

  /** GET /versions (§3.3): true when 2015-09-01 is listed. Remembered once it succeeded. */
  async checkVersions(): Promise<boolean> {
    if (this.#versionsOk) return true;
    const res = await this.#o.http.request({
      url: hostPluginUrl(this.#o.endpoints, '/versions'),
      headers: { 'x-ms-containerid': this.#o.context().containerId },
      maxBodyBytes: 64 * 1024,
    });
    this.#versionsOk = res.text().includes(HGAP_API_VERSION);
    return this.#versionsOk;
  }

  /** GET /health, one attempt: true on 200. */
  async isHealthy(): Promise<boolean> {
    try {
      return await this.health();
    } catch {
      return false;
    }
  }

  /**
   * GET /health as upstream's get_health: true on 2xx, false when the HostGAPlugin answers with another status; a
   * request that gets no answer at all (refused, reset, timed out) throws, as upstream's http_get raises then.
   */
  async health(): Promise<boolean> {
    try {
      await this.#o.http.request({ url: hostPluginUrl(this.#o.endpoints, '/health'), maxAttempts: 1, maxBodyBytes: 64 * 1024 });
      return true;
    } catch (e) {
      if (isAgentError(e) && Number(e.context.status ?? 0) > 0) return false;
      throw e;
    }
  }

  /**
   * GET /vmSettings (§3.4): one raw request, If-None-Match with the last ETag unless `force`. 304 → unchanged;
   * 404 (or an HGAP too old) → not supported, and not asked again for 6 hours; 410 → refresh once.
   */
  async vmSettings(force = false): Promise<VmSettingsResult> {
    if (this.#now() < this.#notSupportedUntil) return { kind: 'not-supported', retryAfter: this.#notSupportedUntil };
    const correlationId = randomUUID();
    const res = await this.#send(() => ({
      url: hostPluginUrl(this.#o.endpoints, '/vmSettings'),
      headers: this.#headers({
        'x-ms-client-correlationid': correlationId,
        ...(this.#etag && !force ? { 'if-none-match': this.#etag } : {}),
      }),
      maxAttempts: 1,
      acceptStatuses: [304, 404],
      maxBodyBytes: MAX_JSON_BYTES,
    }));
    if (res.status === 404) return this.#notSupported('the HostGAPlugin does not support vmSettings (404)');
    if (res.status === 304) return { kind: 'unchanged', etag: this.#etag ?? res.headers.etag ?? '' };
    const etag = res.headers.etag;
    if (!etag) throw new AgentError('protocol', 'the vmSettings response has no ETag header', { status: res.status });
    const text = res.text();
    const vmSettings = parseVmSettings(text);
    const version = vmSettings.hostGAPluginVersion;
    if (version !== null && compareVersions(version, MIN_VMSETTINGS_HGAP_VERSION) < 0) {
      return this.#notSupported(`HostGAPlugin ${version} is older than ${MIN_VMSETTINGS_HGAP_VERSION}`);
    }
    this.#etag = etag;
    return { kind: 'updated', etag, vmSettings, text, correlationId };
  }

  #notSupported(why: string): VmSettingsResult {
    this.#notSupportedUntil = this.#now() + VMSETTINGS_NOT_SUPPORTED_BACKOFF_MS;
    log.info(`${why}; asking again in 6 hours`);
    return { kind: 'not-supported', retryAfter: this.#notSupportedUntil };
  }

  /**
   * PUT /status (§3.5, §6.2): the status blob relayed through the HostGAPlugin. `blobHeaders` are the storage
   * headers (x-ms-blob-type, …). A 410 is not retried here: the caller refreshes and tries next cycle (§10 item 10).
   */
  async putStatus(blobUrl: string, blobHeaders: Record<string, string>, content: Uint8Array | null): Promise<void> {
    // keys in sorted order, as the Python agent's json.dumps(sort_keys=True) sends them (§6.2)
    const envelope: Record<string, unknown> = {};
    if (content !== null) envelope.content = Buffer.from(content).toString('base64');
    envelope.headers = Object.entries(blobHeaders).map(([headerName, headerValue]) => ({ headerName, headerValue }));
    envelope.requestUri = blobUrl;
    await this.#o.http.request({
      method: 'PUT',
      url: hostPluginUrl(this.#o.endpoints, '/status'),
      headers: this.#headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(envelope),
      maxBodyBytes: 64 * 1024,
    });
  }

  /**
   * PUT /vmAgentLog (§3.3): the zip of the periodic log collection (Logs.Collect), for the platform's engineers.
   * One attempt with a 30 s bound: the next collection comes an hour later anyway.
   */
  async putVmAgentLog(zip: Uint8Array, clientVersion: string): Promise<void> {
    const c = this.#o.context();
    await this.#o.http.request({
      method: 'PUT',
      url: hostPluginUrl(this.#o.endpoints, '/vmAgentLog'),
      headers: {
        'x-ms-version': HGAP_API_VERSION,
        'x-ms-containerid': c.containerId,
        'x-ms-vmagentlog-deploymentid': c.deploymentId,
        'x-ms-client-name': 'WALinuxAgent',
        'x-ms-client-version': clientVersion,
        'x-ms-client-correlationid': randomUUID(),
      },
      body: zip,
      timeoutMs: 30_000,
      maxAttempts: 1,
      maxBodyBytes: 64 * 1024,
    });
    log.info(`uploaded ${zip.length} bytes of collected logs through the HostGAPlugin`);
  }

  /**
   * GET /extensionArtifact (§3.3): a manifest, package or artifacts profile through the host; 400 is retried.
   * With `toFile` the body is streamed there (see HttpRequest.toFile) and the Buffer returned is empty.
   */
  async extensionArtifact(location: string, opts: ArtifactOptions = {}): Promise<Buffer> {
    const res = await this.#send(() => ({
      url: hostPluginUrl(this.#o.endpoints, '/extensionArtifact'),
      headers: this.#headers({
        'x-ms-artifact-location': location,
        ...(opts.manifestLocation ? { 'x-ms-artifact-manifest-location': opts.manifestLocation } : {}),
        ...(opts.verifyFromArtifactsBlob ? { 'x-ms-verify-from-artifacts-blob': 'true' } : {}),
      }),
      extraRetryStatuses: [400],
      maxBodyBytes: opts.maxBytes ?? MAX_ARTIFACT_BYTES,
      ...(opts.toFile !== undefined ? { toFile: opts.toFile } : {}),
      ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
      ...(opts.attemptTimeoutMs !== undefined ? { timeoutMs: opts.attemptTimeoutMs } : {}),
    }));
    log.verbose(`downloaded ${redactUrl(location)} through the HostGAPlugin (${res.bodyBytes} bytes)`);
    return res.body;
  }
}
