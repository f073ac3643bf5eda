import { WardenError } from '@warden/core';
import { Feature } from './features.ts';
import type { FeatureWindow } from './features.ts';
import { RollingWindow } from './rolling.ts';

/**
 * Streaming rules on 1 s feature windows, for attacks that must be caught in seconds. A rule
 * fires when all of its conditions hold on one window of one key:
 *
 *   threshold  the feature is at least `atLeast`
 *   rate       the feature is at least `factor` times its value in the key's previous window and
 *              grew by at least `minIncrease`
 *   zscore     the feature is more than `above` robust standard deviations above the key's rolling
 *              median (median and interquartile range of its last `baseline` windows) and at least
 *              `factor` times that median
 *
 * Windows in which a rule fired do not join the key's baseline, so a long attack never becomes
 * the normal it is judged against. Before a key has `warmup` windows of baseline, a zscore
 * condition holds only for a value at least `coldMultiple` times the rule's own threshold: a
 * workload that attacks from its first second is still caught, and a quiet new one is not flagged.
 */
export type Condition =
  | { kind: 'threshold'; feature: string; atLeast: number }
  | { kind: 'rate'; feature: string; factor: number; minIncrease: number }
  | { kind: 'zscore'; feature: string; above: number; factor?: number };

export type Severity = 'critical' | 'warning' | 'info';

export type Rule = {
  name: string;
  severity: Severity;
  /** What the rule means, for the alert's summary. */
  description: string;
  conditions: readonly Condition[];
};

export type Evidence = {
  feature: string;
  kind: Condition['kind'];
  value: number;
  /** The key's rolling median (zscore) or previous value (rate); absent for a threshold. */
  baseline?: number;
  /** Robust standard deviations above the median (zscore). */
  z?: number;
  /** What the condition required: the threshold, the rate factor, or the z-score bound. */
  required: number;
};

export type RuleHit = {
  rule: string;
  severity: Severity;
  description: string;
  key: string;
  windowEnd: number;
  /** In [0.5, 1]: how far beyond its bounds the window was, 0.5 just at them. */
  score: number;
  evidence: Evidence[];
};

export type Observation = {
  key: string;
  windowEnd: number;
  /** Each feature's robust z-score against the key's baseline (0 while it warms up). */
  zscores: Record<string, number>;
  hits: RuleHit[];
};

/** The attacks the issue names, with thresholds for 1 s windows of one workload or edge. */
export const defaultRules: readonly Rule[] = [
  {
    name: 'port-scan',
    severity: 'critical',
    description: 'many distinct destination ports in one second, far above this key’s usual count',
    conditions: [
      { kind: 'threshold', feature: Feature.distinctPorts, atLeast: 20 },
      { kind: 'zscore', feature: Feature.distinctPorts, above: 6 },
    ],
  },
  {
    name: 'peer-scan',
    severity: 'critical',
    description: 'many distinct peers in one second, far above this key’s usual count',
    conditions: [
      { kind: 'threshold', feature: Feature.distinctPeers, atLeast: 20 },
      { kind: 'zscore', feature: Feature.distinctPeers, above: 6 },
    ],
  },
  {
    name: '5xx-storm',
    severity: 'warning',
    description: 'a burst of 5xx responses far above this key’s usual rate',
    conditions: [
      { kind: 'threshold', feature: Feature.errors5xx, atLeast: 10 },
      // The 5xx share: a tenth of the answers failing is far outside any healthy workload.
      { kind: 'threshold', feature: Feature.errorRate, atLeast: 0.1 },
      { kind: 'zscore', feature: Feature.errors5xx, above: 5 },
    ],
  },
  {
    name: 'deny-burst',
    severity: 'warning',
    description: 'a burst of requests the decision point denied',
    conditions: [
      { kind: 'threshold', feature: Feature.denies, atLeast: 10 },
      { kind: 'zscore', feature: Feature.denies, above: 5 },
    ],
  },
  {
    name: 'credential-stuffing',
    severity: 'critical',
    description: 'a burst of 401/403 responses: credentials being tried',
    conditions: [
      { kind: 'threshold', feature: Feature.authFailures, atLeast: 10 },
      { kind: 'zscore', feature: Feature.authFailures, above: 5 },
    ],
  },
  {
    name: 'exfiltration',
    severity: 'critical',
    description: 'bytes sent far above this key’s baseline',
    conditions: [
      { kind: 'threshold', feature: Feature.bytesOut, atLeast: 1_000_000 },
      { kind: 'zscore', feature: Feature.bytesOut, above: 8, factor: 5 },
    ],
  },
  {
    name: 'request-surge',
    severity: 'info',
    description: 'requests jumped tenfold from the previous window',
    conditions: [
      { kind: 'threshold', feature: Feature.requests, atLeast: 200 },
      { kind: 'rate', feature: Feature.requests, factor: 10, minIncrease: 200 },
    ],
  },
];

export type StreamingRulesOptions = {
  rules?: readonly Rule[];
  /** Windows in each key's rolling baseline (600 = ten minutes of 1 s windows). */
  baseline?: number;
  /** Windows a key needs before its z-scores count. */
  warmup?: number;
  /** Before warm-up, a zscore condition needs this multiple of the rule's threshold. */
  coldMultiple?: number;
  /** Keys remembered; the least recently seen is forgotten beyond it (bounded memory). */
  maxKeys?: number;
  /** Features with a baseline per key; further names are not tracked. */
  maxFeatures?: number;
};

export class RuleError extends WardenError {
  constructor(message: string) {
    super('invalid_rule', message);
  }
}

type KeyState = { baselines: Map<string, RollingWindow>; previous: Map<string, number> };

