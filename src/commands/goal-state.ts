// waagent -goal-state (ours): fetch the goal state once — versions, goal state, its documents, certificates —
// and print what the agent sees as one JSON document. Operators use it to look; tests use it to check.
import type { Config } from '../config/index.ts';
import { generateTransportCertificate, installCertificates } from '../crypto/index.ts';
import { log } from '../log/logger.ts';
import {
  createHttpClient,
  discoverWireServer,
  GoalStateFetcher,
  loadOrCreateTransportCert,
  platformEndpoints,
  proxySettings,
  WireServerClient,
} from '../fabric/index.ts';

/** The whole run is bounded: no retry starts after this. */
export const GOAL_STATE_DEADLINE_MS = 5 * 60_000;

export interface GoalStateSummary {
  incarnation: string;
  containerId: string;
  roleInstanceId: string;
  roleName: string;
  deploymentName: string;
  vmName: string;
  extensionHandlers: Array<{ name: string; version: string; state: string }>;
  statusUploadBlobType: string | null;
  certificates: Array<{ thumbprint: string; hasPrivateKey: boolean }>;
  /** HTTP requests sent, retries included. */
  requests: number;
  elapsedMs: number;
}

export async function goalState(config: Config): Promise<GoalStateSummary> {
  const started = performance.now();
  const libDir = config.str('Lib.Dir') ?? '/var/lib/waagent';
  const http = createHttpClient({ proxy: proxySettings(config), deadline: Date.now() + GOAL_STATE_DEADLINE_MS });
  try {
    // No DHCPDISCOVER here: that is the daemon's job (§10 item 39); route, leases, persisted, default.
    const found = await discoverWireServer({ config, dhcp: false });
    log.verbose(`WireServer ${found.endpoint} (from ${found.source})`);
    const wire = new WireServerClient({ http, endpoints: platformEndpoints(config, found.endpoint) });
    await wire.checkVersions();
    // Reuse the daemon's transport certificate when there is one (§10 item 39).
    const transport = await loadOrCreateTransportCert(libDir, generateTransportCertificate);
    const fetcher = new GoalStateFetcher({ wire, libDir, transport, installCertificates, opensslPath: config.str('OS.OpensslPath') });
    const { goalState: gs } = await fetcher.fetch();
    return {
      incarnation: gs.incarnation,
      containerId: gs.containerId,
      roleInstanceId: gs.roleInstanceId,
      roleName: gs.roleName,
      deploymentName: gs.deploymentName,
      vmName: gs.vmName,
      extensionHandlers: (gs.extensionsConfig?.handlers ?? []).map((h) => ({ name: h.name, version: h.version, state: h.state })),
      statusUploadBlobType: gs.extensionsConfig?.statusUploadBlob.type ?? null,
      certificates: gs.certificates.map((c) => ({ thumbprint: c.thumbprint, hasPrivateKey: c.hasPrivateKey })),
      requests: http.requestCount,
      elapsedMs: Math.round(performance.now() - started),
    };
  } finally {
    await http.close();
  }
}
