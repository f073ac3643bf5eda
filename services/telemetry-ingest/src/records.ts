import type { Bus } from '@warden/events';
import { PayloadTooLargeError, telemetryAccess } from '@warden/events';
import type { AccessRecord } from '@warden/telemetry';
import { qualifierOf } from '@warden/telemetry';
import type { IngestMetrics } from './metrics.ts';
import type { Outbox } from './outbox.ts';

export type RecordBatcherOptions = {
  bus: Bus;
  outbox: Outbox;
  metrics: IngestMetrics;
  flushMs: number;
  perEvent: number;
  onError(err: unknown): void;
};

/**
 * Access records go out in batches, one `warden.telemetry.v1.access.<namespace>.<workload>` event
 * per destination workload per flush, at most `perEvent` records each; a batch the bus refuses
 * as larger than a message may be is halved until it fits. Records the outbox cannot take are
 * dropped and counted, never silently.
 */
export class RecordBatcher {
  private pending = new Map<string, AccessRecord[]>();
  private timer: NodeJS.Timeout | undefined;
  private readonly options: RecordBatcherOptions;

  constructor(options: RecordBatcherOptions) {
    this.options = options;
  }

  add(records: readonly AccessRecord[]): void {
    for (const record of records) {
      const key = `${qualifierOf(record.destination.namespace)}/${qualifierOf(record.destination.workload)}`;
      let list = this.pending.get(key);
      if (!list) {
        list = [];
        this.pending.set(key, list);
      }
      list.push(record);
      if (list.length >= this.options.perEvent) {
        this.pending.delete(key);
        this.send(key, list);
      }
    }
    this.timer ??= setTimeout(() => this.flush(), this.options.flushMs);
  }

  /** Hands everything held to the outbox. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = this.pending;
    this.pending = new Map();
    for (const [key, records] of batches) this.send(key, records);
  }

  private send(key: string, records: AccessRecord[]): void {
    const { outbox, metrics } = this.options;
    const accepted = outbox.offer(records.length, () => this.publish(key, records));
    if (!accepted) metrics.recordsDropped.inc({ reason: 'buffer_full' }, records.length);
    metrics.recordBuffer.set(outbox.pending);
  }

  private async publish(key: string, records: AccessRecord[]): Promise<void> {
    const [namespace = 'unknown', workload = 'unknown'] = key.split('/');
    const { bus, metrics } = this.options;
    try {
      await bus.publish(telemetryAccess, { records }, { qualifiers: { namespace, workload } });
      metrics.recordsPublished.inc(records.length);
    } catch (err) {
      if (err instanceof PayloadTooLargeError && records.length > 1) {
        const half = Math.ceil(records.length / 2);
        await this.publish(key, records.slice(0, half));
        await this.publish(key, records.slice(half));
        return;
      }
      metrics.recordsDropped.inc({ reason: 'publish_failed' }, records.length);
      this.options.onError(err);
    }
  }
}
