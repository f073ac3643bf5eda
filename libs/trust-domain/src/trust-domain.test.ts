import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Issuer } from '@warden/pki';
import type { IntermediateGeneration, RootGeneration, TrustDomainMaterial } from './material.ts';
import { TrustDomain } from './trust-domain.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const FAR = new Date(T0 + 1000 * HOUR);
// The view never signs: an issuer is only carried along.
const issuer = {} as Issuer;

const root = (id: number): RootGeneration => ({ id, issuer, pem: `root ${id}\n`, notAfter: FAR });
const intermediate = (
  id: number,
  rootId: number,
  activateAt: number,
  notAfter = FAR,
): IntermediateGeneration => ({
  id,
  root: rootId,
  activateAt: new Date(activateAt),
  issuer,
  pem: `intermediate ${id}\n`,
  notAfter,
});
const material = (
  roots: RootGeneration[],
  intermediates: IntermediateGeneration[],
  bundleSequence = roots.length,
): TrustDomainMaterial => ({
  trustDomain: 'cluster.local',
  algorithm: 'ecdsa-p256',
  bundleSequence,
  roots,
  intermediates,
  created: false,
});

describe('TrustDomain: generations over time', () => {
  // A root rotation at T0+10h, activating at T0+11h; leaves live at most 24 h.
  const view = new TrustDomain(
    material([root(1), root(2)], [intermediate(1, 1, T0), intermediate(2, 2, T0 + 11 * HOUR)]),
    24 * 3600,
  );

  it('issues from the old intermediate until the new one activates', () => {
    assert.equal(view.active(T0 + 10 * HOUR).id, 1);
    assert.equal(view.active(T0 + 11 * HOUR).id, 2);
  });

  it('trusts both roots from the rotation until the old leaves have expired, then only the new', () => {
    assert.deepEqual(view.bundle(T0 + 10 * HOUR), {
      trustDomain: 'cluster.local',
      sequence: 2,
      rootsPem: ['root 1\n', 'root 2\n'],
    });
    assert.deepEqual(
      view.bundleRoots(T0 + 35 * HOUR - 1).map((r) => r.id),
      [1, 2],
    );
    const after = view.bundle(T0 + 35 * HOUR);
    assert.deepEqual(after.rootsPem, ['root 2\n']);
    assert.equal(after.sequence, 3, 'dropping a root is a new bundle');
  });

  it('keeps a retired intermediate live (its CRL published) only while its leaves may be valid', () => {
    assert.deepEqual(
      view.liveIntermediates(T0 + 12 * HOUR).map((i) => i.id),
      [1, 2],
    );
    assert.deepEqual(
      view.liveIntermediates(T0 + 36 * HOUR).map((i) => i.id),
      [2],
    );
  });

  it('withdraws a retired intermediate once its leaves have expired, for its root to list', () => {
    const sameRoot = new TrustDomain(
      material([root(1)], [intermediate(1, 1, T0), intermediate(2, 1, T0 + 10 * HOUR)]),
      24 * 3600,
    );
    assert.deepEqual(sameRoot.withdrawnIntermediates(T0 + 34 * HOUR - 1), []);
    const [withdrawn, ...more] = sameRoot.withdrawnIntermediates(T0 + 34 * HOUR);
    assert.equal(more.length, 0);
    assert.equal(withdrawn?.intermediate.id, 1);
    assert.equal(withdrawn?.since.getTime(), T0 + 34 * HOUR);
    assert.deepEqual(sameRoot.bundle(T0 + 34 * HOUR).rootsPem, ['root 1\n'], 'the root stays');
  });

  it('drops an expired intermediate and its root even before a successor', () => {
    const lone = new TrustDomain(material([root(1)], [intermediate(1, 1, T0, new Date(T0 + HOUR))]), 3600);
    assert.deepEqual(lone.bundle(T0 + 2 * HOUR).rootsPem, []);
  });

  it('refuses a manifest of another trust domain on reload', () => {
    const other = { ...material([root(1)], [intermediate(1, 1, T0)]), trustDomain: 'other.example' };
    assert.throws(
      () => new TrustDomain(material([root(1)], [intermediate(1, 1, T0)]), 60).replace(other),
      /other\.example/,
    );
  });
});
