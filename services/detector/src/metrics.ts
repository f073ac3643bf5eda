import { Counter, Gauge, Registry } from 'prom-client';

export type DetectorMetrics = ReturnType<typeof createDetectorMetrics>;

/** The detector's own metrics, registered in the service's registry. */
export function createDetectorMetrics(registry: Registry = new Registry()) {
  const registers = [registry];
  return {
    notifications: new Counter({
      name: 'warden_detector_notifications_total',
      help: 'Alertmanager v2 notifications received, by outcome (ok, unauthorized, too_large, invalid, publish_failed).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    alerts: new Counter({
      name: 'warden_detector_alerts_total',
      help: 'Alert events published, by status (firing, resolved), severity and rule.',
      labelNames: ['status', 'severity', 'rule'] as const,
      registers,
    }),
    evidenceLookups: new Counter({
      name: 'warden_detector_evidence_lookups_total',
      help: "Look-backs into WARDEN_TELEMETRY for a new alert's sample records, by outcome (found, none, timeout, failed, skipped: the batch's budget was spent).",
      labelNames: ['outcome'] as const,
      registers,
    }),
    firing: new Gauge({
      name: 'warden_detector_firing_alerts',
      help: 'Alerts firing now, as the detector tracks them.',
      registers,
    }),
    feedEntries: new Gauge({
      name: 'warden_detector_feed_entries',
      help: 'Entries (addresses, blocks, SPIFFE IDs) loaded from each threat-intelligence feed.',
      labelNames: ['feed'] as const,
      registers,
    }),
    feedIssues: new Gauge({
      name: 'warden_detector_feed_malformed_lines',
      help: 'Malformed lines skipped in the last load of each feed.',
      labelNames: ['feed'] as const,
      registers,
    }),
    feedLoads: new Counter({
      name: 'warden_detector_feed_loads_total',
      help: 'Feed loads, by feed and outcome (ok, failed: the previous entries stay in force).',
      labelNames: ['feed', 'outcome'] as const,
      registers,
    }),
    threatMatches: new Counter({
      name: 'warden_detector_threat_matches_total',
      help: 'Access records whose source a feed lists, by feed.',
      labelNames: ['feed'] as const,
      registers,
    }),
    featureWindows: new Counter({
      name: 'warden_detector_feature_windows_total',
      help: 'Workload feature windows read from warden.telemetry.v1.features, by window length.',
      labelNames: ['window'] as const,
      registers,
    }),
    ruleHits: new Counter({
      name: 'warden_detector_rule_hits_total',
      help: 'Windows on which a streaming rule fired, by rule (an alert is announced once per episode).',
      labelNames: ['rule'] as const,
      registers,
    }),
    baselineScores: new Counter({
      name: 'warden_detector_baseline_scores_total',
      help: 'Windows the behaviour baseline scored.',
      registers,
    }),
    model: new Gauge({
      name: 'warden_detector_model_info',
      help: 'The behaviour model in force: 1 for its version, absent while none is approved.',
      labelNames: ['version'] as const,
      registers,
    }),
    modelLoads: new Counter({
      name: 'warden_detector_model_loads_total',
      help: 'Approved behaviour model versions loaded, by outcome (loaded, failed: the one in force stays).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    expired: new Counter({
      name: 'warden_detector_expired_alerts_total',
      help: 'Firing alerts resolved because their evaluator stopped refreshing them.',
      registers,
    }),
    standbyChanges: new Counter({
      name: 'warden_detector_standby_changes_total',
      help: 'Alert changes a standby replica held back, by outcome: announced_by_holder (seen from the lease holder in time), announced_late (the standby announced it).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    leaseHeld: new Gauge({
      name: 'warden_detector_lease_held',
      help: '1 while this replica holds the lease and announces the alerts every replica computes.',
      registers,
    }),
  };
}
