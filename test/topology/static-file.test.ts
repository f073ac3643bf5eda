import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StaticFileError } from '@warden/topology';
import { tempDir, useNats, useRedis } from '@warden/testing';
import { ChangeLog, eventually, query, startTopologyService, topologyEnv } from './helpers.ts';

const workload = (name: string, address: string, port = 8080) =>
  `  - { namespace: shop, name: ${name}, address: ${address}, port: ${port}, protocol: http, serviceAccount: ${name} }`;

describe('topology: static file source', () => {
  const nats = useNats();
  const redis = useRedis();
  let dir = '';
  before(() => {
    dir = tempDir('topology-static');
  });
  after(() => undefined);

  it('adds, changes and removes workloads as the file changes, and emits the matching events', async () => {
    const file = join(dir, 'adds.yaml');
    writeFileSync(file, ['workloads:', workload('cart', '10.0.0.1'), workload('web', '10.0.0.2')].join('\n'));
    const admin = await nats.get().connect('admin');
    const changes = await ChangeLog.start(admin);
    const service = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), {
        WARDEN_TOPOLOGY_STATIC_FILE: file,
        WARDEN_TOPOLOGY_STATIC_POLL_MS: '50',
        WARDEN_TRUST_DOMAIN: 'example.org',
      }),
    );
    try {
      await changes.waitFor('added workload shop/web');
      assert.deepEqual(changes.lines().sort(), [
        'added namespace shop',
        'added workload shop/cart',
        'added workload shop/web',
      ]);
      assert.equal(changes.events.length, 1, 'the initial load is one event');

      const reply = await query(admin, { what: 'registry', namespace: 'shop' });
      assert.deepEqual(
        reply.workloads.map((w) => [w.name, w.spiffeId, w.source]),
        [
          ['cart', 'spiffe://example.org/ns/shop/sa/cart', 'static'],
          ['web', 'spiffe://example.org/ns/shop/sa/web', 'static'],
        ],
      );

      changes.clear();
      writeFileSync(
        file,
        ['workloads:', workload('cart', '10.0.0.1', 9090), workload('db', '10.0.0.3')].join('\n'),
      );
      await changes.waitFor('added workload shop/db');
      await eventually(() => changes.lines().length >= 4, 'the whole reload');
      assert.deepEqual(changes.lines().sort(), [
        'added workload shop/db',
        'removed workload shop/web',
        'updated namespace shop',
        'updated workload shop/cart',
      ]);

      // A broken file is rejected and the last good view stays.
      changes.clear();
      writeFileSync(file, 'workloads:\n  - { namespace: shop, name: cart, port: 99999 }\n');
      await eventually(async () => {
        const metrics = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
        return /warden_topology_rejected_inputs_total\{source="static",reason="invalid_static_file"[^}]*\} 1/.test(
          metrics,
        );
      }, 'the rejection metric');
      const kept = await query(admin, { what: 'registry', workload: 'cart' });
      assert.equal(kept.workloads[0]?.port, 9090);
      assert.equal(changes.lines().length, 0);
    } finally {
      await service.stop('test');
      await changes.stop();
    }
  });

  it('refuses to start on an invalid file, with every position', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'workloads:\n  - namespace: shop\n    name: cart\n    port: http\n');
    await assert.rejects(
      startTopologyService(topologyEnv(nats.get(), redis.get(), { WARDEN_TOPOLOGY_STATIC_FILE: file })),
      (err: unknown) => {
        assert.ok(err instanceof StaticFileError, String(err));
        assert.ok(err.issues.some((i) => i.path === 'workloads.0.port' && i.line === 4));
        assert.ok(err.issues.some((i) => i.path === 'workloads.0.address' && i.line === 2));
        assert.match(err.message, /bad\.yaml:4:11/);
        return true;
      },
    );
  });

  it('loads a 10,000-workload file and pages through it', async () => {
    const file = join(dir, 'large.yaml');
    const lines = ['workloads:'];
    for (let i = 0; i < 10_000; i++) {
      const ns = `ns-${i % 50}`;
      lines.push(
        `  - { namespace: ${ns}, name: w-${i}, address: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}, port: 8080, protocol: http, serviceAccount: sa-${i % 7}, labels: { app: w-${i}, tier: t${i % 3} } }`,
      );
    }
    writeFileSync(file, lines.join('\n'));
    const admin = await nats.get().connect('admin');
    const changes = await ChangeLog.start(admin);
    const started = Date.now();
    const service = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), { WARDEN_TOPOLOGY_STATIC_FILE: file }),
    );
    try {
      const loadMs = Date.now() - started;
      assert.ok(loadMs < 30_000, `loaded in ${loadMs} ms`);
      await eventually(
        () => changes.lines().filter((l) => l.startsWith('added workload')).length === 10_000,
        'all change events',
        15_000,
      );
      assert.ok(
        changes.events.every((e) => e.length <= 500),
        'change events are split under the payload limit',
      );

      let after: string | undefined;
      let workloads = 0;
      let pages = 0;
      do {
        const page = await query(admin, { what: 'registry', limit: 2000, ...(after ? { after } : {}) });
        workloads += page.workloads.length;
        after = page.next;
        pages++;
      } while (after && pages < 100);
      assert.equal(workloads, 10_000);
      const one = await query(admin, { what: 'registry', namespace: 'ns-3', workload: 'w-53' });
      assert.equal(one.workloads.length, 1);
      assert.equal(one.workloads[0]?.spiffeId, 'spiffe://cluster.local/ns/ns-3/sa/sa-4');
    } finally {
      await service.stop('test');
      await changes.stop();
    }
  });
});
