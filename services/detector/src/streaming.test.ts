import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamingRules } from '@warden/anomaly';
import { AlertTracker } from '@warden/telemetry';
import { StreamingDetector } from './streaming.ts';

const T0 = Date.parse('2026-12-04T09:00:00.000Z');
const target = { namespace: 'shop', workload: 'cart' };

const window = (second: number, features: Record<string, number>, over: object = {}) => ({
  windowStart: new Date(T0 + second * 1000).toISOString(),
  windowEnd: new Date(T0 + (second + 1) * 1000).toISOString(),
  windowSeconds: 1,
  scope: 'workload' as const,
  features,
  ...over,
});

const quiet = (i: number) => ({ requests: 50 + (i % 5), denies: i % 17 === 0 ? 1 : 0, out_requests: 10 });

function detector(): StreamingDetector {
  return new StreamingDetector({
    rules: new StreamingRules({ warmup: 10 }),
    model: () => undefined,
    quietMs: 5000,
    alertScore: 0.85,
  });
}

describe('StreamingDetector', () => {
  it('turns a run of hits into one episode that the tracker announces once and resolves once', () => {
    const d = detector();
    const tracker = new AlertTracker();
    let now = T0;
    for (let s = 0; s < 30; s++)
      assert.deepEqual(d.observe(target, window(s, quiet(s)), (now += 1000)).alerts, []);
    const changes = [];
    for (let s = 30; s < 35; s++) {
      const seen = d.observe(target, window(s, { ...quiet(s), denies: 90 }), (now += 1000));
      assert.equal(seen.hits.length, 1);
      changes.push(...tracker.receive(seen.alerts, now));
    }
    assert.deepEqual(
      changes.map((c) => [c.status, c.rule, c.labels['direction'], c.labels['detector']]),
      [['firing', 'deny-burst', 'inbound', 'streaming-rule']],
    );
    assert.match(changes[0]?.summary ?? '', /denies 90 \(at least 10\)/);
    // Quiet again: nothing until the episode's end passes, then one resolution.
    for (let s = 35; s < 38; s++)
      assert.deepEqual(d.observe(target, window(s, quiet(s)), (now += 1000)).alerts, []);
    assert.deepEqual(tracker.expire(now), []);
    const resolved = tracker.expire(now + 5000);
    assert.deepEqual(
      resolved.map((c) => [c.status, c.alertId]),
      [['resolved', changes[0]?.alertId]],
    );
    // A later burst is a new episode, with a new id.
    d.sweep(now + 5000);
    now += 10_000;
    const again = d.observe(target, window(50, { ...quiet(50), denies: 90 }), now);
    const next = tracker.receive(again.alerts, now);
    assert.equal(next[0]?.status, 'firing');
    assert.notEqual(next[0]?.alertId, changes[0]?.alertId);
  });

  it('reads what the workload called under the same names, and leaves edges to the query rules', () => {
    const d = detector();
    let now = T0;
    for (let s = 0; s < 30; s++)
      d.observe(target, window(s, { ...quiet(s), out_distinct_ports: 2 }), (now += 1000));
    const scan = d.observe(target, window(30, { ...quiet(30), out_distinct_ports: 300 }), (now += 1000));
    assert.deepEqual(
      scan.alerts.map((a) => [a.labels['alertname'], a.labels['direction']]),
      [['port-scan', 'outbound']],
    );
    const edge = d.observe(
      target,
      window(31, { denies: 500 }, { scope: 'edge', peer: { namespace: 'web', workload: 'frontend' } }),
      now + 1000,
    );
    assert.deepEqual(edge, { alerts: [], hits: [], scored: 0 });
  });
});
