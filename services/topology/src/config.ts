import { redisAuthConfigShape, trustDomainSetting } from '@warden/runtime';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const SNAPSHOT_INTERVAL = 'milliseconds: 0 (no snapshots) or 100 to 86400000';

/**
 * The topology service's settings, beyond the base ones every service reads. Each is validated
 * at start; a bad value stops the service with the variable, the value and what was expected.
 */
export const topologyConfig = z.object({
  WARDEN_TRUST_DOMAIN: trustDomainSetting,
  WARDEN_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  ...redisAuthConfigShape,
  /** A YAML file of namespaces, services and workloads; unset: no static source. */
  WARDEN_TOPOLOGY_STATIC_FILE: z.string().min(1).optional(),
  WARDEN_TOPOLOGY_STATIC_MAX_BYTES: int(1, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** How often the static file is checked for changes, in ms; 0: loaded once. */
  WARDEN_TOPOLOGY_STATIC_POLL_MS: int(0, 3_600_000).default(2000),
  /** `off`, `in-cluster`, or the path of a kubeconfig file. */
  WARDEN_TOPOLOGY_KUBERNETES: z.string().min(1).default('off'),
  /** Heartbeat interval assumed for a registered workload until its first heartbeat says its own. */
  WARDEN_TOPOLOGY_HEARTBEAT_INTERVAL_MS: int(10, 3_600_000).default(10_000),
  /** Intervals without a heartbeat before a registered workload expires. */
  WARDEN_TOPOLOGY_HEARTBEAT_MISSED: int(1, 100).default(3),
  /** Registered workloads held at most (the `workload` credential is shared, so this bounds memory). */
  WARDEN_TOPOLOGY_MAX_REGISTRATIONS: int(1, 10_000_000).default(100_000),
  WARDEN_TOPOLOGY_EXPIRY_SWEEP_MS: int(10, 600_000).default(1000),
  /** Prefix of this instance's registration consumers; unique per instance (each replays them). */
  WARDEN_TOPOLOGY_CONSUMER_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ or -, at most 64')
    .default('topology'),
  /** Registry changes within this window go out as one warden.topology.v1.changed event. */
  WARDEN_TOPOLOGY_CHANGE_FLUSH_MS: int(0, 60_000).default(50),
  /** Width of a call-graph time bucket, in seconds (queries are aligned to it). */
  WARDEN_TOPOLOGY_GRAPH_BUCKET_SECONDS: int(1, 86_400).default(3600),
  WARDEN_TOPOLOGY_GRAPH_RETENTION_HOURS: int(1, 24 * 366).default(168),
  /** Path segments kept in an edge's path prefix. */
  WARDEN_TOPOLOGY_GRAPH_PATH_DEPTH: int(1, 16).default(2),
  /** Distinct edges per bucket; past it, new path prefixes are counted as `{overflow}`. */
  WARDEN_TOPOLOGY_GRAPH_MAX_EDGES_PER_BUCKET: int(100, 10_000_000).default(100_000),
  WARDEN_TOPOLOGY_GRAPH_MAX_QUERY_HOURS: int(1, 24 * 366).default(168),
  /**
   * How often the edges written since the last snapshot go out on the bus (warden.topology.v1.changed),
   * in ms; 0: never, and then Redis holds the only copy of the graph. Digits only: an empty value
   * must not turn snapshots off by coercing to 0.
   */
  WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS: z
    .string()
    .regex(/^\d{1,9}$/, SNAPSHOT_INTERVAL)
    .default('60000')
    .transform(Number)
    .refine((ms) => ms === 0 || (ms >= 100 && ms <= 86_400_000), SNAPSHOT_INTERVAL),
});

export type TopologyConfig = z.infer<typeof topologyConfig>;
