import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, describe, it } from 'node:test';
import type { VictoriaMetricsServer } from '@warden/infra';
import { freePort, startVictoriaMetrics } from '@warden/infra';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import { eventually, promQuery, tempDir, useNats } from '@warden/testing';
import { telemetryIngestService } from '@warden/telemetry-ingest';
import {
  forceFlush,
  httpEntry,
  ingestEnv,
  istioNode,
  metricValue,
  sendAls,
  storedTelemetry,
} from './helpers.ts';

const OUTAGE_MS = 60_000;
const BUFFER_LINES = 2000;

describe('telemetry-ingest: the time-series database stopped for a minute under load', () => {
  const nats = useNats();
  const dir = tempDir('vm-outage');
  let vm: VictoriaMetricsServer | undefined;
  let ingest: RunningService | undefined;
  // The service stops before the servers' own hooks stop NATS (hooks run in registration order).
  afterEach(async () => {
    await ingest?.stop('test done');
    ingest = undefined;
    await vm?.stop();
    vm = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps ingesting, buffers up to its bound, counts the drops and writes the rest when the database returns', async () => {
    const port = await freePort();
    const grpcPort = await freePort();
    const vmDir = join(dir, 'vm');
    vm = await startVictoriaMetrics({ dir: vmDir, port });
    const url = vm.url;
    const service = await runService(
      telemetryIngestService,
      ingestEnv(nats.get(), url, grpcPort, { WARDEN_INGEST_SERIES_BUFFER_LINES: String(BUFFER_LINES) }),
    );
    ingest = service;
    let sent = 0;
    // Load: 4 edges into shop/cart, 50 calls each every 100 ms (2,000 records/s), until stopped.
    let loading = true;
    const load = (async () => {
      while (loading) {
        const now = Date.now();
        const entries = Array.from({ length: 200 }, (_, i) => httpEntry(`web/sa/caller-${i % 4}`, 200, now));
        await sendAls(grpcPort, [
          {
            identifier: { node: istioNode('shop', 'cart'), log_name: 'w' },
            http_logs: { log_entry: entries },
          },
        ]);
        sent += entries.length;
        await sleep(100);
      }
    })();
    const total = async (): Promise<number | undefined> => {
      await forceFlush(url);
      return (await promQuery(url, 'sum(warden_requests_total{destination_workload="cart"})'))[0]?.value;
    };
    await eventually(async () => ((await total()) ?? 0) > 0, 'first samples queryable', 60_000, 500);

    await vm.stop();
    const stoppedAt = Date.now();
    const sentBefore = sent;
    await sleep(OUTAGE_MS);
    const sentDuringOutage = sent;
    assert.ok(
      (await metricValue(service.httpPort, 'warden_ingest_series_write_failures_total')) > 0,
      'writes failed',
    );
    const dropped = await metricValue(service.httpPort, 'warden_ingest_series_lines_dropped_total', {
      reason: 'buffer_full',
    });
    assert.ok(
      dropped > 0,
      'a minute of lines does not fit a 2,000-line buffer: the oldest are dropped and counted',
    );
    assert.equal(await metricValue(service.httpPort, 'warden_ingest_series_buffer_lines'), BUFFER_LINES);

    vm = await startVictoriaMetrics({ dir: vmDir, port });
    const restartedAt = Date.now();
    loading = false;
    await load;
    // The counters are cumulative, so the newest sample holds every record sent.
    await eventually(async () => (await total()) === sent, `the total to reach ${sent}`, 90_000, 500);
    assert.ok(
      sentDuringOutage - sentBefore > 10_000,
      `load kept flowing during the outage (${sentDuringOutage - sentBefore} records)`,
    );
    // The buffered samples were written with their own times: the outage's last seconds have data.
    const during = await promQuery(
      url,
      `sum(count_over_time(warden_requests_total{destination_workload="cart"}[10s] @ ${Math.floor((restartedAt - 2000) / 1000)}))`,
    );
    assert.ok((during[0]?.value ?? 0) > 0, 'samples from inside the outage were written after it');
    assert.ok(restartedAt - stoppedAt >= OUTAGE_MS);
    // Access records never depended on the database: every one is on the bus.
    const stored = await eventually(
      async () => {
        const s = await storedTelemetry(nats.get());
        const n = s.access.reduce((sum, a) => sum + a.data.records.length, 0);
        return n === sent ? n : undefined;
      },
      'every access record on the bus',
      60_000,
      1000,
    );
    assert.equal(stored, sent);
    assert.equal(await metricValue(service.httpPort, 'warden_ingest_records_dropped_total'), 0);
  });
});
