// Extension events (upstream ga/collect_telemetry_events.py _ProcessExtensionEvents): every Debug.EtpCollectionPeriod
// (300 s) each handler's events folder (/var/log/azure/<Handler>/events, advertised as eventsFolder in
// HandlerEnvironment.json while we support ExtensionTelemetryPipeline) is read: files named <digits>.json, newest
// first, at most 4 MiB each, each a JSON event or a list of them in the schema below; at most 360 events per
// handler per period. A file that is being written (gone, or not yet valid JSON) is read again, 3 attempts 1 s apart,
// as upstream's _read_event_file. Every file is deleted once read, and whatever is left in the folder at the end of
// the run as well (upstream empties the folders every run, so an extension cannot fill the disk). A bad file or event
// is dropped with a log line — the warnings also as "Log" events, as upstream forces them — and never stops the
// collection. The events, upstream's log events (provider FFF0196F…, id 7), are returned to the caller, which sends
// them from memory as upstream's collector hands them to its sender's queue: they never take a place in the agent's
// own capped queue on disk.
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { redact } from '../log/redact.ts';
import { log } from '../log/logger.ts';
import { readFileNoFollow, UnsafeFileError } from '../os/safe-read.ts';
import { describeError } from '../util/errors.ts';
import { GA_VERSION, LOG_EVENT_ID, LOG_EVENTS_PROVIDER, OPERATION, utcTimestamp, type TelemetryEvent } from './event.ts';
import { telemetry } from './recorder.ts';

export { LOG_EVENT_ID, LOG_EVENTS_PROVIDER };
/** upstream NUM_OF_EVENT_FILE_RETRIES and EVENT_FILE_RETRY_DELAY */
export const EVENT_FILE_READ_ATTEMPTS = 3;
export const EVENT_FILE_RETRY_DELAY_MS = 1000;
/**
 * At most this long waiting between read attempts in one collection run (ours: the daemon's duties share one loop,
 * and 1,000 broken files would otherwise hold it for over half an hour); past it a file is read once.
 */
export const RETRY_WAIT_BUDGET_MS = 10_000;
export const MAX_EVENTS_PER_EXTENSION_PER_PERIOD = 360;
export const EXTENSION_EVENT_FILE_MAX_SIZE = 4 * 1024 * 1024;
export const EXTENSION_EVENT_MAX_SIZE = 1024 * 6;
export const EXTENSION_EVENT_MAX_MSG_LEN = 1024 * 3;

const EVENT_FILE_NAME = /^(\d+)\.json$/i;
/** upstream HANDLER_NAME_PATTERN: a handler folder's name does not start with "-". */
const HANDLER_NAME = /^([^-]+)/i;
/** upstream's ExtensionEventSchema, lower case; the order in which the size is summed. */
const REQUIRED = ['eventlevel', 'eventpid', 'eventtid', 'message', 'operationid', 'taskname', 'timestamp', 'version'] as const;
type Field = (typeof REQUIRED)[number];

export class InvalidExtensionEvent extends Error {}

/** upstream _parse_event_and_ensure_it_is_valid: the fields it accepts, or the reason the event is dropped. */
export function validateExtensionEvent(raw: unknown): Record<Field, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('the event is not a JSON object');
  const event: Partial<Record<Field, string>> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const key = k.toLowerCase() as Field;
    if (!REQUIRED.includes(key) || v === null || v === undefined) continue;
    if (typeof v === 'number' && Number.isInteger(v) && (key === 'eventpid' || key === 'eventtid')) event[key] = String(v);
    else if (typeof v === 'string') event[key] = redact(v.trim());
    else throw new Error(`${k} is not a string`);
  }
  if (event.message === undefined) throw new InvalidExtensionEvent('MissingKeyError: Message not found');
  event.message = event.message.slice(0, EXTENSION_EVENT_MAX_MSG_LEN);
  if (!event.message) throw new InvalidExtensionEvent('EmptyMessageError: Message should not be empty');
  let size = 0;
  for (const key of REQUIRED) {
    const v = event[key];
    if (v === undefined) throw new InvalidExtensionEvent(`MissingKeyError: ${key} not found`);
    if (size > EXTENSION_EVENT_MAX_SIZE)
      throw new InvalidExtensionEvent(`OversizeEventError: max event size allowed: ${EXTENSION_EVENT_MAX_SIZE}`);
    size += v.length;
  }
  return event as Record<Field, string>;
}

