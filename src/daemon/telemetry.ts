// The daemon's telemetry duties (docs/protocol.md §2.11): the provisioning event, the agent's heartbeat event every
// 30 minutes (upstream ga/update.py _send_heartbeat_telemetry), the extensions' events every
// Debug.EtpCollectionPeriod (held in memory) and the sending of both every minute.
import { readFileSync } from 'node:fs';
import { libDirOf, type Config } from '../config/index.ts';
import { fetchImdsCompute, type ImdsCompute } from '../fabric/imds-compute.ts';
import { log } from '../log/logger.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import type { ProvisionResult } from '../provisioning/provision.ts';
import { SUPPORTED_FEATURES } from '../extensions/command-env.ts';
import { OPERATION } from '../telemetry/event.ts';
import { collectExtensionEvents } from '../telemetry/extension-events.ts';
import { eventsDirOf } from '../telemetry/queue.ts';
import { AVAILABLE_MEM, MEMORY_CATEGORY, readSystemMemory, SYSTEM_METRICS_PERIOD_MS, USED_MEM } from '../telemetry/system-metrics.ts';
import { telemetry, type TelemetryRecorder } from '../telemetry/recorder.ts';
import type { PlatformEndpoints } from '../fabric/endpoints.ts';
import { takeIoErrors } from '../fabric/io-error-counter.ts';
import { WIRESERVER_IP } from '../util/wireserver-ip.ts';
import { ExtensionEventBuffer, osVersionParam, telemetrySendTask, type SysInfo, type TelemetryPorts } from '../telemetry/send.ts';
import { describeError } from '../util/errors.ts';
import type { PeriodicTask } from '../util/periodic.ts';

export const TELEMETRY_HEARTBEAT_PERIOD_MS = 30 * 60_000;

/** Points the recorder at <Lib.Dir>/events (upstream: Lib.Dir/events, always on). */
export function startTelemetry(config: Config): string {
  const dir = eventsDirOf(libDirOf(config));
  telemetry.start(dir);
  return dir;
}

function uptimeSeconds(): string {
  try {
    return readFileSync('/proc/uptime', 'utf8').split(/\s+/)[0] ?? '0';
  } catch {
    return '0';
  }
}

/** upstream pa/provision/default.py: "Provisioning succeeded (<uptime>s)" with the duration, or the failure. */
export function recordProvisioning(result: ProvisionResult): void {
  if (result.outcome === 'already-provisioned') return;
  if (result.outcome === 'ready') {
    telemetry.addEvent(
      { op: OPERATION.provision, isSuccess: true, message: `Provisioning succeeded (${uptimeSeconds()}s)`, durationMs: result.elapsedMs },
      { taskName: 'Daemon' },
    );
  } else {
    telemetry.addEvent(
      {
        op: OPERATION.provision,
        isSuccess: false,
        message: `Provisioning failed: ${result.reason} (${uptimeSeconds()}s)`,
        durationMs: result.elapsedMs,
      },
      { taskName: 'Daemon' },
    );
  }
}

export function heartbeatEventTask(config: Config): PeriodicTask {
  let counter = 0;
  const heartbeatId = crypto.randomUUID().toUpperCase();
  const autoUpdate = config.bool('AutoUpdate.UpdateToLatestVersion') ? 1 : 0;
  return {
    name: 'telemetry heartbeat',
    periodMs: TELEMETRY_HEARTBEAT_PERIOD_MS,
    async run() {
      const errors = telemetry.takeGoalStateErrors();
      const msg = `HeartbeatCounter: ${counter};HeartbeatId: ${heartbeatId};UpdateGSErrors: ${errors};AutoUpdate: ${autoUpdate};UpdateMode: SelfUpdate;`;
      telemetry.addEvent({ op: OPERATION.heartbeat, isSuccess: true, message: msg }, { logEvent: false });
      log.info(`[HEARTBEAT] Agent WALinuxAgent-2.15.0.1 is running as the goal state agent [DEBUG ${msg}]`);
      counter++;
    },
  };
}

