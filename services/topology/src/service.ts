import type { Subscription } from '@nats-io/nats-core';
import type { Bus, RunningConsumer } from '@warden/events';
import { telemetryAccess, telemetryDecision, topologyQuery } from '@warden/events';
import { createRedis } from '@warden/runtime';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { TopologyConfig } from './config.ts';
import { startGraphIngest } from './graph/ingest.ts';
import { GraphRebuilder } from './graph/rebuild.ts';
import { GraphSnapshotter } from './graph/snapshot.ts';
import { GraphStore } from './graph/store.ts';
import { TouchedEdges } from './graph/touched.ts';
import { KubernetesSource } from './kubernetes/source.ts';
import { createTopologyMetrics } from './metrics.ts';
import { createQueryHandler } from './query.ts';
import { ChangePublisher } from './registry/publisher.ts';
import { RegistrationSource } from './registry/registration.ts';
import { Registry } from './registry/registry.ts';
import type { Log, RegistrySource } from './registry/source.ts';
import { sinkFor } from './registry/source.ts';
import { StaticFileSource } from './registry/static-file.ts';

export type TopologyDeps = {
  bus: Bus;
  log: Log;
  metricsRegistry: MetricsRegistry;
  config: TopologyConfig;
};

export type RunningTopology = {
  readonly registry: Registry;
  readonly graph: GraphStore;
  readonly sources: readonly RegistrySource[];
  readonly publisher: ChangePublisher;
  stop(): Promise<void>;
};

/** How often each instance checks that Redis still holds the whole graph (it may be flushed). */
const GRAPH_CHECK_MS = 2000;

/**
 * Starts every part of the topology service on a connected bus: the merged registry and its
 * sources, the change publisher, the call graph in Redis (rebuilt from its snapshots on the bus
 * when Redis lost it, and snapshotted onto the bus) and the query responder. Resolves once every
 * source has its initial view in the registry and the graph is whole, so the service is ready
 * only when complete.
 */
