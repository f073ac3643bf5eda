import { RollingWindow } from './rolling.ts';

/**
 * Turns a detector's raw statistic into a score in [0, 1] against the statistic's own recent
 * history, so that one detector holds up on series of any unit, noise level or tail weight.
 *
 * The reference is the 99th percentile of the statistic over the last `history` readings, never
 * below `floor` (a quiet history must not make tiny deviations look alarming). The ratio
 * u = statistic / reference goes through a logistic curve centred on `midpoint`: readings inside
 * the usual top 1 % (u <= 1) score 0, u = midpoint scores 0.5, and twice the midpoint is near 1.
 * Each reading is scored before it joins the history, so a score never depends on itself.
 */
export class Calibrator {
  readonly #history: RollingWindow;
  readonly #floor: number;
  readonly #midpoint: number;
  readonly #steepness: number;

  constructor(options: { floor: number; midpoint?: number; history?: number; steepness?: number }) {
    this.#history = new RollingWindow(options.history ?? 2000);
    this.#floor = options.floor;
    this.#midpoint = options.midpoint ?? 1.6;
    this.#steepness = options.steepness ?? 5;
  }

  /** The statistic's current reference (its recent 99th percentile, at least the floor). */
  reference(): number {
    if (this.#history.size < 100) return this.#floor;
    // With a heavy tail, values far beyond the 99th percentile are part of normal: the 99.9th
    // percentile, divided by the midpoint, then sets the reference so such values score 0.5.
    const tail = this.#history.size >= 1000 ? this.#history.quantile(0.999) / this.#midpoint : 0;
    return Math.max(this.#floor, this.#history.quantile(0.99), tail);
  }

  /**
   * Scores `statistic` and then adds it to the history. With `capAtReference`, a reading that
   * scores 0.5 or more joins the history no higher than the reference it was judged against: a
   * long anomaly (a slow drift) then cannot become the top percentile the next one is judged by.
   */
  score(statistic: number, capAtReference = false): number {
    if (!Number.isFinite(statistic)) statistic = statistic > 0 ? Number.MAX_VALUE : 0;
    const reference = this.reference();
    const u = statistic / reference;
    const score = logisticAbove(u, this.#midpoint, this.#steepness);
    this.#history.push(Math.min(statistic, capAtReference && score >= 0.5 ? reference : 1e12));
    return score;
  }
}

/** A logistic in `u`, rescaled so that u <= 1 gives 0 and large u tends to 1. */
export function logisticAbove(u: number, midpoint: number, steepness: number): number {
  if (!(u > 1)) return 0;
  const at = (x: number): number => 1 / (1 + Math.exp(-steepness * (x - midpoint)));
  const base = at(1);
  return Math.min(1, Math.max(0, (at(u) - base) / (1 - base)));
}
