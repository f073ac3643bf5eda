import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { Bus, provision, StreamName, telemetryAccess } from '@warden/events';
import type { RunningService } from '@warden/runtime';
import { ConfigError } from '@warden/runtime';
import { tempDir, useNats, useRedis } from '@warden/testing';
import type { AccessRecord, GraphSnapshot } from '@warden/topology';
import { SNAPSHOT_PAYLOAD_LIMIT } from '@warden/topology';
import { Redis } from 'ioredis';
import {
  eventually,
  startTopologyService,
  storedSnapshots,
  syntheticHour,
  topologyEnv,
  wholeGraph,
} from './helpers.ts';

const HOUR = 3600_000;

async function ingest(nc: NatsConnection, records: readonly AccessRecord[], batch = 100): Promise<void> {
  const bus = new Bus(nc, { source: 'ingest-test' });
  for (let i = 0; i < records.length; i += batch)
    await bus.publish(
      telemetryAccess,
      { records: records.slice(i, i + batch) },
      { qualifiers: { namespace: 'shop', workload: 'web' } },
    );
}

const requests = (edges: readonly { requests: number }[]): number =>
  edges.reduce((n, e) => n + e.requests, 0);

/** The requests the bus holds for the graph: per bucket and edge the latest (largest) value, summed. */
function snapshotRequests(parts: readonly { graph: GraphSnapshot }[]): number {
  const latest = new Map<string, number>();
  for (const { graph } of parts)
    for (const e of graph.edges) {
      const key = JSON.stringify([graph.bucket, e.source, e.destination, e.method, e.pathPrefix]);
      latest.set(key, Math.max(latest.get(key) ?? 0, e.requests));
    }
  return [...latest.values()].reduce((n, v) => n + v, 0);
}

