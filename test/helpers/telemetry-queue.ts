// The events a telemetry recorder queued in a directory (the agent's `<µs>.waagent.tld` JSON files), in the order
// they were written, with their parameters as a name → value record: what unit tests of event producers assert on.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface QueuedEvent {
  eventId: number;
  providerId: string;
  params: Record<string, string | number | boolean>;
}

/** The queued events, oldest first; none when the directory does not exist (nothing was queued). */
export function readQueuedEvents(dir: string): QueuedEvent[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    const e = JSON.parse(readFileSync(join(dir, n), 'utf8')) as {
      eventId: number;
      providerId: string;
      parameters: Array<{ name: string; value: string | number | boolean }>;
    };
    return { eventId: e.eventId, providerId: e.providerId, params: Object.fromEntries(e.parameters.map((p) => [p.name, p.value])) };
  });
}
