import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  Bus,
  createBusMetrics,
  enforceRevoke,
  identityIssued,
  identityRevoked,
  onReplay,
  provision,
  StreamName,
} from '@warden/events';
import { useNats } from '@warden/testing';
import { Registry } from 'prom-client';

const encoder = new TextEncoder();

async function waitsCounted(registry: Registry, stream: string): Promise<number> {
  const metric = await registry.getSingleMetric('warden_bus_stream_waits_total')?.get();
  return metric?.values.find((v) => v.labels['stream'] === stream)?.value ?? 0;
}

const issued = (serial: string) => ({
  serial,
  spiffeId: 'spiffe://warden.test/ns/a/sa/b',
  notBefore: new Date().toISOString(),
  notAfter: new Date(Date.now() + 3600_000).toISOString(),
  issuer: 'CN=test intermediate',
});

describe('bus: consuming a stream another service provisions, and replaying a stream', () => {
  const nats = useNats();

  it('waits for a stream that does not exist yet, counts the wait, then consumes it', async () => {
    const registry = new Registry();
    const infos: string[] = [];
    const bus = new Bus(await nats.get().connect('ca'), {
      source: 'test-ca',
      metrics: createBusMetrics(registry),
      logger: { debug() {}, info: (_o, msg) => void infos.push(msg), warn() {}, error() {} },
    });
    const received: string[] = [];
    const consumer = await bus.consume(enforceRevoke, (e) => void received.push(e.data.reason), {
      durable: 'ca-revoke',
      deliver: 'all',
    });
    let attached = false;
    void consumer.attached.then(() => (attached = true));
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(attached, false, 'no stream, so not attached');
    assert.ok((await waitsCounted(registry, StreamName.enforcement)) >= 1, 'the wait is counted');
    assert.ok(infos.includes('waiting for the stream, which another service provisions'));

    const enforcer = await nats.get().connect('enforcer');
    await provision(enforcer, { streams: [StreamName.enforcement] });
    const publisher = new Bus(enforcer, { source: 'test-enforcer' });
    await publisher.publish(enforceRevoke, { serial: '01', reason: 'stolen' });
    await consumer.attached;
    for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(received, ['stolen']);
    assert.ok(infos.includes('stream is there; consuming'));
    await consumer.stop();
  });

  it('stops promptly while still waiting for the stream', async () => {
    const bus = new Bus(await nats.get().connect('ca'), { source: 'test-ca' });
    const consumer = await bus.consume(enforceRevoke, () => undefined, { durable: 'ca-revoke' });
    const started = Date.now();
    await consumer.stop();
    await consumer.closed;
    assert.ok(Date.now() - started < 2000);
  });

  it('closes what an attach in flight opens when stop came meanwhile (server frozen mid-attach)', async () => {
    const bus = new Bus(await nats.get().connect('ca'), { source: 'test-ca' });
    const enforcer = await nats.get().connect('enforcer');
    let calls = 0;
    const consumer = await bus.consume(enforceRevoke, () => void calls++, { durable: 'ca-revoke' });
    await provision(enforcer, { streams: [StreamName.enforcement] });
    const pid = nats.get().server.child.pid;
    assert.ok(pid);
    // Frozen, the server holds the next attach attempt in flight; stop is asked meanwhile.
    process.kill(pid, 'SIGSTOP');
    let stopping: Promise<void>;
    try {
      await new Promise((r) => setTimeout(r, 600));
      stopping = consumer.stop();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const outcome = await Promise.race([
      stopping.then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('hung'), 8000)),
    ]);
    assert.equal(outcome, 'stopped', 'the consumer attached after stop kept running');
    await new Bus(enforcer, { source: 'test-enforcer' }).publish(enforceRevoke, {
      serial: '03',
      reason: 'x',
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(calls, 0);
  });

  it('replays a stream up to now, in order, into the handler of each event type, skipping invalid messages', async () => {
    const nc = await nats.get().connect('ca');
    await provision(nc, { streams: [StreamName.identity] });
    const bus = new Bus(nc, { source: 'test-ca' });
    await bus.publish(identityIssued, issued('00'));
    await bus.publish(identityIssued, issued('01'));
    await bus.js.publish(identityIssued.schema, encoder.encode('{"not":"an envelope"}'));
    await bus.publish(identityRevoked, { serials: ['01'], reason: 'key compromise' });
    await bus.publish(identityIssued, issued('02'));

    const seen: string[] = [];
    const result = await bus.replay([
      onReplay(identityIssued, (e, stored) => void seen.push(`issued ${e.data.serial} @${stored.seq}`)),
      onReplay(identityRevoked, (e) => void seen.push(`revoked ${e.data.serials.join(',')}`)),
    ]);
    assert.deepEqual(seen, ['issued 00 @1', 'issued 01 @2', 'revoked 01', 'issued 02 @5']);
    assert.equal(result.applied, 4);
    assert.equal(result.invalid, 1);
    assert.equal(result.lastSeq, 5);
    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.consumers.list(StreamName.identity).next()).length, 0, 'no consumer left behind');
  });

  it('replays an empty stream, and a stream with none of the wanted types, without waiting', async () => {
    const nc = await nats.get().connect('ca');
    await provision(nc, { streams: [StreamName.identity] });
    const bus = new Bus(nc, { source: 'test-ca' });
    assert.equal((await bus.replay([onReplay(identityRevoked, () => undefined)])).applied, 0);
    await bus.publish(identityIssued, issued('0a'));
    const result = await bus.replay([onReplay(identityRevoked, () => undefined)]);
    assert.deepEqual([result.applied, result.invalid, result.lastSeq], [0, 0, 1]);
  });

  it('ends a replay with the error its handler throws, and refuses handlers of two streams', async () => {
    const nc = await nats.get().connect('ca');
    await provision(nc, { streams: [StreamName.identity] });
    const bus = new Bus(nc, { source: 'test-ca' });
    await bus.publish(identityRevoked, { serials: ['0b'], reason: 'x' });
    await assert.rejects(
      bus.replay([
        onReplay(identityRevoked, () => {
          throw new Error('handler refused');
        }),
      ]),
      /handler refused/,
    );
    await assert.rejects(
      bus.replay([onReplay(identityRevoked, () => undefined), onReplay(enforceRevoke, () => undefined)]),
      (err: unknown) => err instanceof Error && 'code' in err && err.code === 'bad_replay',
    );
  });
});
