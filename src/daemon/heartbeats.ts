// The heartbeats upstream's monitor thread sends every minute (ga/monitor.py SendHostPluginHeartbeat and
// SendImdsHeartbeat): GET the HostGAPlugin's /health and IMDS's /metadata/instance, then report each as a HealthService
// observation (src/fabric/health-service.ts). An endpoint is reported unhealthy only once it has failed without a
// success for a while (upstream's ErrorState: 5 minutes for the HostGAPlugin, 3 for IMDS), so one lost request does
// not raise an alarm. Per hour: 60 × (/health + its observation) + 60 × (IMDS + its observation) = 240 requests.
//
// The telemetry events upstream's monitor sends with them (docs/protocol.md §2.11), queued for the normal batches (no
// request of their own): HostPluginHeartbeatExtended ("<n> min since successful heartbeat") each minute while the
// HostGAPlugin counts as unhealthy; HostPluginHeartbeat / ImdsHeartbeat ("Exception sending … heartbeat: …") when a
// check throws (a /health that gets no answer at all); HealthObservation (the observation as JSON) for each unhealthy
// observation reported, as upstream's HealthService does. At most 2 events a minute, bounded as upstream's are.
import { observationObject, reportObservation, OBSERVATION, type Observation } from '../fabric/health-service.ts';
import type { HostPluginClient } from '../fabric/hostplugin.ts';
import type { HttpClient } from '../fabric/http.ts';
import type { PlatformEndpoints } from '../fabric/endpoints.ts';
import { imdsHealth } from '../fabric/imds-health.ts';
import { log } from '../log/logger.ts';
import { OPERATION } from '../telemetry/event.ts';
import { telemetry, type TelemetryRecorder } from '../telemetry/recorder.ts';
import { describeError } from '../util/errors.ts';
import { pythonJsonDumps } from '../util/python-json.ts';
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

  /** upstream ErrorState.fail_time: how long it has been failing, "<m> min" (2 decimals) or "<h> hr" from an hour. */
  get failTime(): string {
    if (this.#since === null) return 'unknown';
    // upstream rounds timedelta.seconds / 60 (whole seconds, days dropped)
    const minutes = round2(Math.floor(((this.#now() - this.#since) / 1000) % 86_400) / 60);
    return minutes < 60 ? `${pyFloat(minutes)} min` : `${pyFloat(round2(minutes / 60))} hr`;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Python's str() of a float: a whole number keeps its ".0". */
function pyFloat(x: number): string {
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

/** upstream HealthService._report: the POST fails with a warning; unhealthy observations are sent as telemetry. */
async function report(p: HeartbeatPorts, observation: Observation, events: TelemetryRecorder): Promise<void> {
  try {
    await reportObservation(p.http, p.endpoints, observation);
  } catch (e) {
    log.warn(`HealthService: could not report observations: ${describeError(e)}`);
  } finally {
    if (!observation.isHealthy) {
      const message = pythonJsonDumps(observationObject(observation));
      events.addEvent({ op: OPERATION.healthObservation, isSuccess: false, message }, { taskName: MONITOR_TASK });
    }
  }
}

/** upstream's monitor thread name, the events' TaskName. */
const MONITOR_TASK = 'MonitorHandler';

/**
 * The two heartbeat tasks. `claim`: whether this process sends them now (monitor-role.ts: once per VM, whichever
 * process runs the goal-state loop); default always.
 */
export function heartbeatTasks(
  ports: () => HeartbeatPorts | null,
  now: () => number = monotonicNow,
  claim: () => boolean = () => true,
  events: TelemetryRecorder = telemetry,
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
        let healthy: boolean;
        try {
          healthy = await p.hostPlugin.health();
        } catch (e) {
          // upstream: the exception ends this run (no observation), and the ErrorState is left as it was
          const message = `Exception sending host plugin heartbeat: ${describeError(e)}`;
          events.addEvent({ op: OPERATION.hostPluginHeartbeat, isSuccess: false, message }, { taskName: MONITOR_TASK, logEvent: false });
          throw e;
        }
        hostPluginState.record(healthy);
        const isHealthy = !hostPluginState.triggered;
        log.verbose(`HostGAPlugin health: ${isHealthy}`);
        await report(p, { name: OBSERVATION.hostPluginHeartbeat, isHealthy }, events);
        if (!isHealthy) {
          events.addEvent(
            {
              op: OPERATION.hostPluginHeartbeatExtended,
              isSuccess: false,
              message: `${hostPluginState.failTime} since successful heartbeat`,
            },
            { taskName: MONITOR_TASK, logEvent: false },
          );
        }
      },
    },
    {
      name: 'IMDS heartbeat',
      periodMs: HEARTBEAT_PERIOD_MS,
      async run() {
        const p = ports();
        if (!p || !claim()) return;
        try {
          const r = await imdsHealth(p.http, p.endpoints);
          imdsState.record(r.healthy);
          const isHealthy = !imdsState.triggered;
          log.verbose(`IMDS health: ${isHealthy} [${r.response}]`);
          await report(p, { name: OBSERVATION.imdsHeartbeat, isHealthy, value: r.response }, events);
        } catch (e) {
          const message = `Exception sending imds heartbeat: ${describeError(e)}`;
          events.addEvent({ op: OPERATION.imdsHeartbeat, isSuccess: false, message }, { taskName: MONITOR_TASK, logEvent: false });
          throw e;
        }
      },
    },
  ];
}
