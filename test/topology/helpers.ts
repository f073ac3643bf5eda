import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { Bus, provision, StreamName, topologyChanged, topologyQuery } from '@warden/events';
import type { DataOf, ReplyOf, RunningConsumer } from '@warden/events';
import { seedFile } from '@warden/infra';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import type { TestNats, TestRedis } from '@warden/testing';
import { topologyService } from '@warden/topology';

export type Change = DataOf<typeof topologyChanged>['changes'][number];

/** The environment the local stack would give the topology service, plus the test's own settings. */
export function topologyEnv(
  nats: TestNats,
  redis: TestRedis,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    WARDEN_NATS_URL: nats.url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'topology'),
    WARDEN_REDIS_URL: redis.url,
    WARDEN_HTTP_PORT: '0',
    WARDEN_LOG_LEVEL: 'silent',
    WARDEN_INSTANCE: 'topology-test',
    WARDEN_TOPOLOGY_CHANGE_FLUSH_MS: '20',
    ...extra,
  };
}

export const startTopologyService = (env: NodeJS.ProcessEnv): Promise<RunningService> =>
  runService(topologyService, env);

/** Collects every `warden.topology.v1.changed` event, as the console does. */
export class ChangeLog {
  readonly events: Change[][] = [];
  private consumer: RunningConsumer | undefined;

  static async start(nc: NatsConnection, durable = 'test-changes'): Promise<ChangeLog> {
    const log = new ChangeLog();
    // The service provisions the stream too; the listener may come first.
    await provision(nc, { streams: [StreamName.topology] });
    const bus = new Bus(nc, { source: 'test-console' });
    log.consumer = await bus.consume(topologyChanged, (e) => void log.events.push(e.data.changes), {
      durable,
      deliver: 'all',
    });
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
