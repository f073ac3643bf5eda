import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Bus, provision, StreamName, telemetryAccess, telemetryDecision } from '@warden/events';
import { tempDir, useNats, useRedis } from '@warden/testing';
import type { AccessRecord } from '@warden/topology';
import { fold, GraphStore, TopologyError, TouchedEdges } from '@warden/topology';
import { Redis } from 'ioredis';
import { GapProxy } from './gap-proxy.ts';
import type { QueryReply } from './helpers.ts';
import { eventually, query, startTopologyService, syntheticHour, topologyEnv } from './helpers.ts';

const HOUR = 3600_000;
const MINUTE = 60_000;

/** Ten calls of one edge in the hour before `now`, folded into one-hour buckets. */
const tenCalls = (now: number) =>
  fold(syntheticHour(Math.floor(now / HOUR) * HOUR - HOUR).slice(0, 10), {
    bucketMs: HOUR,
    pathDepth: 2,
    now,
    maxAgeMs: 24 * HOUR,
    maxSkewMs: MINUTE,
    workloadAt: () => undefined,
  });

const edgeLines = (reply: QueryReply): string[] =>
  reply.edges.map((e) => {
    const node = (n: { namespace?: string; workload?: string; address?: string }) =>
      n.workload ? `${n.namespace}/${n.workload}` : `@${n.address}`;
    return `${node(e.source)} -> ${node(e.destination)} ${e.method} ${e.pathPrefix} req=${e.requests} err=${e.errors} deny=${e.denies} bytes=${e.bytes}`;
  });

