import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { allStreams, BucketName, ObjectStoreName, provision, servicePrincipals } from '@warden/events';
import type { ServiceName } from '@warden/events';
import {
  CLUSTER_JETSTREAM_REPLICAS,
  ensureCredentials,
  freePort,
  httpOk,
  natsClusterPlan,
  redisNodeName,
  redisSentinelPlan,
  repoRoot,
  seedFile,
  sentinelName,
  startNats,
  startNatsNode,
  startProcess,
  startRedis,
  startRedisNode,
  startSentinel,
  ensureRedisCredentials,
  redisPasswordFile,
  redisUsers,
  startVictoriaMetrics,
  startVmalert,
  waitForJetStreamCluster,
  waitForSentinels,
} from '@warden/infra';
import type {
  NatsClusterPlan,
  NatsNodePorts,
  RedisSentinelPlan,
  RedisUser,
  ServerProcess,
} from '@warden/infra';
import { Backoff } from '@warden/core';

export const ComponentState = {
  pending: 'pending',
  starting: 'starting',
  ready: 'ready',
  down: 'down',
  stopped: 'stopped',
} as const;
export type ComponentState = (typeof ComponentState)[keyof typeof ComponentState];

export type ComponentStatus = {
  name: string;
  kind: 'infra' | 'service';
  state: ComponentState;
  url: string;
  pid: number | null;
  restarts: number;
  lastExit: string | null;
};

export type StackPorts = {
  nats: number;
  natsMonitor: number;
  redis: number;
  victoriaMetrics: number;
  services: Record<ServiceName, number>;
  /** The CA's bundle and CRL over HTTP (apart from its ops port), where the agent fetches crl.pem. */
  caHttp: number;
  /** The enforcer's ext_authz gRPC listener, where Envoy's ext_authz filter calls. */
  extAuthz: number;
  /** The enforcer's ADS, where Envoy and proxyless gRPC workloads fetch their configuration. */
  xds: number;
  /** telemetry-ingest's gRPC listener: Envoy's ALS and Warden's StreamTelemetry. */
  ingestGrpc: number;
  /** The detector's Alertmanager v2 receiver, which vmalert notifies. */
  alertReceiver: number;
  vmalert: number;
  /** Cluster mode (`make up CLUSTER=3`): the NATS nodes, Redis with Sentinels, each service's second replica. */
  cluster?: ClusterPorts;
};

/** What a service replica listens on. */
export type ReplicaPorts = Pick<
  StackPorts,
  'services' | 'caHttp' | 'extAuthz' | 'xds' | 'ingestGrpc' | 'alertReceiver'
>;

export type ClusterPorts = {
  /** One entry per nats-server node: client, monitoring and route ports. */
  natsNodes: NatsNodePorts[];
  /** The Redis primary first, then its replica. */
  redisNodes: number[];
  sentinels: number[];
  /** The second replica of every service (the first uses the single-node ports). */
  secondReplica: ReplicaPorts;
};

/** Fixed ports for `make up`, so the URLs stay the same from one run to the next. */
export const defaultPorts: StackPorts = {
  nats: 4222,
  natsMonitor: 8222,
  redis: 6380,
  victoriaMetrics: 8428,
  services: {
    ca: 9401,
    agent: 9402,
    policy: 9403,
    topology: 9404,
    'telemetry-ingest': 9405,
    detector: 9406,
    enforcer: 9407,
    console: 9408,
  },
  caHttp: 9409,
  extAuthz: 9191,
  xds: 15010,
  ingestGrpc: 9410,
  alertReceiver: 9412,
  vmalert: 8880,
};

/** Fixed ports of cluster mode: the single-node ports are the first node's and the first replica's. */
export function defaultClusterPorts(nodes = 3): ClusterPorts {
  return {
    natsNodes: Array.from({ length: nodes }, (_, i) => ({
      client: 4222 + i,
      monitor: 8222 + i,
      route: 6222 + i,
    })),
    redisNodes: [6380, 6381],
    sentinels: [26380, 26381, 26382],
    secondReplica: {
      services: {
        ca: 9501,
        agent: 9502,
        policy: 9503,
        topology: 9504,
        'telemetry-ingest': 9505,
        detector: 9506,
        enforcer: 9507,
        console: 9508,
      },
      caHttp: 9509,
      extAuthz: 9192,
      xds: 15011,
      ingestGrpc: 9511,
      alertReceiver: 9513,
    },
  };
}

