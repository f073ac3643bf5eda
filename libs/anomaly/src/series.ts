import { Calibrator } from './calibration.ts';
import { RollingWindow } from './rolling.ts';
import { Seasonality } from './season.ts';

/**
 * The general-purpose streaming detector behind `warden detect score`: six robust,
 * self-normalising detectors on one series, each calibrated against its own history, combined by
 * their maximum. It sees each value once, in order, and never looks ahead. Missing values are
 * skipped (the cycle is counted in values seen, not in time).
 *
 *   level     how far the value is from the rolling median, in robust standard deviations
 *   change    how unusual the step from the previous value is (spikes on trending or seasonal
 *             series, where the level alone moves too much to tell)
 *   shift     how far the median of the last few values is from the rolling median (a level
 *             shift too small for any one value to stand out)
 *   drift     the same over a longer window: a slow ramp that no short window shows
 *   seasonal  how unusual the difference from the same phase of the last three cycles is, once a
 *             cycle has been found (a cycle that stops, grows or shifts phase)
 *   variance  how much the recent spread of steps differs from the usual one, up or down (noise
 *             bursts, a sensor that flatlines)
 *
 * A sustained level shift is accepted as the new normal after `resetAfter` values beyond
 * `resetZ`: the baselines restart from them (keeping the old scales as floors until they have
 * warmed up again), so that one shift raises one alarm rather than hundreds.
 */
export type SeriesOptions = {
  /** Values in the rolling baseline. */
  baseline: number;
  /** Values before any score above 0; scores then ramp up to full weight over 3× as many. */
  warmup: number;
  /** Values in the short window of the shift detector. */
  shortWindow: number;
  /** Values in the window of the drift detector. */
  driftWindow: number;
  /** Steps in the short window of the variance detector. */
  varianceWindow: number;
  /** Readings each calibrator remembers. */
  calibrationHistory: number;
  /** Where a calibrated score reaches 0.5, as a multiple of the detector's recent 99th percentile. */
  midpoint: number;
  resetAfter: number;
  resetZ: number;
};

export const defaultSeriesOptions: SeriesOptions = {
  baseline: 400,
  warmup: 30,
  shortWindow: 5,
  driftWindow: 25,
  varianceWindow: 16,
  calibrationHistory: 2000,
  midpoint: 1.6,
  resetAfter: 10,
  resetZ: 4,
};

export type DetectorName = 'level' | 'change' | 'shift' | 'drift' | 'seasonal' | 'variance';

export type SeriesReading = {
  /** The combined score in [0, 1]; 0 for a missing value and during warm-up. */
  score: number;
  /** Each detector's calibrated score (empty for a missing value or during warm-up). */
  detectors: Partial<Record<DetectorName, number>>;
  /** The rolling median and robust standard deviation the value was judged against. */
  median: number;
  scale: number;
};

function medianOf(values: number[]): number {
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2
    ? (values[mid] as number)
    : ((values[mid - 1] as number) + (values[mid] as number)) / 2;
}

/** The smallest scale that still tells values apart: relative to the level, never exactly 0. */
const minimumScale = (median: number): number => Math.max(1e-9, Math.abs(median) * 1e-6);

export class SeriesDetector {
  readonly #options: SeriesOptions;
  readonly #values: RollingWindow;
  readonly #steps: RollingWindow;
  readonly #recentValues: RollingWindow;
  readonly #recentSteps: number[] = [];
  readonly #calibrators: Record<DetectorName, Calibrator>;
  readonly #season = new Seasonality();
  readonly #seasonalResiduals: RollingWindow;
  #residualPeriod = 0;
  /** After a reset, the seasonal difference compares with the old level for one period. */
  #seasonalMutedUntil = 0;
  /** The sum of the level shifts accepted so far: the cycle is looked for in the series without them. */
  #levelOffset = 0;
  #previous = Number.NaN;
  #seen = 0;
  #run = 0;
  #runSign = 0;
  #runMedian = 0;
  #runScale = 1;
  /** The scales before the last reset, floors while the new baselines warm up. */
  #scaleFloor = 0;
  #stepScaleFloor = 0;

