// The agent's one telemetry recorder (upstream's module-level add_event, add_periodic and add_log_event of
// common/event.py): the daemon points it at <Lib.Dir>/events once; the code that finishes an operation (provisioning,
// an extension command, a goal state, a failed status report, …) calls addEvent. Before it is pointed anywhere
// (commands that queue no telemetry, unit tests) nothing is queued. What the goal state tells about the VM (container
// id, tenant, role, role instance) is kept here for the events and the sender.
//
// The bounds upstream puts on repeated events are here too:
//   - addPeriodic: the same name/operation/success/message at most once per period (upstream add_periodic);
//   - ReportStatus events only when the outcome changes from the last one sent, remembered across restarts in
//     <Lib.Dir>/event_status.json (upstream EventStatus, should_emit_event);
//   - log lines become "Log" events only when forced (upstream's SEND_LOGS_TO_TELEMETRY is False in 2.15 and no
//     configuration key turns it on; the extension-event collector forces its warnings through).
import { dirname, join } from 'node:path';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { readFileNoFollow, UnsafeFileError } from '../os/safe-read.ts';
import { AGENT_NAME, COMPAT_AGENT_VERSION } from '../util/version.ts';
import type { AgentEventInput } from './event.ts';
import { agentEvent, logEvent, metricEvent, OPERATION } from './event.ts';
import { saveEvent } from './queue.ts';

export interface VmIdentity {
  containerId: string;
  tenantName?: string;
  roleName?: string;
  roleInstanceName?: string;
}

/** upstream event.SEND_LOGS_TO_TELEMETRY: off in 2.15, a constant, not a configuration key. */
export const SEND_LOGS_TO_TELEMETRY = false;

/** upstream __event_status_operations__: operations sent only when their success differs from the last one sent. */
const STATUS_TRACKED_OPERATIONS: readonly string[] = [OPERATION.reportStatus];
export const EVENT_STATUS_FILE = 'event_status.json';

export interface AddEventOptions {
  /** upstream's TaskName (the thread): ExtHandler unless given. */
  taskName?: string;
  /** upstream log_event: a failure is also logged as `Event: name=…` at ERROR (default true, as upstream). */
  logEvent?: boolean;
}

export class TelemetryRecorder {
  #dir: string | null = null;
  #vm: VmIdentity = { containerId: '' };
  readonly #now: () => number;
  /** add_periodic: when each (name, op, success, message) was last queued. */
  readonly #periodic = new Map<string, number>();
  /** EventStatus: `<name>-<version>-<op>` → the success last sent. */
  #status: Record<string, boolean> = {};
  /** upstream _heartbeat_update_goal_state_error_count: goal-state fetch errors since the last heartbeat event. */
  #goalStateErrors = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Events are queued in `dir` (<Lib.Dir>/events) from now on; null stops queuing. */
  start(dir: string | null): void {
    this.#dir = dir;
    this.#periodic.clear();
    this.#status = dir ? loadEventStatus(this.#statusFile()!) : {};
  }

  get dir(): string | null {
    return this.#dir;
  }

  setVm(vm: VmIdentity): void {
    this.#vm = { ...vm };
  }

  get vm(): VmIdentity {
    return this.#vm;
  }

