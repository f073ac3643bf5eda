import type { Bus } from '@warden/events';
import { telemetryFeatures } from '@warden/events';
import type { FeatureWindow, FeatureWindows } from '@warden/telemetry';
import type { IngestMetrics } from './metrics.ts';
import type { Outbox } from './outbox.ts';

/** How often closed windows are looked for: well under the shortest window. */
const TICK_MS = 250;

/**
 * Closes feature windows as time passes and stores each on
 * `warden.telemetry.v1.features.<namespace>.<workload>` (an edge's under its destination, with the
 * source as `peer`). The event id is derived from the window, so a retried publish is stored once.
 */
export class FeaturePublisher {
  private timer: NodeJS.Timeout | undefined;
  private readonly windows: FeatureWindows;
  private readonly bus: Bus;
  private readonly outbox: Outbox;
  private readonly metrics: IngestMetrics;
  private readonly instance: string;
  private readonly onError: (err: unknown) => void;

  constructor(options: {
    windows: FeatureWindows;
    bus: Bus;
    outbox: Outbox;
    metrics: IngestMetrics;
    instance: string;
    onError(err: unknown): void;
  }) {
    this.windows = options.windows;
    this.bus = options.bus;
    this.outbox = options.outbox;
    this.metrics = options.metrics;
    this.instance = options.instance;
    this.onError = options.onError;
  }

  start(): void {
    this.timer = setInterval(() => this.publishClosed(this.windows.close(Date.now())), TICK_MS);
  }

  /** Stops the clock and publishes every window still open. */
  stop(): void {
    clearInterval(this.timer);
    this.publishClosed(this.windows.drain());
  }

  private publishClosed(closed: FeatureWindow[]): void {
    this.metrics.openWindows.set(this.windows.openCount);
    for (const window of closed) {
      if (!this.outbox.offer(1, () => this.publish(window)))
        this.metrics.featuresDropped.inc({ reason: 'buffer_full' });
    }
  }

  private async publish(window: FeatureWindow): Promise<void> {
    const peer = window.peer ? `${window.peer.namespace}/${window.peer.workload}` : '';
    try {
      await this.bus.publish(
        telemetryFeatures,
        {
          windowStart: window.windowStart,
          windowEnd: window.windowEnd,
          windowSeconds: window.windowSeconds,
          scope: window.scope,
          ...(window.peer ? { peer: window.peer } : {}),
          features: window.features,
        },
        {
          qualifiers: window.target,
          id: `features:${this.instance}:${window.windowSeconds}:${window.windowStart}:${window.scope}:${window.target.namespace}/${window.target.workload}:${peer}`,
        },
      );
      this.metrics.featuresPublished.inc({ scope: window.scope, window: `${window.windowSeconds}s` });
    } catch (err) {
      this.metrics.featuresDropped.inc({ reason: 'publish_failed' });
      this.onError(err);
    }
  }
}
