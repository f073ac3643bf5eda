import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIN_ROTATION_DELAY_MS, rotationTime } from './schedule.ts';

const at = (ms: number): Date => new Date(ms);

describe('rotation time', () => {
  const policy = { ratio: 0.5, jitter: 0.01 };

  it('is half-life without jitter, measured from when the agent obtained the certificate', () => {
    // The CA backdates notBefore by 30 s: a 4 s certificate must still rotate 2 s in, not at once.
    const cert = { notBefore: at(-30_000), obtainedAt: at(0), notAfter: at(4000) };
    assert.equal(rotationTime(cert, policy, () => 0.5).getTime(), 2000);
  });

  it('moves by at most the jitter fraction of the lifetime, either way', () => {
    const cert = { notBefore: at(0), obtainedAt: at(0), notAfter: at(86_400_000) };
    const early = rotationTime(cert, policy, () => 1).getTime();
    const late = rotationTime(cert, policy, () => 0).getTime();
    assert.equal(early, 86_400_000 * 0.49);
    assert.equal(late, 86_400_000 * 0.51);
  });

  it('never schedules before a minimum delay, even for an almost expired certificate', () => {
    const cert = { notBefore: at(0), obtainedAt: at(0), notAfter: at(50) };
    assert.ok(rotationTime(cert, { ratio: 0.95, jitter: 0.2 }, () => 1).getTime() >= 0);
    const long = { notBefore: at(0), obtainedAt: at(0), notAfter: at(10_000) };
    assert.ok(rotationTime(long, { ratio: 1, jitter: 0 }).getTime() >= MIN_ROTATION_DELAY_MS);
  });
});
