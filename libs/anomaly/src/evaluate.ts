/**
 * Event-level scoring of a detector against labelled anomaly windows, the way an operator sees
 * it: an alarm is a run of consecutive scores at or above the threshold; it is true if it overlaps
 * a labelled window (widened by `tolerance` steps after its end, since a detector may only be sure
 * once the anomaly is over) and false otherwise; a window is detected if any alarm overlaps it, and
 * its delay is the steps from its start to the first score at or above the threshold.
 */
export type LabelledWindow = {
  /** Index of the first anomalous step. */
  start: number;
  /** Index of the last anomalous step (inclusive). */
  end: number;
  /** What kind of anomaly it is, for per-kind figures. */
  kind: string;
};

export type KindFigures = {
  windows: number;
  detected: number;
  recall: number;
  /** Mean steps from a detected window's start to its first alarm; NaN when none was detected. */
  meanDelay: number;
  maxDelay: number;
};

export type Evaluation = {
  threshold: number;
  alarms: number;
  falseAlarms: number;
  /** True alarms / all alarms (1 when there are none). */
  precision: number;
  /** Detected windows / all windows. */
  recall: number;
  f1: number;
  byKind: Record<string, KindFigures>;
};

export function evaluate(
  scores: readonly number[],
  windows: readonly LabelledWindow[],
  options: { threshold: number; tolerance?: number },
): Evaluation {
  const { threshold } = options;
  const tolerance = options.tolerance ?? 0;
  const inWindow = (i: number): boolean => windows.some((w) => i >= w.start && i <= w.end + tolerance);
  let alarms = 0;
  let falseAlarms = 0;
  for (let i = 0; i < scores.length;) {
    if ((scores[i] ?? 0) < threshold) {
      i++;
      continue;
    }
    let end = i;
    while (end + 1 < scores.length && (scores[end + 1] ?? 0) >= threshold) end++;
    alarms++;
    let overlaps = false;
    for (let j = i; j <= end && !overlaps; j++) overlaps = inWindow(j);
    if (!overlaps) falseAlarms++;
    i = end + 1;
  }
  const byKind: Record<string, KindFigures> = {};
  const delays: Record<string, number[]> = {};
  for (const w of windows) {
    const figures = (byKind[w.kind] ??= {
      windows: 0,
      detected: 0,
      recall: 0,
      meanDelay: Number.NaN,
      maxDelay: Number.NaN,
    });
    figures.windows++;
    const last = Math.min(scores.length - 1, w.end + tolerance);
    for (let i = w.start; i <= last; i++) {
      if ((scores[i] ?? 0) >= threshold) {
        figures.detected++;
        (delays[w.kind] ??= []).push(i - w.start);
        break;
      }
    }
  }
  for (const [kind, figures] of Object.entries(byKind)) {
    const d = delays[kind] ?? [];
    figures.recall = figures.detected / figures.windows;
    figures.meanDelay = d.length ? d.reduce((a, b) => a + b, 0) / d.length : Number.NaN;
    figures.maxDelay = d.length ? Math.max(...d) : Number.NaN;
  }
  const detected = Object.values(byKind).reduce((n, f) => n + f.detected, 0);
  const precision = alarms === 0 ? 1 : (alarms - falseAlarms) / alarms;
  const recall = windows.length === 0 ? 1 : detected / windows.length;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { threshold, alarms, falseAlarms, precision, recall, f1, byKind };
}
