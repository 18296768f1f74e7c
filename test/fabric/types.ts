// Types shared by the fabric emulator, its control API client and the tests.

export type Service = 'wireserver' | 'hostplugin' | 'imds' | 'blob';
export const SERVICES: readonly Service[] = ['wireserver', 'hostplugin', 'imds', 'blob'];

/** One request as the emulator saw it (GET /requests, and one line of --record FILE). */
export interface RecordedRequest {
  time: string;
  service: Service;
  port: number;
  method: string;
  /** path and query, as sent */
  path: string;
  headers: Record<string, string>;
  /** request body as UTF-8 text, capped at BODY_CAP characters */
  body: string;
  bodyBytes: number;
  /** status sent, or 0 when the connection was reset or cut before a status line */
  status: number;
  /** the fault kind applied, if any */
  fault?: FaultKind;
}

export const BODY_CAP = 64 * 1024;

export type FaultKind = 'delay' | 'reset' | 'status' | 'truncate' | 'malformed' | 'oversize' | 'slow';
export const FAULT_KINDS: readonly FaultKind[] = ['delay', 'reset', 'status', 'truncate', 'malformed', 'oversize', 'slow'];

/**
 * A fault rule: requests to `service` (any when absent) whose path+query matches the regular expression `path`
 * (any when absent) and whose method is `method` (any when absent) get the fault, `times` times (forever when absent).
 */
export interface FaultRule {
  kind: FaultKind;
  service?: Service;
  path?: string;
  method?: string;
  times?: number;
  /** delay: milliseconds before the normal answer (default 1000); slow: pause between drips (default 50) */
  ms?: number;
  /** status: the status code to answer (required) */
  status?: number;
  /** status: the body to send (default empty), e.g. InvalidContainerConfiguration with 400 */
  body?: string;
  /** oversize: MiB to stream (default 16) */
  mib?: number;
  /** slow: bytes per drip (default 1) */
  bytes?: number;
}

/** A health report the WireServer received (POST /machine?comp=health), with the fields of §3.1 pulled out. */
export interface HealthReport {
  time: string;
  incarnation: string | null;
  containerId: string | null;
  instanceId: string | null;
  state: string | null;
  subStatus: string | null;
  description: string | null;
  body: string;
}

/** A HealthService report (POST /HealthService): upstream's JSON, its observations pulled out; `error` when it is not that JSON. */
export interface HealthObservationReport {
  time: string;
  api: string | null;
  source: string | null;
  observations: Array<{ name: string; isHealthy: boolean; description: string; value: string }>;
  error?: string;
  body: string;
}

/** A telemetrydata POST (docs/protocol.md §2.11): its XML parsed into providers and events, and whether it was accepted. */
export interface TelemetryBatch {
  time: string;
  bytes: number;
  /** the status the emulator answered (200, or the refusal status set through the control API) */
  status: number;
  providers: Array<{ id: string; events: Array<{ id: string; params: Array<{ name: string; value: string; type: string }> }> }>;
  /** why the body is not the §2.11 XML, when it is not */
  error?: string;
  body: string;
}

/** A status blob upload, direct (blob service) or through the HostGAPlugin's PUT /status (§6.2). */
export interface StatusUpload {
  time: string;
  via: 'blob' | 'hostplugin';
  /** blob path on the storage side (path of the SAS URL, without query) */
  blob: string;
  blobType: string;
  /** 'create' (BlockBlob put or PageBlob create), or 'page' (a page write) */
  operation: 'create' | 'page';
  /** the whole blob after this upload, as text with the page blob's zero/space padding removed */
  content: string;
}

export interface EmulatorPorts {
  wireServer: number;
  hostPlugin: number;
  imds: number;
  blob: number;
}

/** Body of POST /goal-state: switch the scenario, replace some of its documents, and/or change the incarnation. */
export interface GoalStateChange {
  scenario?: string;
  /** document name (versions, goalState, extensionsConfig, vmSettings, ...) → file the emulator can read */
  docs?: Record<string, string>;
  incarnation?: string | number;
  bumpIncarnation?: boolean;
}