describe('topology: observed call graph', () => {
  const nats = useNats();
  const redis = useRedis();

  it('folds an hour of access records into the graph, queryable by time range, namespace and workload', async () => {
    const file = join(tempDir('topology-graph'), 'static.yaml');
    writeFileSync(file, 'workloads:\n  - { namespace: shop, name: web, address: 10.0.0.2, port: 80 }\n');
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: [StreamName.telemetry] });
    const service = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), {
        WARDEN_TOPOLOGY_STATIC_FILE: file,
        WARDEN_TOPOLOGY_GRAPH_BUCKET_SECONDS: '600',
      }),
    );
    try {
      const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      const records = syntheticHour(base);
      // One record stamped an hour in the future (a wrong clock): dropped and counted.
      records.push({ ...records[0]!, time: new Date(Date.now() + HOUR).toISOString() });
      const ingest = new Bus(await nats.get().connect('telemetry-ingest'), { source: 'ingest-test' });
      const enforcer = new Bus(await nats.get().connect('enforcer'), { source: 'enforcer-test' });
      // Records with a decision are a decision point's, on their own subject; both are folded.
      const decided = records.filter((r) => r.decision !== undefined);
      const observed = records.filter((r) => r.decision === undefined);
      assert.ok(decided.length > 0 && observed.length > 0);
      for (const [bus, event, batch] of [
        [ingest, telemetryAccess, observed],
        [enforcer, telemetryDecision, decided],
      ] as const)
        for (let i = 0; i < batch.length; i += 100)
          await bus.publish(
            event,
            { records: batch.slice(i, i + 100) },
            { qualifiers: { namespace: 'shop', workload: 'web' } },
          );

      const range = { since: new Date(base).toISOString(), until: new Date(base + HOUR - 1).toISOString() };
      await eventually(
        async () => {
          const reply = await query(admin, { what: 'graph', ...range });
          return reply.edges.reduce((n, e) => n + e.requests, 0) === 692;
        },
        'every record folded',
        10_000,
      );

      const hour = await query(admin, { what: 'graph', ...range });
      assert.deepEqual(edgeLines(hour).sort(), [
        '@203.0.113.9 -> shop/web GET /.env req=2 err=0 deny=0 bytes=0',
        'shop/cart -> data/db   req=60 err=0 deny=0 bytes=60000',
        'shop/web -> shop/cart GET /api/cart req=600 err=12 deny=0 bytes=180000',
        'shop/web -> shop/payments POST /pay req=30 err=0 deny=5 bytes=0',
      ]);
      const cart = hour.edges.find((e) => e.destination.workload === 'cart');
      assert.equal(cart?.firstSeen, new Date(base).toISOString());
      assert.equal(cart?.lastSeen, new Date(base + 599 * 6000).toISOString());
      assert.equal(hour.since, range.since);
      assert.equal(hour.until, new Date(base + HOUR).toISOString());

      // 30-40 min: one 10-minute bucket, no payments (they stopped at 30 min), no probe.
      const slice = await query(admin, {
        what: 'graph',
        since: new Date(base + 30 * MINUTE).toISOString(),
        until: new Date(base + 39 * MINUTE).toISOString(),
      });
      assert.deepEqual(edgeLines(slice).sort(), [
        'shop/cart -> data/db   req=10 err=0 deny=0 bytes=10000',
        'shop/web -> shop/cart GET /api/cart req=100 err=2 deny=0 bytes=30000',
      ]);
      const db = await query(admin, { what: 'graph', workload: 'db', ...range });
      assert.deepEqual(edgeLines(db), ['shop/cart -> data/db   req=60 err=0 deny=0 bytes=60000']);
      const paged = await query(admin, { what: 'graph', limit: 3, ...range });
      assert.equal(paged.edges.length, 3);
      const rest = await query(admin, { what: 'graph', limit: 3, after: paged.next, ...range });
      assert.equal(rest.edges.length, 1);
      assert.equal(rest.next, undefined);

      const metrics = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
      assert.match(metrics, /warden_topology_graph_records_total\{outcome="future"[^}]*\} 1/);
      assert.match(metrics, /warden_topology_graph_records_total\{outcome="folded"[^}]*\} 692/);

      // A range beyond the limit is refused with a clear error code.
      await assert.rejects(
        query(admin, { what: 'graph', since: new Date(base - 400 * HOUR).toISOString(), until: range.until }),
        (err: unknown) => err instanceof Error && /invalid_query/.test(err.message),
      );
    } finally {
      await service.stop('test');
    }
  });

  it('counts a redelivered batch once', async () => {
    const client = new Redis(redis.get().urlFor('topology'));
    try {
      const store = new GraphStore({ redis: client, bucketMs: HOUR, retentionMs: 24 * HOUR });
      const now = Date.now();
      const result = tenCalls(now);
      assert.equal(await store.add('event-1', result), true);
      assert.equal(await store.add('event-1', result), false);
      const edges = [...(await store.edges(now - 2 * HOUR, now)).values()];
      assert.equal(
        edges.reduce((n, e) => n + e.requests, 0),
        10,
      );
      assert.deepEqual(edges[0]?.source, { address: '10.0.0.2' }, 'unresolved ends keep their address');
    } finally {
      client.disconnect();
    }
  });

  it('adds a batch in the same atomic step as its completeness check: a flush cannot come between', async () => {
    const direct = new Redis(redis.get().adminUrl);
    const proxy = await GapProxy.start(redis.get().port);
    const client = new Redis(proxy.port, '127.0.0.1', redis.get().authFor('topology'));
    try {
      const store = new GraphStore({
        redis: client,
        bucketMs: HOUR,
        retentionMs: 24 * HOUR,
        requireComplete: true,
      });
      const now = Date.now();
      const batch = tenCalls(now);
      const requests = async (): Promise<number> =>
        [...(await store.edges(now - 2 * HOUR, now)).values()].reduce((n, e) => n + e.requests, 0);
      const rebuilding = (err: unknown): boolean =>
        err instanceof TopologyError && err.code === 'graph_rebuilding';
      // What the rebuild does, from the snapshots of the graph's only bucket.
      const rebuild = async (snapshot: Map<number, Awaited<ReturnType<GraphStore['valuesOf']>>>) => {
        assert.ok(await store.claimRebuild('test', 10_000));
        for (const [start, values] of snapshot) await store.mergeMax(start, values, now + HOUR);
        assert.ok(await store.markComplete('test', {}));
        await store.releaseRebuild('test');
      };

      // No marker: refused, and nothing written, not even the event id, so the redelivery counts.
      await assert.rejects(store.add('batch-1', batch), rebuilding);
      assert.deepEqual(await direct.keys('*'), []);
      await rebuild(new Map());
      assert.equal(await store.add('batch-1', batch), true);
      assert.equal(await store.add('batch-1', batch), false);
      assert.equal(await requests(), 10);

      // The bus holds those 10. Redis is flushed in the first gap between two of the store's round
      // trips for the next batch, if it leaves one; the service then rebuilds, and redelivers the
      // batch unless it was acknowledged. Counts written after the check but without the marker
      // would be overwritten by the snapshot's maximum, and the batch not redelivered: 10, not 20.
      const snapshot = new Map<number, Awaited<ReturnType<GraphStore['valuesOf']>>>();
      for (const [start, edges] of batch.buckets)
        snapshot.set(start, await store.valuesOf(start, [...edges.keys()]));
      proxy.arm(async () => void (await direct.flushall()));
      const added = await store.add('batch-2', batch).catch((err: unknown) => err);
      const flushed = proxy.disarm();
      if (!(await store.isComplete())) await rebuild(snapshot);
      if (added !== true) {
        assert.ok(rebuilding(added), String(added));
        assert.equal(await store.add('batch-2', batch), true);
      }
      assert.equal(await requests(), 20, flushed ? 'flushed between round trips' : 'not flushed');
    } finally {
      client.disconnect();
      direct.disconnect();
      await proxy.close();
    }
  });

  it('bounds the edges of a bucket, counting the excess under an overflow prefix', async () => {
    const client = new Redis(redis.get().urlFor('topology'));
    try {
      const touched = new TouchedEdges();
      const store = new GraphStore({
        redis: client,
        bucketMs: HOUR,
        retentionMs: 24 * HOUR,
        maxEdgesPerBucket: 3,
        onWritten: (start, ids) => touched.add(start, ids),
      });
      const now = Date.now();
      /** What the next snapshot would send: the prefixes written, by bucket (hours before the scan's). */
      const written = (): string[] =>
        touched.take().flatMap(([start, ids]) =>
          [...ids].map((id) => {
            const hours = (Math.floor((now - MINUTE) / HOUR) * HOUR - start) / HOUR;
            return `${hours} ${String((JSON.parse(id) as unknown[])[3])}`;
          }),
        );
      const at = new Date(now - MINUTE).toISOString();
      // A scanner: one request per distinct path, twelve paths over two batches.
      const scan = (from: number): AccessRecord[] =>
        Array.from({ length: 6 }, (_, i) => ({
          time: at,
          source: { address: '203.0.113.9' },
          destination: { namespace: 'shop', workload: 'web' },
          protocol: 'http' as const,
          method: 'GET',
          path: `/probe-${from + i}/x`,
        }));
      const options = {
        bucketMs: HOUR,
        pathDepth: 1,
        now,
        maxAgeMs: 3 * HOUR,
        maxSkewMs: MINUTE,
        workloadAt: () => undefined,
      };
      await store.add('scan-1', fold(scan(0), options));
      assert.deepEqual(written().sort(), [0, 1, 2].map((i) => `0 /probe-${i}`).concat('0 {overflow}'));
      // The second batch starts with a bucket two hours back, under its cap.
      const earlier = { ...scan(0)[0]!, time: new Date(now - MINUTE - 2 * HOUR).toISOString() };
      await store.add('scan-2', fold([earlier, ...scan(6), ...scan(0).slice(0, 1)], options));
      assert.deepEqual(written(), ['2 /probe-0', '0 {overflow}', '0 /probe-0']);
      const edges = [...(await store.edges(now - HOUR, now)).values()];
      const byPrefix = Object.fromEntries(edges.map((e) => [e.pathPrefix, e.requests]));
      assert.deepEqual(byPrefix, { '/probe-0': 2, '/probe-1': 1, '/probe-2': 1, '{overflow}': 9 });
    } finally {
      client.disconnect();
    }
  });
});
