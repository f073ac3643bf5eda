import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { NatsConnection } from '@nats-io/nats-core';
import { Bus, Principal, provision, StreamName } from '@warden/events';
import {
  startTestNats,
  startTestVictoriaMetrics,
  eventually,
  promQuery,
  testTrustDomain,
  writeAgentFiles,
} from '@warden/testing';
import { ingestConfig, startIngest } from '@warden/telemetry-ingest';
import { Registry } from 'prom-client';
import type { Benchmark } from './benchmark.ts';
import { round, target } from './benchmark.ts';

/**
 * End-to-end ingest throughput: Envoy ALS streams (from a worker thread, as sidecars would send
 * them) → access records → 1 s / 10 s features → bus (batched access events) and counters written
 * to VictoriaMetrics. The clock stops when every record is stored on the bus and the counters that
 * include the last record are written to the database. Baseline, in the same run: core NATS
 * publishes of one record-sized message each, on the same server (what a design that put every
 * record on the bus as its own message could at best do). With `--mtls 1` the listener is mTLS and
 * each sidecar sends with an SVID of its own workload, bound as a deployment beyond loopback is.
 */

/** What the load generator needs to send over mTLS: the bundle and one SVID per stream. */
export type SenderTls = { rootsPem: string; serverId: string; svids: { keyPem: string; chainPem: string }[] };

const INGEST_ID = 'spiffe://cluster.local/ns/warden/sa/warden-telemetry-ingest';

