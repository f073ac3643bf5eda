import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertPayloadError, AlertTracker, alertIdOf, parseNotification } from './alertmanager.ts';

const NOW = Date.parse('2026-01-01T00:10:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const storm = (endsAt: number) => ({
  labels: {
    alertname: 'EdgeServerErrors',
    severity: 'critical',
    source_namespace: 'web',
    source_workload: 'frontend',
    destination_namespace: 'shop',
    destination_workload: 'cart',
  },
  annotations: { summary: '5xx storm web/frontend → shop/cart' },
  startsAt: iso(NOW - 60_000),
  endsAt: iso(endsAt),
});

describe('parseNotification', () => {
  it('refuses what is not an Alertmanager v2 array, naming the problem', () => {
    for (const bad of [
      {},
      [1],
      [{ labels: {}, startsAt: iso(NOW) }],
      [{ labels: { a: 1 }, startsAt: iso(NOW) }],
      [{ labels: { a: 'b' }, startsAt: 'yesterday' }],
      [{ labels: { a: 'b' }, startsAt: iso(NOW), endsAt: 7 }],
    ])
      assert.throws(
        () => parseNotification(bad),
        (err: unknown) => err instanceof AlertPayloadError && err.code === 'invalid_alerts',
      );
  });
});

describe('AlertTracker', () => {
  it('announces a firing alert once, resolves it once, and keeps repeats quiet', () => {
    const tracker = new AlertTracker();
    const [first, ...rest] = tracker.receive(parseNotification([storm(NOW + 40_000)]), NOW);
    assert.equal(rest.length, 0);
    assert.equal(first?.status, 'firing');
    assert.equal(first?.severity, 'critical');
    assert.equal(first?.rule, 'EdgeServerErrors');
    assert.deepEqual(first?.target, { namespace: 'shop', workload: 'cart' });
    assert.equal(first?.alertId, alertIdOf(storm(0)));
    assert.deepEqual(
      tracker.receive([storm(NOW + 41_000)], NOW + 1000),
      [],
      'a re-sent firing alert is not news',
    );
    const resolved = tracker.receive([storm(NOW + 1500)], NOW + 2000);
    assert.equal(resolved.length, 1);
    assert.equal(resolved[0]?.status, 'resolved');
    assert.equal(resolved[0]?.alertId, first?.alertId);
    assert.deepEqual(
      tracker.receive([storm(NOW + 1500)], NOW + 3000),
      [],
      'resolved notifications repeat for 15 minutes',
    );
    assert.deepEqual(
      tracker.receive([storm(NOW + 90_000)], NOW + 3000),
      [],
      'a stale firing repeat after resolution',
    );
  });

  it('resolves an alert whose endsAt passes without a refresh', () => {
    const tracker = new AlertTracker();
    tracker.receive([storm(NOW + 4000)], NOW);
    assert.deepEqual(tracker.expire(NOW + 3999), []);
    const expired = tracker.expire(NOW + 4001);
    assert.equal(expired[0]?.status, 'resolved');
    assert.equal(tracker.firingCount, 0);
  });

  it('keeps an unknown severity as warning, cuts long label values, and names nobody as unknown', () => {
    const tracker = new AlertTracker();
    const [change] = tracker.receive(
      [
        {
          labels: { alertname: 'X', severity: 'page', note: 'n'.repeat(100) },
          annotations: {},
          startsAt: iso(NOW),
        },
      ],
      NOW,
    );
    assert.equal(change?.severity, 'warning');
    assert.equal(change?.labels['note']?.length, 63);
    assert.deepEqual(change?.target, { namespace: 'unknown', workload: 'unknown' });
  });
});
