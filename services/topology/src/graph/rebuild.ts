import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus } from '@warden/events';
import { onReplay, topologyChanged } from '@warden/events';
import type { DataOf } from '@warden/events';
import { TopologyError } from '../errors.ts';
import type { TopologyMetrics } from '../metrics.ts';
import type { Log } from '../registry/source.ts';
import type { EdgeCounts } from './fold.ts';
import { fromSnapshotEdge } from './snapshot-edge.ts';
import type { GraphStore } from './store.ts';

export type GraphRebuilderOptions = {
  bus: Bus;
  store: GraphStore;
  log: Log;
  metrics: TopologyMetrics;
  /** Buckets older than this have expired from Redis anyway and are not restored. */
  retentionMs: number;
  /** How long the rebuild lock lasts without renewal (renewed every third of it). */
  lockMs?: number;
  /** How often an instance waiting for another's rebuild looks again. */
  pollMs?: number;
};

type GraphPart = Extract<DataOf<typeof topologyChanged>, { graph: unknown }>['graph'];

const lockLost = (): TopologyError =>
  new TopologyError(
    'rebuild_lock_lost',
    'the graph rebuild lock was lost (redis flushed, or renewal too late)',
  );

/**
 * Restores the call graph in Redis from its snapshots on WARDEN_TOPOLOGY when the completeness
 * marker is missing: a first start, or Redis flushed or replaced (ARCHITECTURE §2: Redis is never the
 * only copy). `Bus.replay` reads the stream from its first message up to its last sequence when
 * the rebuild starts, every graph part is applied, then the marker is set. Values are merged by maximum, so overlapping and reordered snapshots (several
 * instances publish them) and a rebuild run twice all end with each edge's latest values.
 *
 * Why nothing is lost or counted twice around a rebuild: a maximum is only right when nothing
 * else adds to the graph meanwhile (counts added to a flushed graph would be overwritten by the
 * larger snapshot values, and adding snapshot values on top instead would double what was folded
 * before the snapshot). So while the marker is missing, the store refuses to add counts
 * (`requireComplete`, checked in the same script as the counts and the batch's id are written, so
 * no flush falls between): ingest batches wait for the rebuild, unacknowledged, in the durable
 * consumer, and are added on top of the restored values once it is done. One instance rebuilds
 * at a time (a lock in Redis), since another's finished rebuild lets ingest resume while a
 * second maximum pass would still be overwriting. What no rebuild can restore is what was folded
 * after the last snapshot before Redis lost it: at most one interval (a graceful stop publishes
 * a final snapshot, so restarts lose nothing).
 */
export class GraphRebuilder {
  private readonly options: GraphRebuilderOptions;
  private readonly owner = randomUUID();
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(options: GraphRebuilderOptions) {
    this.options = options;
  }

  /**
   * Resolves once the graph in Redis is whole: at once when the marker is there, else after this
   * instance rebuilt it, or another did. Concurrent calls share one run.
   */
  ensure(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Abandons a rebuild or a wait for one (the next instance to look takes it over). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { store, log, metrics } = this.options;
    const lockMs = this.options.lockMs ?? 30_000;
    for (;;) {
      this.throwIfStopped();
      if (await store.isComplete()) return;
      if (await store.claimRebuild(this.owner, lockMs)) break;
      log.debug({}, 'another instance is rebuilding the graph; waiting for it');
      await sleep(this.options.pollMs ?? 250);
    }
    log.info({}, 'call graph not in redis; building it from its snapshots on the bus');
    let lost = false;
    const renew = setInterval(() => {
      store.renewRebuild(this.owner, lockMs).then(
        (held) => void (lost ||= !held),
        () => void (lost = true),
      );
    }, lockMs / 3);
    try {
      await this.replay(() => lost);
      metrics.graphRebuilds.inc({ outcome: 'completed' });
    } catch (err) {
      metrics.graphRebuilds.inc({ outcome: 'failed' });
      throw err;
    } finally {
      clearInterval(renew);
      await store.releaseRebuild(this.owner).catch(() => undefined);
    }
  }

  private async replay(lockWasLost: () => boolean): Promise<void> {
    const { bus, store, log, retentionMs } = this.options;
    const started = Date.now();
    const oldest = started - retentionMs;
    const tally = { applied: 0, edges: 0, skipped: 0 };
    // Up to the end as it is when the replay starts: other instances keep publishing, and what
    // they publish after the flush is partial anyway.
    const replayed = await bus.replay([
      onReplay(topologyChanged, async (event) => {
        if (lockWasLost()) throw lockLost();
        this.throwIfStopped();
        const edges = 'graph' in event.data ? await this.apply(event.data.graph, oldest) : undefined;
        if (edges === undefined) tally.skipped++;
        else {
          tally.applied++;
          tally.edges += edges;
        }
      }),
    ]);
    tally.skipped += replayed.invalid;
    // Only while still holding the lock: Redis flushed meanwhile took what was restored with it.
    if (!(await store.markComplete(this.owner, { streamSequence: replayed.lastSeq, ...tally })))
      throw lockLost();
    const summary = { ...tally, lastSeq: replayed.lastSeq, ms: Date.now() - started };
    // No snapshot to restore is a first start; restored edges mean Redis lost them.
    if (tally.applied === 0) log.info(summary, 'call graph started with no snapshot to restore');
    else log.warn(summary, 'call graph was missing from redis; rebuilt it from its snapshots');
  }

  /**
   * Merges one snapshot part into Redis; resolves with its edges, or undefined when it is not one
   * this graph can use (other bucket widths, expired buckets).
   */
  private async apply(graph: GraphPart, oldest: number): Promise<number | undefined> {
    const { store, retentionMs } = this.options;
    const start = Date.parse(graph.bucket);
    if (graph.bucketSeconds * 1000 !== store.bucketMs || start + store.bucketMs <= oldest) return undefined;
    const edges = new Map<string, EdgeCounts>(graph.edges.map(fromSnapshotEdge));
    await store.mergeMax(start, edges, start + store.bucketMs + retentionMs);
    return edges.size;
  }

  private throwIfStopped(): void {
    if (this.stopped) throw new TopologyError('stopping', 'the topology service is stopping');
  }
}
