import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import {
  allStreams,
  BucketName,
  Bus,
  grants,
  ObjectStoreName,
  ownedResources,
  provision,
  servicePrincipals,
  streamSpecs,
} from '@warden/events';
import { useNats } from '@warden/testing';

describe('provisioning', () => {
  const nats = useNats();

  it('creates every stream with the catalogue retention, and is idempotent', async () => {
    const admin = await nats.get().connect('admin');
    const all = {
      streams: allStreams,
      buckets: Object.values(BucketName),
      objectStores: Object.values(ObjectStoreName),
    };
    await provision(admin, all);
    await provision(admin, all);
    const jsm = await jetstreamManager(admin);
    for (const spec of streamSpecs) {
      const info = await jsm.streams.info(spec.name);
      assert.equal(info.config.max_age, spec.maxAgeMs * 1_000_000, spec.name);
      assert.equal(info.config.storage, 'file', spec.name);
    }
    assert.equal((await jsm.streams.info('WARDEN_AUDIT')).config.deny_delete, true);
    assert.equal((await jsm.streams.info('KV_warden-policy')).config.max_msgs_per_subject, 16);
    assert.equal((await jsm.streams.info('KV_warden-containment')).config.max_msgs_per_subject, 8);
  });

  it('updates a stream whose configuration drifted', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_ALERTS'] });
    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info('WARDEN_ALERTS');
    await jsm.streams.update('WARDEN_ALERTS', { ...info.config, max_age: 3600 * 1e9 });
    await provision(admin, { streams: ['WARDEN_ALERTS'] });
    assert.equal((await jsm.streams.info('WARDEN_ALERTS')).config.max_age, 30 * 24 * 3600 * 1e9);
  });

  it('lets each service consume every stored event it subscribes to, with its own credentials', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: allStreams });
    for (const name of servicePrincipals) {
      const bus = new Bus(await nats.get().connect(name), { source: name });
      for (const def of grants[name].subscribes) {
        if (!def.stream) continue;
        const consumer = await bus.consume(def, () => undefined, {
          durable: `${name}-${def.schema.replace(/\./g, '_')}`,
        });
        await consumer.stop();
      }
    }
  });

  it('lets bucket writers write and readers read, and no one else', async () => {
    const policy = await nats.get().connect('policy');
    await provision(policy, ownedResources('policy'));
    const kv = await new Kvm(policy).open(BucketName.policy);
    await kv.put('authorization-policy.shop.allow-cart', '3');
    const store = await new Objm(policy).open(ObjectStoreName.bundles);
    await store.putBlob({ name: 'sha256-abc' }, new Uint8Array([1, 2, 3]));

    const enforcer = await nats.get().connect('enforcer');
    const seen = await new Kvm(enforcer).open(BucketName.policy);
    assert.equal((await seen.get('authorization-policy.shop.allow-cart'))?.string(), '3');
    const blob = await (await new Objm(enforcer).open(ObjectStoreName.bundles)).getBlob('sha256-abc');
    assert.deepEqual([...(blob ?? [])], [1, 2, 3]);
    await assert.rejects(seen.put('authorization-policy.shop.allow-cart', '4'));

    const detector = await nats.get().connect('detector');
    await assert.rejects(
      (async () => {
        const kvd = await new Kvm(detector).open(BucketName.policy);
        await kvd.get('authorization-policy.shop.allow-cart');
      })(),
    );
  });
});
