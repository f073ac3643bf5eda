import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Snapshot, Workload } from './model.ts';
import { emptySnapshot, spiffeIdOf, withImpliedNamespaces } from './model.ts';
import type { Change, Conflict } from './registry.ts';
import { Registry } from './registry.ts';

const workload = (name: string, overrides: Partial<Workload> = {}): Workload => ({
  namespace: 'shop',
  name,
  address: `10.0.0.${name.length}`,
  port: 8080,
  protocol: 'http',
  labels: { app: name },
  serviceAccount: name,
  spiffeId: spiffeIdOf('cluster.local', 'shop', name),
  services: [],
  ...overrides,
});

const snapshotOf = (...workloads: Workload[]): Snapshot => {
  const s = emptySnapshot();
  for (const w of workloads) s.workloads.set(`${w.namespace}/${w.name}`, w);
  return withImpliedNamespaces(s);
};

describe('registry merge', () => {
  it('reports added, updated and removed entities from a layer replace', () => {
    const seen: Change[][] = [];
    const registry = new Registry({ onChanges: (c) => void seen.push([...c]) });
    registry.replace('static', snapshotOf(workload('cart'), workload('web')));
    assert.deepEqual(seen[0]?.map((c) => `${c.op} ${c.kind} ${c.key}`).sort(), [
      'added namespace shop',
      'added workload shop/cart',
      'added workload shop/web',
    ]);
    registry.replace('static', snapshotOf(workload('cart', { port: 9090 })));
    assert.deepEqual(seen[1]?.map((c) => `${c.op} ${c.kind} ${c.key}`).sort(), [
      'removed workload shop/web',
      'updated namespace shop',
      'updated workload shop/cart',
    ]);
    // The same content again changes nothing and emits nothing.
    assert.deepEqual(registry.replace('static', snapshotOf(workload('cart', { port: 9090 }))), []);
    assert.equal(seen.length, 2);
  });

  it('lets kubernetes win over static and static over registration, and reports the conflict once', () => {
    const conflicts: Conflict[] = [];
    const resolved: string[] = [];
    const registry = new Registry({
      onConflict: (c) => void conflicts.push(c),
      onConflictResolved: (_kind, key) => void resolved.push(key),
    });
    registry.upsert('registration', 'workload', workload('cart', { address: '10.9.9.9' }));
    assert.equal(registry.get('workload', 'shop/cart')?.address, '10.9.9.9');

    const changes = registry.upsert('static', 'workload', workload('cart', { address: '10.1.1.1' }));
    assert.deepEqual(changes, [{ op: 'updated', kind: 'workload', key: 'shop/cart' }]);
    assert.equal(registry.ownerOf('workload', 'shop/cart'), 'static');
    assert.deepEqual(conflicts, [
      { kind: 'workload', key: 'shop/cart', winner: 'static', overridden: ['registration'] },
    ]);

    // A lower source changing under a higher one changes nothing visible.
    assert.deepEqual(
      registry.upsert('registration', 'workload', workload('cart', { address: '10.9.9.8' })),
      [],
    );
    assert.equal(conflicts.length, 1, 'the same clash is reported once');

    registry.upsert('kubernetes', 'workload', workload('cart', { address: '10.2.2.2' }));
    assert.equal(registry.get('workload', 'shop/cart')?.address, '10.2.2.2');
    assert.deepEqual(conflicts[1]?.overridden, ['static', 'registration']);
    assert.equal(registry.workloadAt('10.2.2.2')?.name, 'cart');
    assert.equal(registry.workloadAt('10.1.1.1'), undefined);

    // Removing the winner reveals the next source's view as an update, not a removal.
    assert.deepEqual(registry.remove('kubernetes', 'workload', 'shop/cart'), [
      { op: 'updated', kind: 'workload', key: 'shop/cart' },
    ]);
    assert.equal(registry.get('workload', 'shop/cart')?.address, '10.1.1.1');
    registry.remove('static', 'workload', 'shop/cart');
    assert.deepEqual(resolved, ['shop/cart']);
    assert.equal(registry.conflictCount(), 0);
    assert.deepEqual(registry.remove('registration', 'workload', 'shop/cart'), [
      { op: 'removed', kind: 'workload', key: 'shop/cart' },
    ]);
  });

  it('does not call identical descriptions from two sources a conflict', () => {
    const conflicts: Conflict[] = [];
    const registry = new Registry({ onConflict: (c) => void conflicts.push(c) });
    registry.upsert('static', 'workload', workload('cart'));
    registry.upsert('registration', 'workload', workload('cart'));
    assert.equal(conflicts.length, 0);
  });

  it('implies namespaces and their service accounts from workloads', () => {
    const snapshot = snapshotOf(workload('cart'), workload('web'), workload('db', { namespace: 'data' }));
    assert.deepEqual(snapshot.namespaces.get('shop'), {
      name: 'shop',
      labels: {},
      serviceAccounts: ['cart', 'web'],
    });
    assert.deepEqual(snapshot.namespaces.get('data')?.serviceAccounts, ['db']);
  });
});
