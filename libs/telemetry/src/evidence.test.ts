import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SampleCollector } from './evidence.ts';
import type { SampleQuery } from './evidence.ts';
import type { AccessRecord } from './record.ts';

const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);
const query = (rule: string, direction: SampleQuery['direction'] = 'inbound'): SampleQuery => ({
  target: { namespace: 'shop', workload: 'cart' },
  direction,
  startMs: T0,
  endMs: T0 + 1000,
  rule,
  max: 3,
});

const call = (i: number, extra: Partial<AccessRecord> = {}): AccessRecord => ({
  time: new Date(T0 + 10 * i).toISOString(),
  source: { namespace: 'shop', workload: 'web', address: `10.0.0.${i % 250}` },
  destination: { namespace: 'shop', workload: 'cart', port: 8080 },
  protocol: 'http',
  method: 'GET',
  path: `/items/${i}`,
  status: 200,
  ...extra,
});

describe('SampleCollector', () => {
  it('keeps the records a 5xx storm counts, the latest first, among many ordinary ones', () => {
    const c = new SampleCollector(query('5xx-storm'));
    for (let i = 0; i < 90; i++) c.offer(call(i, i % 10 === 3 ? { status: 503 } : {}));
    assert.deepEqual(
      c.samples().map((r) => [r.status, r.path]),
      [
        [503, '/items/83'],
        [503, '/items/73'],
        [503, '/items/63'],
      ],
    );
    assert.equal(c.matched, 90);
    assert.equal(c.settled, true);
  });

  it('takes only the workload, direction and window asked for', () => {
    const c = new SampleCollector(query('deny-burst'));
    c.offer(call(1, { decision: 'deny', destination: { namespace: 'shop', workload: 'other' } }));
    c.offer(call(2, { decision: 'deny', time: new Date(T0 + 5000).toISOString() }));
    c.offer(call(3, { decision: 'deny', time: 'not a time' }));
    assert.equal(c.matched, 0);
    assert.deepEqual(c.samples(), []);
    c.offer(call(4, { decision: 'deny' }));
    c.offer(call(5));
    assert.deepEqual(
      c.samples().map((r) => r.decision ?? 'none'),
      ['deny', 'none'],
    );
    assert.equal(c.settled, false);

    const outbound = new SampleCollector(query('exfiltration', 'outbound'));
    outbound.offer(call(6));
    outbound.offer(
      call(7, { source: { namespace: 'shop', workload: 'cart' }, bytesSent: 10, bytesReceived: 9e6 }),
    );
    outbound.offer(
      call(8, { source: { namespace: 'shop', workload: 'cart' }, bytesSent: 10, bytesReceived: 100 }),
    );
    assert.deepEqual(
      outbound.samples().map((r) => r.bytesReceived),
      [9e6, 100],
    );
  });

  it('cuts the long path and identities of a sample, not of the record offered', () => {
    const c = new SampleCollector(query('5xx-storm'));
    const long = call(1, {
      status: 500,
      path: `/${'p'.repeat(5000)}`,
      source: { namespace: 'shop', workload: 'web', principal: `spiffe://cluster.local/${'x'.repeat(1500)}` },
    });
    c.offer(long);
    const [sample] = c.samples();
    assert.equal(sample?.path?.length, 256);
    assert.equal(sample?.source.principal?.length, 512);
    assert.equal(long.path?.length, 5001);
    assert.ok(Buffer.byteLength(JSON.stringify(sample)) < 1200);
  });

  it('shows a scan as one record per port reached', () => {
    const c = new SampleCollector(query('port-scan'));
    for (let i = 0; i < 30; i++)
      c.offer(
        call(i, {
          destination: { namespace: 'shop', workload: 'cart', address: '10.1.0.9', port: 8000 + (i % 2) },
        }),
      );
    assert.deepEqual(
      c.samples().map((r) => r.destination.port),
      [8001, 8000],
    );
  });
});
