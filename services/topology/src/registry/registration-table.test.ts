import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Registration } from './registration-table.ts';
import { RegistrationTable } from './registration-table.ts';
import { Registry } from './registry.ts';
import { sinkFor } from './source.ts';

const reg = (overrides: Partial<Registration> = {}): Registration => ({
  namespace: 'shop',
  workload: 'cart',
  address: '10.0.0.7',
  port: 8080,
  protocol: 'http',
  serviceAccount: 'cart',
  labels: {},
  ...overrides,
});

const setup = () => {
  const registry = new Registry();
  const table = new RegistrationTable({
    sink: sinkFor(registry, 'registration'),
    trustDomain: 'cluster.local',
    defaultIntervalMs: 1000,
    missedBeats: 3,
  });
  return { registry, table };
};

describe('registration table', () => {
  it('registers with a SPIFFE ID and an implied namespace, and deregisters', () => {
    const { registry, table } = setup();
    assert.equal(table.register(reg(), 100, 0), 'applied');
    assert.equal(registry.get('workload', 'shop/cart')?.spiffeId, 'spiffe://cluster.local/ns/shop/sa/cart');
    assert.deepEqual(registry.get('namespace', 'shop')?.serviceAccounts, ['cart']);
    assert.equal(table.deregister('shop', 'cart', 200), 'applied');
    assert.equal(registry.get('workload', 'shop/cart'), undefined);
    assert.equal(registry.get('namespace', 'shop'), undefined);
    assert.equal(table.deregister('shop', 'cart', 300), 'unknown');
  });

  it('ignores events older than what it applied, whatever order the consumers deliver them in', () => {
    const { registry, table } = setup();
    table.deregister('shop', 'cart', 200);
    assert.equal(table.register(reg(), 100, 0), 'stale', 'a replayed older registration stays dead');
    assert.equal(registry.get('workload', 'shop/cart'), undefined);
    assert.equal(table.register(reg({ port: 1 }), 300, 0), 'applied');
    assert.equal(table.register(reg({ port: 2 }), 250, 0), 'stale');
    assert.equal(registry.get('workload', 'shop/cart')?.port, 1);
  });

  it('rejects what the catalogue lets through but the registry cannot use', () => {
    const { registry, table } = setup();
    const outcome = table.register(reg({ workload: 'has.dots', serviceAccount: 'a/b' }), 1, 0);
    assert.ok(typeof outcome === 'object');
    assert.equal(outcome.rejected.length, 2, outcome.rejected.join('; '));
    assert.equal(registry.size('workload'), 0);
  });

  it('expires a workload after the configured number of missed heartbeats', () => {
    const { registry, table } = setup();
    table.register(reg(), 1, 0);
    table.register(reg({ workload: 'web' }), 1, 0);
    assert.ok(table.heartbeat('shop', 'cart', 0.5, 1000));
    assert.ok(!table.heartbeat('shop', 'nobody', 1, 1000));
    // web: default 1 s interval, last beat at 0 -> expires after 3 s. cart: 0.5 s from 1000 ms.
    assert.deepEqual(table.expire(2400), []);
    assert.deepEqual(table.expire(2600), ['shop/cart']);
    assert.deepEqual(table.expire(3001), ['shop/web']);
    assert.equal(registry.size('workload'), 0);
  });

  it('refuses new registrations past its limit, but still takes updates', () => {
    const registry = new Registry();
    const table = new RegistrationTable({
      sink: sinkFor(registry, 'registration'),
      trustDomain: 'cluster.local',
      defaultIntervalMs: 1000,
      missedBeats: 3,
      maxEntries: 2,
    });
    table.register(reg({ workload: 'a' }), 1, 0);
    table.register(reg({ workload: 'b' }), 1, 0);
    assert.equal(typeof table.register(reg({ workload: 'c' }), 1, 0), 'object');
    assert.equal(table.register(reg({ workload: 'a', port: 1 }), 2, 0), 'applied');
    assert.equal(registry.size('workload'), 2);
  });
});
