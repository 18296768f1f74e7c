// Sending the queued events (upstream ga/send_telemetry_events.py and wire.py report_event): every minute the
// daemon reads <Lib.Dir>/events/*.tld, adds the system parameters upstream adds when it sends (OS version, RAM,
// processors, VM name, role instance, region and VM id from IMDS when known, …), batches them (encode.ts) and POSTs
// each batch to the WireServer (docs/protocol.md §2.11): 3 attempts, throttling not raising the cap. A file is removed
// once its batch was accepted, or when it cannot be parsed or is too large to send alone (both logged); while the
// WireServer refuses, the files wait on disk (the queue's cap drops the oldest). The extensions' events are sent from
// memory (ExtensionEventBuffer), after the agent's own. One run is bounded in time so that it never holds up the
// goal-state cycle for long.
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { cpus, machine, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { wireServerUrl, type PlatformEndpoints } from '../fabric/endpoints.ts';
import type { HttpClient } from '../fabric/http.ts';
import { log } from '../log/logger.ts';
import { describeError } from '../util/errors.ts';
import type { PeriodicTask } from '../util/periodic.ts';
import type { ParamValue, TelemetryEvent, TelemetryParam } from './event.ts';
import { makeBatches } from './encode.ts';
import { EVENT_FILE_EXTENSION } from './queue.ts';
import { monotonicNow } from '../util/clock.ts';

export const SEND_PERIOD_MS = 60_000;
/** upstream's collector reads at most this many bytes of one event file. */
export const MAX_EVENT_FILE_BYTES = 4 * 1024 * 1024;
/** How long one run may spend POSTing, whatever the WireServer's throttling. */
export const SEND_RUN_BUDGET_MS = 30_000;

/** What upstream knows about the VM when it sends (its EventLogger sysinfo); unknown values keep upstream's placeholders. */
export interface SysInfo {
  osVersion: string;
  /** Fills the ContainerId of events queued before the goal state was known (the daemon's provisioning event). */
  containerId?: string;
  tenantName?: string;
  roleName?: string;
  roleInstanceName?: string;
  location?: string;
  subscriptionId?: string;
  resourceGroupName?: string;
  vmId?: string;
  imageOrigin?: number;
}

export function sysInfoParams(info: SysInfo): TelemetryParam[] {
  const p = (name: string, value: ParamValue): TelemetryParam => ({ name, value });
  return [
    p('OSVersion', info.osVersion),
    p('ExecutionMode', 'IAAS'),
    p('RAM', Math.floor(totalmem() / (1024 * 1024))),
    p('Processors', cpus().length),
    p('KeywordName', `{"CpuArchitecture": "${cpuArchitecture()}"}`),
    p('TenantName', info.tenantName ?? 'TenantName_UNINITIALIZED'),
    p('RoleName', info.roleName ?? 'RoleName_UNINITIALIZED'),
    p('RoleInstanceName', info.roleInstanceName ?? 'RoleInstanceName_UNINITIALIZED'),
    p('Location', info.location ?? 'Location_UNINITIALIZED'),
    p('SubscriptionId', info.subscriptionId ?? 'SubscriptionId_UNINITIALIZED'),
    p('ResourceGroupName', info.resourceGroupName ?? 'ResourceGroupName_UNINITIALIZED'),
    p('VMId', info.vmId ?? 'VMId_UNINITIALIZED'),
    p('ImageOrigin', info.imageOrigin ?? 0),
  ];
}

/** upstream's osutil.get_vm_arch (platform.machine()): the kernel's machine name. */
function cpuArchitecture(): string {
  return machine();
}

/** upstream's OSVersion: Linux:<distro>-<version>-<codename>:<kernel>. */
export function osVersionParam(distro: string, version: string, codename: string): string {
  return `Linux:${distro}-${version}-${codename}:${release()}`;
}

function withSendTimeParams(event: TelemetryEvent, common: TelemetryParam[], containerId: string | undefined): TelemetryEvent {
  const own = containerId
    ? event.parameters.map((p) => (p.name === 'ContainerId' && p.value === '' ? { name: p.name, value: containerId } : p))
    : event.parameters;
  return { ...event, parameters: [...own, ...common] };
}

function isParam(x: unknown): x is TelemetryParam {
  if (typeof x !== 'object' || x === null) return false;
  const p = x as Record<string, unknown>;
  return (
    typeof p.name === 'string' && ['string', 'number', 'boolean'].includes(typeof p.value) && (p.float === undefined || p.float === true)
  );
}

/** Parses an event file; null when it is not upstream's event JSON. */
export function parseEventFile(text: string): TelemetryEvent | null {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof x !== 'object' || x === null) return null;
  const e = x as Record<string, unknown>;
  if (typeof e.eventId !== 'number' || typeof e.providerId !== 'string' || !Array.isArray(e.parameters)) return null;
  if (!e.parameters.every(isParam)) return null;
  return {
    eventId: e.eventId,
    providerId: e.providerId,
    parameters: e.parameters,
    file_type: typeof e.file_type === 'string' ? e.file_type : '',
  };
}

