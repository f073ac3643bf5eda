import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BucketName, ObjectStoreName, provision } from '@warden/events';
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
});
