/**
 * A nats-server cluster on loopback (ARCHITECTURE §6): every node with JetStream and its own
 * store, the same accounts and nkey users as the single server, and TLS routes to every other
 * node with a certificate from the stack's own route CA. Nodes start and restart one by one
 * (`startNatsNode`), so a supervisor can bring back a node that was killed on its ports and data.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsCredential } from './credentials.ts';
import { startNats } from './nats.ts';
import type { NatsServer } from './nats.ts';
import { freePort } from './ports.ts';
import { StartError } from './process.ts';
import { ensureRouteTls } from './route-tls.ts';
import type { RouteTls } from './route-tls.ts';

/** JetStream copies of every stream, bucket and object store on a cluster (R3: one node may go). */
export const CLUSTER_JETSTREAM_REPLICAS = 3;

export type NatsNodePorts = { client: number; monitor: number; route: number };

export type NatsClusterPlan = {
  readonly name: string;
  readonly dir: string;
  readonly nodes: readonly (NatsNodePorts & { serverName: string })[];
  readonly tls: RouteTls;
  readonly credentials?: ReadonlyMap<string, NatsCredential>;
  /** Every node's client URL, comma-separated, as WARDEN_NATS_URL takes it. */
  readonly url: string;
};

export type NatsCluster = {
  readonly plan: NatsClusterPlan;
  readonly url: string;
  readonly nodes: NatsServer[];
  stop(): Promise<void>;
};

export async function natsClusterPlan(options: {
  dir: string;
  size?: number;
  ports?: readonly NatsNodePorts[];
  credentials?: ReadonlyMap<string, NatsCredential>;
}): Promise<NatsClusterPlan> {
  const size = options.ports?.length ?? options.size ?? 3;
  if (size < 3) throw new StartError(`a JetStream cluster needs at least 3 nodes, not ${size}`);
  const nodes: (NatsNodePorts & { serverName: string })[] = [];
  for (let i = 0; i < size; i++) {
    const ports = options.ports?.[i] ?? {
      client: await freePort(),
      monitor: await freePort(),
      route: await freePort(),
    };
    nodes.push({ ...ports, serverName: `warden-nats-${i + 1}` });
  }
  return {
    name: 'warden',
    dir: options.dir,
    nodes,
    tls: await ensureRouteTls(join(options.dir, 'route-tls')),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    url: nodes.map((n) => `nats://127.0.0.1:${n.client}`).join(','),
  };
}

/** Starts (or restarts, on the same store) node `index` of the plan. */
export function startNatsNode(plan: NatsClusterPlan, index: number): Promise<NatsServer> {
  const node = plan.nodes[index];
  if (!node) throw new StartError(`no node ${index} in a cluster of ${plan.nodes.length}`);
  return startNats({
    dir: join(plan.dir, node.serverName),
    port: node.client,
    monitorPort: node.monitor,
    serverName: node.serverName,
    replicas: CLUSTER_JETSTREAM_REPLICAS,
    ...(plan.credentials ? { credentials: plan.credentials } : {}),
    cluster: {
      name: plan.name,
      host: '127.0.0.1',
      port: node.route,
      routes: plan.nodes.filter((n) => n !== node).map((n) => `nats-route://127.0.0.1:${n.route}`),
      tls: {
        cert_file: plan.tls.certFile,
        key_file: plan.tls.keyFile,
        ca_file: plan.tls.caFile,
        verify: true,
        timeout: 2,
      },
    },
  });
}

/** Starts every node at once (JetStream elects its meta leader once a quorum routes), then waits for the leader. */
export async function startNatsCluster(options: {
  dir: string;
  size?: number;
  credentials?: ReadonlyMap<string, NatsCredential>;
}): Promise<NatsCluster> {
  const plan = await natsClusterPlan(options);
  const nodes = await Promise.all(plan.nodes.map((_, i) => startNatsNode(plan, i)));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    await waitForJetStreamCluster(plan);
  } catch (err) {
    await stop();
    throw err;
  }
  return { plan, url: plan.url, nodes, stop };
}

type Jsz = { meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { current?: boolean }[] } };

/**
 * Resolves once every node sees the same JetStream meta leader in a cluster of all of them, and
 * the leader sees every other peer current: before that, creating an R3 stream fails.
 */
export async function waitForJetStreamCluster(plan: NatsClusterPlan, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(
      plan.nodes.map(async (n) => {
        try {
          const res = await fetch(`http://127.0.0.1:${n.monitor}/jsz`, { signal: AbortSignal.timeout(1000) });
          return (await res.json()) as Jsz;
        } catch {
          return null;
        }
      }),
    );
    const leader = views[0]?.meta_cluster?.leader;
    const agreed =
      leader !== undefined &&
      leader !== '' &&
      views.every(
        (v) => v?.meta_cluster?.leader === leader && v.meta_cluster.cluster_size === plan.nodes.length,
      );
    const leaderView = views[plan.nodes.findIndex((n) => n.serverName === leader)]?.meta_cluster;
    const ok =
      agreed &&
      (leaderView?.replicas ?? []).length === plan.nodes.length - 1 &&
      (leaderView?.replicas ?? []).every((r) => r.current === true);
    if (ok) return;
    if (Date.now() > deadline)
      throw new StartError(
        `the NATS cluster has no JetStream meta leader with every peer current after ${timeoutMs} ms`,
      );
    await sleep(100);
  }
}
