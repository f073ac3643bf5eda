import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { longestPause } from './load.ts';

describe('longestPause', () => {
  it('is the largest gap between successes from the last before the kill to the first after recovery', () => {
    assert.equal(longestPause([0, 10, 20, 1020, 1030, 1040, 5000], 15, 1025), 1000);
    // The gap that spans the kill counts from the last success before it.
    assert.equal(longestPause([0, 10, 900, 910], 100, 905), 890);
  });

  it('is null when nothing succeeded after the recovery', () => {
    assert.equal(longestPause([0, 10, 20], 15, 30), null);
  });
});
