// waagent -goal-state (ours): fetch the goal state once — versions, goal state, its documents, certificates —
// and print what the agent sees as one JSON document. Operators use it to look; tests use it to check.
import type { Config } from '../config/index.ts';
import { openPlatformSession } from '../fabric/session.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { monotonicNow } from '../util/clock.ts';

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

export async function goalState(config: Config, profile: DistroProfile): Promise<GoalStateSummary> {
  const started = performance.now();
  const session = await openPlatformSession(config, { deadline: monotonicNow() + GOAL_STATE_DEADLINE_MS, leaseGlobs: profile.leaseGlobs });
  try {
    // No DHCPDISCOVER here: that is the daemon's job (§10 item 39); the transport pair on disk is reused.
    const { goalState: gs } = await session.fetcher.fetch();
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
      requests: session.http.requestCount,
      elapsedMs: Math.round(performance.now() - started),
    };
  } finally {
    await session.close();
  }
}