export async function startTopology(deps: TopologyDeps): Promise<RunningTopology> {
  const { bus, log, config } = deps;
  const metrics = createTopologyMetrics(deps.metricsRegistry);
  const publisher = new ChangePublisher({
    bus,
    log,
    metrics,
    flushMs: config.WARDEN_TOPOLOGY_CHANGE_FLUSH_MS,
    maxPerEvent: 500,
  });
  const registry: Registry = new Registry({
    onChanges: (changes) => {
      publisher.add(changes);
      for (const kind of ['namespace', 'service', 'workload'] as const)
        metrics.entities.set({ kind }, registry.size(kind));
    },
    onConflict: (c) => {
      metrics.conflicts.inc({ kind: c.kind, winner: c.winner, overridden: c.overridden.join(',') });
      metrics.activeConflicts.set(registry.conflictCount());
      log.warn(c, 'sources disagree; the higher-precedence one wins');
    },
    onConflictResolved: (kind, key) => {
      metrics.activeConflicts.set(registry.conflictCount());
      log.info({ kind, key }, 'source conflict resolved');
    },
  });

  const sources: RegistrySource[] = [];
  if (config.WARDEN_TOPOLOGY_KUBERNETES !== 'off') {
    sources.push(
      new KubernetesSource({
        sink: sinkFor(registry, 'kubernetes'),
        log,
        metrics,
        trustDomain: config.WARDEN_TRUST_DOMAIN,
        config: config.WARDEN_TOPOLOGY_KUBERNETES,
      }),
    );
  }
  if (config.WARDEN_TOPOLOGY_STATIC_FILE) {
    sources.push(
      new StaticFileSource({
        file: config.WARDEN_TOPOLOGY_STATIC_FILE,
        trustDomain: config.WARDEN_TRUST_DOMAIN,
        sink: sinkFor(registry, 'static'),
        log,
        maxBytes: config.WARDEN_TOPOLOGY_STATIC_MAX_BYTES,
        pollMs: config.WARDEN_TOPOLOGY_STATIC_POLL_MS,
        onRejected: () => metrics.rejected.inc({ source: 'static', reason: 'invalid_static_file' }),
      }),
    );
  }
  sources.push(
    new RegistrationSource({
      bus,
      sink: sinkFor(registry, 'registration'),
      log,
      metrics,
      trustDomain: config.WARDEN_TRUST_DOMAIN,
      consumerPrefix: config.WARDEN_TOPOLOGY_CONSUMER_PREFIX,
      defaultIntervalMs: config.WARDEN_TOPOLOGY_HEARTBEAT_INTERVAL_MS,
      missedBeats: config.WARDEN_TOPOLOGY_HEARTBEAT_MISSED,
      maxRegistrations: config.WARDEN_TOPOLOGY_MAX_REGISTRATIONS,
      sweepMs: config.WARDEN_TOPOLOGY_EXPIRY_SWEEP_MS,
    }),
  );

  const redis = createRedis(config, {
    lazyConnect: true,
    maxRetriesPerRequest: 3,
  });
  redis.on('error', (err: unknown) => log.warn({ err }, 'redis connection error'));
  const retentionMs = config.WARDEN_TOPOLOGY_GRAPH_RETENTION_HOURS * 3600_000;
  const intervalMs = config.WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS;
  const touched = new TouchedEdges();
  const graph = new GraphStore({
    redis,
    bucketMs: config.WARDEN_TOPOLOGY_GRAPH_BUCKET_SECONDS * 1000,
    retentionMs,
    maxEdgesPerBucket: config.WARDEN_TOPOLOGY_GRAPH_MAX_EDGES_PER_BUCKET,
    requireComplete: true,
    ...(intervalMs > 0
      ? { onWritten: (start: number, ids: Iterable<string>) => touched.add(start, ids) }
      : {}),
  });
  const rebuilder = new GraphRebuilder({ bus, store: graph, log, metrics, retentionMs });
  const snapshots =
    intervalMs > 0
      ? new GraphSnapshotter({ bus, store: graph, touched, log, metrics, intervalMs })
      : undefined;
  const started: RegistrySource[] = [];
  const ingest: RunningConsumer[] = [];
  let responder: Subscription | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  const stop = async (): Promise<void> => {
    responder?.unsubscribe();
    clearInterval(watchdog);
    // First, so that an ingest batch waiting for a rebuild gives up (it is redelivered later).
    await rebuilder.stop();
    for (const consumer of ingest) await consumer.stop();
    // After ingest: the final snapshot holds everything this instance folded.
    await snapshots?.stop().catch((err: unknown) => log.warn({ err }, 'final graph snapshot failed'));
    for (const source of started.reverse())
      await source.stop().catch((err: unknown) => log.warn({ err }, 'source stop failed'));
    await publisher.flush();
    redis.disconnect();
  };
  try {
    await redis.connect();
    for (const source of sources) {
      await source.start();
      started.push(source);
    }
    await rebuilder.ensure();
    watchdog = setInterval(() => {
      rebuilder.ensure().catch((err: unknown) => log.error({ err }, 'graph check failed'));
    }, GRAPH_CHECK_MS);
    snapshots?.start();
    for (const [event, durable] of [
      [telemetryAccess, 'topology-graph'],
      [telemetryDecision, 'topology-decisions'],
    ] as const)
      ingest.push(
        await startGraphIngest({
          event,
          bus,
          store: graph,
          registry,
          log,
          metrics,
          durable,
          pathDepth: config.WARDEN_TOPOLOGY_GRAPH_PATH_DEPTH,
          retentionMs,
          whole: () => rebuilder.ensure(),
        }),
      );
    const answer = createQueryHandler({
      registry,
      graph,
      maxRangeMs: config.WARDEN_TOPOLOGY_GRAPH_MAX_QUERY_HOURS * 3600_000,
    });
    responder = bus.serve(
      topologyQuery,
      async (query) => {
        try {
          const reply = await answer(query);
          metrics.queries.inc({ what: query.what, outcome: 'ok' });
          return reply;
        } catch (err) {
          metrics.queries.inc({ what: query.what, outcome: 'error' });
          throw err;
        }
      },
      { queue: 'topology' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { registry, graph, sources, publisher, stop };
}
