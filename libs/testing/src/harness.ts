import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { PEOPLE_JS_API } from '@warden/events';
import type { Principal } from '@warden/events';
import {
  ensureCredentials,
  ensureRedisCredentials,
  redisCommand,
  redisPasswordFile,
  redisPing,
  seedFile,
  startNats,
  startNatsCluster,
  startRedis,
  startVictoriaMetrics,
} from '@warden/infra';
import type {
  NatsCredential,
  NatsCluster,
  NatsIdentity,
  NatsServer,
  RedisAuth,
  RedisServer,
  RedisUser,
  VictoriaMetricsServer,
} from '@warden/infra';
import { connectNats } from '@warden/runtime';

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `warden-${prefix}-`));

export type TestNats = {
  /** The server, or a cluster's first node. */
  readonly server: NatsServer;
  /** With `cluster`: every node (their URLs, comma-separated, are `url`). */
  readonly cluster?: NatsCluster;
  readonly url: string;
  readonly dir: string;
  readonly credsDir: string;
  readonly credentials: ReadonlyMap<NatsIdentity, NatsCredential>;
  /** A connection as one identity: a service principal, 'user', 'workload' or the unrestricted 'admin'. */
  connect(identity: Principal | 'admin'): Promise<NatsConnection>;
  /**
   * Per-test isolation: closes every connection opened through `connect` (so no subscriber or
   * responder of an earlier test answers) and deletes every stream, KV bucket and object store.
   */
  reset(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * A real nats-server with JetStream and the generated per-service permissions, on free loopback
 * ports, with its store in a temporary folder that `stop()` removes. With `cluster: 3`, three
 * routed nodes instead (benchmarks of the cost of replication); streams are then provisioned by
 * the caller with `replicas: 3`.
 */
export async function startTestNats(options: { auth?: boolean; cluster?: number } = {}): Promise<TestNats> {
  const dir = tempDir('nats');
  const credsDir = join(dir, 'creds');
  const credentials = ensureCredentials(credsDir);
  const auth = options.auth === false ? {} : { credentials };
  const cluster = options.cluster
    ? await startNatsCluster({ dir, size: options.cluster, ...auth })
    : undefined;
  const server = cluster?.nodes[0] ?? (await startNats({ dir, ...auth }));
  const url = cluster?.url ?? server.url;
  const connections = new Set<NatsConnection>();
  const connect = async (identity: Principal | 'admin'): Promise<NatsConnection> => {
    const nc = await connectNats({
      url,
      principal: identity,
      instance: `test-${identity}`,
      seedFile: options.auth === false ? undefined : seedFile(credsDir, identity),
    });
    connections.add(nc);
    void nc.closed().then(() => connections.delete(nc));
    return nc;
  };
  return {
    server,
    ...(cluster ? { cluster } : {}),
    url,
    dir,
    credsDir,
    credentials,
    connect,
    reset: async () => {
      await Promise.all([...connections].map((c) => c.close().catch(() => undefined)));
      const nc = await connect('admin');
      try {
        // People's mirrors first: a mirror left behind would outlive the stream it copies.
        if (options.auth !== false) {
          const people = await jetstreamManager(nc, { apiPrefix: PEOPLE_JS_API, checkAPI: false });
          for await (const name of people.streams.names()) await people.streams.delete(name);
        }
        const jsm = await jetstreamManager(nc);
        for await (const name of jsm.streams.names()) await jsm.streams.delete(name);
      } finally {
        await nc.close();
      }
    },
    stop: async () => {
      await Promise.all([...connections].map((nc) => nc.close().catch(() => undefined)));
      await (cluster ?? server).stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type TestRedis = {
  readonly server: RedisServer;
  /** Without credentials: the default user is off, so a client must add its own. */
  readonly url: string;
  /** With the `admin` user's credentials: for tests that look at or tamper with Redis directly. */
  readonly adminUrl: string;
  readonly port: number;
  /** The passwords' folder (`redis-<user>.pass`). */
  readonly credsDir: string;
  /** `user`'s credentials, for a client acting as that service. */
  authFor(user: RedisUser): RedisAuth;
  /** A URL with `user`'s credentials. */
  urlFor(user: RedisUser): string;
  /** A service's settings for this server: its URL, its ACL user and password file. */
  env(user: RedisUser): Record<string, string>;
  /** Sends one command as `admin`; resolves with the raw first reply line. */
  command(args: readonly string[]): Promise<string>;
  /** FLUSHALL. */
  reset(): Promise<void>;
  stop(): Promise<void>;
};

export async function startTestRedis(): Promise<TestRedis> {
  const dir = tempDir('redis');
  const credsDir = join(dir, 'creds');
  const server = await startRedis({ dir, passwords: ensureRedisCredentials(credsDir) });
  const admin = server.admin;
  if (!admin) throw new Error('redis started without ACL users');
  const command = (args: readonly string[]) => redisCommand(server.port, args, admin);
  const passwords = ensureRedisCredentials(credsDir);
  const authFor = (user: RedisUser): RedisAuth => ({ username: user, password: passwords.get(user) ?? '' });
  const urlFor = (user: RedisUser) =>
    `redis://${user}:${encodeURIComponent(authFor(user).password)}@127.0.0.1:${server.port}`;
  return {
    server,
    url: server.url,
    adminUrl: urlFor('admin'),
    authFor,
    urlFor,
    port: server.port,
    credsDir,
    env: (user) => ({
      WARDEN_REDIS_URL: server.url,
      WARDEN_REDIS_USER: user,
      WARDEN_REDIS_PASSWORD_FILE: redisPasswordFile(credsDir, user),
    }),
    command,
    reset: async () => {
      await command(['FLUSHALL']);
      if (!(await redisPing(server.port, admin))) throw new Error('redis did not answer after FLUSHALL');
    },
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type TestVictoriaMetrics = {
  readonly server: VictoriaMetricsServer;
  readonly url: string;
  /** Deletes every series. */
  reset(): Promise<void>;
  stop(): Promise<void>;
};

export async function startTestVictoriaMetrics(): Promise<TestVictoriaMetrics> {
  const dir = tempDir('vm');
  const server = await startVictoriaMetrics({ dir });
  return {
    server,
    url: server.url,
    reset: async () => {
      const res = await fetch(
        `${server.url}/api/v1/admin/tsdb/delete_series?match[]=${encodeURIComponent('{__name__=~".+"}')}`,
        {
          method: 'POST',
        },
      );
      if (res.status !== 204 && !res.ok)
        throw new Error(`victoria-metrics delete_series answered ${res.status}`);
      await res.body?.cancel();
    },
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Started<T extends { stop(): Promise<void>; reset(): Promise<void> }> = { get(): T };

/**
 * Registers node:test hooks in the current suite: start once before its tests, reset before each
 * test (per-test isolation), stop after. `get()` returns the running server inside a test.
 */
function useServer<T extends { stop(): Promise<void>; reset(): Promise<void> }>(
  start: () => Promise<T>,
): Started<T> {
  let server: T | undefined;
  before(async () => {
    server = await start();
  });
  beforeEach(async () => {
    await server?.reset();
  });
  after(async () => {
    await server?.stop();
  });
  return {
    get: () => {
      if (!server) throw new Error('server not started: call get() inside a test');
      return server;
    },
  };
}

export const useNats = (options: { auth?: boolean } = {}): Started<TestNats> =>
  useServer(() => startTestNats(options));
export const useRedis = (): Started<TestRedis> => useServer(startTestRedis);
export const useVictoriaMetrics = (): Started<TestVictoriaMetrics> => useServer(startTestVictoriaMetrics);
