// The recovery scenario of bench/provision.ts --faults (issue 14): the first request of each kind the provisioning
// phase sends is answered with a fault — 503, a reset connection, 500, a truncated body, 429, a 3 s stall, and a 500
// on the first health report — each once, through the emulator's fault rules (test/fabric/faults.ts). Our agent logs
// every retry wait it chooses ("HTTP GET <url>: retry n in N ms", src/fabric/http.ts); they are summed here and each is
// checked against the documented schedule (docs/contract.md §4, "HTTP retry back-off").
import { backoffDelay, FIRST_RETRY_DELAY_MS, THROTTLE_DELAY_MS } from '../../src/fabric/http-retry.ts';
import type { FaultRule } from '../../test/fabric/types.ts';

export const FAULT_SCENARIO: FaultRule[] = [
  { service: 'wireserver', path: 'comp=versions', kind: 'status', status: 503, times: 1 },
  { service: 'wireserver', path: 'comp=goalstate', kind: 'reset', times: 1 },
  { service: 'wireserver', path: 'type=extensionsConfig', kind: 'status', status: 500, times: 1 },
  { service: 'wireserver', path: 'type=hostingEnvironmentConfig', kind: 'truncate', times: 1 },
  { service: 'wireserver', path: 'type=sharedConfig', kind: 'status', status: 429, times: 1 },
  { service: 'wireserver', path: 'comp=certificates', kind: 'delay', ms: 3000, times: 1 },
  { service: 'wireserver', path: 'comp=health', kind: 'status', status: 500, times: 1 },
];

/** What the scenario does, in one line for the table's heading. */
export const FAULT_SUMMARY =
  'versions 503, goalstate reset, extensionsConfig 500, hostingEnvironmentConfig truncated, sharedConfig 429, certificates 3 s stall, first health report 500';

export interface RetryWait {
  url: string;
  /** the retry this wait comes before (1 = the first retry) */
  retry: number;
  ms: number;
}

/** The waits our agent logged ("HTTP POST http://…: retry 1 in 500 ms"), in order. */
export function retryWaitsOf(log: string): RetryWait[] {
  const out: RetryWait[] = [];
  for (const m of log.matchAll(/HTTP [A-Z]+ (\S+): retry (\d+) in (\d+) ms/g))
    out.push({ url: m[1]!, retry: Number(m[2]), ms: Number(m[3]) });
  return out;
}

/**
 * The longest wait the documented schedule allows before retry `n` of a request to `url`: the throttle delay (1 s)
 * or the back-off (0.5 s first, then delay × fib(n+1); delay 15 s for health reports, else 1 s), whichever is larger.
 */
export function documentedMaxWait(url: string, n: number): number {
  const delay = /comp=health/.test(url) ? 15_000 : 1_000;
  const backoff = n === 1 ? Math.min(FIRST_RETRY_DELAY_MS, backoffDelay(1, delay)) : backoffDelay(n, delay);
  return Math.max(THROTTLE_DELAY_MS, backoff);
}
