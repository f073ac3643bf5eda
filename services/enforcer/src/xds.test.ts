import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AdsSession,
  loadEnvoyConfigProtos,
  ResourceType,
  serverListenerName,
  TypeUrl,
  unpackAny,
} from '@warden/envoy';
import { PolicyRevision } from '@warden/policy-engine';
import type { Logger } from '@warden/runtime';
import type { XdsWorkload } from './xds.ts';
import { buildResources } from './xds.ts';

const workload = (name: string, address: string): XdsWorkload => ({
  namespace: 'shop',
  name,
  address,
  port: 8080,
  spiffeId: `spiffe://warden.local/ns/shop/sa/${name}`,
  labels: { app: name },
  serviceAccount: name,
});
const workloads = [workload('cart', '10.0.0.5'), workload('inventory', '10.0.0.6')];
const warnings: unknown[] = [];
const log = { warn: (o: unknown) => warnings.push(o) } as unknown as Logger;
const source = buildResources(
  { workloads, revision: new PolicyRevision([]), containment: [] },
  'warden.local',
  new Date(),
  { extAuthz: { address: '10.0.9.9', port: 9191 }, extAuthzTimeoutMs: 500, maxRequestBytes: 8192 },
  log,
);

/** The listener names a client gets for a wildcard LDS request from `node`. */
function listenersFor(node: { id: string; user_agent_name: string }): string[] {
  const session = new AdsSession(source, 'v1');
  const { responses } = session.request({ node, type_url: TypeUrl.listener, resource_names: [] });
  const protos = loadEnvoyConfigProtos();
  return (responses[0]?.resources ?? [])
    .map((any) => unpackAny<{ name: string }>(protos, ResourceType.listener, any).name)
    .sort();
}

describe('ADS resources per data plane', () => {
  it('serves proxyless gRPC the shared mesh and each Envoy sidecar its own workload', () => {
    const grpc = listenersFor({
      id: 'spiffe://warden.local/ns/shop/sa/cart',
      user_agent_name: 'gRPC Node Pure JS',
    });
    assert.ok(grpc.includes(serverListenerName('10.0.0.5', 8080)));
    assert.ok(grpc.includes(serverListenerName('10.0.0.6', 8080)));
    const envoy = listenersFor({
      id: 'sidecar~10.0.0.5~cart-1.shop~shop.svc.cluster.local',
      user_agent_name: 'envoy',
    });
    assert.deepEqual(envoy, ['0.0.0.0_8080', 'virtualInbound', 'virtualOutbound']);
    assert.equal(warnings.length, 0);
  });

  it('gives an Envoy that names no registered workload nothing to accept, and says so', () => {
    listenersFor({ id: 'sidecar~10.9.9.9~stranger.shop~shop.svc.cluster.local', user_agent_name: 'envoy' });
    assert.equal(warnings.length, 1);
  });
});