export class StreamingRules {
  readonly rules: readonly Rule[];
  readonly #baseline: number;
  readonly #warmup: number;
  readonly #coldMultiple: number;
  readonly #maxKeys: number;
  readonly #maxFeatures: number;
  readonly #keys = new Map<string, KeyState>();

  constructor(options: StreamingRulesOptions = {}) {
    this.rules = options.rules ?? defaultRules;
    for (const rule of this.rules) validateRule(rule);
    this.#baseline = options.baseline ?? 600;
    this.#warmup = options.warmup ?? 30;
    this.#coldMultiple = options.coldMultiple ?? 3;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#maxFeatures = options.maxFeatures ?? 64;
  }

  /** Keys with state. */
  get keys(): number {
    return this.#keys.size;
  }

  observe(window: FeatureWindow): Observation {
    const state = this.#state(window.key);
    const zscores: Record<string, number> = {};
    for (const [feature, value] of Object.entries(window.features)) {
      if (Number.isFinite(value)) zscores[feature] = this.#z(state, feature, value).z;
    }
    const hits: RuleHit[] = [];
    for (const rule of this.rules) {
      const hit = this.#evaluate(rule, state, window);
      if (hit) hits.push(hit);
    }
    for (const [feature, value] of Object.entries(window.features)) {
      if (!Number.isFinite(value)) continue;
      let baseline = state.baselines.get(feature);
      // Memory per key is bounded: a producer inventing feature names gets no more baselines.
      if (!baseline && state.baselines.size >= this.#maxFeatures) continue;
      if (!baseline) state.baselines.set(feature, (baseline = new RollingWindow(this.#baseline)));
      if (hits.length === 0) baseline.push(value);
      state.previous.set(feature, value);
    }
    return { key: window.key, windowEnd: window.end, zscores, hits };
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (state) {
      this.#keys.delete(key);
    } else {
      state = { baselines: new Map(), previous: new Map() };
      if (this.#keys.size >= this.#maxKeys) {
        const oldest = this.#keys.keys().next();
        if (!oldest.done) this.#keys.delete(oldest.value);
      }
    }
    this.#keys.set(key, state);
    return state;
  }

  #z(state: KeyState, feature: string, value: number): { z: number; median: number; warm: boolean } {
    const baseline = state.baselines.get(feature);
    if (!baseline || baseline.size < this.#warmup) return { z: 0, median: Number.NaN, warm: false };
    const median = baseline.median();
    // Counts are at least Poisson-noisy: never judge them against a spread below sqrt(median).
    const scale = Math.max(baseline.scale(), Math.sqrt(Math.max(median, 1)));
    return { z: (value - median) / scale, median, warm: true };
  }

  #evaluate(rule: Rule, state: KeyState, window: FeatureWindow): RuleHit | null {
    const evidence: Evidence[] = [];
    let excess = Number.POSITIVE_INFINITY;
    const thresholdOf = (feature: string): number => {
      const c = rule.conditions.find((x) => x.kind === 'threshold' && x.feature === feature);
      return c?.kind === 'threshold' ? c.atLeast : 1;
    };
    for (const condition of rule.conditions) {
      const value = window.features[condition.feature];
      if (value === undefined || !Number.isFinite(value)) return null;
      switch (condition.kind) {
        case 'threshold':
          if (value < condition.atLeast) return null;
          evidence.push({
            feature: condition.feature,
            kind: 'threshold',
            value,
            required: condition.atLeast,
          });
          excess = Math.min(excess, value / Math.max(condition.atLeast, Number.MIN_VALUE));
          break;
        case 'rate': {
          const previous = state.previous.get(condition.feature);
          if (previous === undefined) return null;
          if (value - previous < condition.minIncrease || value < condition.factor * previous) return null;
          evidence.push({
            feature: condition.feature,
            kind: 'rate',
            value,
            baseline: previous,
            required: condition.factor,
          });
          excess = Math.min(excess, previous > 0 ? value / previous / condition.factor : 2);
          break;
        }
        case 'zscore': {
          const { z, median, warm } = this.#z(state, condition.feature, value);
          if (!warm) {
            const cold = thresholdOf(condition.feature) * this.#coldMultiple;
            if (value < cold) return null;
            evidence.push({ feature: condition.feature, kind: 'zscore', value, required: condition.above });
            excess = Math.min(excess, value / cold);
            break;
          }
          if (z <= condition.above || value < (condition.factor ?? 0) * median) return null;
          evidence.push({
            feature: condition.feature,
            kind: 'zscore',
            value,
            baseline: median,
            z,
            required: condition.above,
          });
          excess = Math.min(excess, z / condition.above);
          break;
        }
      }
    }
    const score = 1 - 0.5 / Math.max(1, excess);
    return {
      rule: rule.name,
      severity: rule.severity,
      description: rule.description,
      key: window.key,
      windowEnd: window.end,
      score,
      evidence,
    };
  }
}

/** Refuses a rule that could never fire or would fire on everything. */
export function validateRule(rule: Rule): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(rule.name))
    throw new RuleError(`rule name ${JSON.stringify(rule.name)} must be lower-case words joined by -`);
  if (rule.conditions.length === 0) throw new RuleError(`rule ${rule.name} has no conditions`);
  for (const c of rule.conditions) {
    const bad = (what: string): RuleError =>
      new RuleError(`rule ${rule.name}: ${c.kind} on ${c.feature}: ${what}`);
    if (c.feature === '') throw bad('needs a feature name');
    if (c.kind === 'threshold' && !(c.atLeast > 0)) throw bad('atLeast must be above 0');
    if (c.kind === 'rate' && !(c.factor > 1 && c.minIncrease >= 0))
      throw bad('factor must be above 1 and minIncrease at least 0');
    if (c.kind === 'zscore' && !(c.above > 0)) throw bad('above must be above 0');
  }
}
