import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import { Bus, telemetryDecision } from '@warden/events';
import { freePort } from '@warden/infra';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import { eventually, promQuery, useNats, useVictoriaMetrics } from '@warden/testing';
import { telemetryIngestService } from '@warden/telemetry-ingest';
import {
  forceFlush,
  httpEntry,
  ingestEnv,
  istioNode,
  metricValue,
  sendAls,
  sendTelemetry,
  storedTelemetry,
} from './helpers.ts';

describe('telemetry-ingest: ALS, StreamTelemetry and decision records become records, features and series', () => {
  const nats = useNats();
  const vm = useVictoriaMetrics();
  let ingest: RunningService | undefined;
  let grpcPort: number;

  before(async () => {
    grpcPort = await freePort();
  });
  // Registered after the servers' hooks, so it would run after they stopped: stop the service first.
  afterEach(async () => {
    await ingest?.stop('test done');
    ingest = undefined;
  });

  it('stores what Envoy and sidecars send, windows it, and writes queryable counters', async () => {
    const service = await runService(telemetryIngestService, ingestEnv(nats.get(), vm.get().url, grpcPort));
    ingest = service;
    const now = Date.now();
    // Envoy's ALS, built from its own protos: the cart sidecar logs 20 calls from web/frontend
    // (5 of them 503) and one TCP connection; the node is named only in the first message.
    const entries = Array.from({ length: 20 }, (_, i) =>
      httpEntry('web/sa/frontend', i < 5 ? 503 : 200, now + i),
    );
    await sendAls(grpcPort, [
      {
        identifier: { node: istioNode('shop', 'cart'), log_name: 'warden' },
        http_logs: { log_entry: entries.slice(0, 10) },
      },
      { http_logs: { log_entry: entries.slice(10) } },
      {
        tcp_logs: {
          log_entry: [
            {
              common_properties: {
                start_time: { seconds: Math.floor(now / 1000), nanos: 0 },
                tls_properties: {
                  peer_certificate_properties: {
                    subject_alt_name: [{ uri: 'spiffe://cluster.local/ns/web/sa/frontend' }],
                  },
                },
              },
              connection_properties: { received_bytes: 10, sent_bytes: 20 },
            },
          ],
        },
      },
    ]);
    // Warden's StreamTelemetry: payments reports 10 calls from web/frontend (2 failed) and a
    // window of counters from web/batch; one call has no direction and is refused.
    const answer = (await sendTelemetry(grpcPort, [
      {
        reporter: { namespace: 'shop', workload: 'payments' },
        calls: [
          ...Array.from({ length: 10 }, (_, i) => ({
            start_unix_ms: now + i,
            direction: 'INBOUND',
            peer: { namespace: 'web', workload: 'frontend' },
            protocol: 'http',
            method: 'POST',
            path: '/pay',
            status: i < 2 ? 500 : 201,
            duration_ms: 12,
            bytes_received: 50,
            bytes_sent: 70,
          })),
          { start_unix_ms: now, protocol: 'http', peer: { namespace: 'web', workload: 'frontend' } },
        ],
        counters: [
          {
            window_start_unix_ms: now,
            window_ms: 1000,
            direction: 'INBOUND',
            peer: { namespace: 'web', workload: 'batch' },
            protocol: 'http',
            request_count: 100,
            client_error_count: 3,
            server_error_count: 7,
            bytes_received: 1000,
            bytes_sent: 2000,
            mean_duration_ms: 20,
          },
        ],
      },
    ])) as { accepted_calls: string; accepted_counters: string; rejected: string; first_rejection: string };
    assert.equal(Number(answer.accepted_calls), 10);
    assert.equal(Number(answer.accepted_counters), 1);
    assert.equal(Number(answer.rejected), 1);
    assert.match(answer.first_rejection, /^calls\[10\]: direction/);

    // The enforcer's decision records arrive on their own subject: a deny counts, an allow does not.
    const enforcerNc = await nats.get().connect('enforcer');
    const enforcer = new Bus(enforcerNc, { source: 'enforcer-test' });
    await eventually(
      async () => (await metricValue(service.httpPort, 'warden_bus_stream_waits_total')) >= 0,
      'ingest metrics',
    );
    await enforcer.publish(
      telemetryDecision,
      {
        records: [
          {
            time: new Date(now).toISOString(),
            source: { namespace: 'web', workload: 'frontend' },
            destination: { namespace: 'shop', workload: 'cart' },
            protocol: 'http',
            decision: 'deny',
            reason: 'deny_matched',
          },
          {
            time: new Date(now).toISOString(),
            source: { namespace: 'web', workload: 'frontend' },
            destination: { namespace: 'shop', workload: 'cart' },
            protocol: 'http',
            decision: 'allow',
            reason: 'allow_matched',
          },
        ],
      },
      { qualifiers: { namespace: 'shop', workload: 'cart' } },
    );

    // Access records: 21 for cart (one event per destination per flush), 10 for payments.
    const stored = await eventually(async () => {
      const s = await storedTelemetry(nats.get());
      const count = (w: string) =>
        s.access
          .filter((a) => a.subject === `warden.telemetry.v1.access.shop.${w}`)
          .flatMap((a) => a.data.records).length;
      return count('cart') === 21 && count('payments') === 10 ? s : undefined;
    }, 'access records on the bus');
    // Decisions stay on their subject: the access records are the data planes' alone.
    assert.equal(stored.access.flatMap((a) => a.data.records).filter((r) => r.decision).length, 0);
    const cartRecord = stored.access.flatMap((a) => a.data.records).find((r) => r.status === 503);
    assert.equal(cartRecord?.source.principal, 'spiffe://cluster.local/ns/web/sa/frontend');
    assert.equal(cartRecord?.source.workload, 'frontend');
    assert.deepEqual(
      { ns: cartRecord?.destination.namespace, w: cartRecord?.destination.workload },
      { ns: 'shop', w: 'cart' },
    );

    // Features: the 1 s and 10 s windows add up to what was sent, per workload and per edge.
    const sumOf = (
      features: {
        data: {
          windowSeconds?: number;
          scope?: string;
          peer?: { workload: string };
          features: Record<string, number>;
        };
      }[],
      seconds: number,
      scope: string,
      key: string,
      peer?: string,
    ) =>
      features
        .filter(
          (f) =>
            f.data.windowSeconds === seconds &&
            f.data.scope === scope &&
            (peer === undefined || f.data.peer?.workload === peer),
        )
        .reduce((sum, f) => sum + (f.data.features[key] ?? 0), 0);
    const withFeatures = await eventually(
      async () => {
        const s = await storedTelemetry(nats.get());
        const cart = s.features.filter((f) => f.subject === 'warden.telemetry.v1.features.shop.cart');
        return sumOf(cart, 10, 'workload', 'requests') === 21 && sumOf(cart, 10, 'workload', 'denies') === 1
          ? s
          : undefined;
      },
      '10 s features for shop/cart',
      60_000,
    );
    const cart = withFeatures.features.filter((f) => f.subject === 'warden.telemetry.v1.features.shop.cart');
    const payments = withFeatures.features.filter(
      (f) => f.subject === 'warden.telemetry.v1.features.shop.payments',
    );
    for (const seconds of [1, 10]) {
      assert.equal(sumOf(cart, seconds, 'workload', 'requests'), 21, `${seconds} s requests`);
      assert.equal(sumOf(cart, seconds, 'workload', 'status_5xx'), 5, `${seconds} s 5xx`);
      assert.equal(sumOf(cart, seconds, 'edge', 'requests', 'frontend'), 21);
      assert.equal(sumOf(payments, seconds, 'workload', 'requests'), 110);
      assert.equal(sumOf(payments, seconds, 'edge', 'status_5xx', 'batch'), 7);
      assert.equal(sumOf(payments, seconds, 'edge', 'status_5xx', 'frontend'), 2);
    }
    const frontend = withFeatures.features.filter(
      (f) => f.subject === 'warden.telemetry.v1.features.web.frontend',
    );
    assert.equal(sumOf(frontend, 10, 'workload', 'out_requests'), 31);

    // Time series: PromQL over what ingest wrote to VictoriaMetrics (a new series takes ~10 s).
    const url = vm.get().url;
    const value = async (query: string): Promise<number | undefined> => {
      await forceFlush(url);
      return (await promQuery(url, query))[0]?.value;
    };
    await eventually(
      async () => (await value('sum(warden_requests_total{destination_workload="cart"})')) === 21,
      'cart requests in PromQL',
      90_000,
      500,
    );
    assert.equal(
      await value('sum(warden_requests_total{destination_workload="cart",response_code=~"5.."})'),
      5,
    );
    assert.equal(
      await value('sum(warden_requests_total{destination_workload="payments",response_code=~"5.."})'),
      9,
    );
    assert.equal(await value('sum(warden_requests_total{destination_workload="payments"})'), 110);
    assert.equal(
      await value(
        'sum by (source_workload) (warden_requests_total{destination_workload="payments",source_workload="batch"})',
      ),
      100,
    );
    await eventually(
      async () =>
        (await value(
          'sum(warden_denied_requests_total{destination_workload="cart",reason="deny_matched"})',
        )) === 1,
      'denies in PromQL',
      60_000,
      500,
    );
    assert.equal(
      await value('sum(warden_sent_bytes_total{destination_workload="postgres"}) or vector(0)'),
      0,
    );
    assert.equal(
      await value('sum(warden_received_bytes_total{destination_workload="cart",protocol="tcp"})'),
      10,
    );

    assert.equal(await metricValue(service.httpPort, 'warden_ingest_records_dropped_total'), 0);
    assert.equal(
      await metricValue(service.httpPort, 'warden_ingest_rejected_total', { source: 'stream_telemetry' }),
      1,
    );
    await enforcerNc.close();
  });
});
