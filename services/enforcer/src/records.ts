import type { Bus } from '@warden/events';
import { telemetryDecision } from '@warden/events';
import type { Counter } from 'prom-client';
import type { AccessRecord } from './check.ts';

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const qualifier = (value: string | undefined): string => (value && TOKEN.test(value) ? value : 'unknown');

export type DecisionRecordsOptions = {
  bus: Bus;
  flushMs: number;
  /** Records held at most; past it new ones are dropped and counted. */
  capacity: number;
  dropped: Counter;
  published: Counter;
  onError(err: unknown): void;
};

/**
 * Decision records go out in batches, one `warden.telemetry.v1.decision` event per destination
 * workload per flush: a decision point answers thousands of checks a second, and JetStream
 * stores a few thousand acknowledged messages a second on this machine. The buffer is bounded;
 * what does not fit is dropped and counted, never silently.
 */
export class DecisionRecords {
  private pending = new Map<string, AccessRecord[]>();
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  private readonly options: DecisionRecordsOptions;

  constructor(options: DecisionRecordsOptions) {
    this.options = options;
  }

  add(record: AccessRecord): void {
    if (this.size >= this.options.capacity) {
      this.options.dropped.inc();
      return;
    }
    const key = `${qualifier(record.destination.namespace)}/${qualifier(record.destination.workload)}`;
    const list = this.pending.get(key);
    if (list) list.push(record);
    else this.pending.set(key, [record]);
    this.size++;
    this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs);
  }

  /** Publishes everything held; resolves when the bus has acknowledged it (or refused it). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = this.pending;
    this.pending = new Map();
    this.size = 0;
    this.flushing = this.flushing.then(() => this.publish(batches));
    return this.flushing;
  }

  private async publish(batches: Map<string, AccessRecord[]>): Promise<void> {
    for (const [key, records] of batches) {
      const [namespace = 'unknown', workload = 'unknown'] = key.split('/');
      for (let i = 0; i < records.length; i += 10_000) {
        const chunk = records.slice(i, i + 10_000);
        try {
          await this.options.bus.publish(
            telemetryDecision,
            { records: chunk },
            { qualifiers: { namespace, workload } },
          );
          this.options.published.inc(chunk.length);
        } catch (err) {
          this.options.dropped.inc(chunk.length);
          this.options.onError(err);
        }
      }
    }
  }
}
