import { readFileSync } from 'node:fs';
import type { Bus } from '@warden/events';
import { AlertTracker } from '@warden/telemetry';
import type { Registry as MetricsRegistry } from 'prom-client';
import { AlertPublisher } from './alerts.ts';
import type { DetectorConfig } from './config.ts';
import { createDetectorMetrics } from './metrics.ts';
import type { Receiver } from './receiver.ts';
import { startReceiver } from './receiver.ts';

type Log = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export type DetectorDeps = { bus: Bus; log: Log; metricsRegistry: MetricsRegistry; config: DetectorConfig };

export type RunningDetector = { readonly receiverPort: number; stop(): Promise<void> };

/**
 * Wires the detector's query-rule path: vmalert evaluates the Prometheus rule files against
 * VictoriaMetrics and notifies this receiver; each change becomes an alert event. The alert
 * stream is read back first, so a restart does not announce firing alerts again.
 */
export async function startDetector(deps: DetectorDeps): Promise<RunningDetector> {
  const { bus, log, config } = deps;
  const metrics = createDetectorMetrics(deps.metricsRegistry);
  const tracker = new AlertTracker();
  const publisher = new AlertPublisher({ bus, tracker, metrics });
  const token = config.WARDEN_DETECTOR_RECEIVER_TOKEN_FILE
    ? readFileSync(config.WARDEN_DETECTOR_RECEIVER_TOKEN_FILE, 'utf8').trim()
    : undefined;
  const known = await publisher.rebuild(Date.now());
  log.info({ alerts: known, firing: tracker.firingCount }, 'alert history read back');
  let receiver: Receiver | undefined;
  let expiring = false;
  const timer = setInterval(() => {
    if (expiring) return;
    expiring = true;
    publisher
      .expire()
      .catch((err: unknown) => log.error({ err }, 'publishing expired alerts failed; retried next tick'))
      .finally(() => {
        expiring = false;
      });
  }, config.WARDEN_DETECTOR_EXPIRY_INTERVAL_MS);
  try {
    receiver = await startReceiver({
      host: config.WARDEN_DETECTOR_RECEIVER_HOST,
      port: config.WARDEN_DETECTOR_RECEIVER_PORT,
      maxBytes: config.WARDEN_DETECTOR_RECEIVER_MAX_BYTES,
      token,
      metrics,
      log,
      handle: (alerts) => publisher.receive(alerts),
    });
  } catch (err) {
    clearInterval(timer);
    throw err;
  }
  log.info(
    { receiver: `http://${config.WARDEN_DETECTOR_RECEIVER_HOST}:${receiver.port}/api/v2/alerts` },
    'alert receiver listening',
  );
  const running = receiver;
  return {
    receiverPort: running.port,
    stop: async () => {
      clearInterval(timer);
      await running.close();
    },
  };
}
