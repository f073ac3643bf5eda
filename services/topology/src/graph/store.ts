import type { Redis } from 'ioredis';
import { GraphIncompleteError } from '../errors.ts';
import type { EdgeCounts, FoldResult, GraphNode } from './fold.ts';
import { edgeId, edgeOf, parseEdgeId } from './fold.ts';

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
   * added meanwhile (rebuild.ts). Checked in the script that adds, so that no flush can come
   * between the check and the counts. The service sets it; a bare store (tests, benchmarks) need not.
   */
  requireComplete?: boolean;
  /** Told the edge ids each added batch wrote, per bucket, after the cap: what snapshots send. */
  onWritten?: (start: number, ids: Iterable<string>) => void;
};

export const OVERFLOW_PREFIX = '{overflow}';

const COUNTERS = ['requests', 'errors', 'denies', 'bytes'] as const;
const PARTS = [...COUNTERS, 'first', 'last'] as const;
/** Edges read per round trip when reading values back by id. */
const READ_BATCH = 2000;

/** What ADD_BATCH answers, first in its reply. */
const ADDED = 0;
const DUPLICATE = 1;
const INCOMPLETE = 2;
/** A bucket would pass its cap: nothing was written, send the batch again with overflow ids. */
const OVER_CAP = 3;

/**
 * One batch, all or nothing, in one command: the completeness marker, the event id and the cap
 * are checked in the same atomic step as the counts are added. Checked in a round trip of its
 * own, a flush between check and write would let counts land in a graph without its marker,
 * where the rebuild's maximum overwrites them while the event id makes the redelivery a no-op.
 *
 * KEYS: the completeness marker, the event's seen key, then per bucket its requests, errors,
 * denies, bytes hashes and first, last sorted sets. ARGV: '1' if the marker is required, the
 * expiry (s), the cap, '1' if overflow ids are given, then per bucket its edge count, and per
 * edge its id, requests, errors, denies, bytes, first, last and, if given, the id it is counted
 * under past the cap ('' for an edge never capped: an overflow edge itself, or not ours).
 * Replies ADDED followed by the 0-based positions in the batch of the edges counted under their
 * overflow id, or just DUPLICATE, INCOMPLETE or OVER_CAP.
 */
const ADD_BATCH = `
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return {${INCOMPLETE}} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {${DUPLICATE}} end
local cap, given = tonumber(ARGV[3]), ARGV[4] == '1'
local per = given and 8 or 7
local reply, under = {${ADDED}}, {}
-- Every bucket is placed before anything is written: a batch sent back leaves nothing behind.
local a, k, e = 5, 3, 0
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local room = cap - redis.call('HLEN', KEYS[k])
  if n > room then
    if not given then return {${OVER_CAP}} end
    for j = 0, n - 1 do
      local i = a + 1 + j * per
      if ARGV[i + 7] ~= '' and redis.call('HEXISTS', KEYS[k], ARGV[i]) == 0 then
        if room > 0 then
          room = room - 1
        else
          under[i] = ARGV[i + 7]
          reply[#reply + 1] = e + j
        end
      end
    end
  end
  a, k, e = a + 1 + n * per, k + 6, e + n
end
a, k = 5, 3
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  for i = a + 1, a + n * per, per do
    local id = under[i] or ARGV[i]
    redis.call('HINCRBY', KEYS[k], id, ARGV[i + 1])
    for c = 1, 3 do
      if ARGV[i + 1 + c] ~= '0' then redis.call('HINCRBY', KEYS[k + c], id, ARGV[i + 1 + c]) end
    end
    -- ZADD LT/GT (Redis >= 6.2): insert, or move only towards the earlier/later time.
    redis.call('ZADD', KEYS[k + 4], 'LT', ARGV[i + 5], id)
    redis.call('ZADD', KEYS[k + 5], 'GT', ARGV[i + 6], id)
  end
  for p = 0, 5 do redis.call('EXPIRE', KEYS[k + p], ARGV[2]) end
  a, k = a + 1 + n * per, k + 6
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
return reply
`;

