/**
 * Capped exponential backoff with jitter, and a sleep that wakes early when aborted.
 *
 * The runner uses it between retries of the same events (sink said `retry`, or the dead-letter
 * produce failed). Jitter spreads the retries of many partitions and consumers so they do not
 * hammer a recovering engine in lock-step.
 */

export interface BackoffPolicy {
  /** Delay ceiling of the first retry. */
  readonly initialMs: number;
  /** No delay ever exceeds this. */
  readonly maxMs: number;
}

/**
 * Delay before retry number `attempt` (1 = first retry): the ceiling doubles each attempt up to
 * `maxMs`, and the delay is drawn uniformly from [ceiling/2, ceiling] ("equal jitter"), so it
 * always grows roughly exponentially but two callers rarely wait the same time.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30); // 2^30 * 1 ms already exceeds any sane cap
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
