import type { Redis } from 'ioredis';
import { GraphIncompleteError } from '../errors.ts';
import type { EdgeCounts, FoldResult, GraphNode } from './fold.ts';
import { edgeId, parseEdgeId, parseNodeId } from './fold.ts';

export type GraphEdge = {
  source: GraphNode;
  destination: GraphNode;
  method: string;
  pathPrefix: string;
  requests: number;
  errors: number;
  denies: number;
  bytes: number;
  firstSeen: number;
  lastSeen: number;
};

export type GraphStoreOptions = {
  redis: Redis;
  bucketMs: number;
  /** How long buckets (and the ids of folded events) are kept. */
  retentionMs: number;
  /**
   * Distinct edges one bucket may hold. Paths come from the traffic, so a scanner could mint an
   * edge per request; past the cap, new edges are counted under their (source, destination,
   * method) with the path prefix `{overflow}`, so the counts stay right and memory stays bounded.
   */
  maxEdgesPerBucket?: number;
  prefix?: string;
  /**
   * Refuse to add counts while the completeness marker is missing (GraphIncompleteError): a graph
   * Redis lost is restored from its snapshots with absolute values, which would overwrite counts
   * added meanwhile (rebuild.ts). The service sets it; a bare store (tests, benchmarks) need not.
   */
  requireComplete?: boolean;
  /** Told the edge ids each added batch wrote, per bucket, after the cap: what snapshots send. */
  onWritten?: (start: number, ids: Iterable<string>) => void;
};

export const OVERFLOW_PREFIX = '{overflow}';

const COUNTERS = ['requests', 'errors', 'denies', 'bytes'] as const;
/** Edges read per round trip when reading values back by id. */
const READ_BATCH = 2000;

/**
 * KEYS: the bucket's requests, errors, denies, bytes hashes and first, last sorted sets; ARGV:
 * expire-at (ms), then per edge id, requests, errors, denies, bytes, first, last. A counter is
 * raised to the given value, never lowered; keys without an expiry get one.
 */
