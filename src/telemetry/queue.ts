// The event queue on disk (upstream common/event.py save_event): one JSON file per event in <Lib.Dir>/events, named
// by the time in microseconds with the extension .waagent.tld, written atomically. The folder holds at most 1000
// files: before a new one is written the oldest (by name, i.e. by time) are dropped down to 999. Every string value
// is redacted (SAS tokens, protected settings, passwords) before it reaches the disk.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log/logger.ts';
import { redact } from '../log/redact.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import type { TelemetryEvent } from './event.ts';

export const MAX_EVENT_FILES = 1000;
export const AGENT_EVENT_FILE_EXTENSION = '.waagent.tld';
export const EVENT_FILE_EXTENSION = '.tld';

export function eventsDirOf(libDir: string): string {
  return join(libDir, 'events');
}

export function redactEvent(event: TelemetryEvent): TelemetryEvent {
  return {
    ...event,
    parameters: event.parameters.map((p) => (typeof p.value === 'string' ? { name: p.name, value: redact(p.value) } : p)),
  };
}

let lastStamp = 0;
/** Microseconds since the epoch, strictly increasing within this process so that two events never share a name. */
function nextStamp(nowMs: number): number {
  const stamp = Math.max(nowMs * 1000, lastStamp + 1);
  lastStamp = stamp;
  return stamp;
}

/** Drops the oldest files so that at most `max - 1` remain (room for the one about to be written). */
export function capEventFolder(dir: string, max = MAX_EVENT_FILES): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  if (names.length < max) return;
  names.sort();
  const drop = names.slice(0, names.length - (max - 1));
  log.warn(`Too many files under: ${dir}, current count: ${names.length}, removing oldest event files`);
  for (const n of drop) {
    try {
      unlinkSync(join(dir, n));
    } catch {
      /* already sent or removed */
    }
  }
}

/** Queues one event; never throws (telemetry must not break the operation it reports), a failure is logged. */
export function saveEvent(
  dir: string,
  event: TelemetryEvent,
  nowMs: number = Date.now(),
  extension = AGENT_EVENT_FILE_EXTENSION,
): string | null {
  try {
    capEventFolder(dir);
    const path = join(dir, `${nextStamp(nowMs)}${extension}`);
    writeFileAtomic(path, JSON.stringify(redactEvent(event)), { mkdir: true, mode: 0o600 });
    return path;
  } catch (e) {
    log.warn(`Failed to write events to file: ${(e as Error).message}`);
    return null;
  }
}
