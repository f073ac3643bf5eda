import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FeatureWindows, inboundView, outboundView } from './features.ts';
import type { AccessRecord } from './record.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

const call = (ms: number, over: Partial<AccessRecord> = {}): AccessRecord => ({
  time: at(ms),
  source: { namespace: 'web', workload: 'frontend', principal: 'spiffe://cluster.local/ns/web/sa/frontend' },
  destination: { namespace: 'shop', workload: 'cart', port: 8080 },
  protocol: 'http',
  path: '/a',
  status: 200,
  durationMs: 10,
  bytesReceived: 100,
  bytesSent: 1000,
  ...over,
});

describe('FeatureWindows', () => {
  it('computes 1 s and 10 s features per workload and per edge', () => {
    const windows = new FeatureWindows({ graceMs: 500 });
    for (let i = 0; i < 100; i++)
      windows.add(
        call(i * 5, {
          durationMs: i + 1,
          status: i < 10 ? 503 : i < 12 ? 401 : i < 13 ? 403 : i < 15 ? 404 : 200,
          path: `/p${i % 4}`,
        }),
      );
    windows.add(call(200, { decision: 'deny', reason: 'deny_matched' }));
    windows.add(call(300, { decision: 'allow' }));
    assert.deepEqual(windows.close(T0 + 1400), []);
    const closed = windows.close(T0 + 1500);
    assert.ok(closed.every((w) => w.windowSeconds === 1));
    const cart = closed.find((w) => w.scope === 'workload' && w.target.workload === 'cart');
    assert.ok(cart);
    assert.equal(cart.windowStart, at(0));
    assert.equal(cart.windowEnd, at(1000));
    assert.deepEqual(
      { ...cart.features },
      {
        requests: 100,
        status_4xx: 5,
        status_5xx: 10,
        auth_failures: 3,
        error_rate: 0.1,
        latency_p50_ms: 50,
        latency_p99_ms: 99,
        bytes_in: 10_000,
        bytes_out: 100_000,
        distinct_peers: 1,
        distinct_paths: 4,
        distinct_ports: 1,
        denies: 1,
        out_requests: 0,
        out_status_4xx: 0,
        out_status_5xx: 0,
        out_auth_failures: 0,
        out_bytes_in: 0,
        out_bytes_out: 0,
        out_distinct_peers: 0,
        out_distinct_ports: 0,
        out_denies: 0,
      },
    );
    const edge = closed.find((w) => w.scope === 'edge');
    assert.deepEqual(edge?.peer, { namespace: 'web', workload: 'frontend' });
    assert.equal(edge?.features['requests'], 100);
    assert.equal(edge?.features['out_requests'], undefined);
    const frontend = closed.find((w) => w.scope === 'workload' && w.target.workload === 'frontend');
    assert.equal(frontend?.features['out_requests'], 100);
    assert.equal(frontend?.features['out_bytes_in'], 100_000);
    assert.equal(frontend?.features['out_denies'], 1);
    assert.equal(frontend?.features['requests'], 0);
    assert.equal(frontend?.features['out_auth_failures'], 3);
    // The calls it made, under the names the rules read.
    const made = outboundView(frontend?.features ?? {});
    assert.equal(made['requests'], 100);
    assert.equal(made['auth_failures'], 3);
    assert.equal(made['bytes_in'], 100_000);
    assert.equal(made['denies'], 1);
    assert.equal(made['out_requests'], undefined);
    const received = inboundView(frontend?.features ?? {});
    assert.equal(received['requests'], 0);
    assert.equal(received['out_requests'], undefined);
    const ten = windows.close(T0 + 10_500);
    assert.equal(
      ten.find((w) => w.scope === 'workload' && w.target.workload === 'cart')?.features['requests'],
      100,
    );
    assert.equal(windows.openCount, 0);
  });

  it('counts a scan as distinct peers and ports on the caller', () => {
    const windows = new FeatureWindows({ windowsMs: [1000], graceMs: 0 });
    for (let port = 1; port <= 50; port++)
      windows.add(
        call(10, {
          destination: { namespace: 'db', workload: `w${port % 5}`, port },
          status: 0,
          protocol: 'tcp',
        }),
      );
    const scanner = windows
      .close(T0 + 1000)
      .find((w) => w.scope === 'workload' && w.target.workload === 'frontend');
    assert.equal(scanner?.features['out_distinct_peers'], 5);
    assert.equal(scanner?.features['out_distinct_ports'], 50);
  });

  it('refuses late records and new keys past the bound, and says so', () => {
    const windows = new FeatureWindows({ windowsMs: [1000], graceMs: 0, maxOpen: 3 });
    assert.deepEqual(windows.add(call(10)), { accepted: 1, late: 0, overflow: 0 });
    windows.close(T0 + 2000);
    assert.deepEqual(windows.add(call(500)), { accepted: 0, late: 1, overflow: 0 });
    assert.deepEqual(windows.add(call(2500)), { accepted: 1, late: 0, overflow: 0 });
    assert.deepEqual(windows.add(call(2600, { destination: { namespace: 'x', workload: 'y' } })), {
      accepted: 0,
      late: 0,
      overflow: 1,
    });
  });

  it('adds sidecar counters without latencies', () => {
    const windows = new FeatureWindows({ windowsMs: [10_000], graceMs: 0 });
    windows.addCounters({
      timeMs: T0 + 100,
      source: { namespace: 'web', workload: 'frontend' },
      destination: { namespace: 'shop', workload: 'cart' },
      requests: 40,
      status4xx: 3,
      status5xx: 4,
      bytesIn: 10,
      bytesOut: 20,
    });
    const cart = windows.drain().find((w) => w.scope === 'workload' && w.target.workload === 'cart');
    assert.equal(cart?.features['requests'], 40);
    assert.equal(cart?.features['error_rate'], 0.1);
    assert.equal(cart?.features['latency_p99_ms'], 0);
  });
});
