// The daemon's main loop (src/daemon/cycle-loop.ts) on a fake clock: the cycle every period, the back-off while the
// platform does not answer (period × 2^failures, at most 5 minutes), the warning the first time and every 10th,
// the periodic duties in between, and the stop signal ending it. The e2e daemon test only checks that it happens.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BACKOFF_MS, runCycleLoop } from '../../../src/daemon/cycle-loop.ts';
import { log, type Level } from '../../../src/log/logger.ts';

interface Run {
  /** clock time at which each cycle started */
  cycleStarts: number[];
  /** every wait the loop asked for */
  waits: number[];
  /** clock time of every duty run (runDue called when one was due) */
  dutyRuns: number[];
  warnings: string[];
}

/**
 * Runs the loop with cycles answering `results` in turn (each taking `cycleMs` of the clock), the duties due every
 * `dutyEveryMs` (Infinity: none); stops when the results are used up.
 */
async function drive(results: boolean[], opts: { periodMs?: number; cycleMs?: number; dutyEveryMs?: number } = {}): Promise<Run> {
  const { periodMs = 1000, cycleMs = 0, dutyEveryMs = Number.POSITIVE_INFINITY } = opts;
  let clock = 0;
  const run: Run = { cycleStarts: [], waits: [], dutyRuns: [], warnings: [] };
  const stop = {
    stopped: false,
    async wait(ms: number) {
      run.waits.push(ms);
      clock += ms;
    },
  };
  let nextDuty = 0;
  log.addSink(
    { write: (line: string, level?: Level) => void (level === 'WARNING' && run.warnings.push(line.replace(/^.*WARNING \S+ /, ''))) },
    'WARNING',
  );
  try {
    await runCycleLoop({
      async cycle() {
        run.cycleStarts.push(clock);
        clock += cycleMs;
        const ok = results[run.cycleStarts.length - 1]!;
        if (run.cycleStarts.length === results.length) stop.stopped = true;
        return ok;
      },
      periodMs: () => periodMs,
      async runDue() {
        if (clock >= nextDuty) {
          run.dutyRuns.push(clock);
          nextDuty = clock + dutyEveryMs;
        }
        return nextDuty - clock;
      },
      stop,
      now: () => clock,
    });
  } finally {
    log.reset();
  }
  return run;
}

test('a cycle every period; failures double the wait after the end of the cycle, one success resets it', async () => {
  const r = await drive([true, false, false, false, true, true], { periodMs: 1000, cycleMs: 300 });
  // ok: 300 + 1000; failed: + 2 s, + 4 s, + 8 s; ok again: + 1 s
  assert.deepEqual(r.cycleStarts, [0, 1300, 3600, 7900, 16_200, 17_500]);
  assert.deepEqual(r.warnings, ['the platform did not answer (1 cycle(s) in a row); backing off']);
});

test('a long outage: the back-off stops growing at 5 minutes; warned the first time and every 10th failure', async () => {
  const r = await drive(Array(25).fill(false), { periodMs: 6000 });
  const gaps = r.cycleStarts.slice(1).map((t, i) => t - r.cycleStarts[i]!);
  assert.deepEqual(gaps.slice(0, 6), [12_000, 24_000, 48_000, 96_000, 192_000, MAX_BACKOFF_MS]);
  assert.ok(
    gaps.slice(5).every((g) => g === MAX_BACKOFF_MS),
    gaps.join(','),
  );
  assert.deepEqual(
    r.warnings.map((w) => /\((\d+) cycle/.exec(w)?.[1]),
    ['1', '10', '20'],
  );
});

test('the periodic duties run between cycles when due, without delaying the next cycle', async () => {
  const r = await drive([true, true, true], { periodMs: 1000, dutyEveryMs: 300 });
  assert.deepEqual(r.cycleStarts, [0, 1000, 2000]);
  // the duties keep their own 300 ms period across the cycles: the loop wakes for whichever comes first
  assert.deepEqual(r.dutyRuns, [0, 300, 600, 900, 1200, 1500, 1800]);
  assert.ok(
    r.waits.every((w) => w >= 10),
    'never a busy loop',
  );
});

test('stopped during a cycle: no duty and no wait follow', async () => {
  const r = await drive([false], { periodMs: 1000 });
  assert.deepEqual(r.cycleStarts, [0]);
  assert.deepEqual(r.dutyRuns, []);
  assert.deepEqual(r.waits, []);
});
