import type { EntityKind, EntityOf, Namespace, Service, Snapshot, SourceName, Workload } from './model.ts';
import { EntityKind as Kinds, emptySnapshot, keyOf, precedence, sameValue, snapshotMap } from './model.ts';

export type Change = { op: 'added' | 'updated' | 'removed'; kind: EntityKind; key: string };

/** Two or more sources describe one workload or service differently; `winner` is the one kept. */
export type Conflict = { kind: EntityKind; key: string; winner: SourceName; overridden: SourceName[] };

export type RegistryHooks = {
  onChanges?(changes: readonly Change[]): void;
  onConflict?(conflict: Conflict): void;
  /** A conflict ended: the sources agree again, or only one still describes the key. */
  onConflictResolved?(kind: EntityKind, key: string): void;
};

const kinds: readonly EntityKind[] = [Kinds.namespace, Kinds.service, Kinds.workload];

/**
 * The merged view of every source. Each source owns a layer; the visible entity for a key is the
 * one from the highest-precedence layer that has it (`precedence` in model.ts). Every mutation
 * returns, and hands to `onChanges`, exactly what changed in the merged view, so a lower source
 * changing under a higher one changes nothing visible and emits nothing.
 */
export class Registry {
  private readonly layers = new Map<SourceName, Snapshot>();
  private readonly merged: Snapshot = emptySnapshot();
  private readonly owners = new Map<EntityKind, Map<string, SourceName>>(kinds.map((k) => [k, new Map()]));
  private readonly conflicts = new Map<string, string>();
  private readonly addresses = new Map<string, string>();
  private readonly hooks: RegistryHooks;

  constructor(hooks: RegistryHooks = {}) {
    this.hooks = hooks;
    for (const source of precedence) this.layers.set(source, emptySnapshot());
  }

  /** Replaces a source's whole layer (a static file reload, a Kubernetes relist). */
  replace(source: SourceName, snapshot: Snapshot): Change[] {
    const layer = this.layer(source);
    const changes: Change[] = [];
    for (const kind of kinds) {
      const before = snapshotMap(layer, kind);
      const after = snapshotMap(snapshot, kind);
      const touched = new Set([...before.keys(), ...after.keys()]);
      const target = snapshotMap(layer, kind) as Map<string, EntityOf<EntityKind>>;
      target.clear();
      for (const [key, value] of after) target.set(key, value);
      for (const key of touched) this.recompute(kind, key, changes);
    }
    return this.emit(changes);
  }

  upsert<K extends EntityKind>(source: SourceName, kind: K, entity: EntityOf<K>): Change[] {
    const key = keyOf(kind, entity);
    snapshotMap(this.layer(source), kind).set(key, entity);
    const changes: Change[] = [];
    this.recompute(kind, key, changes);
    return this.emit(changes);
  }

  remove(source: SourceName, kind: EntityKind, key: string): Change[] {
    if (!snapshotMap(this.layer(source), kind).delete(key)) return [];
    const changes: Change[] = [];
    this.recompute(kind, key, changes);
    return this.emit(changes);
  }

  get<K extends EntityKind>(kind: K, key: string): EntityOf<K> | undefined {
    return snapshotMap(this.merged, kind).get(key);
  }

  /** Which source the visible entity comes from. */
  ownerOf(kind: EntityKind, key: string): SourceName | undefined {
    return this.owners.get(kind)?.get(key);
  }

  /** What one source alone says (for tests and diagnostics). */
  layerOf(source: SourceName): Snapshot {
    return this.layer(source);
  }

  namespaces(): IterableIterator<Namespace> {
    return this.merged.namespaces.values();
  }

  services(): IterableIterator<Service> {
    return this.merged.services.values();
  }

  workloads(): IterableIterator<Workload> {
    return this.merged.workloads.values();
  }

  size(kind: EntityKind): number {
    return snapshotMap(this.merged, kind).size;
  }

  /** The workload at an address, to name the ends of telemetry records that carry only an IP. */
  workloadAt(address: string): Workload | undefined {
    const key = this.addresses.get(address);
    return key === undefined ? undefined : this.merged.workloads.get(key);
  }

  private layer(source: SourceName): Snapshot {
    const layer = this.layers.get(source);
    if (!layer) throw new Error(`unknown registry source ${source}`);
    return layer;
  }

  private recompute(kind: EntityKind, key: string, changes: Change[]): void {
    const present: { source: SourceName; value: EntityOf<EntityKind> }[] = [];
    for (const source of precedence) {
      const value = snapshotMap(this.layer(source), kind).get(key);
      if (value !== undefined) present.push({ source, value });
    }
    const winner = present[0];
    const merged = snapshotMap(this.merged, kind) as Map<string, EntityOf<EntityKind>>;
    const before = merged.get(key);
    const owners = this.owners.get(kind) as Map<string, SourceName>;
    if (kind === Kinds.workload)
      this.reindexAddress(key, before as Workload | undefined, winner?.value as Workload | undefined);
    if (!winner) {
      if (before !== undefined) {
        merged.delete(key);
        owners.delete(key);
        changes.push({ op: 'removed', kind, key });
      }
    } else {
      merged.set(key, winner.value);
      owners.set(key, winner.source);
      if (before === undefined) changes.push({ op: 'added', kind, key });
      else if (!sameValue(before, winner.value)) changes.push({ op: 'updated', kind, key });
    }
    // Namespaces are implied by every source that has workloads in them; only a difference in
    // what a workload or service *is* counts as a conflict worth reporting.
    if (kind !== Kinds.namespace) this.trackConflict(kind, key, present);
  }

  private reindexAddress(key: string, before: Workload | undefined, after: Workload | undefined): void {
    if (before && this.addresses.get(before.address) === key) this.addresses.delete(before.address);
    if (after) this.addresses.set(after.address, key);
  }

  private trackConflict(
    kind: EntityKind,
    key: string,
    present: readonly { source: SourceName; value: EntityOf<EntityKind> }[],
  ): void {
    const id = `${kind}:${key}`;
    const [winner, ...rest] = present;
    const overridden = winner
      ? rest.filter((p) => !sameValue(p.value, winner.value)).map((p) => p.source)
      : [];
    if (!winner || overridden.length === 0) {
      if (this.conflicts.delete(id)) this.hooks.onConflictResolved?.(kind, key);
      return;
    }
    const signature = `${winner.source}>${overridden.join(',')}`;
    // Reported once per distinct clash, not on every heartbeat or relist that repeats it.
    if (this.conflicts.get(id) === signature) return;
    this.conflicts.set(id, signature);
    this.hooks.onConflict?.({ kind, key, winner: winner.source, overridden });
  }

  conflictCount(): number {
    return this.conflicts.size;
  }

  private emit(changes: Change[]): Change[] {
    if (changes.length > 0) this.hooks.onChanges?.(changes);
    return changes;
  }
}
