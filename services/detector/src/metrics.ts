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
    firing: new Gauge({
      name: 'warden_detector_firing_alerts',
      help: 'Alerts firing now, as the detector tracks them.',
      registers,
    }),
    expired: new Counter({
      name: 'warden_detector_expired_alerts_total',
      help: 'Firing alerts resolved because their evaluator stopped refreshing them.',
      registers,
    }),
  };
}
