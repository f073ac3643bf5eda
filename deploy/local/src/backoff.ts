/**
 * Restart delay after a failure: doubles with each consecutive failure up to `maxMs`; a process
 * that stayed up for `stableMs` starts again from `baseMs`.
 */
export class Backoff {
  private failures = 0;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly stableMs: number;

  constructor(options: { baseMs?: number; maxMs?: number; stableMs?: number } = {}) {
    this.baseMs = options.baseMs ?? 250;
    this.maxMs = options.maxMs ?? 15_000;
    this.stableMs = options.stableMs ?? 30_000;
  }

  /** The delay before the next start, given how long the last run lasted. */
  next(upForMs: number): number {
    if (upForMs >= this.stableMs) this.failures = 0;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** this.failures);
    this.failures++;
    return delay;
  }
}