  constructor(options: Partial<SeriesOptions> = {}) {
    this.#options = { ...defaultSeriesOptions, ...options };
    const o = this.#options;
    this.#values = new RollingWindow(o.baseline);
    this.#steps = new RollingWindow(o.baseline);
    this.#recentValues = new RollingWindow(Math.max(o.shortWindow, o.driftWindow));
    this.#seasonalResiduals = new RollingWindow(o.baseline);
    const calibrator = (floor: number): Calibrator =>
      new Calibrator({ floor, midpoint: o.midpoint, history: o.calibrationHistory });
    this.#calibrators = {
      level: calibrator(3.5),
      change: calibrator(3.5),
      shift: calibrator(2.5),
      drift: calibrator(2),
      seasonal: calibrator(3.5),
      variance: calibrator(Math.log(2.5)),
    };
  }

  /** Values seen so far (missing ones excluded). */
  get seen(): number {
    return this.#seen;
  }

  update(value: number): SeriesReading {
    if (!Number.isFinite(value))
      return { score: 0, detectors: {}, median: this.#values.median(), scale: Number.NaN };
    const o = this.#options;
    const median = this.#values.median();
    const step = Number.isNaN(this.#previous) ? Number.NaN : value - this.#previous;
    let scale = Math.max(this.#values.scale(), minimumScale(median));
    if (this.#values.size < o.warmup) scale = Math.max(scale, this.#scaleFloor);
    const reading: SeriesReading = { score: 0, detectors: {}, median, scale };

    if (this.#seen >= o.warmup) {
      const level = Math.abs(value - median) / scale;
      let stepScale = Math.max(this.#steps.scale(), minimumScale(median));
      if (this.#steps.size < o.warmup) stepScale = Math.max(stepScale, this.#stepScaleFloor);
      const change = Number.isNaN(step) ? 0 : Math.abs(step - this.#steps.median()) / stepScale;
      const shift =
        Math.abs(medianOf([...this.#recentValues.newest(o.shortWindow - 1), value]) - median) / scale;
      const drift =
        Math.abs(medianOf([...this.#recentValues.newest(o.driftWindow - 1), value]) - median) / scale;
      const spread = this.#recentSteps.length
        ? this.#recentSteps.reduce((sum, s) => sum + Math.abs(s - this.#steps.median()), 0) /
          this.#recentSteps.length
        : 0;
      // The mean absolute deviation of a normal is 0.798 sigma. The floor keeps a flatline at a
      // large but finite ratio, and a series that was always flat at a ratio near 1.
      const floor = Math.max(0.1 * stepScale, minimumScale(median));
      const variance = Math.abs(Math.log((spread + floor) / (0.798 * stepScale + floor)));
      const detectors = {
        level: this.#calibrators.level.score(level),
        change: this.#calibrators.change.score(change),
        shift: this.#calibrators.shift.score(shift),
        // Capped: a drift lasts long enough to fill the top percentile of its own history, and
        // would hide the next one; the other detectors keep learning heavy tails as they are.
        drift: this.#calibrators.drift.score(drift, true),
        seasonal: this.#calibrators.seasonal.score(this.#seasonal(value, median)),
        variance: this.#calibrators.variance.score(variance),
      };
      const ramp = Math.min(1, 0.25 + (0.75 * (this.#seen - o.warmup)) / (3 * o.warmup));
      reading.detectors = detectors;
      // Once a cycle is known, the seasonal detector judges the level: a value that is ordinary
      // for its phase (the weekly dip, the nightly trough) is not very unusual however far it is
      // from the overall median or the previous value, so the other detectors count at 0.6.
      const explained = this.#seasonalActive()
        ? Math.max(detectors.seasonal, detectors.variance, 0.6 * Math.max(...Object.values(detectors)))
        : Math.max(...Object.values(detectors));
      reading.score = ramp * explained;
      this.#trackShift(value, median, scale, level);
    }

    this.#values.push(value);
    this.#recentValues.push(value);
    this.#season.push(value - this.#levelOffset);
    if (!Number.isNaN(step)) {
      this.#steps.push(step);
      this.#recentSteps.push(step);
      if (this.#recentSteps.length > o.varianceWindow) this.#recentSteps.shift();
    }
    this.#previous = value;
    this.#seen++;
    return reading;
  }

  #seasonalActive(): boolean {
    return (
      this.#season.period > 0 &&
      this.#residualPeriod === this.#season.period &&
      this.#seasonalResiduals.size >= this.#options.warmup &&
      this.#seen >= this.#seasonalMutedUntil
    );
  }

  /** The robust z of the difference from the same phase of earlier cycles; 0 without a cycle. */
  #seasonal(value: number, median: number): number {
    const period = this.#season.period;
    if (period !== this.#residualPeriod) {
      // A new period makes the old differences meaningless.
      this.#residualPeriod = period;
      this.#seasonalResiduals.keepNewest(0);
    }
    if (period === 0) return 0;
    // Against the median of the same phase in the last three cycles: one odd value a cycle ago
    // must not make this one look odd.
    const earlier = [1, 2, 3].map((k) => this.#season.ago(k * period)).filter((v) => !Number.isNaN(v));
    const residual = earlier.length ? value - this.#levelOffset - medianOf(earlier) : Number.NaN;
    if (Number.isNaN(residual)) return 0;
    const warm =
      this.#seasonalResiduals.size >= this.#options.warmup && this.#seen >= this.#seasonalMutedUntil;
    const z = warm
      ? Math.abs(residual - this.#seasonalResiduals.median()) /
        Math.max(this.#seasonalResiduals.scale(), minimumScale(median))
      : 0;
    this.#seasonalResiduals.push(residual);
    return z;
  }

  /**
   * Counts values beyond `resetZ` on one side, judged against the median and scale from before
   * the run began (the run's own values would otherwise widen the scale they are judged by);
   * after `resetAfter` of them, restarts the baseline from them.
   */
  #trackShift(value: number, median: number, scale: number, level: number): void {
    if (this.#run === 0) {
      if (level <= this.#options.resetZ) return;
      this.#run = 1;
      this.#runSign = Math.sign(value - median);
      this.#runMedian = median;
      this.#runScale = scale;
      return;
    }
    const z = (value - this.#runMedian) / this.#runScale;
    if (Math.sign(z) !== this.#runSign || Math.abs(z) <= this.#options.resetZ) {
      this.#run = 0;
      return;
    }
    if (++this.#run >= this.#options.resetAfter) {
      this.#scaleFloor = this.#runScale;
      this.#values.keepNewest(this.#options.resetAfter - 1);
      this.#levelOffset += this.#values.median() - this.#runMedian;
      // The steps and the short windows restart too: the new regime may move differently (a
      // constant that starts to vary), and a window half old and half new fits neither.
      this.#stepScaleFloor = this.#steps.scale();
      this.#steps.keepNewest(this.#options.resetAfter - 1);
      this.#recentValues.keepNewest(this.#options.resetAfter - 1);
      this.#seasonalMutedUntil = this.#seen + this.#season.period;
      this.#run = 0;
    }
  }
}

/**
 * Many columns scored together: each column has its own detector and the row's score is the
 * highest column score. With more columns, more of them cross their usual top 1 % by chance on
 * any row, so each column's midpoint rises with the logarithm of the column count.
 */
export class TableDetector {
  readonly #columns: SeriesDetector[];

  constructor(columns: number, options: Partial<SeriesOptions> = {}) {
    if (!Number.isInteger(columns) || columns < 1)
      throw new RangeError(`need at least one column, got ${columns}`);
    const midpoint = (options.midpoint ?? defaultSeriesOptions.midpoint) + 0.1 * Math.log(columns);
    this.#columns = Array.from({ length: columns }, () => new SeriesDetector({ ...options, midpoint }));
  }

  /** Scores one row (NaN for a missing value); returns the row score in [0, 1]. */
  update(row: readonly number[]): number {
    let score = 0;
    this.#columns.forEach((detector, i) => {
      score = Math.max(score, detector.update(row[i] ?? Number.NaN).score);
    });
    return score;
  }
}
