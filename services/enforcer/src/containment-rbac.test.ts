import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyRevision } from '@warden/policy-engine';
import type { AuthzRequest } from '@warden/policy-engine';
import type { ContainmentRule } from './containment.ts';
import { containmentPolicies } from './containment-rbac.ts';
import { terminatorEntries } from './containment-haproxy.ts';

const now = new Date('2026-12-04T10:00:00Z');
const quarantine: ContainmentRule = {
  id: 'q1',
  kind: 'quarantine',
  target: { workload: { namespace: 'shop', workload: 'cart' } },
  allow: [{ principal: 'spiffe://warden.local/ns/ops/sa/forensics' }, { address: '10.9.9.9' }],
  expiresAt: '2026-12-04T10:15:00Z',
  reason: 'forensics',
  cause: { eventId: 'e1', actor: 'person' },
};
const workload = (name: string, namespace = 'shop') => ({
  namespace,
  name,
  address: '10.0.0.5',
  spiffeId: `spiffe://warden.local/ns/${namespace}/sa/${name}`,
  labels: { app: name },
  serviceAccount: name,
});

/** What the containment policies alone decide (an ALLOW-all beside them, so only they can deny). */
function decide(policiesFor: ReturnType<typeof workload>, caller: string, ip = '10.0.0.1'): boolean {
  const revision = new PolicyRevision([
    ...containmentPolicies([quarantine], policiesFor, now),
    {
      apiVersion: 'security.istio.io/v1',
      name: 'all',
      namespace: policiesFor.namespace,
      action: 'ALLOW',
      rules: [{}],
    },
  ]);
  const request: AuthzRequest = {
    destination: { namespace: policiesFor.namespace, labels: policiesFor.labels },
    source: { principal: caller, ip },
    http: { method: 'GET', path: '/' },
  };
  return revision.decide(request).allowed;
}

describe('containment as data-plane policy', () => {
  it('a quarantined workload takes calls from its allow-list only', () => {
    const cart = workload('cart');
    assert.equal(decide(cart, 'warden.local/ns/ops/sa/forensics'), true);
    assert.equal(decide(cart, 'warden.local/ns/shop/sa/frontend', '10.9.9.9'), true, 'allowed address');
    assert.equal(decide(cart, 'warden.local/ns/shop/sa/frontend'), false);
  });

  it('a quarantined caller reaches only its allow-list', () => {
    assert.equal(decide(workload('payment'), 'warden.local/ns/shop/sa/cart'), false);
    assert.equal(decide(workload('forensics', 'ops'), 'warden.local/ns/shop/sa/cart'), true);
  });

  it('HAProxy in front of the quarantined workload: a lockdown with the allow-list as exceptions', () => {
    const e = terminatorEntries(
      [quarantine],
      { namespace: 'shop', name: 'cart', trustDomain: 'warden.local' },
      now,
    );
    assert.ok(e.lockdown);
    assert.deepEqual([...e.lockdownAllowIdentities.keys()], ['spiffe://warden.local/ns/ops/sa/forensics']);
    assert.deepEqual([...e.lockdownAllowAddresses.keys()], ['10.9.9.9']);
    const other = terminatorEntries(
      [quarantine],
      { namespace: 'shop', name: 'payment', trustDomain: 'warden.local' },
      now,
    );
    assert.equal(other.lockdown, undefined);
    assert.deepEqual([...other.identities.keys()], ['spiffe://warden.local/ns/shop/sa/cart']);
    const forensics = terminatorEntries(
      [quarantine],
      { namespace: 'ops', name: 'forensics', trustDomain: 'warden.local' },
      now,
    );
    assert.equal(forensics.identities.size, 0, 'the allow-list still hears from the quarantined workload');
  });

  it('an expired rule is gone everywhere', () => {
    const later = new Date('2026-12-04T10:16:00Z');
    assert.deepEqual(containmentPolicies([quarantine], workload('cart'), later), []);
    const e = terminatorEntries(
      [quarantine],
      { namespace: 'shop', name: 'cart', trustDomain: 'warden.local' },
      later,
    );
    assert.equal(e.lockdown, undefined);
  });
});
