import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointSliceOf, isProblem, metaOf, podOf, serviceOf } from './convert.ts';

describe('kubernetes object conversion', () => {
  it('reads a running pod, defaulting the service account', () => {
    const pod = podOf({
      metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web', n: 7 } },
      spec: { containers: [{ ports: [{ name: 'grpc-api', containerPort: 9000 }, { containerPort: 'x' }] }] },
      status: { phase: 'Running', podIP: '10.1.2.3' },
    });
    assert.ok(!isProblem(pod));
    assert.deepEqual(pod, {
      namespace: 'shop',
      name: 'web-1',
      address: '10.1.2.3',
      ports: [{ port: 9000, protocol: 'grpc', name: 'grpc-api' }],
      serviceAccount: 'default',
      labels: { app: 'web' },
    });
  });

  it('gives finished pods no address', () => {
    const pod = podOf({
      metadata: { name: 'job', namespace: 'shop' },
      spec: {},
      status: { phase: 'Succeeded', podIP: '10.1.2.4' },
    });
    assert.ok(!isProblem(pod) && pod.address === undefined);
  });

  it('names what is missing instead of throwing', () => {
    for (const broken of [null, 7, 'x', [], {}, { metadata: null }, { metadata: { name: 3 } }]) {
      assert.ok(isProblem(metaOf(broken, false)), JSON.stringify(broken));
      assert.ok(isProblem(podOf(broken)));
      assert.ok(isProblem(serviceOf(broken)));
      assert.ok(isProblem(endpointSliceOf(broken)));
    }
    assert.deepEqual(podOf({ metadata: { name: 'p' } }), { problem: 'metadata.namespace is missing on p' });
    assert.deepEqual(podOf({ metadata: { name: 'p', namespace: 'n' } }), {
      problem: 'pod n/p: spec is missing',
    });
  });

  it('reads service ports with Istio-style protocols, and endpoint slice pod targets', () => {
    const svc = serviceOf({
      metadata: { name: 'cart', namespace: 'shop' },
      spec: {
        selector: { app: 'cart' },
        ports: [
          { name: 'http-web', port: 80 },
          { port: 5432 },
          { port: 0 },
          { name: 'x', port: 9, appProtocol: 'grpc' },
        ],
      },
    });
    assert.ok(!isProblem(svc));
    assert.deepEqual(svc.ports, [
      { name: 'http-web', port: 80, protocol: 'http' },
      { port: 5432, protocol: 'tcp' },
      { name: 'x', port: 9, protocol: 'grpc' },
    ]);
    const slice = endpointSliceOf({
      metadata: { name: 'cart-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'cart' } },
      endpoints: [
        { targetRef: { kind: 'Pod', name: 'cart-1' } },
        { targetRef: { kind: 'Node', name: 'n' } },
        {},
      ],
      ports: [{ port: 8080, name: 'http' }],
    });
    assert.deepEqual(slice, {
      namespace: 'shop',
      name: 'cart-abc',
      service: 'cart',
      pods: ['cart-1'],
      ports: [{ port: 8080, protocol: 'http' }],
    });
  });
});
