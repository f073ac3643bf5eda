import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  alert,
  Bus,
  ownedResources,
  policyCommitted,
  policySubmit,
  provision,
  servicePrincipals,
  subjectOf,
  topologyHeartbeat,
} from '@warden/events';
import { testAlert, useNats } from '@warden/testing';

/** Waits for the server's asynchronous permissions-violation report on this connection. */
async function nextPermissionError(nc: NatsConnection): Promise<string> {
  for await (const status of nc.status()) {
    if (status.type === 'error' && /permissions violation/i.test(String(status.error)))
      return String(status.error);
  }
  throw new Error('connection closed without a permissions error');
}

describe('per-service NATS permissions', () => {
  const nats = useNats();

  it('lets every service provision the streams and buckets it writes, with its own credentials', async () => {
    for (const name of servicePrincipals) {
      const nc = await nats.get().connect(name);
      await provision(nc, ownedResources(name));
      await nc.close();
    }
  });

  it('refuses a service that publishes to another service subject', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_POLICY', 'WARDEN_ALERTS'] });

    const detector = await nats.get().connect('detector');
    const violation = nextPermissionError(detector);
    const bus = new Bus(detector, { source: 'test-detector' });
    await assert.rejects(
      bus.publish(
        policyCommitted,
        { submissionId: 's1', revision: 1, keys: [], dryRun: false },
        { timeoutMs: 1000 },
      ),
    );
    assert.match(await violation, /Publish to "warden\.policy\.v1\.committed"/);

    // Nothing reached the stream.
    const info = await (await jetstreamManager(admin)).streams.info('WARDEN_POLICY');
    assert.equal(info.state.messages, 0);

    // Its own subject is fine.
    const ack = await bus.publish(alert, testAlert(), {
      qualifiers: { severity: 'warning', namespace: 'shop', workload: 'cart' },
    });
    assert.equal(ack?.stream, 'WARDEN_ALERTS');
  });

  it('refuses a subscription outside the service table, and reading another service inbox', async () => {
    const detector = await nats.get().connect('detector');
    const violation = nextPermissionError(detector);
    detector.subscribe('warden.ca.v1.sign');
    assert.match(await violation, /Subscription to "warden\.ca\.v1\.sign"/);

    const enforcer = await nats.get().connect('enforcer');
    const second = nextPermissionError(enforcer);
    enforcer.subscribe('_INBOX_policy.>');
    assert.match(await second, /Subscription to "_INBOX_policy\.>"/);
  });

  it('lets people publish policy but not impersonate the CA', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_IDENTITY'] });
    const user = await nats.get().connect('user');
    const violation = nextPermissionError(user);
    await assert.rejects(jetstream(user).publish('warden.identity.v1.issued', '{}', { timeout: 1000 }));
    assert.match(await violation, /Publish to "warden\.identity\.v1\.issued"/);
  });

  it('lets workloads send heartbeats on core NATS, which topology receives', async () => {
    const topology = await nats.get().connect('topology');
    const workload = await nats.get().connect('workload');
    const got = new Promise<string>((resolveGot) => {
      new Bus(topology, { source: 't' }).subscribe(topologyHeartbeat, (_event, subject) =>
        resolveGot(subject),
      );
    });
    await topology.flush();
    await new Bus(workload, { source: 'w' }).publish(
      topologyHeartbeat,
      { intervalSeconds: 5 },
      { qualifiers: { namespace: 'shop', workload: 'cart' } },
    );
    assert.equal(await got, subjectOf(topologyHeartbeat, { namespace: 'shop', workload: 'cart' }));
  });

  it('lets only the owner reconfigure a shared stream: no writer can shrink the audit log', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_AUDIT'] });
    const detector = await nats.get().connect('detector');
    const jsm = await jetstreamManager(detector);
    const info = await jsm.streams.info('WARDEN_AUDIT');
    await assert.rejects(jsm.streams.update('WARDEN_AUDIT', { ...info.config, max_msgs: 1 }));
    const enforcer = await jetstreamManager(await nats.get().connect('enforcer'));
    await enforcer.streams.update('WARDEN_AUDIT', { ...info.config, description: 'audit log' });
  });

  it("keeps other principals off a service's durable consumer: no draining, acking or deleting it", async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_POLICY'] });
    const policy = new Bus(await nats.get().connect('policy'), { source: 'policy' });
    const seen: string[] = [];
    const consumer = await policy.consume(policySubmit, (e) => void seen.push(e.data.kind), {
      durable: 'policy-submissions',
    });
    await consumer.stop();

    const user = await nats.get().connect('user');
    const jsm = await jetstreamManager(user);
    await assert.rejects(jsm.consumers.delete('WARDEN_POLICY', 'policy-submissions'));
    await assert.rejects(jsm.consumers.info('WARDEN_POLICY', 'policy-submissions'));
    await assert.rejects(
      user.request('$JS.API.CONSUMER.MSG.NEXT.WARDEN_POLICY.policy-submissions', '{"batch":1}', {
        timeout: 1000,
      }),
    );
    // The owner still has it.
    assert.equal(
      (await (await jetstreamManager(admin)).consumers.info('WARDEN_POLICY', 'policy-submissions')).name,
      'policy-submissions',
    );
  });
});
