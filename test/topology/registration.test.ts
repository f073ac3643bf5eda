import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bus, topologyDeregister, topologyHeartbeat, topologyRegister } from '@warden/events';
import { publishMalformed, tempDir, testRegistration, useNats, useRedis } from '@warden/testing';
import { ChangeLog, eventually, query, startTopologyService, topologyEnv } from './helpers.ts';

async function metric(port: number, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const match = pattern.exec(text);
  return match ? Number(match[1]) : 0;
}

describe('topology: registration source', () => {
  const nats = useNats();
  const redis = useRedis();

  it('registers, updates and deregisters workloads with the matching change events', async () => {
    const admin = await nats.get().connect('admin');
    const changes = await ChangeLog.start(admin);
    const service = await startTopologyService(topologyEnv(nats.get(), redis.get()));
    const workload = new Bus(await nats.get().connect('workload'), { source: 'cart-7' });
    try {
      await workload.publish(topologyRegister, testRegistration());
      await changes.waitFor('added workload shop/cart');
      assert.deepEqual(changes.lines().sort(), ['added namespace shop', 'added workload shop/cart']);
      const reply = await query(admin, { what: 'registry', workload: 'cart' });
      assert.equal(reply.workloads[0]?.spiffeId, 'spiffe://cluster.local/ns/shop/sa/cart');
      assert.equal(reply.workloads[0]?.source, 'registration');

      await workload.publish(topologyRegister, testRegistration({ port: 9090 }));
      await changes.waitFor('updated workload shop/cart');
      await workload.publish(topologyDeregister, { namespace: 'shop', workload: 'cart' });
      await changes.waitFor('removed workload shop/cart');
      await changes.waitFor('removed namespace shop');
      assert.equal((await query(admin, { what: 'registry' })).workloads.length, 0);
    } finally {
      await service.stop('test');
      await changes.stop();
    }
  });

  it('expires a workload whose heartbeats stop, after the configured number of missed intervals', async () => {
    const admin = await nats.get().connect('admin');
    const changes = await ChangeLog.start(admin);
    const service = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), {
        WARDEN_TOPOLOGY_HEARTBEAT_INTERVAL_MS: '200',
        WARDEN_TOPOLOGY_HEARTBEAT_MISSED: '3',
        WARDEN_TOPOLOGY_EXPIRY_SWEEP_MS: '50',
      }),
    );
    const workload = new Bus(await nats.get().connect('workload'), { source: 'w' });
    try {
      await workload.publish(topologyRegister, testRegistration());
      await workload.publish(topologyRegister, testRegistration({ workload: 'web', address: '10.0.0.8' }));
      await changes.waitFor('added workload shop/web');
      // cart keeps beating for a second (five windows of 200 ms); web never does.
      const beating = (async () => {
        for (let i = 0; i < 10; i++) {
          await workload.publish(
            topologyHeartbeat,
            { intervalSeconds: 0.2 },
            { qualifiers: { namespace: 'shop', workload: 'cart' } },
          );
          await sleep(100);
        }
      })();
      await changes.waitFor('removed workload shop/web', 3000);
      await beating;
      assert.ok(!changes.lines().includes('removed workload shop/cart'), 'a beating workload stays');
      const startedWaiting = Date.now();
      await changes.waitFor('removed workload shop/cart', 3000);
      assert.ok(Date.now() - startedWaiting >= 300, 'expiry waits for the missed intervals');
      assert.equal(await metric(service.httpPort, /^warden_topology_expired_total\{[^}]*\} (\d+)/m), 2);
    } finally {
      await service.stop('test');
      await changes.stop();
    }
  });

  it('replays registrations after a restart', async () => {
    const workload = new Bus(await nats.get().connect('workload'), { source: 'w' });
    const env = topologyEnv(nats.get(), redis.get());
    const first = await startTopologyService(env);
    await workload.publish(topologyRegister, testRegistration());
    await workload.publish(topologyRegister, testRegistration({ workload: 'web' }));
    await workload.publish(topologyDeregister, { namespace: 'shop', workload: 'web' });
    const admin = await nats.get().connect('admin');
    await eventually(
      async () => (await query(admin, { what: 'registry' })).workloads.length === 1,
      'registration',
    );
    await first.stop('test');
    const second = await startTopologyService(env);
    try {
      const reply = await query(admin, { what: 'registry' });
      assert.deepEqual(
        reply.workloads.map((w) => w.name),
        ['cart'],
      );
    } finally {
      await second.stop('test');
    }
  });

  it('warns about malformed registrations, counts them, and keeps going', async () => {
    const admin = await nats.get().connect('admin');
    const changes = await ChangeLog.start(admin);
    const service = await startTopologyService(topologyEnv(nats.get(), redis.get()));
    const workload = new Bus(await nats.get().connect('workload'), { source: 'w' });
    try {
      await publishMalformed(admin, 'warden.topology.v1.register');
      // Passes the catalogue, but a dotted name cannot heartbeat and "a/b" is no SPIFFE segment.
      await workload.publish(
        topologyRegister,
        testRegistration({ workload: 'has.dots', serviceAccount: 'a/b' }),
      );
      await workload.publish(topologyRegister, testRegistration({ workload: 'good' }));
      await changes.waitFor('added workload shop/good');
      assert.ok(!changes.lines().some((l) => l.includes('has.dots')));
      const port = service.httpPort;
      assert.equal(
        await metric(
          port,
          /^warden_topology_rejected_inputs_total\{source="registration",reason="invalid_registration"[^}]*\} (\d+)/m,
        ),
        1,
      );
      assert.equal(
        await metric(
          port,
          /^warden_bus_invalid_messages_total\{schema="warden.topology.v1.register",direction="in",reason="not_json"[^}]*\} (\d+)/m,
        ),
        1,
      );
      assert.equal(
        await metric(
          port,
          /^warden_bus_invalid_messages_total\{schema="warden.topology.v1.register",direction="in",reason="schema"[^}]*\} (\d+)/m,
        ),
        1,
      );
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    } finally {
      await service.stop('test');
      await changes.stop();
    }
  });

  it('keeps the static file over a registration for the same workload and reports the conflict', async () => {
    const file = join(tempDir('topology-conflict'), 'static.yaml');
    writeFileSync(
      file,
      'workloads:\n  - { namespace: shop, name: cart, address: 10.1.1.1, port: 80, serviceAccount: cart }\n',
    );
    const admin = await nats.get().connect('admin');
    const service = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), { WARDEN_TOPOLOGY_STATIC_FILE: file }),
    );
    const workload = new Bus(await nats.get().connect('workload'), { source: 'w' });
    try {
      await workload.publish(topologyRegister, testRegistration({ address: '10.6.6.6' }));
      await eventually(
        async () =>
          (await metric(service.httpPort, /^warden_topology_active_conflicts\{[^}]*\} (\d+)/m)) === 1,
        'the conflict metric',
      );
      const reply = await query(admin, { what: 'registry', workload: 'cart' });
      assert.equal(reply.workloads[0]?.address, '10.1.1.1');
      assert.equal(reply.workloads[0]?.source, 'static');
      assert.equal(
        await metric(
          service.httpPort,
          /^warden_topology_conflicts_total\{kind="workload",winner="static",overridden="registration"[^}]*\} (\d+)/m,
        ),
        1,
      );
    } finally {
      await service.stop('test');
    }
  });
});
