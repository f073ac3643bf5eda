/**
 * When to rotate, and how long to wait after a failure. Pure functions, so the timing rules are
 * tested without clocks.
 */

export type RotationPolicy = {
  /** Rotate when this fraction of the lifetime remains (0.5: at half-life). */
  ratio: number;
  /** The fraction moves by up to this much either way, at random. */
  jitter: number;
};

/** Never schedule a rotation sooner than this after the last one: no hot loop on a tiny TTL. */
export const MIN_ROTATION_DELAY_MS = 100;

/**
 * Istio's agent rule (`rotateTime` in security/pkg/nodeagent/cache): the grace period is
 * `ratio ± jitter` of the lifetime, and rotation happens that long before expiry. The jitter
 * spreads many workloads issued at once (an agent restart, a new node) over time, so they do not
 * all hit the CA at the same instant at half-life. Lifetime is counted from when the agent got the
 * certificate (see `Svid.obtainedAt`).
 */
export function rotationTime(
  cert: { obtainedAt: Date; notBefore: Date; notAfter: Date },
  policy: RotationPolicy,
  random: () => number = Math.random,
): Date {
  const start = Math.max(cert.obtainedAt.getTime(), cert.notBefore.getTime());
  const end = cert.notAfter.getTime();
  const lifetime = Math.max(0, end - start);
  const jitter = (random() * 2 - 1) * policy.jitter;
  const grace = Math.min(1, Math.max(0, policy.ratio + jitter)) * lifetime;
  return new Date(Math.max(start + Math.min(MIN_ROTATION_DELAY_MS, lifetime), end - grace));
}

export type BackoffPolicy = { initialMs: number; maxMs: number };

/**
 * Capped exponential backoff with jitter: `initial · 2^(attempt-1)`, capped, then a random point
 * in its upper half, so agents that lost the CA together do not retry in lockstep when it returns.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/** setTimeout takes at most 2^31-1 ms (about 24.8 days); a longer wait is done in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
