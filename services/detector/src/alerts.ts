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

/** Whether this replica holds the lease of the replicas (`Lease` from @warden/events). */
export type Leadership = { readonly held: boolean };

/** Event ids seen on the live alert subjects are remembered this long at least. */
const SEEN_KEEP_MS = 5 * 60_000;

/**
 * Alert changes onto `warden.alert.v1.<severity>.<namespace>.<workload>`. The event id is the
 * alert's id and its status, so the same change published twice (a retry, or two detector
 * instances notified by the same evaluator) is stored once within JetStream's two-minute window.
 *
 * A live subscriber sees every publish, stored or not, so what every replica computes alike
 * (`receive`, `expire`: vmalert notifies every replica, and each judges every feature window) is
 * announced by the lease holder alone, at once. A standby keeps each such change for
 * `standbyDelayMs` and announces it only if it has not seen it on the alert subjects by then: one
 * announcement while the holder lives, a late one rather than none when it has just died.
 * `publish` announces at once whoever holds the lease (threat matches: the replica that consumed
 * the record is the only one that knows).
 */
export class AlertPublisher {
  private readonly bus: Bus;
  private readonly tracker: AlertTracker;
  private readonly metrics: DetectorMetrics;
  private readonly lookback: SampleLookback | undefined;
  private readonly leadership: Leadership | undefined;
  private readonly standbyDelayMs: number;
  /** Event ids announced on the alert subjects, by anyone, with when they were seen. */
  private readonly seen = new Map<string, number>();
  /** A standby's changes waiting to be announced if the holder does not. */
  private deferred: { change: AlertChange; dueMs: number }[] = [];

  constructor(options: {
    bus: Bus;
    tracker: AlertTracker;
    metrics: DetectorMetrics;
    /** Finds sample records for new alerts; without it alerts carry none. */
    lookback?: SampleLookback;
    /** Without it this replica announces everything itself (a single detector). */
    leadership?: Leadership;
    standbyDelayMs?: number;
  }) {
    this.bus = options.bus;
    this.tracker = options.tracker;
    this.metrics = options.metrics;
    this.lookback = options.lookback;
    this.leadership = options.leadership;
    this.standbyDelayMs = options.standbyDelayMs ?? 3000;
  }

  /** An alert event seen on the live subjects (this replica's own included). */
  observed(eventId: string, nowMs = Date.now()): void {
    this.seen.set(eventId, nowMs);
  }

  /** Changes a standby has held long enough: announced unless the holder did. */
  async flushDeferred(nowMs = Date.now()): Promise<void> {
    const due = this.deferred.filter((d) => d.dueMs <= nowMs);
    if (due.length === 0) return;
    this.deferred = this.deferred.filter((d) => d.dueMs > nowMs);
    const missing = due.map((d) => d.change).filter((change) => !this.seen.has(eventIdOf(change)));
    this.metrics.standbyChanges.inc({ outcome: 'announced_by_holder' }, due.length - missing.length);
    this.metrics.standbyChanges.inc({ outcome: 'announced_late' }, missing.length);
    for (const [id, at] of this.seen)
      if (at < nowMs - Math.max(SEEN_KEEP_MS, 2 * this.standbyDelayMs)) this.seen.delete(id);
    await this.publish(missing);
  }

  /** Reads the alert stream back so alerts announced before a restart are not announced again. */
  async rebuild(nowMs: number): Promise<number> {
    const result = await this.bus.replay([
      onReplay(alert, (event) => this.tracker.remember(event.data, nowMs)),
    ]);
    this.metrics.firing.set(this.tracker.firingCount);
    return result.applied;
  }

  /** One notification: announces its changes; throws if any could not be published (after un-marking it). */
  async receive(alerts: readonly NotifiedAlert[], nowMs = Date.now()): Promise<void> {
    await this.announceOnce(this.tracker.receive(alerts, nowMs), nowMs);
  }

  async expire(nowMs = Date.now()): Promise<void> {
    const changes = this.tracker.expire(nowMs);
    this.metrics.expired.inc(changes.length);
    await this.announceOnce(changes, nowMs);
  }

  /** Changes every replica computes alike: the holder announces them, a standby defers them. */
  private async announceOnce(changes: readonly AlertChange[], nowMs: number): Promise<void> {
    if (!this.leadership || this.leadership.held) return this.publish(changes);
    for (const change of changes) this.deferred.push({ change, dueMs: nowMs + this.standbyDelayMs });
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
          id: eventIdOf(change),
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

/** One id per alert and status, the same on every replica. */
const eventIdOf = (change: AlertChange): string => `${change.alertId}-${change.status}`;
