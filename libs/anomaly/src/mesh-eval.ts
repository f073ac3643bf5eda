import { BaselineScorer, BehaviourModel, defaultAlertScore } from './lstm.ts';
import type { TrainProgress } from './lstm.ts';
import { featureNames } from './features.ts';
import { foldWindows } from './mesh.ts';
import type { MeshAttack, MeshDataset } from './mesh.ts';
import { StreamingRules } from './rules.ts';

/**
 * Precision, recall and time to detect of a detector on the labelled mesh dataset. An alert is a
 * run of flagged windows of one key (gaps up to `mergeGapS` seconds merge); it is true when it
 * overlaps an attack on that key (or ends no later than `toleranceS` seconds after one), false
 * otherwise. An attack is detected by the first true alert overlapping it; its time to detect is
 * the seconds from its first second to the end of the first flagged window.
 */
export type KindDetection = {
  attacks: number;
  detected: number;
  recall: number;
  meanTimeToDetectS: number;
  maxTimeToDetectS: number;
};

export type DetectionFigures = {
  alerts: number;
  falseAlerts: number;
  precision: number;
  recall: number;
  byKind: Record<string, KindDetection>;
  /** Indexes into the dataset's attacks of those detected. */
  detectedAttacks: number[];
};

/** Flagged windows: key index, and the first and last second each covers. */
type Flag = { key: number; start: number; end: number };

export function figuresOf(
  dataset: MeshDataset,
  flags: readonly Flag[],
  options: { mergeGapS: number; toleranceS: number },
): DetectionFigures {
  const byKey = new Map<number, Flag[]>();
  for (const f of flags) (byKey.get(f.key) ?? byKey.set(f.key, []).get(f.key))?.push(f);
  let alerts = 0;
  let falseAlerts = 0;
  const firstDetection = new Map<MeshAttack, number>();
  for (const [k, list] of byKey) {
    list.sort((a, b) => a.start - b.start);
    const key = dataset.keys[k];
    const attacks = dataset.attacks.filter((a) => a.key === key);
    let i = 0;
    while (i < list.length) {
      let j = i;
      while (j + 1 < list.length && (list[j + 1] as Flag).start <= (list[j] as Flag).end + options.mergeGapS)
        j++;
      const first = list[i] as Flag;
      const last = list[j] as Flag;
      alerts++;
      const hit = attacks.filter((a) => first.start <= a.end + options.toleranceS && last.end >= a.start);
      if (hit.length === 0) falseAlerts++;
      for (const a of hit) {
        // The first flagged window inside this alert that touches the attack.
        const detecting = list
          .slice(i, j + 1)
          .find((f) => f.end >= a.start && f.start <= a.end + options.toleranceS);
        if (detecting && !firstDetection.has(a))
          firstDetection.set(a, Math.max(0, detecting.end - a.start + 1));
      }
      i = j + 1;
    }
  }
  const byKind: Record<string, KindDetection> = {};
  const delays: Record<string, number[]> = {};
  for (const a of dataset.attacks) {
    const figures = (byKind[a.kind] ??= {
      attacks: 0,
      detected: 0,
      recall: 0,
      meanTimeToDetectS: Number.NaN,
      maxTimeToDetectS: Number.NaN,
    });
    figures.attacks++;
    const delay = firstDetection.get(a);
    if (delay !== undefined) {
      figures.detected++;
      (delays[a.kind] ??= []).push(delay);
    }
  }
  for (const [kind, figures] of Object.entries(byKind)) {
    const d = delays[kind] ?? [];
    figures.recall = figures.detected / figures.attacks;
    figures.meanTimeToDetectS = d.length ? d.reduce((x, y) => x + y, 0) / d.length : Number.NaN;
    figures.maxTimeToDetectS = d.length ? Math.max(...d) : Number.NaN;
  }
  return {
    alerts,
    falseAlerts,
    precision: alerts ? (alerts - falseAlerts) / alerts : 1,
    recall: dataset.attacks.length ? firstDetection.size / dataset.attacks.length : 1,
    byKind,
    detectedAttacks: dataset.attacks.flatMap((a, i) => (firstDetection.has(a) ? [i] : [])),
  };
}

/** One rule's alerts on the mesh: how many, and how many overlap no attack on their workload. */
export type RuleAlerts = { alerts: number; falseAlerts: number; precision: number };

