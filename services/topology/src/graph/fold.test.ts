import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessRecord } from './fold.ts';
import { edgeId, fold, parseEdgeId, parseNodeId } from './fold.ts';

const HOUR = 3600_000;
const base = Date.UTC(2026, 10, 26, 10);
const rec = (minute: number, overrides: Partial<AccessRecord> = {}): AccessRecord => ({
  time: new Date(base + minute * 60_000).toISOString(),
  source: { namespace: 'shop', workload: 'web' },
  destination: { namespace: 'shop', workload: 'cart' },
  protocol: 'http',
  method: 'GET',
  path: '/api/items/1',
  status: 200,
  ...overrides,
});
const options = {
  bucketMs: HOUR,
  pathDepth: 2,
  now: base + 2 * HOUR,
  maxAgeMs: 24 * HOUR,
  maxSkewMs: 60_000,
  workloadAt: (address: string) =>
    address === '10.0.0.9'
      ? {
          namespace: 'shop',
          name: 'web',
          address,
          port: 80,
          protocol: 'http' as const,
          labels: {},
          serviceAccount: 'web',
          spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
          services: [],
        }
      : undefined,
};

describe('folding access records', () => {
  it('sums records per hour bucket and edge, with errors, denies, bytes, first and last seen', () => {
    const result = fold(
      [
        rec(5, { bytesSent: 10, bytesReceived: 5 }),
        rec(1, { status: 502 }),
        rec(30, { decision: 'deny', status: 403, path: '/api/items/2?x' }),
        rec(61),
        rec(62, { source: { address: '10.0.0.9:41000' } }),
      ],
      options,
    );
    assert.equal(result.folded, 5);
    const first = result.buckets.get(base);
    const id = edgeId('shop/web', 'shop/cart', 'GET', '/api/items');
    assert.deepEqual(first?.get(id), {
      requests: 3,
      errors: 1,
      denies: 1,
      bytes: 15,
      first: base + 60_000,
      last: base + 30 * 60_000,
    });
    assert.equal(
      result.buckets.get(base + HOUR)?.get(id)?.requests,
      2,
      'an address resolves through the registry',
    );
  });

  it('drops records with bad, future or too old times, and says why', () => {
    const result = fold([rec(0, { time: '2026-13-45T99:00:00Z' }), rec(60 * 3), rec(-60 * 30)], options);
    assert.equal(result.folded, 0);
    assert.deepEqual(Object.fromEntries(result.rejected), { bad_time: 1, future: 1, too_old: 1 });
  });

  it('round-trips edge and node ids', () => {
    const id = edgeId('shop/web', '@203.0.113.9', 'GET', '/a"b');
    assert.deepEqual(parseEdgeId(id), ['shop/web', '@203.0.113.9', 'GET', '/a"b']);
    assert.equal(parseEdgeId('nonsense'), undefined);
    assert.deepEqual(parseNodeId('@1.2.3.4'), { address: '1.2.3.4' });
    assert.deepEqual(parseNodeId('?'), {});
  });
});
