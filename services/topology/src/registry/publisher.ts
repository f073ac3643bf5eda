import type { Bus } from '@warden/events';
import { topologyChanged } from '@warden/events';
import type { TopologyMetrics } from '../metrics.ts';
import type { Change } from './registry.ts';
import type { Log } from './source.ts';

export type ChangePublisherOptions = {
  bus: Bus;
  log: Log;
  metrics: TopologyMetrics;
  /** Changes within this window go out in one event. */
  flushMs: number;
  /** At most this many changes per event (a 10,000-workload load is split, under max_payload). */
  maxPerEvent: number;
};

/**
 * Turns registry changes into `warden.topology.v1.changed` events. Changes are gathered for
 * `flushMs` and sent together, several to a key collapsing into the net one (added then removed
 * within a window is nothing), so a file load or a Kubernetes relist is a handful of events, not
 * thousands. Events go out in order, one publish at a time.
 */
export class ChangePublisher {
  private readonly options: ChangePublisherOptions;
  private pending = new Map<string, Change>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(options: ChangePublisherOptions) {
    this.options = options;
  }

  add(changes: readonly Change[]): void {
    for (const change of changes) {
      this.options.metrics.changes.inc({ kind: change.kind, op: change.op });
      const id = `${change.kind}:${change.key}`;
      const merged = collapse(this.pending.get(id), change);
      if (merged) this.pending.set(id, merged);
      else this.pending.delete(id);
    }
    if (!this.timer && this.pending.size > 0) {
      this.timer = setTimeout(() => void this.flush(), this.options.flushMs);
    }
  }

  /** Sends what is pending now; resolves when every event so far is acknowledged (or failed). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const changes = [...this.pending.values()];
    this.pending = new Map();
    for (let i = 0; i < changes.length; i += this.options.maxPerEvent) {
      const batch = changes.slice(i, i + this.options.maxPerEvent);
      this.chain = this.chain.then(() => this.send(batch));
    }
    return this.chain;
  }

  private async send(changes: Change[]): Promise<void> {
    try {
      await this.options.bus.publish(topologyChanged, { changes });
      this.options.metrics.changeEvents.inc({ outcome: 'published' });
    } catch (err) {
      // The registry itself is right; consumers that missed this event resync with a query.
      this.options.metrics.changeEvents.inc({ outcome: 'failed' });
      this.options.log.error({ err, changes: changes.length }, 'could not publish topology changes');
    }
  }
}

/** The net effect of two changes to one key within a window. */
export function collapse(before: Change | undefined, next: Change): Change | undefined {
  if (!before) return next;
  if (before.op === 'added' && next.op === 'removed') return undefined;
  if (before.op === 'added') return before;
  if (before.op === 'removed' && next.op === 'added') return { ...next, op: 'updated' };
  return next;
}
