import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RollingWindow } from './rolling.ts';

describe('RollingWindow', () => {
  it('keeps the newest values and answers quantiles from them, as sorting them would', () => {
    fc.assert(
      fc.property(
        // `+ 0` turns -0 into 0: the window does not tell them apart, and need not.
        fc.array(
          fc.double({ noNaN: true, min: -1e6, max: 1e6 }).map((v) => v + 0),
          { minLength: 1, maxLength: 200 },
        ),
        fc.integer({ min: 1, max: 50 }),
        (values, capacity) => {
          const w = new RollingWindow(capacity);
          for (const v of values) w.push(v);
          const kept = values.slice(-capacity);
          assert.deepEqual(w.newest(capacity), kept);
          const sorted = [...kept].sort((a, b) => a - b);
          assert.equal(w.quantile(0), sorted[0]);
          assert.equal(w.quantile(1), sorted.at(-1));
          const mid =
            sorted.length % 2
              ? sorted[(sorted.length - 1) / 2]
              : ((sorted[sorted.length / 2 - 1] ?? 0) + (sorted[sorted.length / 2] ?? 0)) / 2;
          assert.ok(Math.abs(w.median() - (mid ?? 0)) <= 1e-9 * Math.max(1, Math.abs(mid ?? 0)));
        },
      ),
    );
  });

  it('has a scale of 0 only when every value is the same, even if most values repeat', () => {
    const w = new RollingWindow(100);
    for (let i = 0; i < 100; i++) w.push(5);
    assert.equal(w.scale(), 0);
    w.push(6);
    assert.ok(w.scale() > 0);
  });

  it('restarts from its newest values', () => {
    const w = new RollingWindow(10);
    for (let i = 0; i < 10; i++) w.push(i);
    w.keepNewest(3);
    assert.deepEqual(w.newest(10), [7, 8, 9]);
    assert.equal(w.median(), 8);
  });
});
