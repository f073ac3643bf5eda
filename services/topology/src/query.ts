import type { DataOf, ReplyOf, topologyQuery } from '@warden/events';
import { GraphIncompleteError, InvalidQueryError } from './errors.ts';
import type { GraphEdge, GraphStore } from './graph/store.ts';
import { edgeId, nodeId } from './graph/fold.ts';
import { keyOf } from './registry/model.ts';
import type { Registry } from './registry/registry.ts';

type Query = DataOf<typeof topologyQuery>;
type Reply = ReplyOf<typeof topologyQuery>;

export type QueryOptions = {
  registry: Registry;
  graph: GraphStore;
  /** The longest time range one graph query may cover. */
  maxRangeMs: number;
  defaultLimit?: number;
  /** Stop adding items past this many bytes of JSON (nats-server's max_payload is 1 MiB). */
  maxReplyBytes?: number;
  now?: () => number;
};

const empty = (): Reply => ({ namespaces: [], services: [], workloads: [], edges: [] });

/**
 * Answers `warden.topology.v1.query`. Items are in key order and paged: a reply holds at most
 * `limit` items and stays under `maxReplyBytes`; `next` is the key to pass as `after` for more.
 */
export function createQueryHandler(options: QueryOptions): (query: Query) => Promise<Reply> {
  const limitOf = (q: Query): number => q.limit ?? options.defaultLimit ?? 1000;
  const budget = options.maxReplyBytes ?? 768 * 1024;
  const now = options.now ?? Date.now;

  /** Takes sorted [key, item] pairs after the cursor until the limit or the byte budget. */
  function page<T>(items: [string, T][], q: Query): { items: T[]; next?: string } {
    items.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const out: T[] = [];
    let bytes = 0;
    let last: string | undefined;
    for (const [key, item] of items) {
      if (q.after !== undefined && key <= q.after) continue;
      const size = JSON.stringify(item).length;
      if (out.length >= limitOf(q) || (out.length > 0 && bytes + size > budget))
        return { items: out, next: last };
      out.push(item);
      bytes += size;
      last = key;
    }
    return { items: out };
  }

  const inScope = (q: Query, ns: string, name?: string): boolean =>
    (!q.namespace || q.namespace === ns) && (!q.workload || name === undefined || q.workload === name);

  function registry(q: Query): Reply {
    const { registry: r } = options;
    // One flat key space across kinds (k: prefix) so a single cursor pages through all three.
    const items: [string, { kind: 'n' | 's' | 'w'; value: unknown }][] = [];
    if (!q.workload) {
      for (const ns of r.namespaces())
        if (inScope(q, ns.name)) items.push([`0:${ns.name}`, { kind: 'n', value: ns }]);
      for (const svc of r.services())
        if (inScope(q, svc.namespace)) items.push([`1:${keyOf('service', svc)}`, { kind: 's', value: svc }]);
    }
    for (const w of r.workloads()) {
      if (!inScope(q, w.namespace, w.name)) continue;
      const source = r.ownerOf('workload', keyOf('workload', w)) ?? 'static';
      items.push([`2:${keyOf('workload', w)}`, { kind: 'w', value: { ...w, source } }]);
    }
    const { items: chosen, next } = page(items, q);
    const reply = empty();
    for (const item of chosen) {
      if (item.kind === 'n') reply.namespaces.push(item.value as Reply['namespaces'][number]);
      else if (item.kind === 's') reply.services.push(item.value as Reply['services'][number]);
      else reply.workloads.push(item.value as Reply['workloads'][number]);
    }
    if (next !== undefined) reply.next = next;
    return reply;
  }

  async function graph(q: Query): Promise<Reply> {
    const until = q.until ? Date.parse(q.until) : now();
    const since = q.since ? Date.parse(q.since) : until - 3600_000;
    if (since > until) throw new InvalidQueryError('since is after until');
    if (until - since > options.maxRangeMs)
      throw new InvalidQueryError(`the range is longer than the limit of ${options.maxRangeMs / 3600_000} h`);
    if (!(await options.graph.isComplete())) throw new GraphIncompleteError();
    const edges = await options.graph.edges(since, until);
    const touches = (e: GraphEdge): boolean =>
      [e.source, e.destination].some(
        (n) => (!q.namespace || n.namespace === q.namespace) && (!q.workload || n.workload === q.workload),
      );
    const items: [string, Reply['edges'][number]][] = [];
    for (const e of edges.values()) {
      if (!touches(e)) continue;
      items.push([
        edgeId(nodeId(e.source), nodeId(e.destination), e.method, e.pathPrefix),
        {
          source: e.source,
          destination: e.destination,
          method: e.method,
          pathPrefix: e.pathPrefix,
          requests: e.requests,
          errors: e.errors,
          denies: e.denies,
          bytes: e.bytes,
          // A bucket whose sorted sets expired a moment before its hashes has no times: say the range.
          firstSeen: new Date(Number.isFinite(e.firstSeen) ? e.firstSeen : since).toISOString(),
          lastSeen: new Date(Number.isFinite(e.lastSeen) ? e.lastSeen : until).toISOString(),
        },
      ]);
    }
    const { items: chosen, next } = page(items, q);
    const buckets = options.graph.bucketsIn(since, until);
    const first = buckets[0] ?? since;
    const last = (buckets[buckets.length - 1] ?? until) + options.graph.bucketMs;
    return {
      ...empty(),
      edges: chosen,
      since: new Date(first).toISOString(),
      until: new Date(last).toISOString(),
      ...(next !== undefined ? { next } : {}),
    };
  }

  return async (q) => (q.what === 'registry' ? registry(q) : graph(q));
}
