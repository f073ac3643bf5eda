import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  alert,
  Bus,
  MIRROR_FEED,
  ownedResources,
  PEOPLE_JS_API,
  peopleMirrors,
  policyStatus,
  policySubmit,
  provision,
  servicePrincipals,
  topologyRegister,
  WARDEN_JS_API,
} from '@warden/events';
import type { TestNats } from '@warden/testing';
import { tempDir, testAlert, testRegistration, useNats } from '@warden/testing';
import { ensureCredentials, seedFile, startNats } from '@warden/infra';
import { connectNats } from '@warden/runtime';

const protectedStreams = [
  'WARDEN_AUDIT',
  'WARDEN_IDENTITY',
  'WARDEN_ALERTS',
  'WARDEN_POLICY',
  'WARDEN_ENFORCEMENT',
];

/** Every service provisions what it owns, people's mirrors included, as at boot. */
async function provisionAll(nats: TestNats): Promise<void> {
  for (const name of servicePrincipals) await provision(await nats.connect(name), ownedResources(name));
}

/** Messages per subject in every protected stream. */
async function subjectCounts(jsm: JetStreamManager): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const stream of protectedStreams) {
    const info = await jsm.streams.info(stream, { subjects_filter: '>' });
    for (const [subject, n] of Object.entries(info.state.subjects ?? {}))
      counts.set(`${stream} ${subject}`, n);
  }
  return counts;
}

async function publishAlert(nats: TestNats, id: string): Promise<void> {
  await new Bus(await nats.connect('detector'), { source: 'detector' }).publish(
    alert,
    testAlert({ alertId: id }),
    {
      qualifiers: { severity: 'warning', namespace: 'shop', workload: 'cart' },
    },
  );
}

/** Waits until people's copy of `stream` holds `count` messages. */
async function mirrored(people: JetStreamManager, stream: string, count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await people.streams.info(stream)).state.messages >= count) return;
    await sleep(50);
  }
  throw new Error(`${stream}: people's mirror never reached ${count} messages`);
}

/** A push consumer on people's alert mirror, delivering every alert to `deliver`. */
async function pushConsumer(user: NatsConnection, deliver: string, name: string): Promise<void> {
  const jsm = await jetstreamManager(user);
  await jsm.consumers.add('WARDEN_ALERTS', {
    name,
    deliver_subject: deliver,
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.None,
  });
}

