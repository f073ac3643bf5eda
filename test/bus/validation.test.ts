import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import {
  Bus,
  createBusMetrics,
  InvalidPayloadError,
  InvalidSubjectError,
  PayloadTooLargeError,
  provision,
  telemetryAccess,
  topologyRegister,
} from '@warden/events';
import type { DataOf, Envelope } from '@warden/events';
import { publishMalformed, testRegistration, useNats } from '@warden/testing';

const registration = testRegistration();

async function counterValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return Number(value?.value ?? 0);
}

describe('validation on the bus', () => {
  const nats = useNats();

  it('rejects an invalid payload on publish with a clear error, counts it, and stores nothing', async () => {
    const nc = await nats.get().connect('user');
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_TOPOLOGY'] });
    const registry = new Registry();
    const bus = new Bus(nc, { source: 'test', metrics: createBusMetrics(registry) });

    const bad = { ...registration, port: 70_000, namespace: 'Not A Label' };
    await assert.rejects(bus.publish(topologyRegister, bad), (err: unknown) => {
      assert.ok(err instanceof InvalidPayloadError);
      assert.equal(err.code, 'invalid_payload');
      assert.equal(err.subject, 'warden.topology.v1.register');
      assert.ok(
        err.issues.some((i) => i.startsWith('port:')),
        err.message,
      );
      assert.ok(
        err.issues.some((i) => i.startsWith('namespace:')),
        err.message,
      );
      return true;
    });
    const info = await (await jetstreamManager(admin)).streams.info('WARDEN_TOPOLOGY');
    assert.equal(info.state.messages, 0);
    assert.equal(
      await counterValue(registry, 'warden_bus_invalid_messages_total', {
        schema: 'warden.topology.v1.register',
        direction: 'out',
      }),
      1,
    );
  });

  it('refuses a qualifier that is not one subject token', async () => {
    const nc = await nats.get().connect('admin');
    const bus = new Bus(nc, { source: 'test' });
    await assert.rejects(
      bus.publish(telemetryAccess, { records: [] }, { qualifiers: { namespace: 'a.b', workload: '*' } }),
      InvalidSubjectError,
    );
  });

  it('refuses a payload larger than the limit', async () => {
    const nc = await nats.get().connect('user');
    const bus = new Bus(nc, { source: 'test', maxPayloadBytes: 256 });
    await assert.rejects(
      bus.publish(topologyRegister, {
        ...registration,
        labels: { big: 'x'.repeat(60), more: 'y'.repeat(60), m: 'z'.repeat(60) },
      }),
      PayloadTooLargeError,
    );
  });

  it('terminates an invalid message on receipt, counts and logs it, and keeps consuming', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_TOPOLOGY'] });
    const topology = await nats.get().connect('topology');
    const registry = new Registry();
    const warnings: { obj: object; msg: string }[] = [];
    const bus = new Bus(topology, {
      source: 'test-topology',
      metrics: createBusMetrics(registry),
      logger: { debug() {}, info() {}, warn: (obj, msg) => warnings.push({ obj, msg }), error() {} },
    });
    const received: Envelope<DataOf<typeof topologyRegister>>[] = [];
    const consumer = await bus.consume(topologyRegister, (event) => void received.push(event), {
      durable: 'test-registry',
      ackWaitMs: 500,
      maxDeliver: 5,
    });

    // A raw client (bypassing the typed bus) sends garbage, a wrong schema, then a good event.
    await publishMalformed(admin, 'warden.topology.v1.register');
    const userBus = new Bus(await nats.get().connect('user'), { source: 'test-user' });
    await userBus.publish(topologyRegister, registration);

    const deadline = Date.now() + 5000;
    while (received.length < 1 && Date.now() < deadline) await sleep(20);
    assert.equal(received.length, 1);
    assert.deepEqual(received[0]?.data, registration);

    const invalid = (reason: string): Promise<number> =>
      counterValue(registry, 'warden_bus_invalid_messages_total', {
        schema: 'warden.topology.v1.register',
        direction: 'in',
        reason,
      });
    assert.equal(await invalid('not_json'), 1);
    assert.equal(await invalid('schema'), 1);
    assert.equal(warnings.length, 2);
    assert.ok(
      warnings.every((w) => (w.obj as { subject?: string }).subject === 'warden.topology.v1.register'),
    );

    // Terminated, not redelivered: wait past the ack wait and check nothing is pending or redelivered.
    await sleep(1200);
    const info = await (await jetstreamManager(admin)).consumers.info('WARDEN_TOPOLOGY', 'test-registry');
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
    assert.equal(info.delivered.stream_seq, 3);
    assert.equal(await invalid('not_json'), 1);
    await consumer.stop();
  });

  it('gives up on an event whose handler keeps failing after maxDeliver tries, and moves on', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_TOPOLOGY'] });
    const bus = new Bus(await nats.get().connect('topology'), { source: 'test-topology' });
    const calls: string[] = [];
    const consumer = await bus.consume(
      topologyRegister,
      (event) => {
        calls.push(event.data.workload);
        if (event.data.workload === 'poison') throw new Error('always fails');
      },
      { durable: 'test-poison', retryDelayMs: 10, maxDeliver: 3 },
    );
    const user = new Bus(await nats.get().connect('user'), { source: 'u' });
    await user.publish(topologyRegister, { ...registration, workload: 'poison' });
    await user.publish(topologyRegister, { ...registration, workload: 'healthy' });
    const deadline = Date.now() + 5000;
    while (!calls.includes('healthy') && Date.now() < deadline) await sleep(20);
    await sleep(500);
    assert.deepEqual(
      calls.filter((c) => c === 'poison'),
      ['poison', 'poison', 'poison'],
    );
    assert.ok(calls.includes('healthy'));
    const info = await (await jetstreamManager(admin)).consumers.info('WARDEN_TOPOLOGY', 'test-poison');
    assert.equal(info.num_ack_pending, 0);
    await consumer.stop();
  });

  it('redelivers an event whose handler failed, then acks it', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_TOPOLOGY'] });
    const bus = new Bus(await nats.get().connect('topology'), { source: 'test-topology' });
    let calls = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((r) => (resolveDone = r));
    const consumer = await bus.consume(
      topologyRegister,
      () => {
        calls++;
        if (calls < 3) throw new Error('transient');
        resolveDone();
      },
      { durable: 'test-retry', retryDelayMs: 10 },
    );
    await new Bus(await nats.get().connect('user'), { source: 'u' }).publish(topologyRegister, registration);
    await done;
    assert.equal(calls, 3);
    await consumer.stop();
  });
});
