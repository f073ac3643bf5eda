/**
 * Finds a series' cycle as it streams, so that a value can be compared with the value one period
 * earlier. The period is the lag of the highest autocorrelation peak (above `minCorrelation`)
 * over the last `history` values, estimated after `history / 4` values and again every
 * `history / 2`; 0 means no cycle was found (a random walk or AR process decays without a peak).
 */
export class Seasonality {
  readonly #ring: Float64Array;
  readonly #minPeriod: number;
  readonly #maxPeriod: number;
  readonly #minCorrelation: number;
  #count = 0;
  #period = 0;

  constructor(
    options: { history?: number; minPeriod?: number; maxPeriod?: number; minCorrelation?: number } = {},
  ) {
    this.#ring = new Float64Array(options.history ?? 2048);
    this.#minPeriod = options.minPeriod ?? 4;
    this.#maxPeriod = options.maxPeriod ?? 700;
    this.#minCorrelation = options.minCorrelation ?? 0.4;
  }

  get period(): number {
    return this.#period;
  }

  /** The value `lag` values ago (1 = the previous one); NaN if not kept. */
  ago(lag: number): number {
    if (lag < 1 || lag > Math.min(this.#count, this.#ring.length)) return Number.NaN;
    return this.#ring[(this.#count - lag) % this.#ring.length] ?? Number.NaN;
  }

  push(value: number): void {
    this.#ring[this.#count % this.#ring.length] = value;
    this.#count++;
    const size = this.#ring.length;
    if (this.#count === size / 4 || (this.#count > size / 4 && (this.#count - size / 4) % (size / 2) === 0))
      this.#period = this.#estimate();
  }

  #estimate(): number {
    const n = Math.min(this.#count, this.#ring.length);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = this.ago(n - i);
    const mean = values.reduce((a, b) => a + b, 0) / n;
    let variance = 0;
    for (let i = 0; i < n; i++) {
      values[i] = (values[i] as number) - mean;
      variance += (values[i] as number) ** 2;
    }
    if (variance === 0) return 0;
    const maxLag = Math.min(this.#maxPeriod, Math.floor(n / 3));
    const acf = new Float64Array(maxLag + 2);
    for (let lag = 1; lag <= maxLag + 1 && lag < n; lag++) {
      let sum = 0;
      for (let i = lag; i < n; i++) sum += (values[i] as number) * (values[i - lag] as number);
      acf[lag] = sum / variance;
    }
    // The first peak after the correlation has dipped below zero: a cycle's, not persistence's.
    let dipped = false;
    let best = 0;
    let bestValue = this.#minCorrelation;
    for (let lag = 2; lag <= maxLag; lag++) {
      const here = acf[lag] as number;
      if (here < 0) dipped = true;
      if (!dipped || lag < this.#minPeriod) continue;
      if (here > bestValue && here >= (acf[lag - 1] as number) && here >= (acf[lag + 1] as number)) {
        best = lag;
        bestValue = here;
      }
    }
    return best;
  }
}
