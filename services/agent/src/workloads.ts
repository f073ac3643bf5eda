import type { Entry } from './entries.ts';
import type { Bundle, Svid } from './svid.ts';
import type { WorkloadDeps } from './workload.ts';
import { Workload } from './workload.ts';

/**
 * The workloads of this host, one per registration entry: started when an entry appears, updated
 * when it changes, removed (identity dropped) when it goes. Every change of the entries is one
 * reconciliation, run one after the other.
 */
export class Workloads {
  private readonly running = new Map<string, Workload>();
  private readonly deps: WorkloadDeps;
  private readonly desired: () => ReadonlyMap<string, Entry>;
  private reconciling: Promise<void> = Promise.resolve();

  /** `desired` gives the entries by SPIFFE ID, read when each reconciliation runs. */
  constructor(deps: WorkloadDeps, desired: () => ReadonlyMap<string, Entry>) {
    this.deps = deps;
    this.desired = desired;
  }

  /** The SVIDs held now. */
  *held(): Iterable<Svid> {
    for (const w of this.running.values()) if (w.svid) yield w.svid;
  }

  /** Starts, updates and removes workloads until they match the desired entries. */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(async () => {
      const want = this.desired();
      const starts: Promise<void>[] = [];
      for (const [id, w] of this.running) {
        if (want.has(id)) continue;
        this.running.delete(id);
        this.deps.log.info({ spiffeId: id }, 'entry removed; dropping its identity');
        starts.push(w.remove());
      }
      for (const [id, entry] of want) {
        const w = this.running.get(id);
        if (w) {
          if (w.entry !== entry) w.update(entry);
          continue;
        }
        const created = new Workload(entry, this.deps);
        this.running.set(id, created);
        starts.push(created.start());
      }
      await Promise.all(starts);
    });
    return this.reconciling;
  }

  /** A revocation event: each workload drops its SVID if the event covers it. */
  async revoke(serials: ReadonlySet<string>, spiffeId: string | undefined, eventTime: Date): Promise<void> {
    await Promise.all([...this.running.values()].map((w) => w.revoke(serials, spiffeId, eventTime)));
  }

  bundleChanged(bundle: Bundle): void {
    for (const w of this.running.values()) w.bundleChanged(bundle);
  }

  crlChanged(crl: string): void {
    for (const w of this.running.values()) w.crlChanged(crl);
  }

  /**
   * The SVID SDS serves as `default` to an Envoy node: that of the entry named as the node id, or,
   * when the host has exactly one entry, that one.
   */
  certificateFor(nodeId: string | undefined): Svid | null {
    const list = [...this.running.values()];
    const byName = nodeId ? list.find((w) => w.entry.name === nodeId) : undefined;
    const chosen = byName ?? (list.length === 1 ? list[0] : undefined);
    return chosen?.svid ?? null;
  }

  /** Stops every workload once the reconciliation under way is done; files stay for the next start. */
  async stop(): Promise<void> {
    await this.reconciling.catch(() => undefined);
    await Promise.all([...this.running.values()].map((w) => w.stop()));
  }
}
