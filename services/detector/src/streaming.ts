import type { BaselineScorer, RuleHit, StreamingRules } from '@warden/anomaly';
import type { DataOf, telemetryFeatures } from '@warden/events';
import type { AlertEvidence, NotifiedAlert } from '@warden/telemetry';
import { inboundView, outboundView } from '@warden/telemetry';

type FeaturesEvent = DataOf<typeof telemetryFeatures>;
type Target = { namespace: string; workload: string };
export type Direction = 'inbound' | 'outbound';

/** The model in use: its scorer, the version that names it in alerts, the window length it learned. */
export type ActiveModel = { scorer: BaselineScorer; version: string; windowSeconds: number };

type Episode = { alert: NotifiedAlert; endsAtMs: number };

export type StreamingDetectorOptions = {
  rules: StreamingRules;
  /** The behaviour baseline now in force, if any (it is swapped while running). */
  model(): ActiveModel | undefined;
  /** An episode ends once its rule (or the model) has stayed quiet this long. */
  quietMs: number;
  /** Calibrated scores at or above this alert. */
  alertScore: number;
  /** Episodes tracked at most (bounded memory); the oldest are forgotten first. */
  maxEpisodes?: number;
};

export type Observed = { alerts: NotifiedAlert[]; hits: RuleHit[]; scored: number };

const round = (value: number): string => (Number.isInteger(value) ? String(value) : value.toPrecision(3));

/** Why a rule fired, in words: each condition's value against what it required. */
function because(hit: RuleHit): string {
  return hit.evidence
    .map((e) => {
      if (e.kind === 'threshold') return `${e.feature} ${round(e.value)} (at least ${round(e.required)})`;
      if (e.kind === 'rate')
        return `${e.feature} ${round(e.value)} from ${round(e.baseline ?? 0)} (×${round(e.required)} required)`;
      return e.z === undefined
        ? `${e.feature} ${round(e.value)} before any baseline`
        : `${e.feature} ${round(e.value)}, ${round(e.z)} robust σ above its median ${round(e.baseline ?? 0)}`;
    })
    .join('; ');
}

/**
 * The detector's streaming path, pure of transport: each workload's 1 s windows through the
 * streaming rules, its 10 s windows through the behaviour baseline, both directions (the calls it
 * received, and those it made read under the same names, so a scan or an exfiltration by the
 * workload is caught on it). Each hit becomes an Alertmanager-style alert whose `startsAt` is the
 * episode's first window and whose `endsAt` is pushed `quietMs` past every further hit: handed to
 * `AlertTracker`, it is announced once, kept quiet while it repeats, and resolved when `endsAt`
 * passes, exactly as vmalert's alerts are.
 */
export class StreamingDetector {
  readonly #options: StreamingDetectorOptions;
  readonly #episodes = new Map<string, Episode>();
  readonly #maxEpisodes: number;

  constructor(options: StreamingDetectorOptions) {
    this.#options = options;
    this.#maxEpisodes = options.maxEpisodes ?? 100_000;
  }

  observe(target: Target, window: FeaturesEvent, nowMs: number): Observed {
    const out: Observed = { alerts: [], hits: [], scored: 0 };
    if (window.scope === 'edge' || window.peer) return out;
    const endMs = Date.parse(window.windowEnd);
    const name = `${target.namespace}/${target.workload}`;
    const inbound = inboundView(window.features);
    const views: [Direction, Record<string, number>][] = [
      ['inbound', inbound],
      ['outbound', outboundView(window.features)],
    ];
    const seconds = window.windowSeconds ?? Math.round((endMs - Date.parse(window.windowStart)) / 1000);
    if (seconds === 1) {
      for (const [direction, features] of views) {
        if (Object.keys(features).length === 0) continue;
        const observation = this.#options.rules.observe({
          key: `${name}|${direction}`,
          end: endMs,
          features,
        });
        for (const hit of observation.hits) {
          out.hits.push(hit);
          out.alerts.push(
            this.#episode(target, direction, hit.rule, nowMs, window, {
              severity: hit.severity,
              labels: { detector: 'streaming-rule', score: hit.score.toFixed(2) },
              summary: `${hit.description} on ${name} (${direction}): ${because(hit)}`,
              evidence: {
                detector: 'streaming-rule',
                score: hit.score,
                conditions: hit.evidence.map(({ feature, kind, value, required, baseline, z }) => ({
                  feature,
                  kind,
                  value,
                  required,
                  ...(baseline === undefined ? {} : { baseline }),
                  ...(z === undefined ? {} : { z }),
                })),
              },
            }),
          );
        }
      }
    }
    const model = this.#options.model();
    if (model && seconds === model.windowSeconds) {
      const [result] = model.scorer.observe([{ key: name, features: inbound }]);
      if (result) {
        out.scored++;
        if (result.score >= this.#options.alertScore)
          out.alerts.push(
            this.#episode(target, 'inbound', 'behaviour-baseline', nowMs, window, {
              severity: 'warning',
              labels: { detector: 'lstm', model: model.version, score: result.score.toFixed(2) },
              summary: `${name} departs from its learned behaviour: forecast error ${round(result.error)} scores ${result.score.toFixed(2)} (alert at ${this.#options.alertScore}) with model ${model.version}`,
              evidence: {
                detector: 'lstm',
                model: model.version,
                score: result.score,
                conditions: [
                  {
                    feature: 'forecast_error',
                    kind: 'forecast',
                    value: result.error,
                  },
                ],
              },
            }),
          );
      }
    }
    return out;
  }

  /**
   * The alert for one hit: a new episode's (with this window's evidence), or the running one's,
   * its end pushed on. Its labels and start stay those of the first hit, so its id stays the same.
   */
  #episode(
    target: Target,
    direction: Direction,
    rule: string,
    nowMs: number,
    window: FeaturesEvent,
    first: { severity: string; labels: Record<string, string>; summary: string; evidence: AlertEvidence },
  ): NotifiedAlert {
    const key = `${rule}|${target.namespace}/${target.workload}|${direction}`;
    const endsAtMs = nowMs + this.#options.quietMs;
    const running = this.#episodes.get(key);
    if (running && running.endsAtMs > nowMs) {
      running.endsAtMs = endsAtMs;
      this.#episodes.delete(key);
      this.#episodes.set(key, running);
      return { ...running.alert, endsAt: new Date(endsAtMs).toISOString() };
    }
    const alert: NotifiedAlert = {
      labels: {
        alertname: rule,
        severity: first.severity,
        namespace: target.namespace,
        workload: target.workload,
        direction,
        window: `${window.windowSeconds ?? ''}s@${window.windowStart}`,
        ...first.labels,
      },
      annotations: { summary: first.summary },
      startsAt: window.windowEnd,
      evidence: { ...first.evidence, window: { start: window.windowStart, end: window.windowEnd } },
    };
    this.#episodes.delete(key);
    if (this.#episodes.size >= this.#maxEpisodes) {
      const oldest = this.#episodes.keys().next();
      if (!oldest.done) this.#episodes.delete(oldest.value);
    }
    this.#episodes.set(key, { alert, endsAtMs });
    return { ...alert, endsAt: new Date(endsAtMs).toISOString() };
  }

  /** Forgets episodes that ended (their resolution is the tracker's to announce). */
  sweep(nowMs: number): void {
    for (const [key, episode] of this.#episodes) if (episode.endsAtMs <= nowMs) this.#episodes.delete(key);
  }
}
