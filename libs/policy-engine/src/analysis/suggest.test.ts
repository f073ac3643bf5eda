import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deniedEdges, suggestPolicies } from './suggest.ts';
import type { ObservedEdge, SuggestWorkload } from './suggest.ts';

const workload = (namespace: string, name: string): SuggestWorkload => ({
  namespace,
  name,
  labels: { app: name },
  spiffeId: `spiffe://cluster.local/ns/${namespace}/sa/${name}`,
});
const workloads = [
  workload('web', 'frontend'),
  workload('shop', 'cart'),
  workload('shop', 'payments'),
  workload('web', 'scanner'),
];
const edge = (from: string, to: string, method: string, pathPrefix: string): ObservedEdge => {
  const [sns, sw] = from.split('/');
  const [dns, dw] = to.split('/');
  return {
    source: { namespace: sns, workload: sw },
    destination: { namespace: dns, workload: dw },
    method,
    pathPrefix,
    requests: 10,
  };
};

const normal = [
  edge('web/frontend', 'shop/cart', 'GET', '/api/cart'),
  edge('web/frontend', 'shop/cart', 'POST', '/api/cart/{id}/items'),
  edge('shop/cart', 'shop/payments', 'POST', '/payments.v1.Payments/Authorize'),
];

describe('least-privilege suggestion', () => {
  it('allows every observed edge and nothing else', () => {
    const { policies, denied } = suggestPolicies(workloads, normal);
    assert.deepEqual(denied, []);
    assert.deepEqual(
      policies.map((p) => [p.namespace, p.name, p.selector]),
      [
        ['shop', 'suggested-cart', { app: 'cart' }],
        ['shop', 'suggested-payments', { app: 'payments' }],
      ],
    );
    assert.deepEqual(deniedEdges(policies, workloads, normal), []);

    const scan = [
      edge('web/scanner', 'shop/cart', 'GET', '/api/cart'),
      edge('web/frontend', 'shop/cart', 'DELETE', '/api/cart'),
      edge('web/frontend', 'shop/cart', 'GET', '/admin'),
      edge('web/frontend', 'shop/payments', 'POST', '/payments.v1.Payments/Authorize'),
      edge('shop/cart', 'shop/payments', 'POST', '/payments.v1.Payments/Refund'),
      edge('web/frontend', 'shop/cart', 'GET', '/api/cartx'),
    ];
    assert.deepEqual(deniedEdges(policies, workloads, scan), scan);
  });

  it('reports what it leaves out: unknown callers and non-standard methods', () => {
    const odd = [
      edge('web/ghost', 'shop/cart', 'GET', '/api/cart'),
      edge('web/frontend', 'shop/cart', 'OTHER', '/api'),
    ];
    const { denied } = suggestPolicies(workloads, [...normal, ...odd]);
    assert.deepEqual(
      denied.map((d) => d.why),
      ['the caller has no known identity (not in the registry)', 'non-standard HTTP method'],
    );
  });

  it('collapses many paths of one shape into a prefix', () => {
    const many = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) =>
      edge('web/frontend', 'shop/cart', 'GET', `/docs/${x}`),
    );
    const { policies } = suggestPolicies(workloads, many, { collapseAbove: 5 });
    assert.deepEqual(policies[0]?.rules[0]?.to, [{ methods: ['GET'], paths: ['/docs', '/docs/*'] }]);
  });
});
