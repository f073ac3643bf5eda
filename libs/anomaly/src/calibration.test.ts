import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Calibrator } from './calibration.ts';

describe('Calibrator', () => {
  it('learns a long anomaly as ordinary unless its alarming readings are capped at the reference', () => {
    const plain = new Calibrator({ floor: 1 });
    const capped = new Calibrator({ floor: 1 });
    for (let i = 0; i < 500; i++) {
      const quiet = (i % 10) / 10;
      plain.score(quiet);
      capped.score(quiet, true);
    }
    assert.equal(plain.reference(), capped.reference());
    // Thirty readings far out: more than the top 1 % of the history.
    for (let i = 0; i < 30; i++) {
      plain.score(5);
      capped.score(5, true);
    }
    assert.ok(plain.reference() >= 5);
    assert.equal(capped.reference(), 1);
    // The next anomaly of the same size still alarms only where alarms were capped.
    assert.equal(plain.score(5), 0);
    assert.ok(capped.score(5, true) > 0.9);
  });
});
