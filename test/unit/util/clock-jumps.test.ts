// The wall clock jumping forwards and back (issue 11): the periodic duties, the daemon's cycle loop and the
// "failing for N minutes" state of the heartbeats measure intervals on the monotonic clock (src/util/clock.ts),
// so a jump neither stalls them for its size nor makes them spin. Date is mocked (node:test mock.timers) and jumped
// by hours; performance.now, the monotonic clock, is not touched. Before, each used Date.now: a jump back of two
// hours put every duty two hours away, and the cycle loop waited two hours.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCycleLoop } from '../../../src/daemon/cycle-loop.ts';
import { ErrorState } from '../../../src/daemon/heartbeats.ts';
import { PeriodicTasks } from '../../../src/util/periodic.ts';

const HOUR = 3600_000;

test('PeriodicTasks: a jump of the wall clock back or forwards neither delays a duty nor makes it due', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 0, 1) });
  let runs = 0;
  const tasks = new PeriodicTasks([{ name: 'duty', periodMs: 30_000, run: async () => void runs++ }]);
  await tasks.runDue();
  assert.equal(runs, 1);
  t.mock.timers.setTime(Date.UTC(2026, 0, 1) - 2 * HOUR);
  assert.ok(tasks.nextDueIn() <= 30_000, `after a jump back: next in ${tasks.nextDueIn()} ms`);
  t.mock.timers.setTime(Date.UTC(2026, 0, 2));
  assert.ok(tasks.nextDueIn() > 25_000, `after a jump forwards: next in ${tasks.nextDueIn()} ms, not at once`);
  await tasks.runDue();
  assert.equal(runs, 1, 'not run again by the jump');
});

test('runCycleLoop: a jump of the wall clock back or forwards between cycles neither stalls nor speeds the cycles', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 0, 1) });
  const waits: number[] = [];
  let cycles = 0;
  const stop = {
    stopped: false,
    async wait(ms: number) {
      waits.push(ms);
      // the wall clock jumps back two hours during the first wait, forwards a day during the second
      if (waits.length === 1) t.mock.timers.setTime(Date.UTC(2026, 0, 1) - 2 * HOUR);
      if (waits.length === 2) t.mock.timers.setTime(Date.UTC(2026, 0, 2));
      if (waits.length >= 4) stop.stopped = true;
    },
  };
  await runCycleLoop({
    async cycle() {
      cycles++;
      return true;
    },
    periodMs: () => 1000,
    runDue: async () => 60_000,
    stop,
  });
  for (const w of waits) assert.ok(w <= 1000, `waited ${w} ms (${waits.join(', ')})`);
  assert.equal(cycles, 1, 'the waits here take no time on the monotonic clock: no cycle is due again, none runs early');
});

test('ErrorState (heartbeats): a jump forwards does not declare a short failure long', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 0, 1) });
  const s = new ErrorState(5 * 60_000);
  s.record(false);
  t.mock.timers.setTime(Date.UTC(2026, 0, 2));
  assert.equal(s.triggered, false, 'a day of wall clock passed, but not of failures');
});
