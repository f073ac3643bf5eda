import { randomUUID } from 'node:crypto';
import type { Bus } from '@warden/events';
import {
  InvalidPayloadError,
  MAX_SNAPSHOT_EDGES,
  PayloadTooLargeError,
  topologyChanged,
} from '@warden/events';
import type { TopologyMetrics } from '../metrics.ts';
import type { Log } from '../registry/source.ts';
import { chunkByBytes } from './chunk.ts';
import type { SnapshotEdge } from './snapshot-edge.ts';
import { toSnapshotEdge } from './snapshot-edge.ts';
import type { GraphStore } from './store.ts';
import type { TouchedEdges } from './touched.ts';

/** nats-server refuses larger messages in the deployments Warden supports; snapshots stay far below. */
export const SNAPSHOT_PAYLOAD_LIMIT = 512 * 1024;
/** Room in each message for the envelope and the snapshot's own fields (a source is up to 256 characters). */
const HEADER_BYTES = 2048;

export type GraphSnapshotterOptions = {
  bus: Bus;
  store: GraphStore;
  /** Filled by the store as batches are added (`onWritten`). */
  touched: TouchedEdges;
  log: Log;
  metrics: TopologyMetrics;
  intervalMs: number;
  /** Largest message; by default half the limit, so a schema or envelope change has room. */
  maxMessageBytes?: number;
};

/**
 * Puts the call graph on the bus (ARCHITECTURE §2: nothing in Redis is the only copy), as parts of
 * `warden.topology.v1.changed`: every `intervalMs`, for each bucket written since the previous
 * snapshot, the current values of the edges written, read back from Redis. The values are
 * absolute, so a snapshot never depends on an earlier one, and one instance's snapshot holds the
 * counts every instance folded into the shared Redis. The last one goes out on `stop`.
 */
export class GraphSnapshotter {
  private readonly options: GraphSnapshotterOptions;
  private readonly maxBytes: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(options: GraphSnapshotterOptions) {
    this.options = options;
    this.maxBytes = options.maxMessageBytes ?? SNAPSHOT_PAYLOAD_LIMIT / 2;
  }

  start(): void {
    this.timer = setInterval(() => {
      // A snapshot slower than the interval is not queued behind: the next tick takes its edges.
      if (this.running) return;
      this.snapshot().catch((err: unknown) =>
        this.options.log.warn({ err }, 'graph snapshot failed; its edges go with the next one'),
      );
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and publishes what was touched since the last snapshot. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.snapshot();
  }

  /**
   * Publishes the edges touched so far; resolves with how many. One at a time: a call while a
   * snapshot runs waits for it, then takes what was touched meanwhile.
   */
  async snapshot(): Promise<number> {
    while (this.running) await this.running.catch(() => undefined);
    this.running = this.publishTouched();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  private async publishTouched(): Promise<number> {
    const { store, touched, metrics, log } = this.options;
    if (touched.size === 0) return 0;
    // While the graph is rebuilt its values are partial: the edges wait for the next snapshot,
    // which reads them whole.
    if (!(await store.isComplete())) return 0;
    const started = process.hrtime.bigint();
    let published = 0;
    let failed = false;
    for (const [start, ids] of touched.take()) {
      try {
        published += await this.publishBucket(start, ids);
      } catch (err) {
        // Publishing a bucket again is harmless (absolute values), so all of it goes next time.
        failed = true;
        touched.add(start, ids);
        log.warn({ err, bucket: new Date(start).toISOString() }, 'graph snapshot of a bucket not published');
      }
    }
    metrics.graphSnapshots.inc({ outcome: failed ? 'failed' : 'published' });
    metrics.graphSnapshotEdges.observe(published);
    metrics.graphSnapshotSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return published;
  }

  private async publishBucket(start: number, ids: ReadonlySet<string>): Promise<number> {
    const { bus, store, metrics, log } = this.options;
    const edges: SnapshotEdge[] = [];
    for (const [id, counts] of await store.valuesOf(start, [...ids])) {
      const edge = toSnapshotEdge(id, counts);
      if (edge) edges.push(edge);
    }
    const parts = chunkByBytes(edges, this.maxBytes - HEADER_BYTES, MAX_SNAPSHOT_EDGES);
    const snapshot = randomUUID();
    const bucket = new Date(start).toISOString();
    for (const [i, part] of parts.entries()) {
      const graph = {
        bucket,
        bucketSeconds: store.bucketMs / 1000,
        snapshot,
        part: i + 1,
        parts: parts.length,
        edges: part,
      };
      try {
        await bus.publish(topologyChanged, { graph });
        metrics.graphSnapshotMessages.inc({ outcome: 'published' });
      } catch (err) {
        // A part that can never be published must not hold the rest back forever.
        if (!(err instanceof InvalidPayloadError || err instanceof PayloadTooLargeError)) throw err;
        metrics.graphSnapshotMessages.inc({ outcome: 'invalid' });
        log.error({ err, bucket, part: i + 1 }, 'graph snapshot part refused by its schema; dropped');
      }
    }
    return edges.length;
  }
}
