/**
 * Redis with failover on loopback (ARCHITECTURE §6): a primary, one replica (`replicaof`), and
 * three `redis-server --sentinel` processes that watch the primary and promote the replica when
 * it goes (two must agree). Every process runs with the ACL users of `redis-acl.ts`; Sentinels
 * log in to Redis and to each other as `admin`. Each process starts and restarts on its own
 * (`startRedisNode`, `startSentinel`), on the same ports and folder, so a supervisor can bring
 * back one that was killed.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { binary } from './paths.ts';
import { freePort } from './ports.ts';
import { startProcess, StartError } from './process.ts';
import type { ServerProcess } from './process.ts';
import { redisPing, startRedis } from './redis.ts';
import type { RedisAuth, RedisServer } from './redis.ts';
import { sentinelAclLines } from './redis-acl.ts';
import type { RedisUser } from './redis-acl.ts';

export type RedisSentinelPlan = {
  readonly dir: string;
  /** The name the Sentinels monitor the primary by (WARDEN_REDIS_MASTER_NAME). */
  readonly masterName: string;
  /** Data nodes: the first starts as the primary, the others as its replicas. */
  readonly redisPorts: readonly number[];
  readonly sentinelPorts: readonly number[];
  readonly passwords: ReadonlyMap<RedisUser, string>;
  readonly persist: boolean;
  /** `host:port,...` of the Sentinels, as WARDEN_REDIS_SENTINELS takes it. */
  readonly sentinels: string;
};

export type SentinelServer = ServerProcess & { readonly port: number };

export type RedisSentinelSet = {
  readonly plan: RedisSentinelPlan;
  readonly nodes: RedisServer[];
  readonly sentinels: SentinelServer[];
  stop(): Promise<void>;
};

/** Milliseconds without an answer before a Sentinel calls the primary down. */
const DOWN_AFTER_MS = 1000;

export async function redisSentinelPlan(options: {
  dir: string;
  passwords: ReadonlyMap<RedisUser, string>;
  masterName?: string;
  redisPorts?: readonly number[];
  sentinelPorts?: readonly number[];
  persist?: boolean;
}): Promise<RedisSentinelPlan> {
  const redisPorts = options.redisPorts ?? [await freePort(), await freePort()];
  const sentinelPorts = options.sentinelPorts ?? [await freePort(), await freePort(), await freePort()];
  if (redisPorts.length < 2) throw new StartError('Redis failover needs a primary and at least one replica');
  if (sentinelPorts.length < 3) throw new StartError('Redis failover needs at least three Sentinels');
  return {
    dir: options.dir,
    masterName: options.masterName ?? 'warden',
    redisPorts,
    sentinelPorts,
    passwords: options.passwords,
    persist: options.persist ?? false,
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
  };
}

export const redisNodeName = (index: number): string => `redis-${index + 1}`;
export const sentinelName = (index: number): string => `sentinel-${index + 1}`;

function adminAuth(plan: RedisSentinelPlan): RedisAuth {
  const password = plan.passwords.get('admin');
  if (!password) throw new StartError('no Redis admin password');
  return { username: 'admin', password };
}

/** Starts (or restarts) data node `index`: the first as the primary, the others as its replicas. */
export function startRedisNode(plan: RedisSentinelPlan, index: number): Promise<RedisServer> {
  const port = plan.redisPorts[index];
  const primary = plan.redisPorts[0];
  if (port === undefined || primary === undefined) throw new StartError(`no Redis node ${index}`);
  return startRedis({
    dir: join(plan.dir, redisNodeName(index)),
    name: redisNodeName(index),
    port,
    persist: plan.persist,
    passwords: plan.passwords,
    ...(index === 0 ? {} : { replicaOf: primary }),
  });
}

/**
 * Starts (or restarts) Sentinel `index`. Its configuration is written once: a Sentinel rewrites
 * it with what it learned (the current primary, the other Sentinels, the epoch), which a
 * restarted Sentinel must keep rather than go back to the first primary.
 */
