import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { jetstreamManager } from '@nats-io/jetstream';
import { Bus, provision, StreamName, topologyChanged } from '@warden/events';
import { startTestNats, startTestRedis, tempDir } from '@warden/testing';
import type { AccessRecord } from '@warden/topology';
import {
  ChangePublisher,
  createTopologyMetrics,
  fold,
  GraphSnapshotter,
  GraphStore,
  parseStaticFile,
  Registry,
  TouchedEdges,
} from '@warden/topology';
import { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import type { Benchmark } from './benchmark.ts';
import { microsSince, percentile, round, target } from './benchmark.ts';

/**
 * The topology service's two hot paths on real servers.
 *
 * Registry: a static file of `workloads` workloads is parsed, validated and merged into the
 * registry (time and retained heap), then the whole load and `changes` single-workload updates
 * go out as `warden.topology.v1.changed` on a real nats-server (latency from the registry change
 * to an admin subscriber receiving the event). Baseline: `yaml.parse` of the same file alone.
 *
 * Graph: `records` access records over one hour and `edges` distinct edges are folded in batches
 * of `batch` into a real redis-server (`GraphStore.add`: fold in memory, one Lua script per batch).
 * Baseline: the same records written the naive way, one pipelined HINCRBY per record.
 *
 * Snapshot: `snapshotEdges` distinct edges in one bucket are read back from Redis and published
 * as `warden.topology.v1.changed` parts (`GraphSnapshotter.snapshot`, what every interval does).
 * Baseline: the same number of messages of the same size published raw, acked one by one.
 */

const HOUR = 3600_000;
type FoldOptions = Parameters<typeof fold>[1];

function staticFile(workloads: number): string {
  const lines = ['workloads:'];
  for (let i = 0; i < workloads; i++)
    lines.push(
      `  - { namespace: ns-${i % 100}, name: w-${i}, address: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}, port: 8080, protocol: http, serviceAccount: sa-${i % 13}, labels: { app: w-${i}, tier: t${i % 3} } }`,
    );
  return `${lines.join('\n')}\n`;
}

/** A full GC, so heap figures compare retained memory, not garbage. */
function collect(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

/** One record per edge, `edges` distinct edges (a path segment per edge) in the hour after `base`. */
function distinctEdges(edges: number, base: number): AccessRecord[] {
  return Array.from({ length: edges }, (_, e) => ({
    time: new Date(base + (e % HOUR)).toISOString(),
    source: { namespace: 'shop', workload: `client-${e % 100}` },
    destination: { namespace: 'shop', workload: `server-${Math.floor(e / 100) % 100}` },
    protocol: 'http',
    method: 'GET',
    path: `/api/resource-${e}/items`,
    status: 200,
    bytesSent: 200,
  }));
}

function records(count: number, edges: number, base: number): AccessRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const e = i % edges;
    return {
      time: new Date(base + Math.floor((i / count) * HOUR)).toISOString(),
      source: { namespace: 'shop', workload: `w-${e % 50}` },
      destination: { namespace: 'shop', workload: `w-${(e * 7 + 1) % 50}` },
      protocol: 'http',
      method: e % 2 ? 'GET' : 'POST',
      path: `/api/r${e % 10}/${i}`,
      status: i % 97 === 0 ? 503 : 200,
      bytesSent: 200,
      bytesReceived: 1000,
    };
  });
}