describe('account isolation: people and workloads reach WARDEN only through its exports', () => {
  const nats = useNats();

  it('gives people read-only copies of alerts, audit, the policy bucket and bundles, and nothing they can write to', () => {
    assert.deepEqual(
      [...peopleMirrors],
      ['KV_warden-policy', 'OBJ_warden-bundles', 'WARDEN_ALERTS', 'WARDEN_AUDIT'],
    );
  });

  it('copies alerts and policy state into people’s account, where `user` reads them', async () => {
    await provisionAll(nats.get());
    await publishAlert(nats.get(), 'a1');
    const policyKv = await new Kvm(await nats.get().connect('policy')).open('warden-policy');
    await policyKv.put('revision.active', '3');

    const user = await nats.get().connect('user');
    const people = await jetstreamManager(user);
    await mirrored(people, 'WARDEN_ALERTS', 1);
    const stored = await people.streams.getMessage('WARDEN_ALERTS', { seq: 1 });
    assert.match(stored?.subject ?? '', /^warden\.alert\.v1\.warning\.shop\.cart$/);

    const kv = await new Kvm(user).open('warden-policy');
    let entry = await kv.get('revision.active');
    for (let i = 0; i < 100 && entry?.string() !== '3'; i++) {
      await sleep(50);
      entry = await kv.get('revision.active');
    }
    assert.equal(entry?.string(), '3');
    await assert.rejects(kv.put('revision.active', '4'));
  });

  it('lets a push consumer people create reach no WARDEN subject, whatever its deliver subject', async () => {
    await provisionAll(nats.get());
    const admin = await jetstreamManager(await nats.get().connect('admin'));
    // The policy service's inbox: it must never see a message it did not ask for.
    const policy = await nats.get().connect('policy');
    const inbox: string[] = [];
    policy.subscribe('_INBOX_policy.>', { callback: (_err, msg) => void inbox.push(msg.subject) });
    await policy.flush();

    await publishAlert(nats.get(), 'a1');
    const user = await nats.get().connect('user');
    const people = await jetstreamManager(user);
    await mirrored(people, 'WARDEN_ALERTS', 1);
    const before = await subjectCounts(admin);

    const targets = [
      'warden.audit.v1.record.user.x',
      'warden.identity.v1.revoked.spiffe',
      'warden.alert.v1.critical.shop.cart',
      'warden.policy.v1.committed',
      'warden.policy.v1.submit',
      'warden.enforce.v1.deny.shop.cart',
      '_INBOX_policy.stolen',
      `${PEOPLE_JS_API}.STREAM.DELETE.WARDEN_ALERTS`,
      // People's own JetStream API and their mirror's feed, as the server itself would call them.
      '$JS.API.STREAM.DELETE.WARDEN_AUDIT',
      '$JS.API.STREAM.PURGE.WARDEN_ALERTS',
      `${WARDEN_JS_API}.CONSUMER.RESET.WARDEN_ALERTS.${MIRROR_FEED}`,
      `${WARDEN_JS_API}.CONSUMER.CREATE.WARDEN_POLICY`,
    ];
    for (const [i, target] of targets.entries()) await pushConsumer(user, target, `inject-${i}`);
    // The amplifying pair of the issue: alerts into audit, audit into alerts.
    await people.consumers.add('WARDEN_AUDIT', {
      name: 'amplify',
      deliver_subject: 'warden.alert.v1.critical.shop.cart',
      ack_policy: AckPolicy.Explicit,
    });
    await publishAlert(nats.get(), 'a2');
    await mirrored(people, 'WARDEN_ALERTS', 2);
    await sleep(500);

    // The only new message in WARDEN is the detector's second alert: not even the subjects
    // `user` may publish to got anything from the consumers.
    const after = await subjectCounts(admin);
    const grown = [...after].filter(([key, n]) => n !== (before.get(key) ?? 0)).map(([key]) => key);
    assert.deepEqual(grown, ['WARDEN_ALERTS warden.alert.v1.warning.shop.cart']);
    assert.equal(after.get('WARDEN_ALERTS warden.alert.v1.warning.shop.cart'), 2);
    assert.deepEqual(inbox, []);
    // People's copies are intact.
    assert.equal((await people.streams.info('WARDEN_ALERTS')).state.messages, 2);
    assert.ok(await people.streams.info('WARDEN_AUDIT'));
  });

  it('refuses people creating a stream, and any use of WARDEN streams that are not copied to them', async () => {
    await provisionAll(nats.get());
    const user = await nats.get().connect('user');
    const people = await jetstreamManager(user);
    await assert.rejects(
      people.streams.add({ name: 'FORGE', subjects: ['warden.identity.v1.revoked.>'] }),
      /permissions|authorization/i,
    );
    await assert.rejects(people.streams.info('WARDEN_POLICY'));
    await assert.rejects(people.consumers.add('WARDEN_POLICY', { name: 'c', ack_policy: AckPolicy.None }));
    await assert.rejects(people.streams.purge('WARDEN_ALERTS'));
    await assert.rejects(people.streams.delete('WARDEN_AUDIT'));
    // The history account is bounded: consumers per stream, streams, bytes, and no copy without a size limit.
    const { limits } = await people.getAccountInfo();
    assert.equal(limits.max_consumers, 64);
    assert.equal(limits.max_streams, 8);
    assert.equal(limits.max_storage, 4 * 1024 ** 3);
    assert.equal(limits.max_bytes_required, true);
  });

  it('answers people’s requests across the boundary, and tells them when a subject is not theirs', async () => {
    await provisionAll(nats.get());
    const policy = new Bus(await nats.get().connect('policy'), { source: 'policy' });
    const callers: (string | null)[] = [];
    policy.serve(
      policyStatus,
      (_data, _request, caller) => {
        callers.push(caller.account);
        return { revision: 7, rollout: [] };
      },
      { queue: 'policy' },
    );
    await policy.nc.flush();
    const user = new Bus(await nats.get().connect('user'), { source: 'user' });
    assert.equal((await user.request(policyStatus, {})).revision, 7);
    const console = new Bus(await nats.get().connect('console'), { source: 'console' });
    assert.equal((await console.request(policyStatus, {})).revision, 7);
    // The server, not the envelope, says where a request came from.
    assert.deepEqual(callers, ['PEOPLE', null]);
    await assert.rejects(
      user.nc.request('warden.ca.v1.sign', '{}', { timeout: 1000 }),
      /permissions|no responders/i,
    );
  });

  it('stores what people and workloads publish into WARDEN, with the acknowledgement coming back', async () => {
    await provisionAll(nats.get());
    const user = new Bus(await nats.get().connect('user'), { source: 'user' });
    const submitted = await user.publish(policySubmit, { kind: 'rego', text: 'package x\n' });
    assert.equal(submitted?.stream, 'WARDEN_POLICY');
    const workload = new Bus(await nats.get().connect('workload'), { source: 'workload' });
    const registered = await workload.publish(topologyRegister, testRegistration(), {
      qualifiers: { namespace: 'shop', workload: 'cart' },
    });
    assert.equal(registered?.stream, 'WARDEN_TOPOLOGY');
    // Neither may write the audit log, which is not imported for them.
    await assert.rejects(user.js.publish('warden.audit.v1.record.user.x', '{}', { timeout: 1000 }));
    await assert.rejects(workload.js.publish('warden.audit.v1.record.workload.x', '{}', { timeout: 1000 }));
  });

  it('keeps the events of a store written before accounts: they move to WARDEN at start', async () => {
    const dir = tempDir('nats-upgrade');
    try {
      const credentials = ensureCredentials(join(dir, 'creds'));
      const connect = async (url: string, identity: 'admin', auth: boolean) =>
        connectNats({
          url,
          principal: identity,
          instance: 'upgrade',
          seedFile: auth ? seedFile(join(dir, 'creds'), identity) : undefined,
        });
      const before = await startNats({ dir: join(dir, 'nats') });
      const old = await connect(before.url, 'admin', false);
      await provision(old, { streams: ['WARDEN_ALERTS'] });
      await jetstream(old).publish('warden.alert.v1.warning.shop.cart', '{}');
      await old.close();
      await before.stop();

      const after = await startNats({ dir: join(dir, 'nats'), credentials });
      const admin = await connect(after.url, 'admin', true);
      try {
        const info = await (await jetstreamManager(admin)).streams.info('WARDEN_ALERTS');
        assert.equal(info.state.messages, 1);
      } finally {
        await admin.close();
        await after.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
