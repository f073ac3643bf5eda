import { topologyChanged, topologyQuery } from '@warden/events';
import type { Bus } from '@warden/events';
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

  get stale(): boolean {
    return this.#stale;
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
      this.#log.warn({ err }, 'could not read the topology registry; keeping the last one');
      return;
    }
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