/** upstream PollSystemWideResourceUsage: the VM's used and available memory every hour (no cgroups needed). */
export function systemMetricsTask(): PeriodicTask {
  return {
    name: 'system metrics',
    periodMs: SYSTEM_METRICS_PERIOD_MS,
    async run() {
      const m = readSystemMemory();
      if (!m) {
        log.verbose('system metrics: /proc/meminfo has no MemTotal/MemAvailable');
        return;
      }
      telemetry.addMetric(MEMORY_CATEGORY, USED_MEM, '', m.usedMb);
      telemetry.addMetric(MEMORY_CATEGORY, AVAILABLE_MEM, '', m.availableMb);
    },
  };
}

/** upstream ReportNetworkErrors: the requests that got no answer, summed every 30 minutes. */
export const NETWORK_ERRORS_PERIOD_MS = 30 * 60_000;

/** upstream IOErrorCounter.increment's buckets: the HostGAPlugin, the WireServer ("protocol"), anything else. */
export function networkErrorsMessage(counts: Map<string, number>, endpoints: PlatformEndpoints | null): string | null {
  const wireServerHost = (endpoints?.wireServer ?? WIRESERVER_IP).replace(/:\d+$/, '');
  const hostPlugin = endpoints?.hostPlugin ?? `${WIRESERVER_IP}:32526`;
  const n = { hostplugin: 0, protocol: 0, other: 0 };
  for (const [authority, count] of counts) {
    if (authority === hostPlugin) n.hostplugin += count;
    else if (authority.replace(/:\d+$/, '') === wireServerHost) n.protocol += count;
    else n.other += count;
  }
  if (n.hostplugin + n.protocol + n.other === 0) return null;
  return `hostplugin:${n.hostplugin};protocol:${n.protocol};other:${n.other}`;
}

export function networkErrorsTask(
  endpoints: () => PlatformEndpoints | null,
  events: TelemetryRecorder = telemetry,
  take: () => Map<string, number> = takeIoErrors,
): PeriodicTask {
  return {
    name: 'network errors',
    periodMs: NETWORK_ERRORS_PERIOD_MS,
    async run() {
      const msg = networkErrorsMessage(take(), endpoints());
      if (msg) events.addEvent({ op: OPERATION.httpErrors, isSuccess: true, message: msg }, { taskName: 'MonitorHandler' });
    },
  };
}

/** The sender, with the VM's identity from the goal state and, once IMDS answered, its compute metadata. */
export function telemetryTasks(config: Config, profile: DistroProfile, ports: () => TelemetryPorts | null): PeriodicTask[] {
  const dir = eventsDirOf(libDirOf(config));
  const osVersion = osVersionParam(profile.distro.id, profile.distro.version, '');
  let compute: ImdsCompute | null = null;
  const sysInfo = (): SysInfo => ({ osVersion, ...telemetry.vm, ...(compute ?? {}) });
  // the extensions' events wait in memory, never in the agent's capped queue on disk (upstream's sender queue)
  const buffer = new ExtensionEventBuffer();
  const send = telemetrySendTask(dir, buffer, ports, sysInfo);
  const tasks: PeriodicTask[] = [heartbeatEventTask(config), systemMetricsTask()];
  // upstream collects the extensions' events only while it advertises the pipeline to them (HandlerEnvironment.json)
  if (SUPPORTED_FEATURES.some((f) => f.Key === 'ExtensionTelemetryPipeline')) {
    tasks.push({
      name: 'extension telemetry',
      periodMs: config.int('Debug.EtpCollectionPeriod') * 1000,
      // upstream's sender sends as soon as events are queued; here the send task below, due every minute and run
      // right after this one when both are due, takes them
      run: async () => buffer.push((await collectExtensionEvents(config.str('Extension.LogDir'), telemetry.vm.containerId)).events),
    });
  }
  tasks.push({
    ...send,
    async run() {
      const p = ports();
      if (p && !compute) {
        try {
          compute = await fetchImdsCompute(p.http, p.endpoints);
        } catch (e) {
          log.verbose(`IMDS compute metadata for telemetry: ${describeError(e)}`);
        }
      }
      await send.run();
    },
  });
  return tasks;
}
