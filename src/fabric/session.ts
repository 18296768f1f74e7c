// One connection to the platform, as every command that talks to it needs it: WireServer discovery, the
// protocol-version check, the transport certificate and a goal-state fetcher, over one HTTP client. Commands
// (-goal-state, -provision, -run-exthandlers, -daemon) open a session and close it when they are done.
import { libDirOf, type Config } from '../config/index.ts';
import { generateTransportCertificateAsync } from '../crypto/index.ts';
import { log } from '../log/logger.ts';
import { installCertificates } from './certificates.ts';
import { discoverWireServer, type DiscoveredEndpoint } from './discovery/index.ts';
import type { DiscoverOptions } from './discovery/dhcp-send.ts';
import { platformEndpoints, type PlatformEndpoints } from './endpoints.ts';
import { GoalStateFetcher } from './goal-state.ts';
import { createHttpClient, type HttpClient, type HttpClientOptions } from './http.ts';
import { proxySettings } from './proxy.ts';
import { loadOrCreateTransportCert, regenerateTransportCert, type TransportCertFiles } from './transport-cert-files.ts';
import { WireServerClient } from './wireserver.ts';

export interface SessionOptions {
  /** The DHCP client's lease files to look for the WireServer in (the distro profile's leaseGlobs, §1.1). */
  leaseGlobs: readonly string[];
  /** Absolute time (ms) after which no request of this session starts (a bounded command run). */
  deadline?: number;
  /** Our own DHCPDISCOVER when nothing else names the WireServer: the daemon only (§10 item 39). */
  dhcp?: DiscoverOptions | false;
  /** A fresh transport certificate (the daemon on start) instead of reusing the pair on disk. */
  newTransportCert?: boolean;
  /** The daemon's stop signal: once stopped, no request starts and retry waits end (SIGTERM ends a cycle promptly). */
  stop?: { readonly stopped: boolean; wait(ms: number): Promise<void> };
}

export interface PlatformSession {
  config: Config;
  libDir: string;
  http: HttpClient;
  endpoint: DiscoveredEndpoint;
  endpoints: PlatformEndpoints;
  wire: WireServerClient;
  /** Still being made on a new VM while the first goal state is fetched: only the certificates wait for it. */
  transport: Promise<TransportCertFiles>;
  fetcher: GoalStateFetcher;
  close(): Promise<void>;
}

/** The session's HTTP client: the proxy settings, the retry delay scale (Debug.RetryDelayPercent), the deadline and the stop signal. */
export function sessionHttpOptions(config: Config, opts: Pick<SessionOptions, 'stop' | 'deadline'> = {}): HttpClientOptions {
  const stop = opts.stop;
  return {
    proxy: proxySettings(config),
    retryDelayScale: config.int('Debug.RetryDelayPercent') / 100,
    deadline: opts.deadline,
    ...(stop ? { sleep: (ms: number) => stop.wait(ms), cancelled: () => stop.stopped } : {}),
  };
}

/** Discovers the WireServer, checks its protocol versions and readies the transport certificate. */
export async function openPlatformSession(config: Config, opts: SessionOptions): Promise<PlatformSession> {
  const libDir = libDirOf(config);
  const http = createHttpClient(sessionHttpOptions(config, opts));
  try {
    const endpoint = await discoverWireServer({ config, leaseGlobs: opts.leaseGlobs, dhcp: opts.dhcp ?? false });
    log.verbose(`WireServer ${endpoint.endpoint} (from ${endpoint.source})`);
    const endpoints = platformEndpoints(config, endpoint.endpoint);
    const wire = new WireServerClient({ http, endpoints });
    // The key pair (RSA-2048: 50–300 ms on a fresh VM) is made while the versions, the goal state and its other
    // documents are fetched; a failure to make it fails the goal-state fetch that needs it (issue 14).
    const transport = opts.newTransportCert
      ? regenerateTransportCert(libDir, generateTransportCertificateAsync)
      : loadOrCreateTransportCert(libDir, generateTransportCertificateAsync);
    transport.catch(() => undefined); // seen by the fetch; not an unhandled rejection when the session ends first
    await wire.checkVersions();
    const fetcher = new GoalStateFetcher({ wire, libDir, transport, installCertificates, opensslPath: config.str('OS.OpensslPath') });
    return { config, libDir, http, endpoint, endpoints, wire, transport, fetcher, close: () => http.close() };
  } catch (e) {
    await http.close();
    throw e;
  }
}
