import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  BucketName,
  Bus,
  newEnvelope,
  objectStreamName,
  ObjectStoreName,
  policyCommitted,
  policySubmit,
  provision,
  StreamName,
  subjectOf,
} from '@warden/events';
import { binary } from '@warden/infra';
import { createPolicyMetrics, PolicyLifecycle } from '@warden/policy';
import { createLogger } from '@warden/runtime';
import { Registry } from 'prom-client';
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

  it('announces a revision again when its submission is redelivered, and the stream stores it once', async () => {
    const nc = await nats.get().connect('admin');
    try {
      await provision(nc, {
        streams: [StreamName.policy, StreamName.audit],
        buckets: [BucketName.policy],
        objectStores: [ObjectStoreName.bundles],
      });
      const bus = new Bus(nc, { source: 'policy-test' });
      const lifecycle = new PolicyLifecycle({
        store: await PolicyStore.open(nc),
        bus,
        log: createLogger({ service: 'policy', instance: 'test', level: 'silent' }),
        compile: { opa: binary('opa'), timeoutMs: 30_000, limits: { maxDataBytes: 1 << 20, maxDepth: 32 } },
        metrics: createPolicyMetrics(new Registry()),
      });
      const seen: number[] = [];
      bus.subscribe(policyCommitted, (e) => void seen.push(e.data.revision));
      await nc.flush();
      const submission = newEnvelope('user', policySubmit.schema, {
        kind: 'authorization-policy' as const,
        text: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: a, namespace: shop }\nspec: {}\n',
      });
      await lifecycle.handle(submission);
      await lifecycle.handle(submission);
      await nc.flush();
      assert.deepEqual(seen, [1, 1], 'announced twice');
      const stored = await (
        await jetstreamManager(nc)
      ).streams.info(StreamName.policy, {
        subjects_filter: subjectOf(policyCommitted, {}),
      });
      assert.equal(stored.state.messages, 1, 'stored once');
    } finally {
      await nc.close();
    }
  });
});
