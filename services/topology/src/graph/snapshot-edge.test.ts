import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { topologyChanged } from '@warden/events';
import { edgeId } from './fold.ts';
import { fromSnapshotEdge, toSnapshotEdge } from './snapshot-edge.ts';

describe('snapshot edges', () => {
  it('round-trip every kind of end through the wire form, valid against the schema', () => {
    const counts = {
      requests: 12,
      errors: 1,
      denies: 2,
      bytes: 3000,
      first: 1_700_000_000_123,
      last: 1_700_000_060_000,
    };
    for (const id of [
      edgeId('shop/web', 'shop/cart', 'GET', '/api/cart'),
      edgeId('@203.0.113.9:4431', 'shop/web', 'OTHER', '{overflow}'),
      edgeId('?', 'data/db', '', ''),
    ]) {
      const edge = toSnapshotEdge(id, counts);
      assert.ok(edge, id);
      assert.deepEqual(fromSnapshotEdge(edge), [id, counts]);
      const data = {
        graph: {
          bucket: '2026-11-26T10:00:00.000Z',
          bucketSeconds: 3600,
          snapshot: 's',
          part: 1,
          parts: 1,
          edges: [edge],
        },
      };
      assert.deepEqual(topologyChanged.validateData(data), { ok: true, value: data });
    }
    assert.deepEqual(toSnapshotEdge('shop/web', counts), undefined, 'not an edge id');
  });
});
