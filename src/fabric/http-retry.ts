// The retry policy of the one HTTP client (docs/protocol.md §2.1), with no I/O: which statuses are retried, how many
// attempts are made (throttling raises the cap), how long to wait before each (a short first retry, then the Fibonacci
// back-off; a fixed delay once throttled; all times the client's delay scale), and when an overall deadline leaves no
// room for another.
// src/fabric/http.ts drives it around the real attempts.

export const DEFAULT_ATTEMPTS = 6;
export const DEFAULT_RETRY_DELAY_MS = 1_000;
/**
 * The wait before the first retry of any request that was not throttled (issue 14): a fault is mostly a single one (a
 * reset connection, a truncated body, one 5xx), and the next request is answered. Upstream waits 2 s (30 s for a
 * health report) there; from the second retry on the waits are upstream's.
 */
export const FIRST_RETRY_DELAY_MS = 500;
export const THROTTLE_DELAY_MS = 1_000;
export const THROTTLE_MIN_ATTEMPTS = 25;

export const RETRY_STATUSES: ReadonlySet<number> = new Set([205, 206, 403, 500, 501, 502, 503, 504, 507, 429]);
export const THROTTLE_STATUSES: ReadonlySet<number> = new Set([403, 503, 429]);

/** Fibonacci-scaled back-off before attempt n (1-based retry count): 2, 3, 5, 8, 13 … × delay (§2.1). */
export function backoffDelay(retry: number, delayMs: number): number {
  let [a, b] = [1, 1];
  for (let i = 0; i < retry; i++) [a, b] = [b, a + b];
  return delayMs * b;
}

/** The retry fields of one request (see HttpRequest in http.ts). */
export interface RetryRules {
  maxAttempts?: number;
  /** The Fibonacci base: retry n ≥ 2 waits retryDelayMs × 3, 5, 8, 13 … (the first retry FIRST_RETRY_DELAY_MS) */
  retryDelayMs?: number;
  /** false: throttling does not raise the attempt cap (§2.1). */
  throttleRaisesAttempts?: boolean;
  /** Statuses retried on top of RETRY_STATUSES. */
  extraRetryStatuses?: readonly number[];
  /** Absolute time (ms) after which no attempt starts and none is waited for. */
  deadline?: number;
  /** An IO error marked "network unreachable" ends the retries at once. */
  giveUpOnUnreachable?: boolean;
}

/** What comes before the next attempt: a wait (0 before the first), or the end of the retries and why. */
export type NextStep = { waitMs: number } | { stop: 'exhausted' | 'out-of-time' };

/**
 * The retry state of one request. `delayScale` multiplies every wait (1 = the protocol's timing; less for test
 * and offline fabrics, Debug.RetryDelayPercent); the schedule, the attempt counts and the deadline rules are the same.
 */
export class RetryPolicy {
  readonly #rules: RetryRules;
  readonly #delayScale: number;
  readonly #retryStatuses: ReadonlySet<number>;
  #maxAttempts: number;
  #attempts = 0;
  #throttled = false;

  constructor(rules: RetryRules, delayScale = 1) {
    this.#rules = rules;
    this.#delayScale = delayScale;
    this.#retryStatuses = new Set([...RETRY_STATUSES, ...(rules.extraRetryStatuses ?? [])]);
    this.#maxAttempts = Math.max(1, rules.maxAttempts ?? DEFAULT_ATTEMPTS);
  }

  /** Attempts started so far. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The wait before the next attempt at time `now`, or why there is none: the cap is reached, or the wait would end past the deadline. */
  next(now: number): NextStep {
    if (this.#attempts >= this.#maxAttempts) return { stop: 'exhausted' };
    if (this.#attempts === 0) return { waitMs: 0 };
    const base = this.#throttled
      ? THROTTLE_DELAY_MS
      : this.#attempts === 1
        ? Math.min(FIRST_RETRY_DELAY_MS, backoffDelay(1, this.#rules.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS))
        : backoffDelay(this.#attempts, this.#rules.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
    const waitMs = Math.round(base * this.#delayScale);
    if (this.#rules.deadline !== undefined && now + waitMs >= this.#rules.deadline) return { stop: 'out-of-time' };
    return { waitMs };
  }

  /** The deadline has passed: no attempt may start. */
  expired(now: number): boolean {
    return this.#rules.deadline !== undefined && now >= this.#rules.deadline;
  }

  /** Counts an attempt starting at `now`; returns its timeout: `timeoutMs`, cut to what is left before the deadline (at least 1 ms). */
  begin(now: number, timeoutMs: number): number {
    this.#attempts++;
    const deadline = this.#rules.deadline;
    return deadline === undefined ? timeoutMs : Math.min(timeoutMs, Math.max(1, deadline - now));
  }

  /** After an answer with a status that is neither OK nor accepted: whether to try again. A throttle status switches to the fixed delay and raises the cap. */
  retriesStatus(status: number): boolean {
    if (!this.#retryStatuses.has(status)) return false;
    if (THROTTLE_STATUSES.has(status)) {
      this.#throttled = true;
      if (this.#rules.throttleRaisesAttempts !== false) this.#maxAttempts = Math.max(this.#maxAttempts, THROTTLE_MIN_ATTEMPTS);
    }
    return true;
  }

  /** After an IO error (reset, timeout, refused, truncated body): retried, unless the network is unreachable and the request says to give up then. */
  retriesError(unreachable: boolean): boolean {
    return !(unreachable && this.#rules.giveUpOnUnreachable === true);
  }
}
