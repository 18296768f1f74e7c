// The aggregate status document, the "status blob" (docs/protocol.md §6.1, §10 item 12): a pure function of plain
// inputs. Field names and their order are those of the Python agent's vm_status_to_v1; the text is written the way
// its json.dumps writes it (src/util/python-json.ts).
//
// API:
//   buildAggregateStatus(input: AggregateStatusInput): AggregateStatusDocument
//   formatAggregateStatus(doc: AggregateStatusDocument): string          the JSON text uploaded and archived
//   agentSupportedFeatures(opts: { fastTrack: boolean; versioningGovernance?: boolean }): SupportedFeature[]
//   statusTimestamp(d: Date): string                                      %Y-%m-%dT%H:%M:%SZ
import { redact } from '../log/redact.ts';
import { PyFloat, pythonJsonDumps } from '../util/python-json.ts';
import type { AgentUpdateStatus, ExtensionStatus, GoalStateAggregateStatus, HandlerStatus, SupportedFeature } from './types.ts';

export const STATUS_DOCUMENT_VERSION = '1.1';
export const GUEST_AGENT_RUNNING = 'Guest Agent is running';
const LANG = 'en-US';

export interface OsInfo {
  /** The hostname. */
  readonly computerName: string;
  /** Distro id and version (os-release). */
  readonly osName: string;
  readonly osVersion: string;
}

export interface AggregateStatusInput {
  /** The agent version we report (the compatible WALinuxAgent version, src/util/version.ts). */
  readonly agentVersion: string;
  /** guestAgentStatus.status; default Ready. */
  readonly agentStatus?: string;
  /** guestAgentStatus.formattedMessage.message; default "Guest Agent is running". */
  readonly agentMessage?: string;
  readonly updateStatus?: AgentUpdateStatus | null;
  /** Handlers to report, in goal-state order (uninstalled ones already left out by the caller, §6.1). */
  readonly handlers: readonly HandlerStatus[];
  /** null until the first goal state was processed. */
  readonly goalState?: GoalStateAggregateStatus | null;
  readonly os: OsInfo;
  /** Default: agentSupportedFeatures({ fastTrack: false }). */
  readonly supportedFeatures?: readonly SupportedFeature[];
  readonly now: Date;
}

interface FormattedMessage {
  lang: string;
  message: string | null;
}

/** The document as a plain object (property order is the wire order). */
export interface AggregateStatusDocument {
  version: string;
  timestampUTC: string;
  aggregateStatus: {
    guestAgentStatus: Record<string, unknown>;
    handlerAggregateStatus: Record<string, unknown>[];
    vmArtifactsAggregateStatus?: { goalStateAggregateStatus: Record<string, unknown> };
  };
  guestOSInfo: { computerName: string; osName: string; osVersion: string; version: string };
  supportedFeatures?: SupportedFeature[];
}

/** §6.1: UTC, no fractional seconds. */
export function statusTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Features advertised to CRP (§6.1): multi-config and versioning always, FastTrack when the HGAP serves vmSettings. */
export function agentSupportedFeatures(opts: { fastTrack: boolean; versioningGovernance?: boolean }): SupportedFeature[] {
  const out: SupportedFeature[] = [{ Key: 'MultipleExtensionsPerHandler', Value: '1.0' }];
  if (opts.versioningGovernance ?? true) out.push({ Key: 'VersioningGovernance', Value: '1.0' });
  if (opts.fastTrack) out.push({ Key: 'FastTrack', Value: '1.0' });
  return out;
}

/** Every message goes through SAS/secret redaction (§6.1, §10 item 40). */
function fm(message: string | null): FormattedMessage {
  return { lang: LANG, message: message === null ? null : redact(message) };
}

function guestAgentStatus(input: AggregateStatusInput): Record<string, unknown> {
  const out: Record<string, unknown> = {
    version: input.agentVersion,
    status: input.agentStatus ?? 'Ready',
    formattedMessage: fm(input.agentMessage ?? GUEST_AGENT_RUNNING),
  };
  const u = input.updateStatus;
  if (u) out.updateStatus = { expectedVersion: u.expectedVersion, status: u.status, code: u.code, formattedMessage: fm(u.message) };
  return out;
}

function settingsStatus(ext: ExtensionStatus, now: Date): Record<string, unknown> {
  const status: Record<string, unknown> = {
    name: ext.name,
    configurationAppliedTime: ext.configurationAppliedTime,
    operation: ext.operation,
    status: ext.status,
    code: ext.code,
    formattedMessage: fm(ext.message),
  };
  // substatus only when non-empty (§10 item 12)
  if (ext.substatus.length > 0) {
    status.substatus = ext.substatus.map((s) => ({ name: s.name, status: s.status, code: s.code, formattedMessage: fm(s.message) }));
  }
  return { status, version: new PyFloat(1.0), timestampUTC: statusTimestamp(now) };
}

function handlerEntry(h: HandlerStatus, ext: ExtensionStatus | null, now: Date): Record<string, unknown> {
  const out: Record<string, unknown> = {
    handlerVersion: h.version,
    handlerName: h.name,
    status: h.status,
    code: h.code,
    useExactVersion: true,
  };
  if (h.message !== null) out.formattedMessage = fm(h.message);
  if (ext) {
    const rs: Record<string, unknown> = { settingsStatus: settingsStatus(ext, now), sequenceNumber: ext.sequenceNumber };
    if (h.isMultiConfig) rs.extensionName = ext.name;
    out.runtimeSettingsStatus = rs;
  }
  return out;
}

/** §6.1: one entry per extension for multi-config handlers; single-config handlers report their first extension. */
function handlerEntries(h: HandlerStatus, now: Date): Record<string, unknown>[] {
  if (h.isMultiConfig && h.extensions.length > 0) return h.extensions.map((e) => handlerEntry(h, e, now));
  return [handlerEntry(h, h.extensions[0] ?? null, now)];
}

export function buildAggregateStatus(input: AggregateStatusInput): AggregateStatusDocument {
  const aggregateStatus: AggregateStatusDocument['aggregateStatus'] = {
    guestAgentStatus: guestAgentStatus(input),
    handlerAggregateStatus: input.handlers.flatMap((h) => handlerEntries(h, input.now)),
  };
  const gs = input.goalState;
  if (gs) {
    aggregateStatus.vmArtifactsAggregateStatus = {
      goalStateAggregateStatus: {
        formattedMessage: fm(gs.message),
        timestampUTC: statusTimestamp(gs.timestamp),
        inSvdSeqNo: gs.inSvdSeqNo,
        status: gs.status,
        code: gs.code,
      },
    };
  }
  const doc: AggregateStatusDocument = {
    version: STATUS_DOCUMENT_VERSION,
    timestampUTC: statusTimestamp(input.now),
    aggregateStatus,
    guestOSInfo: {
      computerName: input.os.computerName,
      osName: input.os.osName,
      osVersion: input.os.osVersion,
      version: input.agentVersion,
    },
  };
  const features = input.supportedFeatures ?? agentSupportedFeatures({ fastTrack: false });
  if (features.length > 0) doc.supportedFeatures = features.map((f) => ({ Key: f.Key, Value: f.Value }));
  return doc;
}

/** The JSON text of the document, byte for byte as the Python agent writes it. */
export function formatAggregateStatus(doc: AggregateStatusDocument): string {
  return pythonJsonDumps(doc);
}
