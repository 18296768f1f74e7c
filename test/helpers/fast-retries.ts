// End-to-end tests check that retries happen (how many, in what order, what comes of them) without sitting out the
// protocol's real back-off: the agent waits this percent of every HTTP retry wait (Debug.RetryDelayPercent,
// docs/contract.md §4). The schedule itself is proven in unit tests (test/unit/fabric/http-retry.test.ts); a few e2e tests
// keep the real timing on purpose and say so.

export const RETRY_DELAY_PERCENT = 10;

/** Configuration keys for a run with scaled retry waits. */
export const FAST_RETRIES: Readonly<Record<string, string>> = { 'Debug.RetryDelayPercent': String(RETRY_DELAY_PERCENT) };

/** A real wait of `ms` as the agent waits it under FAST_RETRIES. */
export function scaled(ms: number): number {
  return (ms * RETRY_DELAY_PERCENT) / 100;
}
