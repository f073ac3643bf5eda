import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Bus,
  EventsError,
  InvalidPayloadError,
  policyStatus,
  RemoteError,
  RequestTimeoutError,
  topologyQuery,
} from '@warden/events';
import { useNats } from '@warden/testing';

describe('typed request/reply', () => {
  const nats = useNats();

  it('round-trips a validated request and reply between two services with their own credentials', async () => {
    const policy = new Bus(await nats.get().connect('policy'), { source: 'policy-1' });
    const console_ = new Bus(await nats.get().connect('console'), { source: 'console-1' });
    policy.serve(policyStatus, () => ({ revision: 7, rollout: [] }), { queue: 'policy' });
    await policy.nc.flush();
    const reply = await console_.request(policyStatus, {});
    assert.deepEqual(reply, { revision: 7, rollout: [] });
  });

  it('returns the responder error code, and invalid_payload for a malformed request', async () => {
    const policy = new Bus(await nats.get().connect('policy'), { source: 'policy-1' });
    policy.serve(
      policyStatus,
      () => {
        throw new EventsError('not_ready', 'no revision yet');
      },
      { queue: 'policy' },
    );
    await policy.nc.flush();
    const client = new Bus(await nats.get().connect('console'), { source: 'console-1' });
    await assert.rejects(client.request(policyStatus, {}), (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteCode, 'not_ready');
      return true;
    });

    // A raw client sends a request that is not even JSON: the responder answers, it does not crash.
    const raw = await client.nc.request('warden.policy.v1.status', 'garbage', { timeout: 2000 });
    const answer = JSON.parse(new TextDecoder().decode(raw.data)) as { ok: boolean; error: { code: string } };
    assert.equal(answer.ok, false);
    assert.equal(answer.error.code, 'invalid_payload');
  });

  it('refuses a reply that fails its schema', async () => {
    const policy = new Bus(await nats.get().connect('policy'), { source: 'policy-1' });
    // The responder's own check catches the bad reply and answers with an internal error instead.
    policy.serve(policyStatus, () => ({ revision: -1, rollout: [] }), { queue: 'policy' });
    await policy.nc.flush();
    const client = new Bus(await nats.get().connect('console'), { source: 'console-1' });
    await assert.rejects(
      client.request(policyStatus, {}),
      (err: unknown) => err instanceof RemoteError && err.remoteCode === 'internal',
    );

    // A raw responder that skips validation: the requester rejects the reply itself.
    const admin = await nats.get().connect('admin');
    admin.subscribe('warden.topology.v1.query', {
      callback: (_err, msg) => {
        msg.respond(JSON.stringify({ ok: true, data: { items: 'not a list' } }));
      },
    });
    await admin.flush();
    await assert.rejects(client.request(topologyQuery, { what: 'registry' }), InvalidPayloadError);
  });

  it('says so when nobody serves the subject, and times out when a responder stays silent', async () => {
    const client = new Bus(await nats.get().connect('console'), { source: 'console-1' });
    await assert.rejects(client.request(policyStatus, {}, { timeoutMs: 2000 }), (err: unknown) => {
      assert.ok(err instanceof EventsError);
      assert.equal(err.code, 'no_responders');
      return true;
    });
    const silent = await nats.get().connect('admin');
    silent.subscribe('warden.policy.v1.status');
    await silent.flush();
    await assert.rejects(client.request(policyStatus, {}, { timeoutMs: 200 }), RequestTimeoutError);
  });

  it('answers only to inbox subjects, so a requester cannot aim a reply at a stream', async () => {
    const policy = new Bus(await nats.get().connect('policy'), { source: 'policy-1' });
    policy.serve(policyStatus, () => ({ revision: 1, rollout: [] }), { queue: 'policy' });
    await policy.nc.flush();
    const admin = await nats.get().connect('admin');
    const leaked: string[] = [];
    admin.subscribe('warden.audit.>', {
      callback: (_err, msg) => {
        leaked.push(msg.subject);
      },
    });
    await admin.flush();
    const envelope = {
      id: 'x',
      time: new Date().toISOString(),
      source: 'evil',
      schema: 'warden.policy.v1.status',
      data: {},
    };
    admin.publish('warden.policy.v1.status', JSON.stringify(envelope), {
      reply: 'warden.audit.v1.record.policy.forged',
    });
    await admin.flush();
    await sleep(300);
    assert.deepEqual(leaked, []);
  });
});
