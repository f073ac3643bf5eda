import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collapse } from './publisher.ts';
import type { Change } from './registry.ts';

const c = (op: Change['op']): Change => ({ op, kind: 'workload', key: 'shop/cart' });

describe('change batching', () => {
  it('collapses several changes to one key within a window into the net change', () => {
    assert.equal(collapse(c('added'), c('removed')), undefined, 'added then removed is nothing');
    assert.deepEqual(collapse(c('added'), c('updated')), c('added'));
    assert.deepEqual(collapse(c('removed'), c('added')), c('updated'));
    assert.deepEqual(collapse(c('updated'), c('removed')), c('removed'));
    assert.deepEqual(collapse(undefined, c('updated')), c('updated'));
  });
});
