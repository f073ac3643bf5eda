import type { Bus } from '@warden/events';
import { alert, onReplay } from '@warden/events';
import type { AlertChange, AlertTracker, NotifiedAlert } from '@warden/telemetry';
import { qualifierOf } from '@warden/telemetry';
import type { DetectorMetrics } from './metrics.ts';

/**
 * Alert changes onto `warden.alert.v1.<severity>.<namespace>.<workload>`. The event id is the
 * alert's id and its status, so the same change published twice (a retry, or two detector
 * instances notified by the same evaluator) is stored once within JetStream's two-minute window.
 */
export class AlertPublisher {
  private readonly bus: Bus;
  private readonly tracker: AlertTracker;
  private readonly metrics: DetectorMetrics;

  constructor(options: { bus: Bus; tracker: AlertTracker; metrics: DetectorMetrics }) {
    this.bus = options.bus;
    this.tracker = options.tracker;
    this.metrics = options.metrics;
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
    for (const change of changes) {
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
}
