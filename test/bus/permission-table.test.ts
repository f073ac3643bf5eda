import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers } from '@nats-io/nats-core';
import type { MsgHdrs, NatsConnection } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import {
  accountOf,
  allStreams,
  BucketName,
  events,
  filterOf,
  grants,
  inboxPrefix,
  kvStreamName,
  ObjectStoreName,
  objectStreamName,
  ownedResources,
  peopleMirrors,
  Principal,
  provision,
  requests,
  servicePrincipals,
  streamOwners,
} from '@warden/events';
import type { EventDef } from '@warden/events';
import type { TestNats } from '@warden/testing';
import { useNats } from '@warden/testing';

/**
 * The permission table tested from the outside: every principal tries every operation against
 * the real nats-server with the generated configuration, and the outcome must be exactly what its
 * row in `libs/events/src/permissions.ts` grants. Expectations are written from the grants'
 * meaning, not from the generated permissions, so a generator bug shows up here.
 */

const principals = Object.values(Principal);
const concrete = (pattern: string): string => pattern.replace(/\*/g, 'probe').replace(/>$/, 'probe');
const isRefusal = (err: unknown): boolean =>
  /permissions violation|authorization violation|no responders|stream not found|not found/i.test(String(err));

async function outcome(op: () => Promise<unknown>): Promise<'allowed' | 'refused'> {
  try {
    await op();
    return 'allowed';
  } catch (err) {
    return isRefusal(err) ? 'refused' : 'allowed';
  }
}

const jsStreams = [
  ...allStreams,
  ...Object.values(BucketName).map(kvStreamName),
  ...Object.values(ObjectStoreName).map(objectStreamName),
];

/** What a principal's row says about one JetStream stream. */
function rights(principal: Principal, stream: string) {
  const grant = grants[principal];
  if (accountOf(principal) !== 'WARDEN') {
    // Outside WARDEN: people read their read-only copies, nothing else exists for them.
    const mirror = principal === Principal.user && peopleMirrors.includes(stream);
    return { info: mirror, read: mirror, own: false, purge: false };
  }
  const reads =
    grant.subscribes.some((d) => d.stream === stream) ||
    grant.readsBuckets.some((b) => kvStreamName(b) === stream) ||
    grant.readsObjects.some((o) => objectStreamName(o) === stream);
  const own =
    streamOwners[stream as keyof typeof streamOwners] === principal ||
    grant.writesBuckets.some((b) => kvStreamName(b) === stream) ||
    grant.writesObjects.some((o) => objectStreamName(o) === stream);
  const publishesInto = grant.publishes.some((d) => d.stream === stream);
  return {
    info: reads || own || publishesInto,
    read: reads,
    own,
    purge: grant.writesObjects.some((o) => objectStreamName(o) === stream),
  };
}

/** An event each principal publishes only under its own name (the audit log). */
const isOwnPrefix = (def: EventDef): boolean => def.qualifiers[0] === 'principal';

async function provisionAll(nats: TestNats): Promise<void> {
  for (const name of servicePrincipals) await provision(await nats.connect(name), ownedResources(name));
}

