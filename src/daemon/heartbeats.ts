// The heartbeats upstream's monitor thread sends every minute (ga/monitor.py SendHostPluginHeartbeat and
// SendImdsHeartbeat): GET the HostGAPlugin's /health and IMDS's /metadata/instance, then report each as a HealthService
// observation (src/fabric/health-service.ts). An endpoint is reported unhealthy only once it has failed without a
// success for a while (upstream's ErrorState: 5 minutes for the HostGAPlugin, 3 for IMDS), so one lost request does
// not raise an alarm. Per hour: 60 × (/health + its observation) + 60 × (IMDS + its observation) = 240 requests.
import { reportObservation, OBSERVATION } from '../fabric/health-service.ts';
import type { HostPluginClient } from '../fabric/hostplugin.ts';
import type { HttpClient } from '../fabric/http.ts';
import type { PlatformEndpoints } from '../fabric/endpoints.ts';
import { imdsHealth } from '../fabric/imds-health.ts';
import { log } from '../log/logger.ts';
import type { PeriodicTask } from '../util/periodic.ts';
import { monotonicNow } from '../util/clock.ts';

export const HEARTBEAT_PERIOD_MS = 60_000;
export const HOST_PLUGIN_HEALTH_PERIOD_MS = 5 * 60_000;
export const IMDS_HEALTH_PERIOD_MS = 3 * 60_000;

/** What the heartbeats need from an open platform session; null until the platform was reached. */
export interface HeartbeatPorts {
  http: HttpClient;
  endpoints: PlatformEndpoints;
  hostPlugin: HostPluginClient;
}

/** upstream's ErrorState: triggered once failures have gone on, without a success in between, for `minMs`. */
export class ErrorState {
  readonly #minMs: number;
  readonly #now: () => number;
  #since: number | null = null;

  constructor(minMs: number, now: () => number = monotonicNow) {
    this.#minMs = minMs;
    this.#now = now;
  }

  record(ok: boolean): void {
    if (ok) this.#since = null;
    else this.#since ??= this.#now();
  }

  get triggered(): boolean {
    return this.#since !== null && this.#now() - this.#since >= this.#minMs;
  }
}

/**
 * The two heartbeat tasks. `claim`: whether this process sends them now (monitor-role.ts: once per VM, whichever
 * process runs the goal-state loop); default always.
 */
export function heartbeatTasks(
  ports: () => HeartbeatPorts | null,
  now: () => number = monotonicNow,
  claim: () => boolean = () => true,
): PeriodicTask[] {
  const hostPluginState = new ErrorState(HOST_PLUGIN_HEALTH_PERIOD_MS, now);
  const imdsState = new ErrorState(IMDS_HEALTH_PERIOD_MS, now);
  return [
    {
      name: 'HostGAPlugin heartbeat',
      periodMs: HEARTBEAT_PERIOD_MS,
      async run() {
        const p = ports();
        if (!p || !claim()) return;
        hostPluginState.record(await p.hostPlugin.isHealthy());
        const isHealthy = !hostPluginState.triggered;
        log.verbose(`HostGAPlugin health: ${isHealthy}`);
        await reportObservation(p.http, p.endpoints, { name: OBSERVATION.hostPluginHeartbeat, isHealthy });
      },
    },
    {
      name: 'IMDS heartbeat',
      periodMs: HEARTBEAT_PERIOD_MS,
      async run() {
        const p = ports();
        if (!p || !claim()) return;
        const r = await imdsHealth(p.http, p.endpoints);
        imdsState.record(r.healthy);
        const isHealthy = !imdsState.triggered;
        log.verbose(`IMDS health: ${isHealthy} [${r.response}]`);
        await reportObservation(p.http, p.endpoints, { name: OBSERVATION.imdsHeartbeat, isHealthy, value: r.response });
      },
    },
  ];
}
