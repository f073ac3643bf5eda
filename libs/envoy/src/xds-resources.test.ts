import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { defaultMeshDefault } from '@warden/policy-engine';
import { toRbacFilters } from './rbac.ts';
import type { MeshWorkload } from './xds-resources.ts';
import {
  clientListenerName,
  clusterName,
  grpcBootstrap,
  meshResources,
  ResourceType,
  serverListenerName,
} from './xds-resources.ts';

/**
 * Every resource the ADS serves, decoded and validated by @grpc/grpc-js-xds's own resource types
 * (what a proxyless workload does before it ACKs or NACKs), with the RBAC filter switched on.
 */
process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
const require = createRequire(import.meta.url);
type Decoded = { name: string; error?: string };
type ResourceTypeImpl = { get(): { decode(context: unknown, resource: unknown): Decoded } };
const xds = require('@grpc/grpc-js-xds') as { register(): void };
const { validateBootstrapConfig } = require('@grpc/grpc-js-xds/build/src/xds-bootstrap.js') as {
  validateBootstrapConfig(o: unknown): unknown;
};
const types: Record<string, ResourceTypeImpl> = {
  [ResourceType.listener]: (
    require('@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type.js') as {
      ListenerResourceType: ResourceTypeImpl;
    }
  ).ListenerResourceType,
  [ResourceType.cluster]: (
    require('@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js') as {
      ClusterResourceType: ResourceTypeImpl;
    }
  ).ClusterResourceType,
  [ResourceType.clusterLoadAssignment]: (
    require('@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js') as {
      EndpointResourceType: ResourceTypeImpl;
    }
  ).EndpointResourceType,
};
xds.register();

const workloads: MeshWorkload[] = [
  {
    namespace: 'payments',
    name: 'payment-service',
    address: '127.0.0.1',
    port: 8443,
    spiffeId: 'spiffe://warden.local/ns/payments/sa/payment-service',
  },
  {
    namespace: 'payments',
    name: 'payment-service',
    address: '127.0.0.2',
    port: 8443,
    spiffeId: 'spiffe://warden.local/ns/payments/sa/payment-service',
  },
  {
    namespace: 'shop',
    name: 'frontend',
    address: '::1',
    port: 9000,
    spiffeId: 'spiffe://warden.local/ns/shop/sa/frontend',
  },
];

describe('xDS resources, as grpc-js-xds reads them', () => {
  const bootstrap = validateBootstrapConfig(
    grpcBootstrap({
      adsAddress: '127.0.0.1:15010',
      nodeId: 'spiffe://warden.local/ns/shop/sa/frontend',
      namespace: 'shop',
      certificateFile: '/c.pem',
      privateKeyFile: '/k.pem',
      caCertificateFile: '/ca.pem',
    }),
  );
  const resources = meshResources(
    workloads,
    (w) =>
      toRbacFilters(
        [
          {
            apiVersion: 'security.istio.io/v1',
            name: 'p',
            namespace: w.namespace,
            action: 'DENY',
            rules: [{ from: [{ namespaces: ['ops'] }] }],
          },
        ],
        { meshDefault: defaultMeshDefault, namespace: w.namespace, inexpressible: 'deny' },
      ),
    'warden.local',
  );

  it('names a server listener per workload, a client listener, cluster and endpoints per workload name', () => {
    assert.deepEqual(
      [...(resources.get(ResourceType.listener)?.keys() ?? [])].sort(),
      [
        clientListenerName(workloads[0]!),
        clientListenerName(workloads[2]!),
        serverListenerName('127.0.0.1', 8443),
        serverListenerName('127.0.0.2', 8443),
        'grpc/server?xds.resource.listening_address=[::1]:9000',
      ].sort(),
    );
    assert.deepEqual(
      [...(resources.get(ResourceType.cluster)?.keys() ?? [])].sort(),
      [clusterName(workloads[0]!), clusterName(workloads[2]!)].sort(),
    );
  });

  for (const [type, impl] of Object.entries(types)) {
    it(`every ${type} validates`, () => {
      const context = { bootstrap, server: null };
      const all = [...(resources.get(type as ResourceType)?.values() ?? [])];
      assert.ok(all.length > 0);
      for (const resource of all) {
        const decoded = impl.get().decode(context, resource);
        assert.equal(decoded.error, undefined, decoded.error);
      }
    });
  }
});