describe('the permission table, tested from the outside for every principal', () => {
  const nats = useNats();

  it('delivers each principal’s publishes into WARDEN exactly for the events its row lists', async () => {
    const admin = await nats.get().connect('admin');
    const seen = new Set<string>();
    admin.subscribe('>', {
      callback: (_err, msg) => {
        if (!msg.subject.startsWith('$') && !msg.subject.startsWith('_'))
          seen.add(`${msg.string()} ${msg.subject}`);
      },
    });
    await admin.flush();
    for (const principal of principals) {
      const nc = await nats.get().connect(principal);
      for (const def of Object.values(events)) {
        if (!isOwnPrefix(def)) nc.publish(concrete(filterOf(def)), principal);
        // Under its own name, and under every other principal's.
        else
          for (const named of principals)
            nc.publish(concrete(filterOf(def, { principal: named })), principal);
      }
      for (const def of Object.values(requests)) nc.publish(def.subject, principal);
      await nc.flush().catch(() => undefined);
    }
    await admin.flush();
    await sleep(200);
    for (const principal of principals) {
      const grant = grants[principal];
      for (const def of Object.values(events)) {
        for (const named of isOwnPrefix(def) ? principals : [null]) {
          const subject = concrete(named ? filterOf(def, { principal: named }) : filterOf(def));
          assert.equal(
            seen.has(`${principal} ${subject}`),
            grant.publishes.includes(def) && (named === null || named === principal),
            `${principal} publishes ${subject}`,
          );
        }
      }
      for (const def of Object.values(requests)) {
        assert.equal(
          seen.has(`${principal} ${def.subject}`),
          grant.requests.includes(def),
          `${principal} requests ${def.subject}`,
        );
      }
    }
  });

  it('delivers to each principal exactly the events it subscribes to, and no one else’s inbox or requests', async () => {
    const received = new Map<Principal, Set<string>>();
    for (const principal of principals) {
      const nc = await nats.get().connect(principal);
      const got = new Set<string>();
      received.set(principal, got);
      const take = (subject: string) =>
        nc.subscribe(subject, { callback: (_err, msg) => void got.add(msg.subject) });
      for (const def of Object.values(events)) take(concrete(filterOf(def)));
      for (const def of Object.values(requests)) take(def.subject);
      for (const other of principals) if (other !== principal) take(`${inboxPrefix(other)}.probe`);
      await nc.flush().catch(() => undefined);
    }
    const admin = await nats.get().connect('admin');
    for (const def of Object.values(events)) admin.publish(concrete(filterOf(def)), 'x');
    for (const def of Object.values(requests)) admin.publish(def.subject, 'x');
    for (const other of principals) admin.publish(`${inboxPrefix(other)}.probe`, 'x');
    await admin.flush();
    await sleep(300);
    for (const principal of principals) {
      const grant = grants[principal];
      const got = received.get(principal) ?? new Set();
      for (const def of Object.values(events)) {
        const subject = concrete(filterOf(def));
        assert.equal(got.has(subject), grant.subscribes.includes(def), `${principal} receives ${subject}`);
      }
      for (const def of Object.values(requests)) {
        assert.equal(got.has(def.subject), grant.serves.includes(def), `${principal} serves ${def.subject}`);
      }
      for (const other of principals) {
        if (other !== principal)
          assert.ok(!got.has(`${inboxPrefix(other)}.probe`), `${principal} reads ${other}'s inbox`);
      }
    }
  });

  it('answers each principal’s requests exactly for the subjects its row lists', async () => {
    const admin = await nats.get().connect('admin');
    for (const def of Object.values(requests))
      admin.subscribe(def.subject, { callback: (_err, msg) => void msg.respond('pong') });
    await admin.flush();
    for (const principal of principals) {
      const nc = await nats.get().connect(principal);
      for (const def of Object.values(requests)) {
        const answered = await nc
          .request(def.subject, '{}', { timeout: 1000 })
          .then((m) => m.string() === 'pong')
          .catch(() => false);
        assert.equal(
          answered,
          grants[principal].requests.includes(def),
          `${principal} requests ${def.subject}`,
        );
      }
    }
  });

  it('allows each JetStream operation on every stream, bucket and object store exactly as the row says', async () => {
    await provisionAll(nats.get());
    const admin = await jetstreamManager(await nats.get().connect('admin'));
    const configs = new Map<string, Awaited<ReturnType<JetStreamManager['streams']['info']>>['config']>();
    for (const stream of jsStreams) configs.set(stream, (await admin.streams.info(stream)).config);
    // Something to read in every stream.
    const adminNc = await nats.get().connect('admin');
    const adminJs = jetstream(adminNc);
    for (const stream of jsStreams) {
      const subjects = configs.get(stream)?.subjects ?? [];
      await adminJs.publish(concrete(subjects[0] ?? 'x'), '{}');
    }
    const failures: string[] = [];
    const expect = (principal: string, op: string, stream: string, got: string, want: boolean): void => {
      if ((got === 'allowed') !== want)
        failures.push(`${principal} ${op} ${stream}: ${got}, table says ${want ? 'allowed' : 'refused'}`);
    };
    for (const principal of principals) {
      const nc: NatsConnection = await nats.get().connect(principal);
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      for (const stream of jsStreams) {
        const want = rights(principal, stream);
        const config = configs.get(stream);
        if (!config) throw new Error(stream);
        const probe = `probe-${principal}`;
        expect(principal, 'stream info', stream, await outcome(() => jsm.streams.info(stream)), want.info);
        expect(
          principal,
          'stream update',
          stream,
          await outcome(() => jsm.streams.update(stream, config)),
          want.own,
        );
        expect(principal, 'stream create', stream, await outcome(() => jsm.streams.add(config)), want.own);
        expect(
          principal,
          'message get',
          stream,
          await outcome(() => jsm.streams.getMessage(stream, { seq: 1 })),
          want.read,
        );
        expect(
          principal,
          'consumer create (pull)',
          stream,
          await outcome(() => jsm.consumers.add(stream, { name: probe, ack_policy: AckPolicy.None })),
          want.read,
        );
        expect(
          principal,
          'consumer info',
          stream,
          await outcome(() => jsm.consumers.info(stream, probe)),
          want.read,
        );
        expect(
          principal,
          'consumer list',
          stream,
          await outcome(() => jsm.consumers.list(stream).next()),
          want.read,
        );
        expect(
          principal,
          'consumer delete',
          stream,
          await outcome(() => jsm.consumers.delete(stream, probe)),
          want.read,
        );
        for (const [kind, deliver] of [
          ['own inbox', `${inboxPrefix(principal)}.push`],
          ['audit subject', 'warden.audit.v1.probe.push'],
          ['another inbox', `${inboxPrefix(principal === 'policy' ? 'ca' : 'policy')}.push`],
        ] as const) {
          const name = `${probe}-push-${kind.replace(/ /g, '-')}`;
          const got = await outcome(() =>
            jsm.consumers.add(stream, { name, deliver_subject: deliver, ack_policy: AckPolicy.None }),
          );
          expect(principal, `push consumer to ${kind}`, stream, got, want.read);
          if (got === 'allowed') await jsm.consumers.delete(stream, name).catch(() => undefined);
        }
      }
      for (const bucket of Object.values(BucketName)) {
        const grant = grants[principal];
        const reads =
          grant.readsBuckets.includes(bucket) &&
          (accountOf(principal) === 'WARDEN' || peopleMirrors.includes(kvStreamName(bucket)));
        const writes = grant.writesBuckets.includes(bucket);
        const kv = await new Kvm(nc).open(bucket).catch(() => null);
        const get = kv ? await outcome(() => kv.get('probe')) : 'refused';
        expect(principal, 'kv get', bucket, get, reads);
        const put = await outcome(() => jetstream(nc).publish(`$KV.${bucket}.probe`, 'x', { timeout: 1000 }));
        expect(principal, 'kv put', bucket, put, writes);
        const purge = await outcome(() =>
          jetstream(nc).publish(`$KV.${bucket}.probe`, '', { timeout: 1000, headers: kvPurgeHeaders() }),
        );
        expect(principal, 'kv purge', bucket, purge, writes);
        const watch = kv ? await outcome(async () => (await kv.watch({ key: 'probe' })).stop()) : 'refused';
        expect(principal, 'kv watch', bucket, watch, reads);
      }
      for (const store of Object.values(ObjectStoreName)) {
        const grant = grants[principal];
        const reads =
          grant.readsObjects.includes(store) &&
          (accountOf(principal) === 'WARDEN' || peopleMirrors.includes(objectStreamName(store)));
        const writes = grant.writesObjects.includes(store);
        const os = await new Objm(nc).open(store).catch(() => null);
        expect(
          principal,
          'object list',
          store,
          os ? await outcome(() => os.list()) : 'refused',
          reads || writes,
        );
        const put = await outcome(() => jetstream(nc).publish(`$O.${store}.C.probe`, 'x', { timeout: 1000 }));
        expect(principal, 'object put', store, put, writes);
      }
      // Last: nobody may delete a stream, and only an object store's writer may purge it.
      for (const stream of jsStreams) {
        const want = rights(principal, stream);
        expect(principal, 'stream purge', stream, await outcome(() => jsm.streams.purge(stream)), want.purge);
        expect(principal, 'stream delete', stream, await outcome(() => jsm.streams.delete(stream)), false);
      }
    }
    assert.deepEqual(failures, []);
  });
});

/** The headers of a KV purge: the server sees an ordinary publish to the key's subject. */
function kvPurgeHeaders(): MsgHdrs {
  const h = headers();
  h.set('KV-Operation', 'PURGE');
  return h;
}