export async function startSentinel(plan: RedisSentinelPlan, index: number): Promise<SentinelServer> {
  const port = plan.sentinelPorts[index];
  const primary = plan.redisPorts[0];
  if (port === undefined || primary === undefined) throw new StartError(`no Sentinel ${index}`);
  const dir = join(plan.dir, sentinelName(index));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const confFile = join(dir, 'sentinel.conf');
  const admin = adminAuth(plan);
  const name = plan.masterName;
  if (!existsSync(confFile))
    writeFileSync(
      confFile,
      [
        `bind 127.0.0.1`,
        `port ${port}`,
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primary} 2`,
        `sentinel auth-user ${name} ${admin.username}`,
        `sentinel auth-pass ${name} ${admin.password}`,
        `sentinel sentinel-user ${admin.username}`,
        `sentinel sentinel-pass ${admin.password}`,
        `sentinel down-after-milliseconds ${name} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        ...sentinelAclLines(plan.passwords),
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  const server = await startProcess({
    name: sentinelName(index),
    command: binary('redis-server'),
    args: [confFile, '--sentinel'],
    logFile: join(dir, 'sentinel.log'),
    ready: () => redisPing(port, admin),
  });
  return { ...server, port };
}

/** One command to Sentinel `index` as `admin`, on a short-lived connection. */
async function sentinelCall(
  plan: RedisSentinelPlan,
  index: number,
  args: readonly string[],
): Promise<unknown> {
  const port = plan.sentinelPorts[index];
  if (port === undefined) throw new StartError(`no Sentinel ${index}`);
  const client = new Redis({
    host: '127.0.0.1',
    port,
    ...adminAuth(plan),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const [command, ...rest] = args;
    return await client.call(command ?? 'PING', ...rest);
  } finally {
    client.disconnect();
  }
}

/** The primary's port as Sentinel `index` sees it, or null when it knows none or does not answer. */
export async function sentinelPrimaryPort(plan: RedisSentinelPlan, index = 0): Promise<number | null> {
  const reply = await sentinelCall(plan, index, [
    'SENTINEL',
    'GET-MASTER-ADDR-BY-NAME',
    plan.masterName,
  ]).catch(() => null);
  return Array.isArray(reply) && typeof reply[1] === 'string' ? Number(reply[1]) : null;
}

/** What Sentinel `index` knows of the primary: other Sentinels and replicas; null when it does not answer. */
async function sentinelView(
  plan: RedisSentinelPlan,
  index: number,
): Promise<{ sentinels: number; replicas: number } | null> {
  const reply = await sentinelCall(plan, index, ['SENTINEL', 'MASTER', plan.masterName]).catch(() => null);
  if (!Array.isArray(reply)) return null;
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  return {
    sentinels: Number(fields.get('num-other-sentinels') ?? 0) + 1,
    replicas: Number(fields.get('num-slaves') ?? 0),
  };
}

/** Starts the data nodes, then the Sentinels, and waits until every Sentinel knows the others. */
export async function startRedisSentinel(options: {
  dir: string;
  passwords: ReadonlyMap<RedisUser, string>;
  masterName?: string;
}): Promise<RedisSentinelSet> {
  const plan = await redisSentinelPlan(options);
  const nodes: RedisServer[] = [];
  const sentinels: SentinelServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(sentinels.map((s) => s.stop()));
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < plan.redisPorts.length; i++) nodes.push(await startRedisNode(plan, i));
    for (let i = 0; i < plan.sentinelPorts.length; i++) sentinels.push(await startSentinel(plan, i));
    await waitForSentinels(plan);
  } catch (err) {
    await stop();
    throw err;
  }
  return { plan, nodes, sentinels, stop };
}

/**
 * Resolves once every Sentinel sees all the others and every replica: before that, a failover
 * has no quorum or nothing to promote.
 */
export async function waitForSentinels(plan: RedisSentinelPlan, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(plan.sentinelPorts.map((_, i) => sentinelView(plan, i)));
    if (
      views.every(
        (v) =>
          v !== null &&
          v.sentinels === plan.sentinelPorts.length &&
          v.replicas === plan.redisPorts.length - 1,
      )
    )
      return;
    if (Date.now() > deadline)
      throw new StartError(
        `the Redis Sentinels did not find each other and the replicas within ${timeoutMs} ms`,
      );
    await sleep(100);
  }
}
