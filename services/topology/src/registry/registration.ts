import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/nats-core';
import type { Bus, RunningConsumer } from '@warden/events';
import { StreamName, topologyDeregister, topologyHeartbeat, topologyRegister } from '@warden/events';
import type { TopologyMetrics } from '../metrics.ts';
import { RegistrationTable } from './registration-table.ts';
import type { Log, RegistrySource, SourceSink } from './source.ts';

export type RegistrationSourceOptions = {
  bus: Bus;
  sink: SourceSink;
  log: Log;
  metrics: TopologyMetrics;
  trustDomain: string;
  /** Durable consumer names are `<consumerPrefix>-register` and `<consumerPrefix>-deregister`. */
  consumerPrefix: string;
  defaultIntervalMs: number;
  missedBeats: number;
  maxRegistrations: number;
  /** How often expired workloads are looked for. */
  sweepMs: number;
  /** How long start waits for the replay of past registrations before going on without it. */
  replayTimeoutMs?: number;
  now?: () => number;
};

/**
 * Registrations (`warden register` / `warden deregister`) and heartbeats as a registry source.
 *
 * Each instance holds the registry in memory, so at start it replays every registration still in
 * WARDEN_TOPOLOGY: its durable consumers are recreated from the first message (an instance that
 * only resumed would start with an empty registry). Give each instance its own consumer prefix.
 * Heartbeats ride core NATS (they are frequent and worthless once late); a workload whose
 * heartbeats stop for `missedBeats` intervals is removed.
 */
export class RegistrationSource implements RegistrySource {
  readonly name = 'registration' as const;
  readonly table: RegistrationTable;
  private readonly options: RegistrationSourceOptions;
  private readonly now: () => number;
  private consumers: RunningConsumer[] = [];
  private heartbeats: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: RegistrationSourceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.table = new RegistrationTable({
      sink: options.sink,
      trustDomain: options.trustDomain,
      defaultIntervalMs: options.defaultIntervalMs,
      missedBeats: options.missedBeats,
      maxEntries: options.maxRegistrations,
    });
  }

  async start(): Promise<void> {
    const { bus, log, metrics, consumerPrefix } = this.options;
    const durables = [`${consumerPrefix}-register`, `${consumerPrefix}-deregister`];
    const jsm = await jetstreamManager(bus.nc);
    for (const durable of durables)
      await jsm.consumers.delete(StreamName.topology, durable).catch(() => false);

    // Heartbeats first, so none sent during the replay is missed.
    this.heartbeats = bus.subscribe(topologyHeartbeat, (event, subject) => {
      const [, , , , namespace = '', workload = ''] = subject.split('.');
      if (!this.table.heartbeat(namespace, workload, event.data.intervalSeconds, this.now())) {
        metrics.rejected.inc({ source: this.name, reason: 'heartbeat_unregistered' });
        log.debug({ namespace, workload }, 'heartbeat from a workload that is not registered; ignored');
      }
    });
    this.consumers.push(
      await bus.consume(
        topologyRegister,
        (event) => {
          const outcome = this.table.register(event.data, Date.parse(event.time), this.now());
          if (typeof outcome === 'object') {
            // A registration that can never be valid is acknowledged, counted and logged:
            // redelivering it would only repeat the warning.
            metrics.rejected.inc({ source: this.name, reason: 'invalid_registration' });
            log.warn(
              { eventId: event.id, from: event.source, issues: outcome.rejected },
              'registration rejected',
            );
          }
        },
        { durable: durables[0] ?? '', deliver: 'all' },
      ),
      await bus.consume(
        topologyDeregister,
        (event) => {
          const { namespace, workload } = event.data;
          this.table.deregister(namespace, workload, Date.parse(event.time));
        },
        { durable: durables[1] ?? '', deliver: 'all' },
      ),
    );
    await this.waitForReplay(durables);
    this.sweeper = setInterval(() => this.sweep(), this.options.sweepMs);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.heartbeats?.unsubscribe();
    await Promise.all(this.consumers.map((c) => c.stop()));
    this.consumers = [];
  }

  /** Removes workloads whose heartbeats stopped. */
  sweep(): void {
    const expired = this.table.expire(this.now());
    if (expired.length === 0) return;
    this.options.metrics.expired.inc(expired.length);
    this.options.log.info(
      { workloads: expired.slice(0, 50), count: expired.length },
      'registrations expired',
    );
  }

  private async waitForReplay(durables: readonly string[]): Promise<void> {
    const jsm = await jetstreamManager(this.options.bus.nc);
    const deadline = Date.now() + (this.options.replayTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      const infos = await Promise.all(durables.map((d) => jsm.consumers.info(StreamName.topology, d)));
      if (infos.every((i) => i.num_pending === 0 && i.num_ack_pending === 0)) return;
      await sleep(25);
    }
    this.options.log.warn({ durables }, 'registrations still replaying; starting anyway');
  }
}
