// The WireServer client (docs/protocol.md §2.2–§2.4, §2.8, §3.1): versions check, goal state with the
// RoleInstance retry, its documents, Certificates with the cipher fallback, and health reports.
import { AgentError, describeError, isAgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { AGENT_NAME } from '../util/version.ts';
import {
  buildHealthReport,
  isMissingRoleInstance,
  parseGoalState,
  parseVersions,
  supportsWireProtocol,
  WIRE_PROTOCOL_VERSION,
  type GoalState,
  type HealthReport,
  type Versions,
} from './documents/index.ts';
import { redirectPlatformUrl, wireServerUrl, type PlatformEndpoints } from './endpoints.ts';
import type { HttpClient } from './http.ts';
import { monotonicNow } from '../util/clock.ts';

/** Every WireServer request carries these (§2.3). */
export const WIRESERVER_HEADERS: Readonly<Record<string, string>> = {
  'x-ms-agent-name': AGENT_NAME,
  'x-ms-version': WIRE_PROTOCOL_VERSION,
};
export const XML_CONTENT_TYPE = 'text/xml;charset=utf-8';
/** Tried in this order for Certificates (§2.8). */
export const CERTIFICATE_CIPHERS = ['AES128_CBC', 'DES_EDE3_CBC'] as const;
export type CertificateCipher = (typeof CERTIFICATE_CIPHERS)[number];

/** Platform documents are small; 4 MiB leaves room for large ExtensionsConfig with many handlers. */
const DOCUMENT_MAX_BYTES = 4 * 1024 * 1024;
const ROLE_INSTANCE_ATTEMPTS = 6;
const ROLE_INSTANCE_PAUSE_MS = 500;
/** §3.1: max_retry 30, Fibonacci × 15 s; bounded here by an overall deadline (cloud-init gives up at 20 min). */
const HEALTH_ATTEMPTS = 30;
const HEALTH_RETRY_DELAY_MS = 15_000;
export const HEALTH_DEADLINE_MS = 20 * 60_000;

export interface WireServerClientOptions {
  http: HttpClient;
  endpoints: PlatformEndpoints;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface FetchedGoalState {
  goalState: GoalState;
  xml: string;
}

export class WireServerClient {
  readonly endpoints: PlatformEndpoints;
  readonly #http: HttpClient;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => number;
  #lastGoalState: FetchedGoalState | null = null;

  constructor(opts: WireServerClientOptions) {
    this.#http = opts.http;
    this.endpoints = opts.endpoints;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#now = opts.now ?? monotonicNow;
  }

  async #get(url: string, extraHeaders: Record<string, string> = {}, standardHeaders = true): Promise<string> {
    const res = await this.#http.request({
      url: redirectPlatformUrl(url, this.endpoints),
      headers: { ...(standardHeaders ? WIRESERVER_HEADERS : {}), ...extraHeaders },
      maxBodyBytes: DOCUMENT_MAX_BYTES,
    });
    return res.text();
  }

  /** GET /?comp=versions (§2.2); throws a protocol error when 2012-11-30 is neither preferred nor supported. */
  async checkVersions(): Promise<Versions> {
    const versions = parseVersions(await this.#get(wireServerUrl(this.endpoints, '/?comp=versions'), {}, false));
    if (!supportsWireProtocol(versions)) {
      throw new AgentError('protocol', `the WireServer does not support protocol version ${WIRE_PROTOCOL_VERSION}`, {
        preferred: versions.preferred,
        supported: versions.supported.join(','),
      });
    }
    return versions;
  }

  /** GET /machine/?comp=goalstate; a goal state without RoleInstance is re-requested 6 × 0.5 s (§2.4, §10 item 3). */
  async fetchGoalState(): Promise<FetchedGoalState> {
    const url = wireServerUrl(this.endpoints, '/machine/?comp=goalstate');
    for (let attempt = 1; ; attempt++) {
      const xml = await this.#get(url);
      // The same text as last time (every cycle between goal states): the same (read-only) result, not parsed again.
      if (this.#lastGoalState?.xml === xml) return this.#lastGoalState;
      try {
        const fetched = { goalState: parseGoalState(xml), xml };
        this.#lastGoalState = fetched;
        return fetched;
      } catch (e) {
        if (!isMissingRoleInstance(e)) throw e;
        if (attempt >= ROLE_INSTANCE_ATTEMPTS) {
          const context = { ...(e as AgentError).context, attempts: attempt };
          throw new AgentError(
            'protocol',
            `the goal state has no RoleInstance after ${attempt} attempts`,
            context,
            e,
            'missing-role-instance',
          );
        }
        log.info(`the goal state has no RoleInstance yet (attempt ${attempt}); asking again`);
        await this.#sleep(ROLE_INSTANCE_PAUSE_MS);
      }
    }
  }

  /** A document named by the goal state (HostingEnvironmentConfig, SharedConfig, ExtensionsConfig, …). */
  fetchDocument(url: string): Promise<string> {
    return this.#get(url);
  }

  /** RemoteAccessInfo (§2.9): the transport certificate header and AES128_CBC. */
  fetchDocumentWithCert(url: string, certHeader: string): Promise<string> {
    return this.#get(url, { 'x-ms-guest-agent-public-x509-cert': certHeader, 'x-ms-cipher-name': 'AES128_CBC' });
  }

  /**
   * GET the Certificates document with the transport certificate header, asking for AES128_CBC first and
   * DES_EDE3_CBC when the request or `decrypt` fails (§2.8). Returns what `decrypt` returned.
   */
  async fetchCertificates<T>(url: string, certHeader: string, decrypt: (xml: string, cipher: CertificateCipher) => Promise<T>): Promise<T> {
    let first: unknown = null;
    for (const cipher of CERTIFICATE_CIPHERS) {
      try {
        const xml = await this.#get(url, { 'x-ms-guest-agent-public-x509-cert': certHeader, 'x-ms-cipher-name': cipher });
        return await decrypt(xml, cipher);
      } catch (e) {
        if (isAgentError(e, 'resource-gone')) throw e;
        first ??= e;
        log.warn(`downloading or decrypting the certificates with ${cipher} failed: ${describeError(e)}`);
      }
    }
    const why = describeError(first);
    throw new AgentError(
      isAgentError(first) ? first.kind : 'crypto',
      `the certificates could not be retrieved with either cipher: ${why}`,
      {
        ciphers: CERTIFICATE_CIPHERS.join(','),
      },
    );
  }

  /** POST /machine?comp=health (§3.1), retried as upstream but never longer than `deadlineMs`. */
  async reportHealth(report: HealthReport, deadlineMs: number = HEALTH_DEADLINE_MS): Promise<void> {
    await this.#http.request({
      method: 'POST',
      url: wireServerUrl(this.endpoints, '/machine?comp=health'),
      headers: { ...WIRESERVER_HEADERS, 'Content-Type': XML_CONTENT_TYPE },
      body: buildHealthReport(report),
      maxAttempts: HEALTH_ATTEMPTS,
      retryDelayMs: HEALTH_RETRY_DELAY_MS,
      deadline: this.#now() + deadlineMs,
      maxBodyBytes: 64 * 1024,
      giveUpOnUnreachable: true,
    });
    log.info(`reported ${report.state}${report.subStatus ? ' (' + report.subStatus + ')' : ''} for incarnation ${report.incarnation}`);
  }
}
