import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Envelope } from '@warden/events';
import type { AuthzRequest } from '@warden/policy-engine';
import {
  ContainmentError,
  quarantineId,
  ruleFromDeny,
  ruleFromQuarantine,
  ruleMatches,
} from './containment.ts';

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
    assert.equal(rule.id, quarantineId(target));
    assert.equal(ruleMatches(rule, request('cart'), before), true, 'as source');
    assert.equal(ruleMatches(rule, request('frontend', 'cart'), before), true, 'as destination');
    assert.equal(ruleMatches(rule, request('frontend'), before), false);
  });

  it('refuses a deny that names neither side: it would stop the whole mesh', () => {
    assert.throws(
      () => ruleFromDeny(envelope({ ruleId: 'r3', ttlSeconds: 60, reason: 'x' })),
      ContainmentError,
    );
  });
});
