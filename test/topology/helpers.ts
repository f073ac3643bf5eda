import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Bus, provision, StreamName, topologyChanged, topologyQuery } from '@warden/events';
import type { DataOf, ReplyOf, RunningConsumer } from '@warden/events';
import { seedFile } from '@warden/infra';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import type { TestNats, TestRedis } from '@warden/testing';
import type { AccessRecord, GraphSnapshot } from '@warden/topology';
import { topologyService } from '@warden/topology';

type Changed = DataOf<typeof topologyChanged>;
export type Change = Extract<Changed, { changes: unknown }>['changes'][number];

/** The environment the local stack would give the topology service, plus the test's own settings. */
export function topologyEnv(
  nats: TestNats,
  redis: TestRedis,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    WARDEN_NATS_URL: nats.url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'topology'),
    ...redis.env('topology'),
    WARDEN_HTTP_PORT: '0',
    WARDEN_LOG_LEVEL: 'silent',
    WARDEN_INSTANCE: 'topology-test',
    WARDEN_TOPOLOGY_CHANGE_FLUSH_MS: '20',
    ...extra,
  };
}

const MINUTE = 60_000;

/**
 * A synthetic hour of traffic in the shop: web calls cart every 6 s (every 50th call a 503), cart
 * calls db every minute over TCP, web pays through payments for the first half hour (5 denied),
 * and an outside address probes web twice. web is named by its address only, as an L4 proxy
 * reports it; the registry (static file) resolves it.
 */
export function syntheticHour(base: number): AccessRecord[] {
  const at = (ms: number) => new Date(base + ms).toISOString();
  const records: AccessRecord[] = [];
  for (let i = 0; i < 600; i++)
    records.push({
      time: at(i * 6000),
      source: { address: '10.0.0.2' },
      destination: { namespace: 'shop', workload: 'cart' },
      protocol: 'http',
      method: 'GET',
      path: `/api/cart/${1000 + i}?currency=eur`,
      status: i % 50 === 49 ? 503 : 200,
      bytesSent: 100,
      bytesReceived: 200,
      decision: 'allow',
    });
  for (let i = 0; i < 60; i++)
    records.push({
      time: at(i * MINUTE + 500),
      source: { namespace: 'shop', workload: 'cart' },
      destination: { namespace: 'data', workload: 'db' },
      protocol: 'tcp',
      bytesSent: 1000,
    });
  for (let i = 0; i < 30; i++)
    records.push({
      time: at(i * MINUTE + 1000),
      source: { namespace: 'shop', workload: 'web' },
      destination: { namespace: 'shop', workload: 'payments' },
      protocol: 'http',
      method: 'post',
      path: '/pay',
      status: i < 5 ? 403 : 201,
      decision: i < 5 ? 'deny' : 'allow',
    });
  for (const ms of [10 * MINUTE, 50 * MINUTE])
    records.push({
      time: at(ms),
      source: { address: '203.0.113.9' },
      destination: { namespace: 'shop', workload: 'web' },
      protocol: 'http',
      method: 'GET',
      path: '/.env',
      status: 404,
    });
  return records;
}

export const startTopologyService = (env: NodeJS.ProcessEnv): Promise<RunningService> =>
  runService(topologyService, env);

/** Collects the registry changes of every `warden.topology.v1.changed` event, as the console does. */
export class ChangeLog {
  readonly events: Change[][] = [];
  private consumer: RunningConsumer | undefined;

  static async start(nc: NatsConnection, durable = 'test-changes'): Promise<ChangeLog> {
    const log = new ChangeLog();
    // The service provisions the stream too; the listener may come first.
    await provision(nc, { streams: [StreamName.topology] });
    const bus = new Bus(nc, { source: 'test-console' });
    // Graph snapshots ride the same subject; this log is about the registry.
    log.consumer = await bus.consume(
      topologyChanged,
      (e) => void ('changes' in e.data && log.events.push(e.data.changes)),
      { durable, deliver: 'all' },
    );
    return log;
  }

  /** Every change so far, as `op kind key` lines. */
  lines(): string[] {
    return this.events.flat().map((c) => `${c.op} ${c.kind} ${c.key}`);
  }

  /** Waits until a change matching `line` has arrived, and returns every line so far. */
  async waitFor(line: string, timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.lines().includes(line)) return this.lines();
      await sleep(20);
    }
    throw new Error(`no change "${line}" within ${timeoutMs} ms; got:\n${this.lines().join('\n')}`);
  }

  clear(): void {
    this.events.length = 0;
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
  }
}

export type QueryReply = ReplyOf<typeof topologyQuery>;

export async function query(nc: NatsConnection, data: DataOf<typeof topologyQuery>): Promise<QueryReply> {
  return new Bus(nc, { source: 'test-query' }).request(topologyQuery, data, { timeoutMs: 10_000 });
}

/** Waits until `check` holds, polling. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every graph snapshot part on WARDEN_TOPOLOGY so far, with the size of its message. */
export async function storedSnapshots(
  nc: NatsConnection,
): Promise<{ bytes: number; graph: GraphSnapshot }[]> {
  const stream = await jetstream(nc).streams.get(StreamName.topology);
  const consumer = await stream.getConsumer({ filter_subjects: [topologyChanged.schema] });
  const out: { bytes: number; graph: GraphSnapshot }[] = [];
  if ((await consumer.info()).num_pending > 0) {
    const messages = await consumer.consume();
    for await (const msg of messages) {
      const data = (msg.json() as { data: DataOf<typeof topologyChanged> }).data;
      if ('graph' in data) out.push({ bytes: msg.data.byteLength, graph: data.graph });
      if (msg.info.pending === 0) break;
    }
    await messages.close();
  }
  await consumer.delete();
  return out;
}

/** Every edge of the graph over `range`, through as many pages as it takes. */
export async function wholeGraph(
  nc: NatsConnection,
  range: { since: string; until: string },
): Promise<QueryReply['edges']> {
  const edges: QueryReply['edges'] = [];
  let after: string | undefined;
  do {
    const page = await query(nc, { what: 'graph', limit: 5000, ...range, ...(after ? { after } : {}) });
    edges.push(...page.edges);
    after = page.next;
  } while (after !== undefined);
  return edges;
}
