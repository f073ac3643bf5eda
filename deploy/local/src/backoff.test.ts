import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('doubles on consecutive failures and caps', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, stableMs: 10_000 });
    assert.deepEqual(
      [0, 0, 0, 0, 0, 0].map(() => b.next(5)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('starts over after a stable run', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, stableMs: 10_000 });
    b.next(0);
    b.next(0);
    assert.equal(b.next(10_000), 100);
  });
});
