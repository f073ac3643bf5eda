import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, backoffDelay, pause } from './backoff.ts';

describe('backoff', () => {
  it('doubles from the initial delay up to the cap, jittered within the upper half', () => {
    const policy = { initialMs: 100, maxMs: 1000 };
    assert.equal(
      backoffDelay(1, policy, () => 1),
      100,
    );
    assert.equal(
      backoffDelay(1, policy, () => 0),
      50,
    );
    assert.equal(
      backoffDelay(3, policy, () => 1),
      400,
    );
    assert.equal(
      backoffDelay(10, policy, () => 1),
      1000,
    );
    assert.equal(
      backoffDelay(10, policy, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(1e9, policy, () => 1),
      1000,
      'a huge attempt count neither overflows nor exceeds the cap',
    );
  });

  it('counts failures, resets, and starts over after a stable run', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 80, stableMs: 1000, random: () => 1 });
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [10, 20, 40, 80, 80]);
    assert.equal(b.attempts, 5);
    assert.equal(b.next(1000), 10, 'a run that lasted stableMs starts from the initial delay');
    b.next();
    b.reset();
    assert.equal(b.next(), 10);
  });

  it('refuses a policy that cannot work', () => {
    assert.throws(() => new Backoff({ initialMs: 0, maxMs: 10 }), RangeError);
    assert.throws(() => new Backoff({ initialMs: 20, maxMs: 10 }), RangeError);
  });

  it('pause ends early when aborted and never rejects', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const waiting = pause(60_000, abort.signal);
    abort.abort();
    await waiting;
    assert.ok(Date.now() - started < 1000);
    await pause(1, abort.signal);
  });
});
