import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The topology service's own metrics, registered in the service's registry. */
export type TopologyMetrics = ReturnType<typeof createTopologyMetrics>;

export function createTopologyMetrics(registry: Registry = new Registry()) {
  const registers = [registry];
  return {
    entities: new Gauge({
      name: 'warden_topology_entities',
      help: 'Entities in the merged registry, by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
    changes: new Counter({
      name: 'warden_topology_changes_total',
      help: 'Changes to the merged registry, by kind and op.',
      labelNames: ['kind', 'op'] as const,
      registers,
    }),
    conflicts: new Counter({
      name: 'warden_topology_conflicts_total',
      help: 'Keys described differently by two sources, by kind, winning and overridden source.',
      labelNames: ['kind', 'winner', 'overridden'] as const,
      registers,
    }),
    activeConflicts: new Gauge({
      name: 'warden_topology_active_conflicts',
      help: 'Keys currently described differently by two or more sources.',
      registers,
    }),
    rejected: new Counter({
      name: 'warden_topology_rejected_inputs_total',
      help: 'Inputs refused or skipped (malformed registration, Kubernetes object missing fields, bad static file), by source and reason.',
      labelNames: ['source', 'reason'] as const,
      registers,
    }),
    expired: new Counter({
      name: 'warden_topology_expired_total',
      help: 'Registered workloads removed because their heartbeats stopped.',
      registers,
    }),
    watchRestarts: new Counter({
      name: 'warden_topology_kubernetes_watch_restarts_total',
      help: 'Kubernetes watches restarted, by resource and how (resume from the last resource version, or relist).',
      labelNames: ['resource', 'mode'] as const,
      registers,
    }),
    changeEvents: new Counter({
      name: 'warden_topology_change_events_total',
      help: 'warden.topology.v1.changed events, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    graphRecords: new Counter({
      name: 'warden_topology_graph_records_total',
      help: 'Access records seen by the call graph, by outcome (folded, rejected reason).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    graphFoldSeconds: new Histogram({
      name: 'warden_topology_graph_fold_seconds',
      help: 'Time to fold one telemetry batch into the Redis graph.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    graphSnapshots: new Counter({
      name: 'warden_topology_graph_snapshots_total',
      help: 'Graph snapshots taken (every edge touched since the previous one, onto the bus), by outcome: published, or failed (the edges of a failed bucket go with the next one).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    graphSnapshotMessages: new Counter({
      name: 'warden_topology_graph_snapshot_messages_total',
      help: 'warden.topology.v1.changed messages carrying a graph snapshot part, by outcome (published, invalid: dropped).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    graphSnapshotEdges: new Histogram({
      name: 'warden_topology_graph_snapshot_edges',
      help: 'Edges published per graph snapshot.',
      buckets: [1, 10, 100, 1000, 10_000, 100_000, 1_000_000],
      registers,
    }),
    graphSnapshotSeconds: new Histogram({
      name: 'warden_topology_graph_snapshot_seconds',
      help: 'Time to read back and publish one graph snapshot.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
    graphRebuilds: new Counter({
      name: 'warden_topology_graph_rebuilds_total',
      help: 'Rebuilds of the Redis graph from the snapshots on WARDEN_TOPOLOGY, by outcome (completed, failed).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    queries: new Counter({
      name: 'warden_topology_queries_total',
      help: 'Queries answered, by what and outcome.',
      labelNames: ['what', 'outcome'] as const,
      registers,
    }),
  };
}
