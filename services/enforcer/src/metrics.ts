import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export function createEnforcerMetrics(registry: Registry) {
  return {
    decisions: new Counter({
      name: 'warden_enforcer_decisions_total',
      help: 'ext_authz answers by result and reason',
      labelNames: ['result', 'reason'] as const,
      registers: [registry],
    }),
    feedEntries: new Gauge({
      name: 'warden_enforcer_feed_entries',
      help: 'Entries (blocks and SPIFFE IDs) of each threat-intelligence feed the decision point denies',
      labelNames: ['feed'] as const,
      registers: [registry],
    }),
    feedIssues: new Gauge({
      name: 'warden_enforcer_feed_malformed_lines',
      help: 'Malformed lines skipped in the last load of each feed',
      labelNames: ['feed'] as const,
      registers: [registry],
    }),
    feedLoads: new Counter({
      name: 'warden_enforcer_feed_loads_total',
      help: 'Feed loads, by feed and outcome (ok, failed: the previous entries stay in force)',
      labelNames: ['feed', 'outcome'] as const,
      registers: [registry],
    }),
    checkSeconds: new Histogram({
      name: 'warden_enforcer_check_seconds',
      help: 'time to answer one ext_authz Check, translation and decision included',
      buckets: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05],
      registers: [registry],
    }),
    recordsPublished: new Counter({
      name: 'warden_enforcer_decision_records_published_total',
      help: 'decision records published on warden.telemetry.v1.decision',
      registers: [registry],
    }),
    recordsDropped: new Counter({
      name: 'warden_enforcer_decision_records_dropped_total',
      help: 'decision records dropped: buffer full or the bus refused them',
      registers: [registry],
    }),
    adsPushes: new Counter({
      name: 'warden_enforcer_ads_pushes_total',
      help: 'ADS responses pushed to data planes after a change',
      registers: [registry],
    }),
    adsNacks: new Counter({
      name: 'warden_enforcer_ads_nacks_total',
      help: 'configurations rejected by a data plane, by resource type',
      labelNames: ['type_url'] as const,
      registers: [registry],
    }),
    adsStreams: new Gauge({
      name: 'warden_enforcer_ads_streams',
      help: 'connected ADS streams',
      registers: [registry],
    }),
    haproxyCalls: new Counter({
      name: 'warden_enforcer_haproxy_runtime_calls_total',
      help: 'HAProxy runtime API calls by command and outcome',
      labelNames: ['command', 'outcome'] as const,
      registers: [registry],
    }),
    xdsBuildSeconds: new Histogram({
      name: 'warden_enforcer_xds_build_seconds',
      help: 'time to build the xDS snapshot for the whole mesh',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
}
