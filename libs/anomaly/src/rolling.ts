/**
 * The last `capacity` numbers of a stream, kept both in arrival order (to evict the oldest) and
 * sorted (so that a median or a quantile is a lookup): insertion and eviction are a binary search
 * and one splice, which for windows of a few hundred values costs less than a heap would.
 */
export class RollingWindow {
  readonly capacity: number;
  readonly #ring: number[] = [];
  readonly #sorted: number[] = [];
  #head = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.#sorted.length;
  }

  push(value: number): void {
    if (this.#ring.length < this.capacity) {
      this.#ring.push(value);
    } else {
      const evicted = this.#ring[this.#head] as number;
      this.#ring[this.#head] = value;
      this.#head = (this.#head + 1) % this.capacity;
      this.#sorted.splice(lowerBound(this.#sorted, evicted), 1);
    }
    this.#sorted.splice(lowerBound(this.#sorted, value), 0, value);
  }

  /** Forgets everything but the newest `keep` values. */
  keepNewest(keep: number): void {
    const newest = this.newest(keep);
    this.#ring.length = 0;
    this.#sorted.length = 0;
    this.#head = 0;
    for (const v of newest) this.push(v);
  }

  /** The newest `count` values, oldest first. */
  newest(count: number): number[] {
    const ordered = [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
    return ordered.slice(Math.max(0, ordered.length - count));
  }

  /** Linear-interpolated quantile, `p` in [0, 1]; NaN when empty. */
  quantile(p: number): number {
    const n = this.#sorted.length;
    if (n === 0) return Number.NaN;
    const pos = p * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(n - 1, lo + 1);
    const a = this.#sorted[lo] as number;
    const b = this.#sorted[hi] as number;
    return a + (b - a) * (pos - lo);
  }

  median(): number {
    return this.quantile(0.5);
  }

  /**
   * A robust standard deviation: the interquartile range scaled to a normal's sigma, widened to
   * the 10–90 % range and then to the full range when the window is mostly one value (counts that
   * are usually zero), so that the scale is zero only when every value is the same.
   */
  scale(): number {
    const iqr = (this.quantile(0.75) - this.quantile(0.25)) / 1.349;
    if (iqr > 0) return iqr;
    const decile = (this.quantile(0.9) - this.quantile(0.1)) / 2.563;
    if (decile > 0) return decile;
    return (this.quantile(1) - this.quantile(0)) / 4;
  }
}

/** The first index whose value is >= `value`. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