interface Queued {
  path: string;
  event: TelemetryEvent;
}

/** Reads the queue in time order; drops (with a log line) what cannot be an event. */
export function readQueue(dir: string): Queued[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith(EVENT_FILE_EXTENSION) && !n.startsWith('.'))
      .sort();
  } catch {
    return [];
  }
  const out: Queued[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (statSync(path).size > MAX_EVENT_FILE_BYTES) {
        log.warn(`dropping the event file ${name}: larger than ${MAX_EVENT_FILE_BYTES} bytes`);
        unlinkSync(path);
        continue;
      }
      const event = parseEventFile(readFileSync(path, 'utf8'));
      if (!event) {
        log.warn(`dropping the event file ${name}: not a telemetry event`);
        unlinkSync(path);
        continue;
      }
      out.push({ path, event });
    } catch (e) {
      log.warn(`cannot read the event file ${name}: ${describeError(e)}`);
    }
  }
  return out;
}

function remove(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}

export interface TelemetryPorts {
  http: HttpClient;
  endpoints: PlatformEndpoints;
}

export interface SendResult {
  sent: number;
  batches: number;
  dropped: number;
  failedBatches: number;
}

interface SendOutcome extends SendResult {
  /** indexes of the events sent (accepted) or dropped (too large): done with */
  done: number[];
}

/** Batches `events` and POSTs them; reports which were accepted or dropped. */
async function postEvents(
  events: readonly TelemetryEvent[],
  ports: TelemetryPorts,
  sysInfo: SysInfo,
  deadline: number,
  describe: (i: number) => TelemetryEvent,
): Promise<SendOutcome> {
  const result: SendOutcome = { sent: 0, batches: 0, dropped: 0, failedBatches: 0, done: [] };
  if (events.length === 0) return result;
  const common = sysInfoParams(sysInfo);
  const { batches, oversize } = makeBatches(events.map((e) => withSendTimeParams(e, common, sysInfo.containerId)));
  for (const i of oversize) {
    const names = describe(i).parameters.filter((p) => ['Name', 'Version', 'Operation', 'OperationSuccess'].includes(p.name));
    log.warn(`Single event too large: ${names.map((p) => `${p.name}:${p.value}`).join(', ')}, dropped`);
    result.done.push(i);
    result.dropped++;
  }
  for (const batch of batches) {
    try {
      await ports.http.request({
        url: wireServerUrl(ports.endpoints, '/machine?comp=telemetrydata'),
        method: 'POST',
        headers: { 'Content-Type': 'text/xml;charset=utf-8' },
        body: batch.body,
        maxAttempts: 3,
        throttleRaisesAttempts: false,
        deadline,
        maxBodyBytes: 64 * 1024,
      });
    } catch (e) {
      result.failedBatches++;
      log.verbose(`Failed to send events: ${describeError(e)}`);
      continue;
    }
    result.done.push(...batch.items);
    result.sent += batch.items.length;
    result.batches++;
  }
  return result;
}

