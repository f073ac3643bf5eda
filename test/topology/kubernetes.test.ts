import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useNats, useRedis } from '@warden/testing';
import { FakeKubeApi } from './fake-kube.ts';
import { ChangeLog, eventually, query, startTopologyService, topologyEnv } from './helpers.ts';

const paths = {
  namespaces: '/api/v1/namespaces',
  serviceaccounts: '/api/v1/serviceaccounts',
  services: '/api/v1/services',
  endpointslices: '/apis/discovery.k8s.io/v1/endpointslices',
  pods: '/api/v1/pods',
} as const;

const recorded = (name: keyof typeof paths) =>
  JSON.parse(readFileSync(join(import.meta.dirname, 'testdata', 'kubernetes', `${name}.json`), 'utf8')) as {
    kind: string;
    apiVersion: string;
    resourceVersion: string;
    items: unknown[];
  };

const pod = (name: string, ip: string | undefined, resourceVersion: string) => ({
  metadata: {
    name,
    namespace: 'shop',
    uid: `uid-${name}`,
    resourceVersion,
    labels: { app: name.split('-')[0] },
  },
  spec: {
    serviceAccountName: 'cart',
    containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }],
  },
  status: { phase: 'Running', ...(ip ? { podIP: ip } : {}) },
});

async function metric(port: number, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe('topology: kubernetes source (recorded API responses)', () => {
  const nats = useNats();
  const redis = useRedis();

  it('lists, watches, resumes from the last resource version, and relists after 410 Gone', async () => {
    const api = new FakeKubeApi();
    for (const name of Object.keys(paths) as (keyof typeof paths)[]) api.setList(paths[name], recorded(name));
    const kubeconfig = await api.start();
    const admin = await nats.get().connect('admin');
    const changes = await ChangeLog.start(admin);
    const service = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), {
        WARDEN_TOPOLOGY_KUBERNETES: kubeconfig,
        WARDEN_TRUST_DOMAIN: 'prod.example',
      }),
    );
    try {
      // The initial lists: one namespace, one service, two running pods (the pending one has no
      // address yet); the pod and service with no name and the pod with no spec are skipped.
      await changes.waitFor('added workload shop/web-6f7b-fghij');
      assert.deepEqual(changes.lines().sort(), [
        'added namespace shop',
        'added service shop/cart',
        'added workload shop/cart-5d9c-abcde',
        'added workload shop/web-6f7b-fghij',
      ]);
      const reply = await query(admin, { what: 'registry', namespace: 'shop' });
      assert.deepEqual(reply.namespaces[0], {
        name: 'shop',
        labels: { 'kubernetes.io/metadata.name': 'shop', team: 'payments' },
        serviceAccounts: ['cart', 'default'],
      });
      assert.deepEqual(reply.services[0]?.ports, [
        { name: 'http-api', port: 80, protocol: 'http' },
        { name: 'grpc', port: 9090, protocol: 'grpc' },
      ]);
      const cart = reply.workloads.find((w) => w.name === 'cart-5d9c-abcde');
      assert.deepEqual(
        [cart?.address, cart?.port, cart?.protocol, cart?.services, cart?.spiffeId, cart?.source],
        ['10.244.1.5', 8080, 'http', ['cart'], 'spiffe://prod.example/ns/shop/sa/cart', 'kubernetes'],
        'a pod without ports takes its endpoint slice port',
      );
      const web = reply.workloads.find((w) => w.name === 'web-6f7b-fghij');
      assert.equal(web?.serviceAccount, 'default');
      assert.equal(
        await metric(
          service.httpPort,
          /^warden_topology_rejected_inputs_total\{source="kubernetes",reason="pod_missing_fields"[^}]*\} (\d+)/m,
        ),
        2,
      );
      assert.equal(
        await metric(
          service.httpPort,
          /^warden_topology_rejected_inputs_total\{source="kubernetes",reason="service_missing_fields"[^}]*\} (\d+)/m,
        ),
        1,
      );

      // Watch events: add, change, remove, and an object missing fields (skipped, no crash).
      await eventually(() => api.watching(paths.pods) === 1, 'the pod watch');
      changes.clear();
      api.push(paths.pods, 'ADDED', pod('api-1', '10.244.2.1', '1001'));
      api.push(paths.pods, 'MODIFIED', {
        ...pod('web-6f7b-fghij', '10.244.1.60', '1002'),
        spec: { containers: [] },
      });
      api.push(paths.pods, 'DELETED', pod('cart-5d9c-abcde', '10.244.1.5', '1003'));
      api.push(paths.pods, 'ADDED', { metadata: { namespace: 'shop', resourceVersion: '1004' } });
      await changes.waitFor('removed workload shop/cart-5d9c-abcde');
      await eventually(() => changes.lines().length >= 3, 'all watch changes');
      assert.deepEqual(changes.lines().sort(), [
        'added workload shop/api-1',
        'removed workload shop/cart-5d9c-abcde',
        'updated workload shop/web-6f7b-fghij',
      ]);
      assert.equal(changes.events.length, 1, 'a burst of watch events is one change event');

      // A dropped connection resumes from the last resource version seen, without a relist.
      const listsBefore = api.listRequests(paths.pods);
      api.disconnect(paths.pods);
      await eventually(() => api.watching(paths.pods) === 1, 'the resumed pod watch');
      assert.equal(api.watchRequests(paths.pods).at(-1)?.get('resourceVersion'), '1004');
      assert.equal(api.listRequests(paths.pods), listsBefore);

      // 410 Gone: the version was compacted away; the pods are listed again, and whatever changed
      // meanwhile (api-1 deleted, db-1 created) shows up as changes.
      changes.clear();
      api.setList(paths.pods, {
        ...recorded('pods'),
        resourceVersion: '2000',
        items: [pod('web-6f7b-fghij', '10.244.1.60', '1002'), pod('db-1', '10.244.3.1', '1999')],
      });
      api.expireNextWatch(paths.pods);
      api.disconnect(paths.pods);
      await changes.waitFor('added workload shop/db-1');
      await changes.waitFor('removed workload shop/api-1');
      assert.ok(api.listRequests(paths.pods) > listsBefore);
      await eventually(() => api.watching(paths.pods) === 1, 'the watch after the relist');
      assert.equal(api.watchRequests(paths.pods).at(-1)?.get('resourceVersion'), '2000');
      assert.equal(
        await metric(
          service.httpPort,
          /^warden_topology_kubernetes_watch_restarts_total\{resource="pods",mode="relist"[^}]*\} (\d+)/m,
        ),
        1,
      );
      assert.equal((await fetch(`http://127.0.0.1:${service.httpPort}/readyz`)).status, 200);
    } finally {
      await service.stop('test');
      await changes.stop();
      await api.stop();
    }
  });
});
