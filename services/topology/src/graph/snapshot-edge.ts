import type { DataOf, topologyChanged } from '@warden/events';
import type { EdgeCounts } from './fold.ts';
import { edgeId, edgeOf, nodeId } from './fold.ts';

/** One part of a bucket's snapshot, as `warden.topology.v1.changed` carries it. */
export type GraphSnapshot = Extract<DataOf<typeof topologyChanged>, { graph: unknown }>['graph'];
export type SnapshotEdge = GraphSnapshot['edges'][number];

/** An edge as Redis keeps it (id and values) in its wire form; undefined for a field not ours. */
export function toSnapshotEdge(id: string, counts: EdgeCounts): SnapshotEdge | undefined {
  const edge = edgeOf(id);
  if (!edge) return undefined;
  return {
    ...edge,
    requests: counts.requests,
    errors: counts.errors,
    denies: counts.denies,
    bytes: counts.bytes,
    firstSeen: new Date(counts.first).toISOString(),
    lastSeen: new Date(counts.last).toISOString(),
  };
}

/** The inverse: the edge id and values to write back into Redis. */
export function fromSnapshotEdge(edge: SnapshotEdge): [string, EdgeCounts] {
  return [
    edgeId(nodeId(edge.source), nodeId(edge.destination), edge.method, edge.pathPrefix),
    {
      requests: edge.requests,
      errors: edge.errors,
      denies: edge.denies,
      bytes: edge.bytes,
      first: Date.parse(edge.firstSeen),
      last: Date.parse(edge.lastSeen),
    },
  ];
}
