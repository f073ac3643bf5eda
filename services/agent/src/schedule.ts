/**
 * When to rotate. Pure functions, so the timing rules are tested without clocks. (How long to wait
 * after a failure is the one backoff of `@warden/core`.)
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

/** setTimeout takes at most 2^31-1 ms (about 24.8 days); a longer wait is done in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
