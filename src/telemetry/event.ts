// The agent's telemetry events in upstream's on-disk shape (common/telemetryevent.py, common/event.py add_event):
// {eventId, providerId, parameters: [{name, value}], file_type}. The parameters of the event come first, then the
// common ones upstream adds when the event is made (GAVersion, ContainerId, OpcodeName = the UTC timestamp, …).
import { AGENT_NAME, COMPAT_AGENT_VERSION as AGENT_VERSION } from '../util/version.ts';

/** docs/protocol.md §2.11: agent and extension events. */
export const AGENT_EVENTS_PROVIDER = '69B669B9-4AF8-4C50-BDC4-6006FA76E975';
export const AGENT_EVENT_ID = 1;

/** upstream CURRENT_AGENT, the GAVersion parameter. */
export const GA_VERSION = `${AGENT_NAME}-${AGENT_VERSION}`;

export type ParamValue = string | number | boolean;

export interface TelemetryParam {
  name: string;
  value: ParamValue;
  /** A Python float (mt:float64) even when the number is whole: a metric's Value. */
  float?: boolean;
}

export interface TelemetryEvent {
  eventId: number;
  providerId: string;
  parameters: TelemetryParam[];
  file_type: string;
}

/** upstream's WALAEventOperation names (common/event.py) for the events we emit. */
export const OPERATION = {
  provision: 'Provision',
  heartbeat: 'HeartBeat',
  goalState: 'GoalState',
  fetchGoalState: 'FetchGoalState',
  extensionProcessing: 'ExtensionProcessing',
  goalStateUnsupportedFeatures: 'GoalStateUnsupportedFeatures',
  reportStatus: 'ReportStatus',
  reportStatusExtended: 'ReportStatusExtended',
  extensionTelemetryEventProcessing: 'ExtensionTelemetryEventProcessing',
  log: 'Log',
  install: 'Install',
  enable: 'Enable',
  disable: 'Disable',
  uninstall: 'UnInstall',
  update: 'Update',
  download: 'Download',
  hostPluginHeartbeat: 'HostPluginHeartbeat',
  hostPluginHeartbeatExtended: 'HostPluginHeartbeatExtended',
  imdsHeartbeat: 'ImdsHeartbeat',
  healthObservation: 'HealthObservation',
  osInfo: 'OSInfo',
  configurationChange: 'ConfigurationChange',
  protocolEndpoint: 'ProtocolEndpoint',
  cloudInit: 'CloudInit',
  httpErrors: 'HttpErrors',
  openSsl: 'OpenSsl',
} as const;

export interface AgentEventInput {
  op: string;
  isSuccess: boolean;
  message?: string;
  durationMs?: number;
  /** Defaults to the agent (Name WALinuxAgent, Version 2.15.0.1); an extension operation names the handler. */
  name?: string;
  version?: string;
}

/** What the event's common parameters need that only the running agent knows. */
export interface EventContext {
  containerId: string;
  taskName?: string;
  now?: Date;
}

/** upstream's timeutil.create_utc_timestamp: ISO 8601 with microseconds and a Z. */
export function utcTimestamp(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000Z`;
}

/** upstream add_common_event_parameters: what every event the agent makes carries after its own parameters. */
function commonParams(ctx: EventContext, now: Date): TelemetryParam[] {
  return [
    { name: 'GAVersion', value: GA_VERSION },
    { name: 'ContainerId', value: ctx.containerId },
    { name: 'OpcodeName', value: utcTimestamp(now) },
    // one process, one thread: the pid stands for upstream's thread id as well
    { name: 'EventTid', value: process.pid },
    { name: 'EventPid', value: process.pid },
    { name: 'TaskName', value: ctx.taskName ?? 'ExtHandler' },
  ];
}

export function agentEvent(input: AgentEventInput, ctx: EventContext): TelemetryEvent {
  const now = ctx.now ?? new Date();
  return {
    eventId: AGENT_EVENT_ID,
    providerId: AGENT_EVENTS_PROVIDER,
    parameters: [
      { name: 'Name', value: input.name ?? AGENT_NAME },
      { name: 'Version', value: input.version ?? AGENT_VERSION },
      { name: 'Operation', value: input.op },
      { name: 'OperationSuccess', value: input.isSuccess },
      { name: 'Message', value: input.message ?? '' },
      { name: 'Duration', value: Math.max(0, Math.round(input.durationMs ?? 0)) },
      ...commonParams(ctx, now),
      // upstream adds these two to the agent/extension events (provider 69B669B9…, id 1) only
      { name: 'ExtensionType', value: '' },
      { name: 'IsInternal', value: false },
    ],
    file_type: '',
  };
}

/** upstream TELEMETRY_METRICS_EVENT_ID: performance counters, in the agent's provider. */
export const METRICS_EVENT_ID = 4;

/** upstream EventLogger.add_metric: one performance counter (category, counter, instance, value as a float). */
export function metricEvent(category: string, counter: string, instance: string, value: number, ctx: EventContext): TelemetryEvent {
  const now = ctx.now ?? new Date();
  return {
    eventId: METRICS_EVENT_ID,
    providerId: AGENT_EVENTS_PROVIDER,
    parameters: [
      { name: 'Category', value: category },
      { name: 'Counter', value: counter },
      { name: 'Instance', value: instance },
      { name: 'Value', value, float: true },
      ...commonParams(ctx, now),
    ],
    file_type: '',
  };
}

/** docs/protocol.md §2.11: the generic-logs table (upstream TELEMETRY_LOG_PROVIDER_ID / TELEMETRY_LOG_EVENT_ID). */
export const LOG_EVENTS_PROVIDER = 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F';
export const LOG_EVENT_ID = 7;

/**
 * upstream EventLogger._clean_up_message: a log line's timestamp and level are dropped, the message is kept (the
 * level is a column of its own).
 */
export function cleanUpLogMessage(message: string): string {
  if (!message) return message;
  const withLevel = /^.*(INFO|WARNING|ERROR|VERBOSE)\s*(.*)$/s.exec(message);
  if (withLevel) return withLevel[2]!;
  const withTime = /^[0-9:/\-TZ\s.]*\s(.*)$/s.exec(message);
  return withTime ? withTime[1]! : message;
}

/** upstream EventLogger.add_log_event: a log line as a "Log" event of the generic-logs table. */
export function logEvent(level: 'WARNING' | 'ERROR', message: string, ctx: EventContext): TelemetryEvent {
  const now = ctx.now ?? new Date();
  return {
    eventId: LOG_EVENT_ID,
    providerId: LOG_EVENTS_PROVIDER,
    parameters: [
      { name: 'EventName', value: OPERATION.log },
      { name: 'CapabilityUsed', value: level },
      { name: 'Context1', value: cleanUpLogMessage(message) },
      { name: 'Context2', value: utcTimestamp(now) },
      { name: 'Context3', value: '' },
      ...commonParams(ctx, now),
    ],
    file_type: '',
  };
}
