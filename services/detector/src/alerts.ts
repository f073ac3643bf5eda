import type { Bus } from '@warden/events';
import { alert, MAX_ALERT_SAMPLES, onReplay } from '@warden/events';
import type { AlertChange, AlertEvidence, AlertTracker, NotifiedAlert } from '@warden/telemetry';
import { qualifierOf } from '@warden/telemetry';
import type { DetectorMetrics } from './metrics.ts';
import type { SampleLookback } from './samples.ts';

/** How far back a query rule's alert is looked at for samples (its rule's window is its own). */
const QUERY_RULE_LOOKBACK_MS = 60_000;
/** Look-backs for one batch of changes share this budget; later alerts go out without samples. */
const BATCH_LOOKBACK_MS = 1000;

/**
 * Alert changes onto `warden.alert.v1.<severity>.<namespace>.<workload>`. The event id is the
 * alert's id and its status, so the same change published twice (a retry, or two detector
 * instances notified by the same evaluator) is stored once within JetStream's two-minute window.
 */
export class AlertPublisher {
  private readonly bus: Bus;
  private readonly tracker: AlertTracker;
  private readonly metrics: DetectorMetrics;

  private readonly lookback: SampleLookback | undefined;

  constructor(options: {
    bus: Bus;
    tracker: AlertTracker;
    metrics: DetectorMetrics;
    /** Finds sample records for new alerts; without it alerts carry none. */
    lookback?: SampleLookback;
  }) {
    this.bus = options.bus;
    this.tracker = options.tracker;
    this.metrics = options.metrics;
    this.lookback = options.lookback;
  }

  /** Reads the alert stream back so alerts announced before a restart are not announced again. */
  async rebuild(nowMs: number): Promise<number> {
    const result = await this.bus.replay([
      onReplay(alert, (event) => this.tracker.remember(event.data, nowMs)),
    ]);
    this.metrics.firing.set(this.tracker.firingCount);
    return result.applied;
  }

  /** One notification: publishes its changes; throws if any could not be published (after un-marking it). */
  async receive(alerts: readonly NotifiedAlert[], nowMs = Date.now()): Promise<void> {
    await this.publish(this.tracker.receive(alerts, nowMs));
  }

  async expire(nowMs = Date.now()): Promise<void> {
    const changes = this.tracker.expire(nowMs);
    this.metrics.expired.inc(changes.length);
    await this.publish(changes);
  }

  /** Publishes changes made elsewhere (threat intelligence); throws the first failure. */
  async publish(changes: readonly AlertChange[]): Promise<void> {
    let failure: unknown;
    const deadline = Date.now() + BATCH_LOOKBACK_MS;
    for (const plain of changes) {
      const change = plain.status === 'firing' ? await this.withSamples(plain, deadline) : plain;
      try {
        await this.bus.publish(alert, change, {
          qualifiers: {
            severity: change.severity,
            namespace: qualifierOf(change.target.namespace),
            workload: qualifierOf(change.target.workload),
          },
          id: `${change.alertId}-${change.status}`,
        });
        this.metrics.alerts.inc({ status: change.status, severity: change.severity, rule: change.rule });
      } catch (err) {
        this.tracker.forget(change);
        failure ??= err;
      }
    }
    this.metrics.firing.set(this.tracker.firingCount);
    if (failure !== undefined) throw failure;
  }

  /**
   * A firing change with its evidence completed: sample records of its window from the stream
   * (query rules get evidence here, judged over the last minute), or a note why there are none.
   */
  private async withSamples(change: AlertChange, deadline: number): Promise<AlertChange> {
    const evidence: AlertEvidence = change.evidence ?? {
      detector: 'query-rule',
      window: {
        start: new Date(Date.parse(change.startsAt) - QUERY_RULE_LOOKBACK_MS).toISOString(),
        end: change.startsAt,
      },
    };
    if (evidence.samples || !this.lookback) return { ...change, evidence };
    const window = evidence.window ?? { start: change.startsAt, end: change.startsAt };
    if (Date.now() >= deadline) {
      this.metrics.evidenceLookups.inc({ outcome: 'skipped' });
      return {
        ...change,
        evidence: { ...evidence, samplesNote: 'not looked up: too many new alerts at once' },
      };
    }
    const found = await this.lookback.find({
      target: change.target,
      direction: change.labels['direction'] === 'outbound' ? 'outbound' : 'inbound',
      startMs: Date.parse(window.start),
      endMs: Date.parse(window.end),
      rule: change.rule,
      max: MAX_ALERT_SAMPLES,
    });
    return {
      ...change,
      evidence: {
        ...evidence,
        samples: found.samples,
        ...(found.note === undefined ? {} : { samplesNote: found.note }),
      },
    };
  }
}