const MERGE_MAX = `
for i = 2, #ARGV, 7 do
  local id = ARGV[i]
  for k = 1, 4 do
    local value = ARGV[i + k]
    if tonumber(value) > tonumber(redis.call('HGET', KEYS[k], id) or '0') then
      redis.call('HSET', KEYS[k], id, value)
    end
  end
  redis.call('ZADD', KEYS[5], 'LT', ARGV[i + 5], id)
  redis.call('ZADD', KEYS[6], 'GT', ARGV[i + 6], id)
end
for k = 1, 6 do
  if redis.call('PTTL', KEYS[k]) == -1 then redis.call('PEXPIREAT', KEYS[k], ARGV[1]) end
end
return 0
`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const MARK_COMPLETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end return 0`;

/**
 * The call graph in Redis (DESIGN §2: hot, shared, expiring state). Per time bucket there is one
 * hash per counter (field = edge id) and two sorted sets for first and last seen (ZADD LT / GT
 * keep the min / max atomically). Every key expires with the retention, so the graph needs no
 * clean-up job, and a time-range query reads only the buckets it covers.
 *
 * Beside the buckets: `<prefix>:complete`, the marker that the graph is whole (set by a rebuild,
 * gone when Redis loses its data), and `<prefix>:rebuilding`, the lock of the instance rebuilding.
 */
export class GraphStore {
  private readonly options: GraphStoreOptions;
  private readonly prefix: string;

  constructor(options: GraphStoreOptions) {
    this.options = options;
    this.prefix = `${options.prefix ?? 'warden:topology:graph'}:${options.bucketMs / 1000}`;
  }

  get bucketMs(): number {
    return this.options.bucketMs;
  }

  private key(start: number, part: string): string {
    return `${this.prefix}:${start}:${part}`;
  }

  private get completeKey(): string {
    return `${this.prefix}:complete`;
  }

  private get lockKey(): string {
    return `${this.prefix}:rebuilding`;
  }

  /**
   * Adds one folded batch, once: the event id is recorded in the same MULTI as the counts, and
   * a redelivered event whose id is already there is skipped, so a retry after a lost ack does
   * not count twice. Returns false for such a duplicate.
   */
  async add(eventId: string, result: FoldResult): Promise<boolean> {
    const { redis, retentionMs } = this.options;
    const seen = `${this.prefix}:seen:${eventId}`;
    const starts = [...result.buckets.keys()];
    const check = redis.pipeline().exists(seen);
    for (const start of starts) check.hlen(this.key(start, 'requests'));
    // In the same round trip: the hot path pays nothing for the check.
    if (this.options.requireComplete) check.exists(this.completeKey);
    const checked = (await check.exec()) ?? [];
    if (this.options.requireComplete) {
      const [err, complete] = checked[starts.length + 1] ?? [new Error('missing reply'), 0];
      if (err) throw err;
      if (complete !== 1) throw new GraphIncompleteError();
    }
    if (checked[0]?.[1] === 1) return false;
    const cap = this.options.maxEdgesPerBucket ?? 100_000;
    const buckets = new Map(result.buckets);
    for (const [i, start] of starts.entries()) {
      const held = Number(checked[i + 1]?.[1] ?? 0);
      const edges = result.buckets.get(start);
      if (edges && held + edges.size > cap) buckets.set(start, await this.capped(start, edges, held, cap));
    }
    const ttl = Math.ceil((retentionMs + this.options.bucketMs) / 1000);
    const multi = redis.multi();
    for (const [start, edges] of buckets) {
      for (const [id, c] of edges) {
        multi.hincrby(this.key(start, 'requests'), id, c.requests);
        if (c.errors) multi.hincrby(this.key(start, 'errors'), id, c.errors);
        if (c.denies) multi.hincrby(this.key(start, 'denies'), id, c.denies);
        if (c.bytes) multi.hincrby(this.key(start, 'bytes'), id, c.bytes);
        // ZADD LT/GT (Redis >= 6.2): insert, or move only towards the earlier/later time.
        multi.call('ZADD', this.key(start, 'first'), 'LT', String(c.first), id);
        multi.call('ZADD', this.key(start, 'last'), 'GT', String(c.last), id);
      }
      for (const part of [...COUNTERS, 'first', 'last']) multi.expire(this.key(start, part), ttl);
    }
    multi.set(seen, '1', 'EX', ttl);
    const replies = await multi.exec();
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw failed?.[0] ?? new Error('redis MULTI was discarded');
    for (const [start, edges] of buckets) this.options.onWritten?.(start, edges.keys());
    return true;
  }

  /** Current values of some edges of one bucket, by id; an edge Redis no longer has is left out. */
  async valuesOf(start: number, ids: readonly string[]): Promise<Map<string, EdgeCounts>> {
    const out = new Map<string, EdgeCounts>();
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const slice = ids.slice(i, i + READ_BATCH);
      const pipeline = this.options.redis.pipeline();
      for (const part of COUNTERS) pipeline.hmget(this.key(start, part), ...slice);
      pipeline.zmscore(this.key(start, 'first'), ...slice);
      pipeline.zmscore(this.key(start, 'last'), ...slice);
      const replies = (await pipeline.exec()) ?? [];
      const column = (n: number): readonly (string | null)[] => {
        const [err, value] = replies[n] ?? [new Error('missing reply'), null];
        if (err) throw err;
        return value as (string | null)[];
      };
      const [requests, errors, denies, bytes, first, last] = [0, 1, 2, 3, 4, 5].map(column);
      slice.forEach((id, j) => {
        const count = requests?.[j];
        if (count === null || count === undefined) return;
        const at = (values: readonly (string | null)[] | undefined, fallback: number): number =>
          Number(values?.[j] ?? fallback);
        out.set(id, {
          requests: Number(count),
          errors: at(errors, 0),
          denies: at(denies, 0),
          bytes: at(bytes, 0),
          // Sorted sets that expired a moment before the hashes: the bucket's bounds.
          first: at(first, start),
          last: at(last, start + this.options.bucketMs - 1),
        });
      });
    }
    return out;
  }

  /**
   * Writes absolute values into one bucket, keeping per edge the larger of each counter (the
   * earlier first seen, the later last seen) between Redis and `edges`. Values only grow, so
   * snapshots applied in any order, any number of times, leave the latest. Keys that have no
   * expiry yet get `expireAt` (ms since the epoch).
   */
  async mergeMax(start: number, edges: ReadonlyMap<string, EdgeCounts>, expireAt: number): Promise<void> {
    if (edges.size === 0) return;
    const keys = [...COUNTERS, 'first', 'last'].map((part) => this.key(start, part));
    const args = [String(expireAt)];
    for (const [id, c] of edges)
      args.push(id, ...[c.requests, c.errors, c.denies, c.bytes, c.first, c.last].map(String));
    await this.options.redis.eval(MERGE_MAX, keys.length, ...keys, ...args);
  }

  async isComplete(): Promise<boolean> {
    return (await this.options.redis.exists(this.completeKey)) === 1;
  }

  /**
   * Sets the completeness marker if `owner` still holds the rebuild lock, atomically: Redis
   * flushed during the rebuild took the lock with the restored values, and must not be marked
   * whole. False when the lock was lost. `detail` says what the rebuild applied, for people.
   */
  async markComplete(owner: string, detail: Record<string, unknown>): Promise<boolean> {
    const value = JSON.stringify({ at: new Date().toISOString(), ...detail });
    return (
      (await this.options.redis.eval(MARK_COMPLETE, 2, this.lockKey, this.completeKey, owner, value)) === 1
    );
  }

  /** Takes the rebuild lock for `ttlMs` unless someone holds it; true when taken. */
  async claimRebuild(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.options.redis.set(this.lockKey, owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Extends the lock if `owner` still holds it; false when it was lost (expired, flushed). */
  async renewRebuild(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.options.redis.eval(RENEW, 1, this.lockKey, owner, String(ttlMs))) === 1;
  }

  async releaseRebuild(owner: string): Promise<void> {
    await this.options.redis.eval(RELEASE, 1, this.lockKey, owner);
  }

  /** Keeps the edges the bucket already has and as many new ones as fit; the rest overflow. */
  private async capped(
    start: number,
    edges: Map<string, EdgeCounts>,
    held: number,
    cap: number,
  ): Promise<Map<string, EdgeCounts>> {
    const ids = [...edges.keys()];
    const exists = (await this.options.redis.hmget(this.key(start, 'requests'), ...ids)).map(
      (v) => v !== null,
    );
    const out = new Map<string, EdgeCounts>();
    const add = (id: string, counts: EdgeCounts): void => {
      const before = out.get(id);
      out.set(id, before ? sum(before, counts) : counts);
    };
    let room = Math.max(0, cap - held);
    ids.forEach((id, i) => {
      const counts = edges.get(id) as EdgeCounts;
      const parts = parseEdgeId(id);
      // Known edges, overflow edges themselves (bounded by the node pairs) and what still fits.
      if (exists[i] || !parts || parts[3] === OVERFLOW_PREFIX) return add(id, counts);
      if (room > 0) {
        room--;
        return add(id, counts);
      }
      add(edgeId(parts[0], parts[1], parts[2], OVERFLOW_PREFIX), counts);
    });
    return out;
  }

  /** Bucket starts covering [since, until]. */
  bucketsIn(since: number, until: number): number[] {
    const step = this.options.bucketMs;
    const out: number[] = [];
    for (let t = Math.floor(since / step) * step; t <= until; t += step) out.push(t);
    return out;
  }

  /** Every edge seen in the buckets overlapping [since, until], summed across them. */
  async edges(since: number, until: number): Promise<Map<string, GraphEdge>> {
    const buckets = this.bucketsIn(since, until);
    const pipeline = this.options.redis.pipeline();
    for (const start of buckets) {
      for (const part of COUNTERS) pipeline.hgetall(this.key(start, part));
      pipeline.zrange(this.key(start, 'first'), '0', '-1', 'WITHSCORES');
      pipeline.zrange(this.key(start, 'last'), '0', '-1', 'WITHSCORES');
    }
    const replies = (await pipeline.exec()) ?? [];
    const edges = new Map<string, GraphEdge>();
    const per = COUNTERS.length + 2;
    buckets.forEach((_, b) => {
      const at = (i: number): unknown => {
        const [err, value] = replies[b * per + i] ?? [new Error('missing reply'), null];
        if (err) throw err;
        return value;
      };
      const requests = at(0) as Record<string, string>;
      for (const [id, count] of Object.entries(requests)) {
        const edge = edges.get(id) ?? newEdge(id);
        if (!edge) continue;
        edge.requests += Number(count);
        edges.set(id, edge);
      }
      COUNTERS.slice(1).forEach((part, i) => {
        for (const [id, count] of Object.entries(at(i + 1) as Record<string, string>)) {
          const edge = edges.get(id);
          if (edge) edge[part as Exclude<keyof EdgeCounts, 'first' | 'last' | 'requests'>] += Number(count);
        }
      });
      forPairs(at(per - 2) as string[], (id, score) => {
        const edge = edges.get(id);
        if (edge) edge.firstSeen = Math.min(edge.firstSeen, score);
      });
      forPairs(at(per - 1) as string[], (id, score) => {
        const edge = edges.get(id);
        if (edge) edge.lastSeen = Math.max(edge.lastSeen, score);
      });
    });
    return edges;
  }
}

function newEdge(id: string): GraphEdge | undefined {
  const parts = parseEdgeId(id);
  if (!parts) return undefined;
  const [source, destination, method, pathPrefix] = parts;
  return {
    source: parseNodeId(source),
    destination: parseNodeId(destination),
    method,
    pathPrefix,
    requests: 0,
    errors: 0,
    denies: 0,
    bytes: 0,
    firstSeen: Number.POSITIVE_INFINITY,
    lastSeen: Number.NEGATIVE_INFINITY,
  };
}

function sum(a: EdgeCounts, b: EdgeCounts): EdgeCounts {
  return {
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    denies: a.denies + b.denies,
    bytes: a.bytes + b.bytes,
    first: Math.min(a.first, b.first),
    last: Math.max(a.last, b.last),
  };
}

function forPairs(flat: readonly string[], each: (member: string, score: number) => void): void {
  for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i] ?? '', Number(flat[i + 1]));
}
