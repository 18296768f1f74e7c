// The HTTP retry policy on its own (docs/protocol.md §2.1, §3.1): the whole schedule of waits, attempt caps,
// throttling, the deadline and the delay scale, driven with a fake clock (no server, no waiting).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetryPolicy, type NextStep, type RetryRules } from '../../../src/fabric/http-retry.ts';

/**
 * Runs the policy as the client does, every attempt answered with `statusOf(n)` (1-based), the clock advanced by
 * each wait. Returns the waits before attempts 2, 3, …, the attempts made and how the retries ended.
 */
function schedule(rules: RetryRules, statusOf: (n: number) => number, scale = 1, start = 0) {
  const policy = new RetryPolicy(rules, scale);
  const waits: number[] = [];
  let clock = start;
  let end: NextStep | 'not-retried' = { waitMs: 0 };
  for (;;) {
    const step = policy.next(clock);
    if ('stop' in step) {
      end = step;
      break;
    }
    if (policy.attempts > 0) waits.push(step.waitMs);
    clock += step.waitMs;
    if (policy.expired(clock)) {
      end = { stop: 'out-of-time' };
      break;
    }
    policy.begin(clock, 10_000);
    if (!policy.retriesStatus(statusOf(policy.attempts))) {
      end = 'not-retried';
      break;
    }
  }
  return { waits, attempts: policy.attempts, end, elapsedMs: clock - start };
}

test('a retryable status: 6 attempts, waits 0.5, 3, 5, 8, 13 s (29.5 s in all), then exhausted', () => {
  const r = schedule({}, () => 500);
  assert.deepEqual(r.waits, [500, 3000, 5000, 8000, 13_000]);
  assert.equal(r.attempts, 6);
  assert.deepEqual(r.end, { stop: 'exhausted' });
  assert.equal(r.elapsedMs, 29_500);
});

test('maxAttempts and retryDelayMs set the cap and the Fibonacci base; at least one attempt is made', () => {
  assert.deepEqual(schedule({ maxAttempts: 3, retryDelayMs: 500 }, () => 502).waits, [500, 1500]);
  // the first retry is never longer than the Fibonacci wait it replaces
  assert.deepEqual(schedule({ maxAttempts: 3, retryDelayMs: 100 }, () => 502).waits, [200, 300]);
  const none = schedule({ maxAttempts: 0 }, () => 500);
  assert.equal(none.attempts, 1);
  assert.deepEqual(none.waits, []);
});

test('throttling (403, 429, 503): a fixed 1 s delay from then on, and the cap raised to 25 attempts', () => {
  for (const status of [403, 429, 503]) {
    const r = schedule({}, () => status);
    assert.equal(r.attempts, 25, String(status));
    assert.deepEqual(r.waits, Array(24).fill(1000));
  }
  // a 500 first: the back-off once, then the throttle delay; throttled stays on after a later 500
  const mixed = schedule({}, (n) => (n === 2 ? 429 : 500));
  assert.deepEqual(mixed.waits.slice(0, 4), [500, 1000, 1000, 1000]);
  assert.equal(mixed.attempts, 25);
});

test('throttling keeps the cap when the request says so (telemetry)', () => {
  const r = schedule({ maxAttempts: 3, throttleRaisesAttempts: false }, () => 503);
  assert.equal(r.attempts, 3);
  assert.deepEqual(r.waits, [1000, 1000]);
});

test('only the listed statuses are retried; extraRetryStatuses adds to them', () => {
  for (const status of [205, 206, 403, 500, 501, 502, 503, 504, 507, 429])
    assert.equal(new RetryPolicy({}).retriesStatus(status), true, String(status));
  for (const status of [400, 401, 404, 409, 410]) assert.equal(new RetryPolicy({}).retriesStatus(status), false, String(status));
  assert.equal(new RetryPolicy({ extraRetryStatuses: [400] }).retriesStatus(400), true);
  assert.deepEqual(
    schedule({}, () => 404),
    { waits: [], attempts: 1, end: 'not-retried', elapsedMs: 0 },
  );
});

test('IO errors are retried, except "network unreachable" when the request gives up on it (health reports)', () => {
  assert.equal(new RetryPolicy({}).retriesError(false), true);
  assert.equal(new RetryPolicy({}).retriesError(true), true);
  assert.equal(new RetryPolicy({ giveUpOnUnreachable: true }).retriesError(true), false);
  assert.equal(new RetryPolicy({ giveUpOnUnreachable: true }).retriesError(false), true);
});

test('the deadline: no wait that would end at or past it, no attempt after it, and attempt timeouts cut to what is left', () => {
  // 0.5 s and 3 s fit in 6 s; the 5 s wait would end past it
  const r = schedule({ deadline: 1_000_000 + 6000 }, () => 500, 1, 1_000_000);
  assert.deepEqual(r.waits, [500, 3000]);
  assert.equal(r.attempts, 3);
  assert.deepEqual(r.end, { stop: 'out-of-time' });
  // a wait ending exactly at the deadline does not fit either
  assert.equal(schedule({ deadline: 500 }, () => 500).attempts, 1);
  const p = new RetryPolicy({ deadline: 10_000 });
  assert.equal(p.expired(9_999), false);
  assert.equal(p.expired(10_000), true);
  assert.deepEqual(p.next(10_000), { waitMs: 0 }, 'the first attempt waits for nothing; the caller checks expired()');
  assert.equal(p.begin(4_000, 10_000), 6_000);
  assert.equal(p.begin(9_999.5, 10_000), 1, 'at least 1 ms');
  assert.equal(new RetryPolicy({}).begin(123, 10_000), 10_000);
});

test('health reports (§3.1): 0.5 s, then Fibonacci × 15 s within the 20-minute deadline makes 7 attempts', () => {
  const r = schedule({ maxAttempts: 30, retryDelayMs: 15_000, deadline: 20 * 60_000 }, () => 500);
  assert.deepEqual(r.waits, [500, 45_000, 75_000, 120_000, 195_000, 315_000]);
  assert.equal(r.attempts, 7);
  assert.deepEqual(r.end, { stop: 'out-of-time' }, 'the next wait (510 s) would end past the deadline');
});

test('the delay scale multiplies every wait, back-off and throttle, and the deadline sees the scaled waits', () => {
  const r = schedule({}, () => 500, 0.1);
  assert.deepEqual(r.waits, [50, 300, 500, 800, 1300]);
  assert.equal(r.attempts, 6, 'the same attempts');
  assert.equal(r.elapsedMs, 2950);
  assert.deepEqual(schedule({}, () => 503, 0.01).waits, Array(24).fill(10));
  // at 1 % with a deadline scaled alike (12 s instead of 20 minutes): the same 7 attempts of the health report schedule
  const health = schedule({ maxAttempts: 30, retryDelayMs: 15_000, deadline: 12_000 }, () => 500, 0.01);
  assert.deepEqual(health.waits, [5, 450, 750, 1200, 1950, 3150]);
  assert.equal(health.attempts, 7);
});