export const topology: Benchmark = {
  name: 'topology',
  description: 'registry of N workloads (load, memory, change latency) and call-graph records/s into Redis',
  defaults: {
    workloads: 10_000,
    changes: 200,
    records: 200_000,
    edges: 500,
    batch: 1000,
    snapshotEdges: 10_000,
  },
  async run(params, progress) {
    const workloads = params['workloads'] ?? 10_000;
    const dir = tempDir('bench-topology');
    const file = join(dir, 'static.yaml');
    const text = staticFile(workloads);
    writeFileSync(file, text);

    // Baseline: parsing alone, the second of two runs so that it is as warm as the load measured
    // after it.
    parseYaml(text);
    let start = process.hrtime.bigint();
    parseYaml(text);
    const parseMs = microsSince(start) / 1000;

    const nats = await startTestNats();
    const redisServer = await startTestRedis();
    const nc = await nats.connect('topology');
    const admin = await nats.connect('admin');
    try {
      await provision(nc, { streams: [StreamName.topology] });
      const bus = new Bus(nc, { source: 'bench-topology' });
      const metrics = createTopologyMetrics();
      const log = { debug() {}, info() {}, warn() {}, error() {} };
      const publisher = new ChangePublisher({ bus, log, metrics, flushMs: 0, maxPerEvent: 500 });
      const registry = new Registry({ onChanges: (c) => publisher.add(c) });

      // Change events as the console would see them (core subscription on the stored subject).
      const received: { at: bigint; count: number }[] = [];
      const sub = admin.subscribe(topologyChanged.schema, {
        callback: (_err, msg) => {
          const data = (msg.json() as { data: { changes: unknown[] } }).data;
          received.push({ at: process.hrtime.bigint(), count: data.changes.length });
        },
      });
      await admin.flush();

      collect();
      const heapBefore = process.memoryUsage().heapUsed;
      start = process.hrtime.bigint();
      const snapshot = parseStaticFile(text, file, 'cluster.local');
      registry.replace('static', snapshot);
      const loadMs = microsSince(start) / 1000;
      await publisher.flush();
      const expectedChanges = workloads + snapshot.namespaces.size;
      while (received.reduce((n, r) => n + r.count, 0) < expectedChanges)
        await new Promise((r) => setTimeout(r, 1));
      const loadToLastEventMs = Number((received.at(-1)?.at ?? start) - start) / 1e6;
      collect();
      const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
      progress(
        `loaded ${workloads} workloads in ${round(loadMs)} ms; last change event after ${round(loadToLastEventMs)} ms`,
      );

      const latencies: number[] = [];
      const sample = registry.get('workload', 'ns-1/w-1');
      for (let i = 0; i < (params['changes'] ?? 200) && sample; i++) {
        const seen = received.length;
        const t = process.hrtime.bigint();
        registry.upsert('static', 'workload', { ...sample, port: 1000 + (i % 60000) });
        while (received.length === seen) await new Promise((r) => setImmediate(r));
        latencies.push(Number((received[seen]?.at ?? t) - t) / 1000);
      }
      latencies.sort((a, b) => a - b);
      sub.unsubscribe();

      // Graph throughput.
      // As admin: the baseline below writes its own key and the runs flush between them.
      const redis = new Redis(redisServer.adminUrl);
      const total = params['records'] ?? 200_000;
      const batch = params['batch'] ?? 1000;
      const now = Date.now();
      const base = Math.floor(now / HOUR) * HOUR - HOUR;
      const all = records(total, params['edges'] ?? 500, base);
      const foldSlice = (slice: readonly AccessRecord[], workloadAt: FoldOptions['workloadAt']) =>
        fold(slice, {
          bucketMs: HOUR,
          pathDepth: 2,
          now,
          maxAgeMs: 24 * HOUR,
          maxSkewMs: 60_000,
          workloadAt,
        });
      const store = new GraphStore({ redis, bucketMs: HOUR, retentionMs: 24 * HOUR });
      start = process.hrtime.bigint();
      for (let i = 0; i < total; i += batch) {
        const result = foldSlice(all.slice(i, i + batch), (a) => registry.workloadAt(a));
        await store.add(`bench-${i}`, result);
      }
      const graphSeconds = microsSince(start) / 1e6;
      const graphRecordsPerSec = total / graphSeconds;
      const folded = [...(await store.edges(base, base + HOUR - 1)).values()].reduce(
        (n, e) => n + e.requests,
        0,
      );
      if (folded !== total) throw new Error(`graph holds ${folded} requests, expected ${total}`);
      progress(`graph: ${Math.round(graphRecordsPerSec)} records/s`);

      // Baseline: one HINCRBY per record, pipelined per batch, no folding.
      await redis.flushall();
      start = process.hrtime.bigint();
      for (let i = 0; i < total; i += batch) {
        const pipeline = redis.pipeline();
        for (const r of all.slice(i, i + batch))
          pipeline.hincrby('raw', `${r.source.workload}|${r.destination.workload}|${r.method}|${r.path}`, 1);
        await pipeline.exec();
      }
      const rawSeconds = microsSince(start) / 1e6;
      const rawRecordsPerSec = total / rawSeconds;

      // Snapshot of one bucket of `snapshotEdges` edges.
      await redis.flushall();
      const snapshotEdges = params['snapshotEdges'] ?? 10_000;
      const touched = new TouchedEdges();
      const snapshotStore = new GraphStore({
        redis,
        bucketMs: HOUR,
        retentionMs: 24 * HOUR,
        onWritten: (s, ids) => touched.add(s, ids),
      });
      // A whole graph, as a rebuild leaves it: snapshots are only taken of whole graphs.
      await snapshotStore.claimRebuild('benchmark', 60_000);
      await snapshotStore.markComplete('benchmark', {});
      const snapshotRecords = distinctEdges(snapshotEdges, base);
      for (let i = 0; i < snapshotEdges; i += batch) {
        const result = foldSlice(snapshotRecords.slice(i, i + batch), () => undefined);
        await snapshotStore.add(`snapshot-${i}`, result);
      }
      const snapshotter = new GraphSnapshotter({
        bus,
        store: snapshotStore,
        touched,
        log,
        metrics,
        intervalMs: 60_000,
      });
      const jsm = await jetstreamManager(nc);
      const stored = async () => (await jsm.streams.info(StreamName.topology)).state;
      const beforeSnapshot = await stored();
      start = process.hrtime.bigint();
      const published = await snapshotter.snapshot();
      const snapshotMs = microsSince(start) / 1000;
      const afterSnapshot = await stored();
      if (published !== snapshotEdges)
        throw new Error(`snapshot of ${published} edges, expected ${snapshotEdges}`);
      const snapshotMessages = afterSnapshot.messages - beforeSnapshot.messages;
      const snapshotBytes = afterSnapshot.bytes - beforeSnapshot.bytes;
      progress(`snapshot: ${snapshotEdges} edges in ${snapshotMessages} messages, ${round(snapshotMs)} ms`);

      // Baseline: as many messages of the same size, straight to JetStream.
      const filler = new TextEncoder().encode('x'.repeat(Math.round(snapshotBytes / snapshotMessages)));
      start = process.hrtime.bigint();
      for (let i = 0; i < snapshotMessages; i++) await bus.js.publish(topologyChanged.schema, filler);
      const rawSnapshotMs = microsSince(start) / 1000;
      redis.disconnect();

      return {
        results: {
          workloads,
          loadMs: round(loadMs),
          loadToLastChangeEventMs: round(loadToLastEventMs),
          changeEvents: received.length - latencies.length,
          heapMiB: round(heapMiB),
          changeLatencyP50Micros: round(percentile(latencies, 50)),
          changeLatencyP99Micros: round(percentile(latencies, 99)),
          graphRecordsPerSec: Math.round(graphRecordsPerSec),
          graphRecords: total,
          graphSeconds: round(graphSeconds, 3),
          snapshotEdges,
          snapshotMs: round(snapshotMs),
          snapshotMessages,
          snapshotMiB: round(snapshotBytes / 1024 / 1024, 2),
        },
        baseline: {
          yamlParseMs: round(parseMs),
          rawHincrbyRecordsPerSec: Math.round(rawRecordsPerSec),
          rawSeconds: round(rawSeconds, 3),
          rawSnapshotPublishMs: round(rawSnapshotMs),
        },
        ratio: round(graphRecordsPerSec / rawRecordsPerSec, 2),
        target: target('a 10,000-workload registry loads in under 2 s', 'results.loadMs', loadMs, '<', 2000),
      };
    } finally {
      await nats.stop();
      await redisServer.stop();
    }
  },
};