async function metric(service: RunningService, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe('topology: graph snapshots on the bus', () => {
  const nats = useNats();
  const redis = useRedis();

  it('rebuilds the graph after Redis is flushed, while running and at start, counting later records once', async () => {
    const file = join(tempDir('topology-snapshots'), 'static.yaml');
    writeFileSync(file, 'workloads:\n  - { namespace: shop, name: web, address: 10.0.0.2, port: 80 }\n');
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: [StreamName.telemetry] });
    const env = topologyEnv(nats.get(), redis.get(), {
      WARDEN_TOPOLOGY_STATIC_FILE: file,
      WARDEN_TOPOLOGY_GRAPH_BUCKET_SECONDS: '600',
      WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS: '100',
    });
    const client = new Redis(redis.get().adminUrl);
    const telemetry = await nats.get().connect('telemetry-ingest');
    let service = await startTopologyService(env);
    try {
      const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      const range = { since: new Date(base).toISOString(), until: new Date(base + HOUR - 1).toISOString() };
      await ingest(telemetry, syntheticHour(base));
      await eventually(
        async () => requests(await wholeGraph(admin, range)) === 692,
        'every record folded',
        10_000,
      );
      const before = await wholeGraph(admin, range);
      // Six 10-minute buckets, each snapshotted once its edges were written.
      await eventually(
        async () => snapshotRequests(await storedSnapshots(admin)) === 692,
        'a snapshot holding every record',
        10_000,
      );
      assert.ok(
        (await metric(
          service,
          /warden_topology_graph_snapshot_messages_total\{outcome="published"[^}]*\} (\d+)/,
        )) >= 6,
      );

      // Ten more calls web -> cart, in the first minute of the hour (one bucket, whose first and
      // last seen they do not move); everything else stays as it was.
      const late = syntheticHour(base).slice(0, 10);
      const cart = (edges: typeof before) => edges.find((e) => e.destination.workload === 'cart');
      const others = (edges: typeof before) => edges.filter((e) => e.destination.workload !== 'cart');
      const isBeforePlus = (edges: typeof before, extra: number): boolean =>
        requests(edges) === 692 + extra &&
        JSON.stringify({ ...cart(edges), requests: 0, bytes: 0 }) ===
          JSON.stringify({ ...cart(before), requests: 0, bytes: 0 }) &&
        cart(edges)?.requests === (cart(before)?.requests ?? 0) + extra &&
        cart(edges)?.bytes === (cart(before)?.bytes ?? 0) + extra * 300 &&
        JSON.stringify(others(edges)) === JSON.stringify(others(before));

      // Redis loses everything while the service runs, and records keep coming: they wait for
      // the rebuild (which their batch starts at once; the periodic check would too) and go on
      // top of the restored values. Queries are refused meanwhile (graph_rebuilding).
      await client.flushall();
      await ingest(telemetry, late);
      await eventually(
        async () => isBeforePlus((await wholeGraph(admin, range).catch(() => undefined)) ?? [], 10),
        'the graph rebuilt while running, with the late records once',
        10_000,
      );

      // And while it is down: the new instance rebuilds before it answers, then folds the
      // records that arrived meanwhile on top, once.
      await service.stop('test');
      await client.flushall();
      await ingest(telemetry, late);
      service = await startTopologyService(env);
      await eventually(
        async () => isBeforePlus(await wholeGraph(admin, range), 20),
        'the graph rebuilt at start, with the late records once',
        10_000,
      );
      assert.equal(
        await metric(service, /warden_topology_graph_rebuilds_total\{outcome="completed"[^}]*\} (\d+)/),
        1,
      );
    } finally {
      await service.stop('test');
      client.disconnect();
    }
  });

  it('splits a 5,000-edge graph into messages under the payload limit and rebuilds all of it', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: [StreamName.telemetry] });
    // The default interval (a minute): the one snapshot is the final one, on a graceful stop.
    const env = topologyEnv(nats.get(), redis.get());
    const client = new Redis(redis.get().adminUrl);
    let service = await startTopologyService(env);
    try {
      const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      const records: AccessRecord[] = [];
      for (let i = 0; i < 10_000; i++) {
        const edge = i % 5000;
        records.push({
          time: new Date(base + 1000 + i).toISOString(),
          source: { namespace: 'load', workload: `client-workload-with-a-long-name-${edge % 50}` },
          destination: { namespace: 'load', workload: `server-workload-with-a-long-name-${edge % 70}` },
          protocol: 'http',
          method: 'GET',
          path: `/api/resource-${edge}/items`,
          status: i % 7 === 0 ? 503 : 200,
          bytesSent: edge,
        });
      }
      await ingest(await nats.get().connect('telemetry-ingest'), records, 1000);
      const range = { since: new Date(base).toISOString(), until: new Date(base + HOUR - 1).toISOString() };
      await eventually(
        async () => requests(await wholeGraph(admin, range)) === 10_000,
        'every record folded',
        20_000,
      );
      const before = await wholeGraph(admin, range);
      assert.equal(before.length, 5000);
      await service.stop('test');

      const parts = await storedSnapshots(admin);
      assert.ok(parts.length > 1, `${parts.length} part(s)`);
      assert.equal(new Set(parts.map((p) => p.graph.snapshot)).size, 1, 'one snapshot of one bucket');
      assert.deepEqual(
        parts.map((p) => `${p.graph.part}/${p.graph.parts}`),
        parts.map((_, i) => `${i + 1}/${parts.length}`),
      );
      for (const p of parts) assert.ok(p.bytes < SNAPSHOT_PAYLOAD_LIMIT, `a part of ${p.bytes} bytes`);
      assert.equal(
        parts.reduce((n, p) => n + p.graph.edges.length, 0),
        5000,
      );

      await client.flushall();
      service = await startTopologyService(env);
      assert.deepEqual(await wholeGraph(admin, range), before);
    } finally {
      await service.stop('test');
      client.disconnect();
    }
  });

  it('runs on two instances: each snapshots what it folded, one rebuilds at a time', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: [StreamName.telemetry] });
    const env = (name: string) =>
      topologyEnv(nats.get(), redis.get(), {
        WARDEN_INSTANCE: `topology-${name}`,
        WARDEN_TOPOLOGY_CONSUMER_PREFIX: `topology-${name}`,
        WARDEN_TOPOLOGY_GRAPH_BUCKET_SECONDS: '600',
        WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS: '100',
      });
    const client = new Redis(redis.get().adminUrl);
    const services = await Promise.all([startTopologyService(env('a')), startTopologyService(env('b'))]);
    const rebuilds = async (): Promise<number> => {
      const counts = await Promise.all(
        services.map((s) =>
          metric(s, /warden_topology_graph_rebuilds_total\{outcome="completed"[^}]*\} (\d+)/),
        ),
      );
      return counts.reduce((n, c) => n + c, 0);
    };
    try {
      // Both started on an empty Redis: one rebuilt (nothing), the other waited for its marker.
      assert.equal(await rebuilds(), 1);
      const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      const range = { since: new Date(base).toISOString(), until: new Date(base + HOUR - 1).toISOString() };
      // Small batches. The shared durable hands each to whichever instance pulls first, so how
      // they split is up to the bus (one instance may get none); what holds however they split:
      // each batch is folded once, and an instance snapshots what it folded.
      await ingest(await nats.get().connect('telemetry-ingest'), syntheticHour(base), 10);
      await eventually(
        async () => requests(await wholeGraph(admin, range)) === 692,
        'every record folded',
        10_000,
      );
      const before = await wholeGraph(admin, range);
      const folded = (s: RunningService) =>
        metric(s, /warden_topology_graph_records_total\{outcome="folded"[^}]*\} (\d+)/);
      const published = (s: RunningService) =>
        metric(s, /warden_topology_graph_snapshot_messages_total\{outcome="published"[^}]*\} (\d+)/);
      let perInstance: number[] = [];
      await eventually(async () => {
        perInstance = await Promise.all(services.map(folded));
        return perInstance.reduce((n, f) => n + f, 0) === 692;
      }, 'the instances counting 692 records folded between them');
      await eventually(
        async () => snapshotRequests(await storedSnapshots(admin)) === 692,
        'snapshots holding every record',
        10_000,
      );
      for (const [i, service] of services.entries())
        if ((perInstance[i] ?? 0) > 0)
          await eventually(
            async () => (await published(service)) > 0,
            `${service.ctx.instance}, which folded ${perInstance[i]} records, publishing snapshots`,
          );
      await client.flushall();
      await eventually(
        async () => JSON.stringify(await wholeGraph(admin, range).catch(() => [])) === JSON.stringify(before),
        'the graph rebuilt',
        10_000,
      );
      await eventually(async () => (await rebuilds()) === 2, 'one more rebuild, by one instance', 5000);
    } finally {
      await Promise.all(services.map((s) => s.stop('test')));
      client.disconnect();
    }
  });

  it('refuses a bad snapshot interval, naming the variable and what it takes', async () => {
    await assert.rejects(
      startTopologyService(
        topologyEnv(nats.get(), redis.get(), { WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS: '10' }),
      ),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          'WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS="10": milliseconds: 0 (no snapshots) or 100 to 86400000',
        ]);
        return true;
      },
    );
  });
});
