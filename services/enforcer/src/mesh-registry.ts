import { topologyChanged, topologyQuery } from '@warden/events';
import type { Bus } from '@warden/events';
import { Backoff } from '@warden/core';
import type { Logger } from '@warden/runtime';
import type { XdsWorkload } from './xds.ts';

/**
 * The topology registry as the ADS server needs it: every HTTP and gRPC workload with its address,
 * labels and identity. A `warden.topology.v1.changed` event marks it stale; the next `refresh`
 * reads it again, page by page. Until the first read succeeds it is empty (nothing is served, so
 * a workload waiting for its listener does not serve either: fail closed).
 */
export class MeshRegistry {
  #workloads: XdsWorkload[] = [];
  #version = 0;
  #stale = true;
  /** After a failed read, not before this time: topology may be down for a while. */
  #retryAt = 0;
  readonly #backoff = new Backoff({ initialMs: 100, maxMs: 10_000 });
  readonly #bus: Bus;
  readonly #log: Logger;
  #unsubscribe: (() => void) | undefined;

  constructor(bus: Bus, log: Logger) {
    this.#bus = bus;
    this.#log = log;
  }

  get workloads(): readonly XdsWorkload[] {
    return this.#workloads;
  }

  /** Grows with every successful read that changed something. */
  get version(): number {
    return this.#version;
  }

  /** Whether a read is due: the registry changed, or a failed read's backoff has passed. */
  get stale(): boolean {
    return this.#stale && Date.now() >= this.#retryAt;
  }

  start(): void {
    const sub = this.#bus.subscribe(topologyChanged, () => {
      this.#stale = true;
    });
    this.#unsubscribe = () => sub.unsubscribe();
  }

  async refresh(): Promise<void> {
    this.#stale = false;
    const workloads: XdsWorkload[] = [];
    let after: string | undefined;
    try {
      do {
        const page = await this.#bus.request(topologyQuery, {
          what: 'registry',
          limit: 5000,
          ...(after ? { after } : {}),
        });
        for (const w of page.workloads) {
          if (w.protocol === 'tcp' || w.port === 0) continue;
          workloads.push({
            namespace: w.namespace,
            name: w.name,
            address: w.address,
            port: w.port,
            spiffeId: w.spiffeId,
            labels: w.labels,
            serviceAccount: w.serviceAccount,
          });
        }
        after = page.next;
      } while (after);
    } catch (err) {
      this.#stale = true;
      const delayMs = this.#backoff.next();
      this.#retryAt = Date.now() + delayMs;
      this.#log.warn(
        { err, retryInMs: delayMs },
        'could not read the topology registry; keeping the last one',
      );
      return;
    }
    this.#backoff.reset();
    workloads.sort((a, b) =>
      `${a.namespace}/${a.name}/${a.address}:${a.port}`.localeCompare(
        `${b.namespace}/${b.name}/${b.address}:${b.port}`,
      ),
    );
    if (JSON.stringify(workloads) === JSON.stringify(this.#workloads)) return;
    this.#workloads = workloads;
    this.#version++;
  }

  stop(): void {
    this.#unsubscribe?.();
  }
}
