// The clock for measuring intervals: periods, back-offs, deadlines, ages within one process. It is monotonic
// (CLOCK_MONOTONIC through performance.now), so the wall clock jumping forwards or back (NTP after a long suspend,
// an operator's `date -s`, the hypervisor's time sync) neither stalls a periodic task for the size of the jump nor
// makes every one due at once. The wall clock (Date.now) stays for what is a date: timestamps, file mtimes.
// Only differences of two readings mean anything; the origin is the process start.

/** Milliseconds on a monotonic clock (not a date). */
export function monotonicNow(): number {
  return performance.now();
}
