/**
 * The one backoff of Warden: capped exponential with jitter. Whoever retries (a service waiting
 * for a stream, an agent that lost the CA, the stack supervisor restarting a process) waits
 * `initial · 2^(attempt-1)`, capped at `max`, then a random point in the upper half of that, so
 * that many clients that failed together do not retry in lockstep. This module imports nothing.
 */
export type BackoffPolicy = {
  initialMs: number;
  maxMs: number;
};

/** The delay before retry number `attempt` (1 for the first retry). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export type BackoffOptions = BackoffPolicy & {
  /** A run that lasted this long counts as a success: the next failure starts from `initialMs`. */
  stableMs?: number;
  random?: () => number;
};

/** Consecutive failures and the delay each one earns; `reset` after a success. */
export class Backoff {
  private failures = 0;
  private readonly options: BackoffOptions;

  constructor(options: BackoffOptions) {
    if (!(options.initialMs > 0) || options.maxMs < options.initialMs)
      throw new RangeError(
        `backoff needs 0 < initialMs <= maxMs (got ${options.initialMs}, ${options.maxMs})`,
      );
    this.options = options;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** Records a failure and returns how long to wait; `upForMs` is how long the failed run lasted. */
  next(upForMs = 0): number {
    if (this.options.stableMs !== undefined && upForMs >= this.options.stableMs) this.failures = 0;
    this.failures++;
    return backoffDelay(this.failures, this.options, this.options.random);
  }

  reset(): void {
    this.failures = 0;
  }
}

/**
 * Waits `ms`, or less when `signal` aborts; never rejects, so a retry loop checks its own stop
 * condition after it. The timer does not keep the process alive.
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
