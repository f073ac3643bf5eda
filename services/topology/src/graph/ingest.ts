import type { Bus, RunningConsumer } from '@warden/events';
import type { telemetryAccess, telemetryDecision } from '@warden/events';
import { GraphIncompleteError } from '../errors.ts';
import type { TopologyMetrics } from '../metrics.ts';
import type { Registry } from '../registry/registry.ts';
import type { Log } from '../registry/source.ts';
import { fold } from './fold.ts';
import type { GraphStore } from './store.ts';

export type GraphIngestOptions = {
  /** The data planes' access records, or a decision point's records of what it decided. */
  event: typeof telemetryAccess | typeof telemetryDecision;
  bus: Bus;
  store: GraphStore;
  registry: Registry;
  log: Log;
  metrics: TopologyMetrics;
  durable: string;
  pathDepth: number;
  retentionMs: number;
  /** Resolves once the graph in Redis is whole again (rebuilt from its snapshots). */
  whole(): Promise<void>;
  /** Records stamped further in the future than this are refused (a wrong clock, or forged). */
  maxSkewMs?: number;
};

/**
 * Folds `warden.telemetry.v1.access.*.*` (or `.decision.*.*`) into the graph. One durable consumer shared by every
 * instance (the graph lives in Redis, so each batch is folded once by whichever instance gets
 * it). A Redis failure fails the handler, and the bus redelivers the batch later.
 * WARDEN_TELEMETRY belongs to telemetry-ingest and may not exist yet when topology starts: the
 * bus waits for it in the background rather than keep the registry from being served meanwhile.
 */
export function startGraphIngest(options: GraphIngestOptions): Promise<RunningConsumer> {
  const { bus, store, registry, log, metrics } = options;
  return bus.consume(
    options.event,
    async (event) => {
      const started = process.hrtime.bigint();
      const result = fold(event.data.records, {
        bucketMs: store.bucketMs,
        pathDepth: options.pathDepth,
        now: Date.now(),
        maxAgeMs: options.retentionMs,
        maxSkewMs: options.maxSkewMs ?? 5 * 60_000,
        workloadAt: (address) => registry.workloadAt(address),
      });
      for (const [reason, n] of result.rejected) metrics.graphRecords.inc({ outcome: reason }, n);
      if (result.rejected.size > 0)
        log.warn(
          { eventId: event.id, rejected: Object.fromEntries(result.rejected) },
          'access records dropped',
        );
      if (result.folded === 0) return;
      let added: boolean | undefined;
      while (added === undefined) {
        try {
          added = await store.add(event.id, result);
        } catch (err) {
          // The graph is being rebuilt: the batch waits for it (the bus keeps its ack deadline
          // alive), then goes on top of the restored values (rebuild.ts says why).
          if (!(err instanceof GraphIncompleteError)) throw err;
          await options.whole();
        }
      }
      metrics.graphRecords.inc({ outcome: added ? 'folded' : 'duplicate' }, result.folded);
      metrics.graphFoldSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    },
    { durable: options.durable, deliver: 'all', maxDeliver: 20, retryDelayMs: 2000 },
  );
}