/** The streaming rules over every 1 s window, second by second, all keys interleaved as live. */
export function evaluateRules(
  dataset: MeshDataset,
  rules = new StreamingRules(),
): DetectionFigures & { byRule: Record<string, RuleAlerts> } {
  const flags: Flag[] = [];
  const flagsByRule = new Map<string, Flag[]>();
  for (let t = 0; t < dataset.seconds; t++) {
    dataset.keys.forEach((key, k) => {
      const features = dataset.windows[k]?.[t];
      if (!features) return;
      const { hits } = rules.observe({ key, end: dataset.startMs + (t + 1) * 1000, features });
      for (const h of hits) {
        const list = flagsByRule.get(h.rule) ?? [];
        list.push({ key: k, start: t, end: t });
        flagsByRule.set(h.rule, list);
      }
      if (hits.length) flags.push({ key: k, start: t, end: t });
    });
  }
  const options = { mergeGapS: 5, toleranceS: 10 };
  const byRule: Record<string, RuleAlerts> = {};
  for (const [rule, list] of flagsByRule) {
    const { alerts, falseAlerts, precision } = figuresOf(dataset, list, options);
    byRule[rule] = { alerts, falseAlerts, precision };
  }
  return { ...figuresOf(dataset, flags, options), byRule };
}

export type LstmEvaluationOptions = {
  /** Seconds per window the LSTM sees (10 = the 10 s features). */
  windowS?: number;
  lookback?: number;
  epochs?: number;
  seed?: number;
  alertScore?: number;
  onProgress?: (progress: TrainProgress) => void;
};

export type LstmEvaluation = DetectionFigures & {
  trainingWindows: number;
  trainingMs: number;
  scoredWindows: number;
  inferenceMs: number;
  modelBytes: number;
};

/**
 * Trains the LSTM on the attack-free first half (10 s windows, every key), round-trips it
 * through its bytes as the detector would load it, and scores the second half window by window.
 */
export async function evaluateLstm(
  dataset: MeshDataset,
  options: LstmEvaluationOptions = {},
): Promise<LstmEvaluation> {
  const windowS = options.windowS ?? 10;
  const folded = dataset.windows.map((rows) => {
    const out: Record<string, number>[] = [];
    for (let t = 0; t + windowS <= rows.length; t += windowS)
      out.push(foldWindows(rows.slice(t, t + windowS)));
    return out;
  });
  const half = Math.floor(dataset.seconds / 2 / windowS);
  const history = new Map(dataset.keys.map((key, k) => [key, (folded[k] ?? []).slice(0, half)]));
  let started = Date.now();
  const trained = await BehaviourModel.train(history, {
    features: featureNames,
    lookback: options.lookback ?? 12,
    epochs: options.epochs ?? 8,
    seed: options.seed ?? 1,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const trainingMs = Date.now() - started;
  const bytes = await trained.toBytes();
  trained.dispose();
  const model = await BehaviourModel.fromBytes(bytes);
  try {
    const scorer = new BaselineScorer(model);
    const lookback = model.lookback;
    const flags: Flag[] = [];
    let scoredWindows = 0;
    started = Date.now();
    // Each key's history starts `lookback` windows before the half, as a running detector's would.
    for (let w = half - lookback; w < (folded[0]?.length ?? 0); w++) {
      const batch = dataset.keys.map((key, k) => ({ key, features: folded[k]?.[w] ?? {} }));
      const scores = scorer.observe(batch);
      scores.forEach((s, k) => {
        if (!s || w < half) return;
        scoredWindows++;
        if (s.score >= (options.alertScore ?? defaultAlertScore))
          flags.push({ key: k, start: w * windowS, end: (w + 1) * windowS - 1 });
      });
    }
    const inferenceMs = Date.now() - started;
    const trainingWindows = [...history.values()].reduce((n, rows) => n + rows.length, 0);
    return {
      ...figuresOf(dataset, flags, { mergeGapS: windowS, toleranceS: 10 * windowS }),
      trainingWindows,
      trainingMs,
      scoredWindows,
      inferenceMs,
      modelBytes: bytes.length,
    };
  } finally {
    model.dispose();
  }
}

/**
 * The naive detector the others are compared with: a fixed bound per key and feature, mean plus
 * `sigmas` standard deviations of the attack-free first half, flagging any second above any bound.
 */
export function evaluateStaticThresholds(dataset: MeshDataset, sigmas = 4): DetectionFigures {
  const half = Math.floor(dataset.seconds / 2);
  const flags: Flag[] = [];
  dataset.windows.forEach((rows, k) => {
    const bounds = featureNames.map((f) => {
      const values = rows.slice(0, half).map((r) => r[f] ?? 0);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      return mean + sigmas * sd;
    });
    for (let t = half; t < rows.length; t++) {
      const row = rows[t] ?? {};
      if (featureNames.some((f, i) => (row[f] ?? 0) > (bounds[i] ?? Number.POSITIVE_INFINITY)))
        flags.push({ key: k, start: t, end: t });
    }
  });
  return figuresOf(dataset, flags, { mergeGapS: 5, toleranceS: 10 });
}
