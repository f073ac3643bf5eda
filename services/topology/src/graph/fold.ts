import type { DataOf, telemetryAccess } from '@warden/events';
import type { Workload } from '../registry/model.ts';
import { normaliseMethod, pathPrefix } from './path.ts';

export type AccessRecord = DataOf<typeof telemetryAccess>['records'][number];
type Endpoint = AccessRecord['source'];

/** One end of an edge: a workload by name when it is known, else the bare address. */
export type GraphNode = { namespace?: string; workload?: string; address?: string };

export type EdgeCounts = {
  requests: number;
  errors: number;
  denies: number;
  bytes: number;
  first: number;
  last: number;
};

/** Per time bucket (start, ms since the epoch), per edge id, the counts to add. */
export type FoldResult = {
  buckets: Map<number, Map<string, EdgeCounts>>;
  folded: number;
  rejected: Map<string, number>;
};

export type FoldOptions = {
  bucketMs: number;
  pathDepth: number;
  now: number;
  /** Records older than this (the graph's retention) are dropped; newer than now + skew too. */
  maxAgeMs: number;
  maxSkewMs: number;
  /** Names an end that carries only an address (or a SPIFFE ID the registry knows). */
  workloadAt(address: string): Workload | undefined;
};

/** The id of a node inside an edge id: `ns/workload`, `@address`, or `?` when nothing is known. */
export function nodeId(node: GraphNode): string {
  if (node.namespace && node.workload) return `${node.namespace}/${node.workload}`;
  if (node.address) return `@${node.address}`;
  return '?';
}

export function parseNodeId(id: string): GraphNode {
  if (id.startsWith('@')) return { address: id.slice(1) };
  const slash = id.indexOf('/');
  if (slash > 0) return { namespace: id.slice(0, slash), workload: id.slice(slash + 1) };
  return {};
}

/** An edge id is the JSON array [source, destination, method, pathPrefix]: unambiguous, and short. */
export const edgeId = (source: string, destination: string, method: string, prefix: string): string =>
  JSON.stringify([source, destination, method, prefix]);

export function parseEdgeId(id: string): [string, string, string, string] | undefined {
  try {
    const value: unknown = JSON.parse(id);
    if (Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === 'string'))
      return value as [string, string, string, string];
  } catch {
    // Not an edge field written by this service; the caller skips it.
  }
  return undefined;
}

/** What an edge id names, its ends as nodes; undefined for a field not written by this service. */
export function edgeOf(
  id: string,
): { source: GraphNode; destination: GraphNode; method: string; pathPrefix: string } | undefined {
  const parts = parseEdgeId(id);
  if (!parts) return undefined;
  const [source, destination, method, pathPrefix] = parts;
  return { source: parseNodeId(source), destination: parseNodeId(destination), method, pathPrefix };
}

function resolve(end: Endpoint, workloadAt: FoldOptions['workloadAt']): GraphNode {
  if (end.namespace && end.workload) return { namespace: end.namespace, workload: end.workload };
  const known = end.address ? workloadAt(end.address.replace(/:\d+$/, '')) : undefined;
  if (known) return { namespace: known.namespace, workload: known.name };
  return end.address ? { address: end.address } : {};
}

/**
 * Folds a batch of access records into per-bucket, per-edge counts in memory, so one batch of
 * thousands of records becomes one Redis round trip with one increment per edge, not per record.
 * An error is a status >= 500; a deny is a `deny` decision.
 */
export function fold(records: readonly AccessRecord[], options: FoldOptions): FoldResult {
  const buckets = new Map<number, Map<string, EdgeCounts>>();
  const rejected = new Map<string, number>();
  let folded = 0;
  const reject = (reason: string): void => void rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
  for (const record of records) {
    const time = Date.parse(record.time);
    if (!Number.isFinite(time)) {
      reject('bad_time');
      continue;
    }
    if (time > options.now + options.maxSkewMs) {
      reject('future');
      continue;
    }
    if (time < options.now - options.maxAgeMs) {
      reject('too_old');
      continue;
    }
    const source = nodeId(resolve(record.source, options.workloadAt));
    const destination = nodeId(resolve(record.destination, options.workloadAt));
    const id = edgeId(
      source,
      destination,
      normaliseMethod(record.method, record.protocol),
      pathPrefix(record.path, record.protocol, options.pathDepth),
    );
    const start = Math.floor(time / options.bucketMs) * options.bucketMs;
    let edges = buckets.get(start);
    if (!edges) buckets.set(start, (edges = new Map()));
    let counts = edges.get(id);
    if (!counts)
      edges.set(id, (counts = { requests: 0, errors: 0, denies: 0, bytes: 0, first: time, last: time }));
    counts.requests++;
    if ((record.status ?? 0) >= 500) counts.errors++;
    if (record.decision === 'deny') counts.denies++;
    counts.bytes += (record.bytesSent ?? 0) + (record.bytesReceived ?? 0);
    if (time < counts.first) counts.first = time;
    if (time > counts.last) counts.last = time;
    folded++;
  }
  return { buckets, folded, rejected };
}
