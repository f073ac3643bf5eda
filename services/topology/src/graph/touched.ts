/**
 * The edges written since the last snapshot, as edge ids per bucket start. Kept in memory and
 * filled as batches are added, so a snapshot reads back only those edges and never scans Redis;
 * its cost follows the traffic of one interval, not the size of the graph.
 */
export class TouchedEdges {
  private buckets = new Map<number, Set<string>>();
  private count = 0;

  add(start: number, ids: Iterable<string>): void {
    let set = this.buckets.get(start);
    if (!set) this.buckets.set(start, (set = new Set()));
    for (const id of ids) {
      if (set.has(id)) continue;
      set.add(id);
      this.count++;
    }
  }

  /** Edges held, over every bucket. */
  get size(): number {
    return this.count;
  }

  /** Hands over everything touched so far, buckets in time order, and starts afresh. */
  take(): [number, Set<string>][] {
    const taken = [...this.buckets].sort((a, b) => a[0] - b[0]);
    this.buckets = new Map();
    this.count = 0;
    return taken;
  }
}