  /** Queues one event; returns its file, or null when not recording, suppressed, or the write failed (logged). */
  addEvent(input: AgentEventInput, opts: AddEventOptions = {}): string | null {
    const name = input.name ?? AGENT_NAME;
    if (!this.#dir) {
      // upstream logs the event when the reporter is not initialized, so that it is not lost altogether
      if (!input.isSuccess) this.#logFailure(input, name);
      return null;
    }
    if (!this.#shouldEmit(name, input)) return null;
    if (!input.isSuccess && (opts.logEvent ?? true)) this.#logFailure(input, name);
    return saveEvent(
      this.#dir,
      agentEvent(input, { containerId: this.#vm.containerId, taskName: opts.taskName, now: new Date(this.#now()) }),
    );
  }

  /** upstream add_periodic: queued unless the same event was queued less than `periodMs` ago. */
  addPeriodic(periodMs: number, input: AgentEventInput, opts: AddEventOptions = {}): string | null {
    if (!this.#dir) return this.addEvent(input, opts);
    const key = `${input.name ?? AGENT_NAME}\u0000${input.op}\u0000${input.isSuccess}\u0000${input.message ?? ''}`;
    const last = this.#periodic.get(key);
    if (last !== undefined && last + periodMs > this.#now()) return null;
    this.#periodic.set(key, this.#now());
    return this.addEvent(input, opts);
  }

  /** A goal-state fetch failed (counted for the next heartbeat's UpdateGSErrors). */
  noteGoalStateError(): void {
    this.#goalStateErrors++;
  }

  /** The goal-state fetch errors since the last call (the heartbeat's UpdateGSErrors), and the count starts again. */
  takeGoalStateErrors(): number {
    const n = this.#goalStateErrors;
    this.#goalStateErrors = 0;
    return n;
  }

  /** upstream add_log_event: WARNING and ERROR lines, only when forced while SEND_LOGS_TO_TELEMETRY is off. */
  addLogEvent(level: 'WARNING' | 'ERROR', message: string, forced = false, sendLogs = SEND_LOGS_TO_TELEMETRY): string | null {
    if (!this.#dir || !(forced || sendLogs)) return null;
    return saveEvent(this.#dir, logEvent(level, message, { containerId: this.#vm.containerId, now: new Date(this.#now()) }));
  }

  /** upstream report_metric: one performance counter. */
  addMetric(category: string, counter: string, instance: string, value: number, taskName = 'MonitorHandler'): string | null {
    if (!this.#dir || !Number.isFinite(value)) return null;
    return saveEvent(
      this.#dir,
      metricEvent(category, counter, instance, value, { containerId: this.#vm.containerId, taskName, now: new Date(this.#now()) }),
    );
  }

  #logFailure(input: AgentEventInput, name: string): void {
    log.error(`Event: name=${name}, op=${input.op}, message=${input.message ?? ''}, duration=${Math.round(input.durationMs ?? 0)}`);
  }

  #statusFile(): string | null {
    return this.#dir ? join(dirname(this.#dir), EVENT_STATUS_FILE) : null;
  }

  /** upstream should_emit_event + mark_event_status. */
  #shouldEmit(name: string, input: AgentEventInput): boolean {
    if (!STATUS_TRACKED_OPERATIONS.includes(input.op)) return true;
    const key = `${name}-${input.version ?? COMPAT_AGENT_VERSION}-${input.op}`;
    if (this.#status[key] === input.isSuccess) return false;
    this.#status[key] = input.isSuccess;
    try {
      writeFileAtomic(this.#statusFile()!, JSON.stringify(this.#status), { mkdir: true, mode: 0o600 });
    } catch (e) {
      log.warn(`Exception occurred saving event status: ${(e as Error).message}`);
    }
    return true;
  }
}

function loadEventStatus(path: string): Record<string, boolean> {
  let text: string;
  try {
    text = readFileNoFollow(path, { maxBytes: 64 * 1024 }).toString('utf8');
  } catch (e) {
    if (!(e instanceof UnsafeFileError && e.reason === 'missing'))
      log.warn(`Exception occurred loading event status: ${(e as Error).message}`);
    return {};
  }
  try {
    const x: unknown = JSON.parse(text);
    if (typeof x !== 'object' || x === null || Array.isArray(x)) return {};
    return Object.fromEntries(Object.entries(x).filter((e): e is [string, boolean] => typeof e[1] === 'boolean'));
  } catch (e) {
    log.warn(`Exception occurred loading event status: ${(e as Error).message}`);
    return {};
  }
}

export const telemetry = new TelemetryRecorder();
