// upstream restutil.IOErrorCounter: requests that got no answer at all (refused, reset, timed out), counted per
// host:port as they happen, for the monitor's HttpErrors event every 30 minutes (src/daemon/telemetry.ts). A
// process-wide count, as upstream's, so that every HttpClient adds to it.
const counts = new Map<string, number>();

/** One failed attempt to `authority` (URL host[:port]). */
export function countIoError(authority: string): void {
  counts.set(authority, (counts.get(authority) ?? 0) + 1);
}

/** The counts since the last call, by authority; the count starts again. */
export function takeIoErrors(): Map<string, number> {
  const out = new Map(counts);
  counts.clear();
  return out;
}