/** One pass over the queue on disk: a file is removed once its event was accepted (or dropped as too large). */
export async function sendQueuedEvents(
  dir: string,
  ports: TelemetryPorts,
  sysInfo: SysInfo,
  now: () => number = monotonicNow,
  deadline = now() + SEND_RUN_BUDGET_MS,
): Promise<SendResult> {
  const queued = readQueue(dir);
  const r = await postEvents(
    queued.map((q) => q.event),
    ports,
    sysInfo,
    deadline,
    (i) => queued[i]!.event,
  );
  for (const i of r.done) remove(queued[i]!.path);
  if (r.failedBatches > 0) log.warn(`telemetry: ${r.failedBatches} batch(es) not accepted; their events wait in ${dir}`);
  const { done: _done, ...result } = r;
  return result;
}

/**
 * The extensions' events, held in memory between their collection and their sending (upstream's collector hands
 * them to its sender's in-memory queue; they never share the agent's capped queue on disk). What the WireServer
 * refuses waits here for the next run, up to MAX_BYTES of event text: beyond it the oldest are dropped (logged).
 */
export class ExtensionEventBuffer {
  static readonly MAX_BYTES = 8 * 1024 * 1024;
  #events: Array<{ event: TelemetryEvent; bytes: number }> = [];
  #bytes = 0;
  readonly #maxBytes: number;

  constructor(maxBytes = ExtensionEventBuffer.MAX_BYTES) {
    this.#maxBytes = maxBytes;
  }

  get length(): number {
    return this.#events.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(events: readonly TelemetryEvent[]): void {
    for (const event of events) {
      const bytes = event.parameters.reduce((n, p) => n + p.name.length + String(p.value).length, 0);
      this.#events.push({ event, bytes });
      this.#bytes += bytes;
    }
    let dropped = 0;
    while (this.#bytes > this.#maxBytes && this.#events.length > 0) {
      this.#bytes -= this.#events.shift()!.bytes;
      dropped++;
    }
    if (dropped > 0)
      log.warn(`telemetry: ${dropped} extension events dropped, the oldest, to keep ${this.#maxBytes} bytes waiting at most`);
  }

  /** Sends what is held; what is refused is kept (in order) for the next run. */
  async send(ports: TelemetryPorts, sysInfo: SysInfo, deadline = monotonicNow() + SEND_RUN_BUDGET_MS): Promise<SendResult> {
    const held = this.#events;
    this.#events = [];
    this.#bytes = 0;
    const r = await postEvents(
      held.map((h) => h.event),
      ports,
      sysInfo,
      deadline,
      (i) => held[i]!.event,
    );
    const done = new Set(r.done);
    const left = held.filter((_, i) => !done.has(i));
    // refused events go back in front of anything collected meanwhile
    this.#events = [...left, ...this.#events];
    this.#bytes = this.#events.reduce((n, h) => n + h.bytes, 0);
    if (r.failedBatches > 0)
      log.warn(`telemetry: ${r.failedBatches} batch(es) of extension events not accepted; ${left.length} events wait in memory`);
    const { done: _done, ...result } = r;
    return result;
  }
}

/** Every minute: the agent's queue on disk first, then the extensions' events waiting in memory, in one time budget. */
export function telemetrySendTask(
  dir: string,
  buffer: ExtensionEventBuffer,
  ports: () => TelemetryPorts | null,
  sysInfo: () => SysInfo,
): PeriodicTask {
  return {
    name: 'telemetry',
    periodMs: SEND_PERIOD_MS,
    async run() {
      const p = ports();
      if (!p) return;
      const deadline = monotonicNow() + SEND_RUN_BUDGET_MS;
      const info = sysInfo();
      const r = await sendQueuedEvents(dir, p, info, monotonicNow, deadline);
      const x = buffer.length > 0 ? await buffer.send(p, info, deadline) : null;
      const sent = r.sent + (x?.sent ?? 0);
      if (sent > 0) log.verbose(`telemetry: ${sent} events in ${r.batches + (x?.batches ?? 0)} batches`);
    },
  };
}
