import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quarantineRuleId } from '@warden/events';
import type { Envelope } from '@warden/events';
import type { AuthzRequest } from '@warden/policy-engine';
import {
  ContainmentError,
  peersOf,
  ruleFromDeny,
  ruleFromQuarantine,
  ruleMatches as matchesPeers,
} from './containment.ts';
import type { ContainmentRule } from './containment.ts';

/** Rules are matched against a request's peers, worked out once per request. */
const ruleMatches = (rule: ContainmentRule, request: AuthzRequest, now: Date): boolean =>
  matchesPeers(rule, peersOf(request), now);

const at = '2026-12-04T10:00:00.000Z';
const envelope = <T>(data: T): Envelope<T> => ({ id: 'e1', time: at, source: 'person', schema: 's', data });

const request = (source: string, app = 'payment', ip = '10.0.0.9'): AuthzRequest => ({
  source: { principal: `spiffe://warden.local/ns/shop/sa/${source}`, ip: '10.0.0.1' },
  destination: {
    namespace: 'shop',
    labels: { app },
    ip,
    principal: `spiffe://warden.local/ns/shop/sa/${app}`,
  },
  http: { method: 'GET', path: '/' },
});

const before = new Date('2026-12-04T10:05:00Z');
const after = new Date('2026-12-04T10:15:01Z');

describe('containment rules', () => {
  it('denies one edge until it expires, by workload, identity or address', () => {
    const rule = ruleFromDeny(
      envelope({
        ruleId: 'r1',
        source: { workload: { namespace: 'shop', workload: 'frontend' } },
        destination: { principal: 'spiffe://warden.local/ns/shop/sa/payment' },
        ttlSeconds: 900,
        reason: 'burst of 5xx',
        alertId: 'a7',
      }),
    );
    assert.equal(rule.expiresAt, '2026-12-04T10:15:00.000Z');
    assert.deepEqual(rule.cause, { eventId: 'e1', actor: 'person', alertId: 'a7' });
    assert.equal(ruleMatches(rule, request('frontend'), before), true);
    assert.equal(ruleMatches(rule, request('frontend'), after), false, 'expired');
    assert.equal(ruleMatches(rule, request('cart'), before), false, 'another source');
    assert.equal(ruleMatches(rule, request('frontend', 'ledger'), before), false, 'another destination');
    const byAddress = ruleFromDeny(
      envelope({ ruleId: 'r2', destination: { address: '10.0.0.9' }, ttlSeconds: 900, reason: 'x' }),
    );
    assert.equal(ruleMatches(byAddress, request('cart'), before), true);
  });

  it('quarantines a workload both ways, keyed by its target', () => {
    const target = { workload: { namespace: 'shop', workload: 'cart' } };
    const rule = ruleFromQuarantine(envelope({ target, ttlSeconds: 900, reason: 'score 0.93' }));
    assert.equal(rule.id, quarantineRuleId(target));
    assert.equal(ruleMatches(rule, request('cart'), before), true, 'as source');
    assert.equal(ruleMatches(rule, request('frontend', 'cart'), before), true, 'as destination');
    assert.equal(ruleMatches(rule, request('frontend'), before), false);
  });

  it("lets a quarantine's allow-list through, both ways, and nobody else", () => {
    const target = { workload: { namespace: 'shop', workload: 'cart' } };
    const rule = ruleFromQuarantine(
      envelope({
        target,
        ttlSeconds: 900,
        reason: 'forensics',
        allow: [{ principal: 'spiffe://warden.local/ns/shop/sa/forensics' }],
      }),
    );
    assert.equal(ruleMatches(rule, request('forensics', 'cart'), before), false, 'forensics → cart');
    assert.equal(ruleMatches(rule, request('cart', 'forensics'), before), false, 'cart → forensics');
    assert.equal(ruleMatches(rule, request('frontend', 'cart'), before), true, 'anyone else → cart');
    assert.equal(ruleMatches(rule, request('cart', 'payment'), before), true, 'cart → anyone else');
  });

  it('refuses a deny that names neither side: it would stop the whole mesh', () => {
    assert.throws(
      () => ruleFromDeny(envelope({ ruleId: 'r3', ttlSeconds: 60, reason: 'x' })),
      ContainmentError,
    );
  });
});