async function ephemeralReplicaPorts(nextPort: () => Promise<number>): Promise<ReplicaPorts> {
  const services = {} as Record<ServiceName, number>;
  for (const name of servicePrincipals) services[name] = await nextPort();
  return {
    services,
    caHttp: await nextPort(),
    extAuthz: await nextPort(),
    xds: await nextPort(),
    ingestGrpc: await nextPort(),
    alertReceiver: await nextPort(),
  };
}

/** Free ports for every component; with `clusterNodes`, for cluster mode with that many NATS nodes. */
export async function ephemeralPorts(clusterNodes?: number): Promise<StackPorts> {
  // freePort hands each port out once, so consecutive calls never collide.
  const nextPort = freePort;
  const single = await ephemeralSinglePorts(nextPort);
  if (clusterNodes === undefined) return single;
  const natsNodes: NatsNodePorts[] = [
    { client: single.nats, monitor: single.natsMonitor, route: await nextPort() },
  ];
  while (natsNodes.length < clusterNodes)
    natsNodes.push({ client: await nextPort(), monitor: await nextPort(), route: await nextPort() });
  return {
    ...single,
    cluster: {
      natsNodes,
      redisNodes: [single.redis, await nextPort()],
      sentinels: [await nextPort(), await nextPort(), await nextPort()],
      secondReplica: await ephemeralReplicaPorts(nextPort),
    },
  };
}

async function ephemeralSinglePorts(nextPort: () => Promise<number>): Promise<StackPorts> {
  const services = {} as Record<ServiceName, number>;
  for (const name of servicePrincipals) services[name] = await nextPort();
  return {
    nats: await nextPort(),
    natsMonitor: await nextPort(),
    redis: await nextPort(),
    victoriaMetrics: await nextPort(),
    services,
    caHttp: await nextPort(),
    extAuthz: await nextPort(),
    xds: await nextPort(),
    ingestGrpc: await nextPort(),
    alertReceiver: await nextPort(),
    vmalert: await nextPort(),
  };
}

export type StackOptions = {
  /** Everything the stack keeps lives here: JetStream, Redis and VictoriaMetrics data, credentials, logs. */
  dir: string;
  ports: StackPorts;
  services?: readonly ServiceName[];
  /** One line per state change. */
  onEvent?: (line: string) => void;
  /** Prometheus rule files for vmalert (globs allowed); the detector's default rules otherwise. */
  ruleFiles?: readonly string[];
  /** Restart delays: doubling (jittered) from `initialMs` to `maxMs`, reset after `stableMs` up. */
  backoff?: { initialMs?: number; maxMs?: number; stableMs?: number };
};

type Unit = {
  status: ComponentStatus;
  launch: () => Promise<ServerProcess>;
  current: ServerProcess | null;
  loop: Promise<void> | null;
  /** Set by `crash`: the next restart waits for it. */
  hold: Promise<unknown> | null;
};

/**
 * The CA's state folder and key-encryption key for the local stack: a random KEK created once in
 * `<dir>/ca/kek` (0600) so that a second `make up` opens the same sealed keys. Fine for a laptop;
 * a real deployment keeps the KEK apart from the sealed keys (a secret mount or a KMS).
 */
