import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDataLimits, DEFAULT_POLICY_LIMITS, nestsDeeperThan } from './limits.ts';

const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
};

test('depth is measured without recursion, even a million levels down', () => {
  assert.equal(nestsDeeperThan(nested(3), 3), false);
  assert.equal(nestsDeeperThan(nested(4), 3), true);
  assert.equal(nestsDeeperThan('scalar', 0), false);
  assert.equal(nestsDeeperThan(nested(1_000_000), 64), true);
});

test('data too deep or too large is refused with a reason, at the data field', () => {
  const limits = { maxDataBytes: 100, maxDepth: 4 };
  assert.deepEqual(checkDataLimits(undefined, limits), []);
  assert.deepEqual(checkDataLimits({ a: [1, 2] }, limits), []);
  const [deep] = checkDataLimits(nested(5), limits, 'p.rego');
  assert.equal(deep?.code, 'data_too_deep');
  assert.equal(deep?.path, 'data');
  assert.equal(deep?.file, 'p.rego');
  const [large] = checkDataLimits({ a: 'x'.repeat(200) }, limits);
  assert.equal(large?.code, 'data_too_large');
  assert.match(large?.message ?? '', /at most 100/);
  assert.deepEqual(checkDataLimits(nested(64), DEFAULT_POLICY_LIMITS), []);
});
