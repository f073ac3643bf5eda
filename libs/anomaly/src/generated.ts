import type { LabelledWindow } from './evaluate.ts';
import { Random } from './random.ts';

/**
 * Generated series with known anomalies, for testing a general-purpose detector: a base signal
 * (noise, trend, seasonality, random walk; the mix depends on the seed) with one kind of anomaly
 * injected at known places. None of this is mesh traffic: it stands in for the machine metrics,
 * traffic counts and sensor readings the offline scorer must handle.
 */
export const AnomalyKind = {
  spike: 'spike',
  levelShift: 'level-shift',
  varianceChange: 'variance-change',
  drift: 'drift',
  seasonalBreak: 'seasonal-break',
} as const;
export type AnomalyKind = (typeof AnomalyKind)[keyof typeof AnomalyKind];

export type GeneratedSeries = {
  values: number[];
  windows: LabelledWindow[];
};

export function generateSeries(kind: AnomalyKind, seed: number, length = 4000): GeneratedSeries {
  const random = new Random(seed);
  const level = 10 ** (random.next() * 6 - 2);
  const noise = level * (0.02 + random.next() * 0.1);
  const period = 50 + random.int(250);
  const amplitude = random.next() < 0.6 ? noise * (2 + random.next() * 6) : 0;
  const phase = random.next() * 2 * Math.PI;
  // Some series are autocorrelated (AR(1)), as most real measurements are.
  const ar = random.next() < 0.5 ? 0.5 + random.next() * 0.4 : 0;
  const season = (t: number): number => amplitude * Math.sin((2 * Math.PI * t) / period + phase);
  const values: number[] = [];
  let wander = 0;
  for (let t = 0; t < length; t++) {
    wander = ar * wander + noise * Math.sqrt(1 - ar * ar) * random.normal();
    values.push(level + season(t) + wander);
  }
  const windows: LabelledWindow[] = [];
  // Anomalies only after the first quarter (the detector's warm-up) and well apart.
  const count = 3;
  const slot = Math.floor((length * 0.75) / count);
  for (let a = 0; a < count; a++) {
    const start = Math.floor(length * 0.25) + a * slot + random.int(Math.floor(slot / 3));
    const duration = 20 + random.int(40);
    const end = Math.min(length - 1, start + duration - 1);
    const sign = random.next() < 0.5 ? -1 : 1;
    const spread = noise + amplitude / 2;
    switch (kind) {
      case 'spike':
        values[start] = (values[start] ?? 0) + sign * spread * (6 + random.next() * 6);
        windows.push({ start, end: start, kind });
        continue;
      case 'level-shift':
        // A shift stays: the new level is the series from then on.
        for (let t = start; t < length; t++) values[t] = (values[t] ?? 0) + sign * spread * 4;
        break;
      case 'variance-change':
        for (let t = start; t <= end; t++) values[t] = (values[t] ?? 0) + noise * 5 * random.normal();
        break;
      case 'drift':
        // A ramp over the window to a new level that then stays.
        for (let t = start; t < length; t++)
          values[t] = (values[t] ?? 0) + sign * spread * 6 * Math.min(1, (t - start) / duration);
        break;
      case 'seasonal-break':
        // The cycle stops (the value holds at its mean) or triples; without a cycle, the noise grows.
        for (let t = start; t <= end; t++) {
          const base = (values[t] ?? 0) - season(t);
          values[t] =
            amplitude > 0 ? base + (sign > 0 ? 3 * season(t) : 0) : base + noise * 5 * random.normal();
        }
        break;
    }
    windows.push({ start, end, kind });
  }
  return { values, windows };
}