function localCaEnv(dir: string, httpPort: number): NodeJS.ProcessEnv {
  const caDir = join(dir, 'ca');
  const kekFile = join(caDir, 'kek');
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  if (!existsSync(kekFile))
    writeFileSync(kekFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return {
    WARDEN_CA_DIR: join(caDir, 'state'),
    WARDEN_CA_KEK_FILE: kekFile,
    WARDEN_CA_HTTP_PORT: String(httpPort),
  };
}

/**
 * The identity agent's state folder (cached SVIDs and their keys, 0700) and SDS socket, for this
 * host, and the CA's CRLs for the crl.pem it writes beside each workload's certificate.
 */
function localAgentEnv(agentDir: string, caHttpPort: number, host: string): NodeJS.ProcessEnv {
  return {
    WARDEN_AGENT_HOST: host,
    WARDEN_AGENT_DIR: agentDir,
    WARDEN_AGENT_SDS_SOCKET: join(agentDir, 'sds.sock'),
    WARDEN_AGENT_CRL_URL: `http://127.0.0.1:${caHttpPort}/v1/crl.pem`,
  };
}

/**
 * The bearer token vmalert presents to the detector's alert receiver: created once in the
 * credentials folder (0600), since an alert can lead to containment.
 */
function receiverTokenFile(credsDir: string): string {
  const file = join(credsDir, 'detector-receiver.token');
  mkdirSync(credsDir, { recursive: true, mode: 0o700 });
  if (!existsSync(file))
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}

/** The query rules `make up` evaluates: the detector's default rule file. */
export const defaultRuleFiles = [join(repoRoot, 'services', 'detector', 'rules', '*.rules.yml')];

/**
 * Starts the infrastructure, then every service, and keeps them running: a process that dies is
 * shown as down and started again with backoff, on the same ports and with the same data.
 */
export class Stack {
  private readonly options: StackOptions;
  private readonly units: Unit[] = [];
  private stopping = false;
  /** Wakes supervision loops out of a backoff sleep when the stack stops. */
  private readonly stopSignal = new AbortController();
  private natsPlan: NatsClusterPlan | undefined;
  private redisPlan: RedisSentinelPlan | undefined;
  readonly statusFile: string;

  constructor(options: StackOptions) {
    this.options = options;
    this.statusFile = join(options.dir, 'status.json');
  }

  /** The NATS URL services connect with: every node of a cluster, comma-separated. */
  get natsUrl(): string {
    const nodes = this.options.ports.cluster?.natsNodes;
    return nodes
      ? nodes.map((n) => `nats://127.0.0.1:${n.client}`).join(',')
      : `nats://127.0.0.1:${this.options.ports.nats}`;
  }

  /** In cluster mode, the Sentinels (`host:port,...`) services find the Redis primary through. */
  get redisSentinels(): string | undefined {
    return this.options.ports.cluster?.sentinels.map((p) => `127.0.0.1:${p}`).join(',');
  }

  get credsDir(): string {
    return join(this.options.dir, 'creds');
  }

  /** The NATS cluster's layout, once `start` made it (cluster mode only). */
  get natsCluster(): NatsClusterPlan | undefined {
    return this.natsPlan;
  }

  /** Redis with Sentinels, once `start` made it (cluster mode only). */
  get redisSet(): RedisSentinelPlan | undefined {
    return this.redisPlan;
  }

  status(): ComponentStatus[] {
    return this.units.map((u) => ({ ...u.status }));
  }

  /** Starts everything in dependency order and resolves once every component is ready. */
  async start(): Promise<void> {
    const { dir, ports } = this.options;
    mkdirSync(dir, { recursive: true });
    const credentials = ensureCredentials(this.credsDir);
    const redisPasswords = ensureRedisCredentials(this.credsDir);
    const logs = join(dir, 'logs');
    const cluster = ports.cluster;

    const victoria = this.unit('victoria-metrics', 'infra', `http://127.0.0.1:${ports.victoriaMetrics}`, () =>
      startVictoriaMetrics({ dir: join(dir, 'victoria-metrics'), port: ports.victoriaMetrics }),
    );
    if (cluster) {
      const natsPlan = await natsClusterPlan({
        dir: join(dir, 'nats-cluster'),
        ports: cluster.natsNodes,
        credentials,
      });
      const redisPlan = await redisSentinelPlan({
        dir: join(dir, 'redis-sentinel'),
        passwords: redisPasswords,
        redisPorts: cluster.redisNodes,
        sentinelPorts: cluster.sentinels,
        persist: true,
      });
      this.natsPlan = natsPlan;
      this.redisPlan = redisPlan;
      const natsUnits = natsPlan.nodes.map((node, i) =>
        this.unit(node.serverName, 'infra', `nats://127.0.0.1:${node.client}`, () =>
          startNatsNode(natsPlan, i),
        ),
      );
      const redisUnits = redisPlan.redisPorts.map((port, i) =>
        this.unit(redisNodeName(i), 'infra', `redis://127.0.0.1:${port}`, () => startRedisNode(redisPlan, i)),
      );
      // The replica syncs from a running primary; Sentinels watch running data nodes.
      await Promise.all([...natsUnits, victoria].map((u) => this.supervise(u)));
      for (const u of redisUnits) await this.supervise(u);
      const sentinelUnits = redisPlan.sentinelPorts.map((port, i) =>
        this.unit(sentinelName(i), 'infra', `redis://127.0.0.1:${port}`, () => startSentinel(redisPlan, i)),
      );
      await Promise.all(sentinelUnits.map((u) => this.supervise(u)));
      await waitForJetStreamCluster(natsPlan);
      await waitForSentinels(redisPlan);
    } else {
      const infra: Unit[] = [
        this.unit('nats-server', 'infra', this.natsUrl, () =>
          startNats({
            dir: join(dir, 'nats'),
            port: ports.nats,
            monitorPort: ports.natsMonitor,
            credentials,
          }),
        ),
        this.unit('redis-server', 'infra', `redis://127.0.0.1:${ports.redis}`, () =>
          startRedis({
            dir: join(dir, 'redis'),
            port: ports.redis,
            persist: true,
            passwords: redisPasswords,
          }),
        ),
        victoria,
      ];
      await Promise.all(infra.map((u) => this.supervise(u)));
    }
    await this.provisionAll(credentials.get('admin')?.seed);

    const tokenFile = receiverTokenFile(this.credsDir);
    const names = this.options.services ?? servicePrincipals;
    const replicas: ReplicaPorts[] = cluster ? [ports, cluster.secondReplica] : [ports];
    const alertReceivers = replicas.map((r) => `http://127.0.0.1:${r.alertReceiver}`);
    // Replica by replica: the second starts on state the first created (the CA's trust domain).
    for (const [index, replica] of replicas.entries()) {
      const services = names.map((name) => this.serviceUnit(name, index, replica, tokenFile, logs));
      await Promise.all(services.map((u) => this.supervise(u)));
    }
    // The query-rule evaluator, once VictoriaMetrics and the detectors it notifies are up.
    await this.supervise(
      this.unit('vmalert', 'infra', `http://127.0.0.1:${ports.vmalert}`, () =>
        startVmalert({
          dir: join(dir, 'vmalert'),
          port: ports.vmalert,
          ruleFiles: this.options.ruleFiles ?? defaultRuleFiles,
          datasourceUrl: `http://127.0.0.1:${ports.victoriaMetrics}`,
          notifierUrl: alertReceivers,
          notifierTokenFile: tokenFile,
        }),
      ),
    );
  }

  /**
   * One replica of a service. The single-node stack runs one, named after the service; cluster
   * mode runs two, `<service>-1` and `<service>-2`, each with its own instance name, ports and
   * host-local folders (the agent's is a second host's).
   */
  private serviceUnit(
    name: ServiceName,
    index: number,
    replica: ReplicaPorts,
    tokenFile: string,
    logs: string,
  ): Unit {
    const { dir, ports } = this.options;
    const cluster = ports.cluster;
    const unitName = cluster ? `${name}-${index + 1}` : name;
    const local = (sub: string): string => join(dir, cluster && index > 0 ? `${sub}-${index + 1}` : sub);
    const port = replica.services[name];
    const url = `http://127.0.0.1:${port}`;
    const sentinels = this.redisSentinels;
    return this.unit(unitName, 'service', url, () =>
      startProcess({
        name: unitName,
        command: process.execPath,
        args: [join(repoRoot, 'services', name, 'src', 'main.ts')],
        logFile: join(logs, `${unitName}.log`),
        env: {
          ...process.env,
          WARDEN_NATS_URL: this.natsUrl,
          WARDEN_NATS_SEED_FILE: seedFile(this.credsDir, name),
          WARDEN_HTTP_PORT: String(port),
          WARDEN_INSTANCE: cluster ? `${name}-local-${index + 1}` : `${name}-local`,
          WARDEN_REDIS_URL: `redis://127.0.0.1:${ports.redis}`,
          ...(cluster
            ? {
                WARDEN_JETSTREAM_REPLICAS: String(CLUSTER_JETSTREAM_REPLICAS),
                ...(sentinels
                  ? {
                      WARDEN_REDIS_SENTINELS: sentinels,
                      WARDEN_REDIS_MASTER_NAME: this.redisPlan?.masterName,
                    }
                  : {}),
              }
            : {}),
          // Only the services with a Redis user get its password.
          ...(name in redisUsers
            ? {
                WARDEN_REDIS_USER: name,
                WARDEN_REDIS_PASSWORD_FILE: redisPasswordFile(this.credsDir, name as RedisUser),
              }
            : {}),
          WARDEN_VICTORIA_METRICS_URL: `http://127.0.0.1:${ports.victoriaMetrics}`,
          // The CA's replicas share one trust domain folder and key-encryption key.
          ...(name === 'ca' ? localCaEnv(dir, replica.caHttp) : {}),
          ...(name === 'agent'
            ? localAgentEnv(local('agent'), replica.caHttp, index > 0 ? `local-${index + 1}` : 'local')
            : {}),
          ...(name === 'enforcer'
            ? {
                WARDEN_ENFORCER_EXT_AUTHZ_PORT: String(replica.extAuthz),
                WARDEN_ENFORCER_XDS_PORT: String(replica.xds),
                ...(cluster
                  ? { WARDEN_ENFORCER_TERMINATOR_DIR: join(local('enforcer'), 'terminators') }
                  : {}),
              }
            : {}),
          ...(name === 'topology' && cluster
            ? { WARDEN_TOPOLOGY_CONSUMER_PREFIX: `topology-${index + 1}` }
            : {}),
          ...(name === 'telemetry-ingest' ? { WARDEN_INGEST_GRPC_PORT: String(replica.ingestGrpc) } : {}),
          ...(name === 'detector'
            ? {
                WARDEN_DETECTOR_RECEIVER_PORT: String(replica.alertReceiver),
                WARDEN_DETECTOR_RECEIVER_TOKEN_FILE: tokenFile,
              }
            : {}),
        },
        ready: () => httpOk(`${url}/readyz`),
        readyTimeoutMs: 60_000,
      }),
    );
  }

  /**
   * Creates every stream, bucket and object store once, as the operator, before any service
   * starts: a service may then write a stream whose owner is not up yet (every service writes
   * the audit log, which the enforcer owns). Each owner re-checks its own at boot.
   */
  private async provisionAll(adminSeed: string | undefined): Promise<void> {
    const nc = await connect({
      servers: this.natsUrl.split(','),
      ...(adminSeed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(adminSeed)) } : {}),
    });
    try {
      await provision(nc, {
        streams: allStreams,
        buckets: Object.values(BucketName),
        objectStores: Object.values(ObjectStoreName),
        replicas: this.options.ports.cluster ? CLUSTER_JETSTREAM_REPLICAS : 1,
      });
    } finally {
      await nc.close();
    }
  }

  /** Stops services first (they drain NATS), then the infrastructure, newest first. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    const services = this.units.filter((u) => u.status.kind === 'service');
    const infra = this.units.filter((u) => u.status.kind === 'infra').reverse();
    await Promise.all(services.map((u) => this.stopUnit(u)));
    for (const u of infra) await this.stopUnit(u);
    this.writeStatus();
  }

  /** The pid of a running component, for tests and operators that want to kill it. */
  pid(name: string): number | null {
    return this.units.find((u) => u.status.name === name)?.status.pid ?? null;
  }

  /**
   * Kills a component with SIGKILL, as a crash would, and restarts it only once `heldUntil`
   * settles: a machine that stays away for a while, not a process back in 100 ms (Sentinel
   * promotes a replica only when the primary stays down). Resolves with the killed pid.
   */
  async crash(name: string, heldUntil?: Promise<unknown>): Promise<number> {
    const unit = this.units.find((u) => u.status.name === name);
    const current = unit?.current;
    const pid = current?.child.pid;
    if (!unit || !current || pid === undefined) throw new Error(`${name} is not running`);
    unit.hold = heldUntil ?? null;
    await current.kill();
    return pid;
  }

  private unit(
    name: string,
    kind: 'infra' | 'service',
    url: string,
    launch: () => Promise<ServerProcess>,
  ): Unit {
    const unit: Unit = {
      status: { name, kind, state: ComponentState.pending, url, pid: null, restarts: 0, lastExit: null },
      launch,
      current: null,
      loop: null,
      hold: null,
    };
    this.units.push(unit);
    return unit;
  }

  /** Resolves when the unit is first ready; keeps restarting it in the background after that. */
  private supervise(unit: Unit): Promise<void> {
    const backoff = new Backoff({
      initialMs: this.options.backoff?.initialMs ?? 250,
      maxMs: this.options.backoff?.maxMs ?? 15_000,
      stableMs: this.options.backoff?.stableMs ?? 30_000,
    });
    let firstReady: (() => void) | undefined;
    let firstFailed: ((err: Error) => void) | undefined;
    const ready = new Promise<void>((resolveReady, reject) => {
      firstReady = resolveReady;
      firstFailed = reject;
    });
    unit.loop = (async () => {
      let attempts = 0;
      while (!this.stopping) {
        this.setState(unit, ComponentState.starting);
        const startedAt = Date.now();
        try {
          unit.current = await unit.launch();
          if (this.stopping) {
            // stop() ran while this unit was starting: it could not see this process.
            await unit.current.stop();
            break;
          }
          unit.status.pid = unit.current.child.pid ?? null;
          this.setState(unit, ComponentState.ready);
          firstReady?.();
          firstReady = undefined;
          const how = await unit.current.exited;
          unit.status.lastExit = String(how);
        } catch (err) {
          unit.status.lastExit = err instanceof Error ? err.message : String(err);
        }
        unit.current = null;
        unit.status.pid = null;
        if (this.stopping) break;
        attempts++;
        if (firstReady && attempts >= 5) {
          firstFailed?.(
            new Error(`${unit.status.name} failed to start ${attempts} times: ${unit.status.lastExit}`),
          );
          firstReady = undefined;
        }
        if (unit.hold) {
          this.setState(unit, ComponentState.down, `(${unit.status.lastExit}); held down`);
          await unit.hold.catch(() => undefined);
          unit.hold = null;
        }
        unit.status.restarts++;
        const delay = backoff.next(Date.now() - startedAt);
        this.setState(unit, ComponentState.down, `(${unit.status.lastExit}); restarting in ${delay} ms`);
        await sleep(delay, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
      }
      this.setState(unit, ComponentState.stopped);
    })();
    return ready;
  }

  private async stopUnit(unit: Unit): Promise<void> {
    await unit.current?.stop();
    await unit.loop;
  }

  private setState(unit: Unit, state: ComponentState, detail = ''): void {
    unit.status.state = state;
    this.options.onEvent?.(`${unit.status.name} ${state}${detail ? ` ${detail}` : ''}`);
    this.writeStatus();
  }

  /** status.json is replaced atomically so a reader never sees half a file. */
  private writeStatus(): void {
    const tmp = `${this.statusFile}.tmp`;
    writeFileSync(
      tmp,
      JSON.stringify(
        {
          updatedAt: new Date().toISOString(),
          mode: this.options.ports.cluster ? 'cluster' : 'single',
          natsUrl: this.natsUrl,
          ...(this.redisSentinels
            ? { redisSentinels: this.redisSentinels, redisMasterName: this.redisPlan?.masterName ?? null }
            : {}),
          components: this.status(),
        },
        null,
        2,
      ),
    );
    renameSync(tmp, this.statusFile);
  }
}

/** The status table `make up` prints. */
export function formatStatus(rows: readonly ComponentStatus[]): string {
  const header = ['COMPONENT', 'STATE', 'PID', 'RESTARTS', 'URL'];
  const lines = rows.map((r) => [r.name, r.state, String(r.pid ?? '-'), String(r.restarts), r.url]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...lines.map(fmt)].join('\n');
}