/** The service's SVID folder and one SVID per sidecar (`shop/backend-<i>`, as the load names them). */
async function mtlsSetup(dir: string, streams: number): Promise<{ tlsDir: string; sender: SenderTls }> {
  const td = await testTrustDomain('cluster.local');
  const tlsDir = join(dir, 'svid');
  await writeAgentFiles(td, INGEST_ID, tlsDir);
  const svids = await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const leaf = await td.leaf(`spiffe://cluster.local/ns/shop/sa/backend-${i}`);
      return { keyPem: leaf.keyPem, chainPem: leaf.chainPem.join('') };
    }),
  );
  return { tlsDir, sender: { rootsPem: td.rootPem, serverId: INGEST_ID, svids } };
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function rawNatsRate(nc: NatsConnection, total: number, bytes: number): Promise<number> {
  const payload = new Uint8Array(bytes).fill(120);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    nc.publish('bench.raw.records', payload);
    if (i % 10_000 === 9999) await nc.flush();
  }
  await nc.flush();
  return total / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export const ingestBench: Benchmark = {
  name: 'ingest',
  description:
    'telemetry-ingest end to end (ALS → records → features → bus + VictoriaMetrics), records/s vs raw NATS publishes/s',
  // A warm-up round of `warmup` messages per stream first, not timed: the first records through a
  // cold pipeline measured the JIT more than the service (first rounds 10-20% below the next).
  defaults: { streams: 4, messages: 750, batch: 100, edges: 20, rounds: 3, warmup: 150, mtls: 0 },
  run: async (params, progress) => {
    const {
      streams = 4,
      messages = 750,
      batch = 100,
      edges = 20,
      rounds = 3,
      warmup = 150,
      mtls = 0,
    } = params;
    const nats = await startTestNats();
    const vm = await startTestVictoriaMetrics();
    const dir = mkdtempSync(join(tmpdir(), 'warden-bench-ingest-'));
    try {
      const tls = mtls ? await mtlsSetup(dir, streams) : undefined;
      const nc = await nats.connect(Principal.telemetryIngest);
      // The baseline publishes on a subject no service grant covers: as the unrestricted admin.
      const adminNc = await nats.connect('admin');
      await provision(nc, { streams: [StreamName.telemetry] });
      const bus = new Bus(nc, { source: 'bench-ingest' });
      const registry = new Registry();
      const config = ingestConfig.parse({
        WARDEN_VICTORIA_METRICS_URL: vm.url,
        WARDEN_INGEST_GRPC_PORT: '0',
        WARDEN_INGEST_GRPC_HOST: '127.0.0.1',
        ...(tls ? { WARDEN_INGEST_TLS_DIR: tls.tlsDir } : {}),
      });
      const ingest = await startIngest({
        bus,
        log: silent,
        metricsRegistry: registry,
        config,
        instance: 'bench',
      });
      const metric = async (name: string): Promise<number> => {
        const m = await registry.getSingleMetric(name)?.get();
        return (m?.values ?? []).reduce((sum, v) => sum + v.value, 0);
      };
      const perRound = streams * messages * batch;
      const roundRates: number[] = [];
      const rawRates: number[] = [];
      let expected = 0;
      try {
        for (let r = warmup > 0 ? -1 : 0; r < rounds; r++) {
          const worker = new Worker(new URL('./ingest/als-load.ts', import.meta.url), {
            workerData: {
              port: ingest.grpcPort,
              streams,
              messages: r < 0 ? warmup : messages,
              batch,
              edges,
              tls: tls?.sender,
            },
          });
          const next = (): Promise<{ ready?: true; sent?: number }> =>
            new Promise((resolve, reject) => {
              worker.once('message', resolve);
              worker.once('error', reject);
            });
          // The sidecars are up and connected before the clock starts, as in a running mesh.
          await next();
          const t0 = process.hrtime.bigint();
          const finished = next();
          worker.postMessage('go');
          const sent = (await finished).sent ?? 0;
          await worker.terminate();
          expected += sent;
          await eventually(
            async () => (await metric('warden_ingest_records_published_total')) >= expected,
            'records on the bus',
            600_000,
            20,
          );
          // The counters that include the last record, written to the database.
          ingest.writer.collect();
          await eventually(() => ingest.writer.buffered === 0, 'counters written', 600_000, 20);
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          if (r < 0) {
            progress(`warm-up: ${sent} records in ${round(seconds, 2)} s`);
            continue;
          }
          roundRates.push(Math.round(sent / seconds));
          progress(`round ${r + 1}/${rounds}: ${sent} records in ${round(seconds, 2)} s`);
          rawRates.push(Math.round(await rawNatsRate(adminNc, perRound, 400)));
        }
        const refused = await metric('warden_ingest_rejected_total');
        if (refused > 0) throw new Error(`ingest refused ${refused} items: the load is not what it binds`);
        const dropped = await metric('warden_ingest_records_dropped_total');
        const lineDrops = await metric('warden_ingest_series_lines_dropped_total');
        if (dropped > 0 || lineDrops > 0)
          throw new Error(`ingest dropped ${dropped} records and ${lineDrops} series lines`);
        // Correctness, not timed: the database's total is every record sent.
        await eventually(
          async () => {
            await fetch(`${vm.url}/internal/force_flush`).then((res) => res.body?.cancel());
            return (await promQuery(vm.url, 'sum(warden_requests_total)'))[0]?.value === expected;
          },
          'PromQL total to match',
          120_000,
          500,
        );
        const features = await metric('warden_ingest_features_published_total');
        const recordsPerSec = Math.round(roundRates.reduce((a, b) => a + b, 0) / roundRates.length);
        const natsPerSec = Math.round(rawRates.reduce((a, b) => a + b, 0) / rawRates.length);
        return {
          results: {
            mtls: tls ? 1 : 0,
            records: expected,
            recordsPerSec,
            roundsRecordsPerSec: roundRates,
            featureWindowsPublished: features,
          },
          baseline: { natsPublishesPerSec: natsPerSec, roundsNatsPublishesPerSec: rawRates },
          ratio: round(recordsPerSec / natsPerSec, 3),
          target: target(
            'at least 50,000 records/s end to end on this machine',
            'recordsPerSec',
            recordsPerSec,
            '>=',
            50_000,
          ),
        };
      } finally {
        await ingest.stop();
      }
    } finally {
      await vm.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
