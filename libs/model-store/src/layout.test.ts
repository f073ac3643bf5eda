import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelMeta, ModelVersion } from './layout.ts';
import { APPROVAL_KEY, META_KEY, newestApproved, objectName, versionOf } from './layout.ts';

const meta = (version: number, over: Partial<ModelMeta> = {}): ModelMeta => ({
  name: 'behaviour',
  version,
  trainedAt: '2026-12-04T09:00:00.000Z',
  trainedFrom: '2026-12-03T09:00:00.000Z',
  trainedUntil: '2026-12-04T09:00:00.000Z',
  windowSeconds: 10,
  keys: 20,
  trainingWindows: 14_400,
  features: ['requests', 'status_5xx'],
  lookback: 12,
  epochs: 8,
  loss: 0.58,
  heldOutErrorP50: 0.4,
  heldOutErrorP99: 2.1,
  seed: 1,
  trainedBy: 'ops@host',
  ...over,
});

const info = (
  version: number,
  metadata: Record<string, string>,
  name = objectName('behaviour', version),
) => ({
  name,
  size: 1000,
  digest: 'SHA-256=abc',
  mtime: '2026-12-04T09:01:00.000Z',
  metadata,
});

const approval = JSON.stringify({
  approvedAt: '2026-12-04T09:02:00.000Z',
  approvedBy: 'ops@host',
  reason: 'reviewed',
});

describe('model versions in the object store', () => {
  it('names versions so that they sort, and reads a version and its approval back', () => {
    assert.equal(objectName('behaviour', 7), 'behaviour/v000007');
    const candidate = versionOf(info(7, { [META_KEY]: JSON.stringify(meta(7)) }));
    assert.ok(!('invalid' in candidate));
    assert.equal(candidate.status, 'candidate');
    assert.equal(candidate.trainedFrom, '2026-12-03T09:00:00.000Z');
    const approved = versionOf(info(7, { [META_KEY]: JSON.stringify(meta(7)), [APPROVAL_KEY]: approval }));
    assert.ok(!('invalid' in approved));
    assert.equal(approved.status, 'approved');
    assert.equal(approved.approval?.reason, 'reviewed');
  });

  it('refuses objects that are not versions, and a damaged approval approves nothing', () => {
    const reasons = [
      versionOf(info(1, {})),
      versionOf(info(1, { [META_KEY]: '{not json' })),
      versionOf(info(1, { [META_KEY]: JSON.stringify({ ...meta(1), windowSeconds: -1 }) })),
      versionOf(info(2, { [META_KEY]: JSON.stringify(meta(1)) })),
    ].map((v) => ('invalid' in v ? v.invalid : 'accepted'));
    assert.equal(reasons.filter((r) => r === 'accepted').length, 0, JSON.stringify(reasons));
    assert.match(reasons[3] ?? '', /names behaviour\/v000001/);
    const damaged = versionOf(
      info(1, { [META_KEY]: JSON.stringify(meta(1)), [APPROVAL_KEY]: '{"approvedAt":1}' }),
    );
    assert.ok(!('invalid' in damaged) && damaged.status === 'candidate');
  });

  it('picks the highest approved version, never a candidate', () => {
    const versions = [
      versionOf(info(1, { [META_KEY]: JSON.stringify(meta(1)), [APPROVAL_KEY]: approval })),
      versionOf(info(2, { [META_KEY]: JSON.stringify(meta(2)), [APPROVAL_KEY]: approval })),
      versionOf(info(3, { [META_KEY]: JSON.stringify(meta(3)) })),
    ].filter((v): v is ModelVersion => !('invalid' in v));
    assert.equal(newestApproved(versions)?.version, 2);
    assert.equal(newestApproved(versions, 'other'), undefined);
  });
});
