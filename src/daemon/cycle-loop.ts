// The daemon's main loop after provisioning (docs/protocol.md §7.1): the goal-state / extension / status cycle every
// period, backing off while the platform does not answer, and the periodic duties in between, until stopped.
// Clock and waits come in from outside, so the schedule is unit-tested without waiting (test/unit/daemon/daemon-cycle-loop.test.ts).
import { log } from '../log/logger.ts';
import { monotonicNow } from '../util/clock.ts';

/** Back-off of the cycle while the platform does not answer: the period doubled per failure, at most this. */
export const MAX_BACKOFF_MS = 5 * 60_000;

export function cycleDelay(periodMs: number, failures: number): number {
  if (failures === 0) return periodMs;
  return Math.min(MAX_BACKOFF_MS, periodMs * 2 ** Math.min(failures, 16));
}

export interface CycleLoopDeps {
  /** One extensions cycle; true when the platform answered (the goal state was fetched). Never throws. */
  cycle(): Promise<boolean>;
  /** The period before the next cycle, read after each one (it changes once the initial goal state converged). */
  periodMs(): number;
  /** Runs the periodic duties that are due; returns the time until the next one is due (ms). */
  runDue(stopped: () => boolean): Promise<number>;
  /** The daemon's stop signal: checked between steps; its wait ends early when stopped. */
  stop: { readonly stopped: boolean; wait(ms: number): Promise<void> };
  now?: () => number;
}

/** Runs cycles and duties until stopped. A failed cycle is logged the first time and every 10th in a row. */
export async function runCycleLoop(d: CycleLoopDeps): Promise<void> {
  const now = d.now ?? monotonicNow;
  let failures = 0;
  let nextCycle = 0;
  while (!d.stop.stopped) {
    if (now() >= nextCycle) {
      const ok = await d.cycle();
      failures = ok ? 0 : failures + 1;
      if (failures === 1 || (failures > 0 && failures % 10 === 0))
        log.warn(`the platform did not answer (${failures} cycle(s) in a row); backing off`);
      nextCycle = now() + cycleDelay(d.periodMs(), failures);
    }
    if (d.stop.stopped) break;
    const taskWait = await d.runDue(() => d.stop.stopped);
    await d.stop.wait(Math.max(10, Math.min(taskWait, nextCycle - now())));
  }
}
