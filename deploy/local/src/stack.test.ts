import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { servicePrincipals } from '@warden/events';
import type { ClusterPorts, StackPorts } from './stack.ts';
import { defaultClusterPorts, defaultPorts, ephemeralPorts } from './stack.ts';

/** Every port a stack binds, with what binds it. */
function allPorts(ports: StackPorts): [string, number][] {
  const list: [string, number][] = [
    ['victoria-metrics', ports.victoriaMetrics],
    ['vmalert', ports.vmalert],
    ...servicePrincipals.map((s): [string, number] => [s, ports.services[s]]),
    ['ca http', ports.caHttp],
    ['ext_authz', ports.extAuthz],
    ['xds', ports.xds],
    ['ingest', ports.ingestGrpc],
    ['receiver', ports.alertReceiver],
  ];
  const cluster: ClusterPorts | undefined = ports.cluster;
  if (!cluster)
    return [...list, ['nats', ports.nats], ['nats monitor', ports.natsMonitor], ['redis', ports.redis]];
  const second = cluster.secondReplica;
  return [
    ...list,
    ...cluster.natsNodes.flatMap((n, i): [string, number][] => [
      [`nats-${i + 1}`, n.client],
      [`nats-${i + 1} monitor`, n.monitor],
      [`nats-${i + 1} route`, n.route],
    ]),
    ...cluster.redisNodes.map((p, i): [string, number] => [`redis-${i + 1}`, p]),
    ...cluster.sentinels.map((p, i): [string, number] => [`sentinel-${i + 1}`, p]),
    ...servicePrincipals.map((s): [string, number] => [`${s}-2`, second.services[s]]),
    ['ca http 2', second.caHttp],
    ['ext_authz 2', second.extAuthz],
    ['xds 2', second.xds],
    ['ingest 2', second.ingestGrpc],
    ['receiver 2', second.alertReceiver],
  ];
}

function assertDistinct(ports: StackPorts): void {
  const seen = new Map<number, string>();
  for (const [what, port] of allPorts(ports)) {
    assert.ok(!seen.has(port), `${what} and ${seen.get(port)} both use ${port}`);
    seen.set(port, what);
  }
}

describe('cluster mode ports', () => {
  it('the fixed ones never collide, and the first node and replica keep the single-node ports', () => {
    const cluster = defaultClusterPorts(3);
    assertDistinct({ ...defaultPorts, cluster });
    assert.equal(cluster.natsNodes[0]?.client, defaultPorts.nats);
    assert.equal(cluster.natsNodes[0]?.monitor, defaultPorts.natsMonitor);
    assert.equal(cluster.redisNodes[0], defaultPorts.redis);
    assert.equal(cluster.natsNodes.length, 3);
  });

  it('ephemeral ones are distinct too, for three and five nodes', async () => {
    for (const nodes of [3, 5]) {
      const ports = await ephemeralPorts(nodes);
      assert.equal(ports.cluster?.natsNodes.length, nodes);
      assertDistinct(ports);
    }
  });
});