type GraphRedis = Redis & {
  // Arrays (ioredis flattens them): spread, a batch of up to 10 000 edges is 70 000 arguments.
  wardenTopologyAddBatch(
    numberOfKeys: number,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown>;
};

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
 * The call graph in Redis (ARCHITECTURE §2: hot, shared, expiring state). Per time bucket there is one
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
  private readonly redis: GraphRedis;

  constructor(options: GraphStoreOptions) {
    this.options = options;
    this.prefix = `${options.prefix ?? 'warden:topology:graph'}:${options.bucketMs / 1000}`;
    // ioredis sends EVALSHA and falls back to EVAL once when the server does not know it yet.
    options.redis.defineCommand('wardenTopologyAddBatch', { lua: ADD_BATCH });
    this.redis = options.redis as GraphRedis;
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
   * Adds one folded batch, once: the event id is recorded in the same script as the counts, and
   * a redelivered event whose id is already there is skipped, so a retry after a lost ack does
   * not count twice. Returns false for such a duplicate. One round trip, unless a bucket is at
   * its cap: then a second, with the id each edge would overflow to (bytes the hot path skips).
   */
  async add(eventId: string, result: FoldResult): Promise<boolean> {
    const buckets = [...result.buckets];
    let reply = await this.addBatch(eventId, buckets, false);
    if (reply[0] === OVER_CAP) reply = await this.addBatch(eventId, buckets, true);
    const [status, ...overflowed] = reply;
    if (status === INCOMPLETE) throw new GraphIncompleteError();
    if (status === DUPLICATE) return false;
    if (status !== ADDED) throw new Error(`unexpected reply from the graph's add script: ${status}`);
    const { onWritten } = this.options;
    if (!onWritten) return true;
    const under = new Set(overflowed);
    let position = 0;
    for (const [start, edges] of buckets) {
      if (under.size === 0) onWritten(start, edges.keys());
      else
        onWritten(
          start,
          [...edges.keys()].map((id) => (under.has(position++) && overflowId(id)) || id),
        );
    }
    return true;
  }

  private async addBatch(
    eventId: string,
    buckets: readonly [number, ReadonlyMap<string, EdgeCounts>][],
    withOverflow: boolean,
  ): Promise<number[]> {
    const { bucketMs, retentionMs } = this.options;
    const keys = [this.completeKey, `${this.prefix}:seen:${eventId}`];
    const args: (string | number)[] = [
      this.options.requireComplete ? '1' : '0',
      Math.ceil((retentionMs + bucketMs) / 1000),
      this.options.maxEdgesPerBucket ?? 100_000,
      withOverflow ? '1' : '0',
    ];
    for (const [start, edges] of buckets) {
      for (const part of PARTS) keys.push(this.key(start, part));
      args.push(edges.size);
      for (const [id, c] of edges) {
        args.push(id, c.requests, c.errors, c.denies, c.bytes, c.first, c.last);
        if (withOverflow) args.push(overflowId(id) ?? '');
      }
    }
    const reply = await this.redis.wardenTopologyAddBatch(keys.length, keys, args);
    if (!Array.isArray(reply) || !reply.every((v) => typeof v === 'number'))
      throw new Error("unexpected reply from the graph's add script");
    return reply;
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
    const keys = PARTS.map((part) => this.key(start, part));
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
  const edge = edgeOf(id);
  if (!edge) return undefined;
  return {
    ...edge,
    requests: 0,
    errors: 0,
    denies: 0,
    bytes: 0,
    firstSeen: Number.POSITIVE_INFINITY,
    lastSeen: Number.NEGATIVE_INFINITY,
  };
}

/** The id an edge is counted under past its bucket's cap; undefined for one never capped. */
function overflowId(id: string): string | undefined {
  const parts = parseEdgeId(id);
  if (!parts || parts[3] === OVERFLOW_PREFIX) return undefined;
  return edgeId(parts[0], parts[1], parts[2], OVERFLOW_PREFIX);
}

function forPairs(flat: readonly string[], each: (member: string, score: number) => void): void {
  for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i] ?? '', Number(flat[i + 1]));
}