/** upstream _parse_telemetry_event: the common parameters, then the extension's in the log-event columns. */
export function extensionTelemetryEvent(handler: string, e: Record<Field, string>, fileTime: Date, containerId: string): TelemetryEvent {
  return {
    eventId: LOG_EVENT_ID,
    providerId: LOG_EVENTS_PROVIDER,
    parameters: [
      { name: 'GAVersion', value: GA_VERSION },
      { name: 'ContainerId', value: containerId },
      { name: 'OpcodeName', value: utcTimestamp(fileTime) },
      { name: 'EventTid', value: e.eventtid },
      { name: 'EventPid', value: e.eventpid },
      { name: 'TaskName', value: e.taskname },
      { name: 'EventName', value: `${handler}-${e.version}` },
      { name: 'CapabilityUsed', value: e.eventlevel },
      { name: 'Context1', value: e.message },
      { name: 'Context2', value: e.timestamp },
      { name: 'Context3', value: e.operationid },
    ],
    file_type: 'json',
  };
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export interface CollectResult {
  /** events collected, by handler */
  collected: Record<string, number>;
  /** events dropped, by handler and reason */
  dropped: Record<string, Record<string, number>>;
  /** the collected events, for the sender */
  events: TelemetryEvent[];
}

export interface CollectOptions {
  /** upstream's delay between the attempts to read a file being written (1 s). */
  retryDelayMs?: number;
  /** RETRY_WAIT_BUDGET_MS */
  retryBudgetMs?: number;
}

/** What is left of one run's waiting time between read attempts. */
interface RetryBudget {
  leftMs: number;
}

/** upstream's warning that is also sent as a "Log" event (add_log_event(..., forced=True)). */
function warnAndSend(message: string): void {
  log.warn(message);
  telemetry.addLogEvent('WARNING', message, true);
}

/**
 * upstream _read_event_file: the parsed JSON of an event file, read again (up to 3 attempts in all, `delayMs` apart)
 * when it is gone or not valid JSON — the extension may be writing it. Never follows a link an extension planted.
 */
export async function readEventFile(
  path: string,
  within: string,
  delayMs = EVENT_FILE_RETRY_DELAY_MS,
  budget: RetryBudget = { leftMs: Number.POSITIVE_INFINITY },
): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    try {
      const text = readFileNoFollow(path, { maxBytes: EXTENSION_EVENT_FILE_MAX_SIZE, within }).toString('utf8');
      return JSON.parse(text) as unknown;
    } catch (e) {
      const retriable = e instanceof SyntaxError || (e instanceof UnsafeFileError && e.reason === 'missing');
      if (!retriable || attempt >= EVENT_FILE_READ_ATTEMPTS || budget.leftMs < delayMs) throw e;
    }
    budget.leftMs -= delayMs;
    await sleep(delayMs);
  }
}

/** One collection over every handler's events folder under `extensionLogDir`. */
export async function collectExtensionEvents(
  extensionLogDir: string,
  containerId: string,
  opts: CollectOptions = {},
): Promise<CollectResult> {
  const result: CollectResult = { collected: {}, dropped: {}, events: [] };
  const retry = { delayMs: opts.retryDelayMs ?? EVENT_FILE_RETRY_DELAY_MS, budget: { leftMs: opts.retryBudgetMs ?? RETRY_WAIT_BUDGET_MS } };
  for (const handler of listDir(extensionLogDir)) {
    const eventsDir = join(extensionLogDir, handler, 'events');
    try {
      if (!HANDLER_NAME.test(handler) || !statSync(join(extensionLogDir, handler)).isDirectory() || !statSync(eventsDir).isDirectory())
        continue;
    } catch {
      continue;
    }
    try {
      await collectHandler(handler, eventsDir, extensionLogDir, containerId, result, retry);
    } catch (e) {
      // upstream _operation: an unexpected error of the run is an ExtensionTelemetryEventProcessing event
      telemetry.addEvent({
        op: OPERATION.extensionTelemetryEventProcessing,
        isSuccess: false,
        message: `Unknown error occurred when trying to collect extension events:${describeError(e)}`,
      });
    } finally {
      // upstream empties the folder every run: older files beyond the cap and anything else left there
      for (const residue of listDir(eventsDir)) tryUnlink(join(eventsDir, residue));
    }
  }
  return result;
}

async function collectHandler(
  handler: string,
  eventsDir: string,
  extensionLogDir: string,
  containerId: string,
  result: CollectResult,
  retry: { delayMs: number; budget: RetryBudget },
): Promise<void> {
  const dropped: Record<string, number> = {};
  let count = 0;
  const files = listDir(eventsDir)
    .filter((n) => EVENT_FILE_NAME.test(n))
    .sort()
    .reverse();
  try {
    for (const name of files) {
      const path = join(eventsDir, name);
      try {
        const st = statSync(path);
        if (st.size > EXTENSION_EVENT_FILE_MAX_SIZE) {
          warnAndSend(
            `Skipping file: ${path} as its size is ${(st.size / 1e6).toFixed(2)} Mb > Max size allowed ${(EXTENSION_EVENT_FILE_MAX_SIZE / 1e6).toFixed(1)} Mb`,
          );
          continue;
        }
        const parsed = await readEventFile(path, extensionLogDir, retry.delayMs, retry.budget);
        for (const raw of Array.isArray(parsed) ? parsed : [parsed]) {
          try {
            result.events.push(extensionTelemetryEvent(handler, validateExtensionEvent(raw), st.mtime, containerId));
            count++;
          } catch (e) {
            if (e instanceof InvalidExtensionEvent) dropped[e.message] = (dropped[e.message] ?? 0) + 1;
            else log.warn(`Unable to parse and transmit event, error: ${describeError(e)}`);
          }
          if (count >= MAX_EVENTS_PER_EXTENSION_PER_PERIOD) break;
        }
        if (count >= MAX_EVENTS_PER_EXTENSION_PER_PERIOD) {
          warnAndSend(
            `Reached max count for the extension: ${handler}; Max Limit: ${MAX_EVENTS_PER_EXTENSION_PER_PERIOD}. Skipping the rest.`,
          );
          break;
        }
      } catch (e) {
        warnAndSend(`Failed to process event file ${name}:${describeError(e)}`);
      } finally {
        tryUnlink(path);
      }
    }
  } finally {
    if (Object.keys(dropped).length > 0) {
      const details = Object.entries(dropped).map(([k, v]) => `Reason: ${k}; Dropped Count: ${v}`);
      warnAndSend(`Dropped events for Extension: ${handler}; Details:\n\t${details.join('\n\t')}`);
      result.dropped[handler] = dropped;
    }
    if (count > 0) {
      log.info(`Collected ${count} events for extension: ${handler}`);
      result.collected[handler] = count;
    }
  }
}
