import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { BucketName, objectStreamName, ObjectStoreName, provision } from '@warden/events';
import { PolicyStore } from '@warden/policy-store';
import { useNats } from '@warden/testing';

describe('policy revision numbers', () => {
  const nats = useNats();

  it('hands a number out again when its claimant crashed before storing the manifest', async () => {
    const nc = await nats.get().connect('admin');
    try {
      await provision(nc, { buckets: [BucketName.policy], objectStores: [ObjectStoreName.bundles] });
      const store = await PolicyStore.open(nc);
      assert.equal(await store.nextRevision(), 1);
      // Nothing was stored under 1: the claimant crashed, and the next claimant reuses it.
      assert.equal(await store.nextRevision(), 1);
      await store.putManifest({
        revision: 1,
        createdAt: new Date().toISOString(),
        submissionId: 'first',
        dryRun: false,
        entries: {},
      });
      assert.equal(await store.nextRevision(), 2);
      assert.equal(await store.nextRevision(), 2);
    } finally {
      await nc.close();
    }
  });

  it('reads stored objects without leaving a consumer behind on the object stream', async () => {
    const nc = await nats.get().connect('admin');
    try {
      await provision(nc, { buckets: [BucketName.policy], objectStores: [ObjectStoreName.bundles] });
      const writer = await PolicyStore.open(nc);
      const manifest = {
        revision: 1,
        createdAt: new Date().toISOString(),
        submissionId: 'first',
        dryRun: false,
        entries: {},
      };
      await writer.putManifest(manifest);
      // A new store each time: nothing comes from a cache.
      for (let i = 0; i < 20; i++)
        assert.deepEqual(await (await PolicyStore.open(nc)).getManifest(1), manifest);
      const info = await (await jetstreamManager(nc)).streams.info(objectStreamName(ObjectStoreName.bundles));
      assert.equal(info.state.consumer_count, 0);
    } finally {
      await nc.close();
    }
  });
});
