import { readFileSync } from 'node:fs';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Bus, BusLogger, RunningConsumer } from '@warden/events';
import { StreamingRules } from '@warden/anomaly';
import {
  alert,
  BucketName,
  DETECTOR_LEASE_TTL_MS,
  Lease,
  telemetryAccess,
  telemetryFeatures,
} from '@warden/events';
import { ModelStore } from '@warden/model-store';
import { ConfigError } from '@warden/runtime';
import type { AlertChange } from '@warden/telemetry';
import { AlertTracker, FeedSet, feedSpecs } from '@warden/telemetry';
import type { Registry as MetricsRegistry } from 'prom-client';
import { AlertPublisher } from './alerts.ts';
import type { DetectorConfig } from './config.ts';
import { receiverProblems } from './config.ts';
import { createDetectorMetrics } from './metrics.ts';
import { ModelFollower } from './models.ts';
import type { Receiver } from './receiver.ts';
import { startReceiver } from './receiver.ts';
import { SampleLookback } from './samples.ts';
import { StreamingDetector } from './streaming.ts';
import { ThreatAlerts } from './threats.ts';

export type DetectorDeps = {
  bus: Bus;
  /** For the model store (an object store the detector owns). */
  nc: NatsConnection;
  log: BusLogger;
  metricsRegistry: MetricsRegistry;
  config: DetectorConfig;
};

export type RunningDetector = { readonly receiverPort: number; stop(): Promise<void> };

/**
 * Wires the detector: vmalert evaluates the Prometheus rule files against VictoriaMetrics and
 * notifies this receiver; the streaming rules and the behaviour baseline read the feature stream;
 * threat feeds check access records. Every path's alerts go through one tracker, so each is
 * announced once and resolved once. The alert stream is read back first, so a restart does not
 * announce firing alerts again.
 */
export async function startDetector(deps: DetectorDeps): Promise<RunningDetector> {
  const { bus, log, config } = deps;
  const exposed = receiverProblems(config);
  if (exposed.length > 0) throw new ConfigError('detector', exposed);
  const metrics = createDetectorMetrics(deps.metricsRegistry);
  const tracker = new AlertTracker();
  const lease = await Lease.open(deps.nc, {
    bucket: BucketName.detectorLease,
    key: 'announcer',
    holder: bus.source,
    ttlMs: DETECTOR_LEASE_TTL_MS,
    log,
    onChange: (held) => {
      metrics.leaseHeld.set(held ? 1 : 0);
      log.info({ held }, held ? 'announcing alerts (lease held)' : 'standing by (lease held elsewhere)');
    },
  });
  const publisher = new AlertPublisher({
    bus,
    tracker,
    metrics,
    lookback: new SampleLookback({ bus, metrics }),
    leadership: lease,
    standbyDelayMs: config.WARDEN_DETECTOR_STANDBY_DELAY_MS,
  });
  const token = config.WARDEN_DETECTOR_RECEIVER_TOKEN_FILE
    ? readFileSync(config.WARDEN_DETECTOR_RECEIVER_TOKEN_FILE, 'utf8').trim()
    : undefined;
  const known = await publisher.rebuild(Date.now());
  log.info({ alerts: known, firing: tracker.firingCount }, 'alert history read back');
  const specs = feedSpecs(config.WARDEN_DETECTOR_FEEDS);
  const feeds = new FeedSet({
    specs,
    maxBytes: config.WARDEN_DETECTOR_FEED_MAX_BYTES,
    metrics: {
      loaded: (feed, outcome) => metrics.feedLoads.inc({ feed, outcome }),
      entries: (feed, entries, malformed) => {
        metrics.feedEntries.set({ feed }, entries);
        metrics.feedIssues.set({ feed }, malformed);
      },
    },
    log,
  });
  const threats = new ThreatAlerts(config.WARDEN_DETECTOR_THREAT_QUIET_MS);
  let threatConsumer: RunningConsumer | undefined;
  if (specs.length > 0) {
    await feeds.load();
    feeds.start(config.WARDEN_DETECTOR_FEED_REFRESH_MS);
    // New records only: a feed speaks about the present.
    threatConsumer = await bus.consume(
      telemetryAccess,
      async (event) => {
        const changes: AlertChange[] = [];
        const now = Date.now();
        for (const record of event.data.records) {
          const seen = threats.observe(record, feeds.index, now);
          for (const match of seen.matches) metrics.threatMatches.inc({ feed: match.feed });
          changes.push(...seen.changes);
        }
        try {
          await publisher.publish(changes);
        } catch (err) {
          threats.forget(changes);
          throw err;
        }
      },
      { durable: 'detector-threat-intel', deliver: 'new' },
    );
  }
  let models: ModelFollower | undefined;
  let featureSubscription: Subscription | undefined;
  const streaming = new StreamingDetector({
    rules: new StreamingRules({
      baseline: config.WARDEN_DETECTOR_RULES_BASELINE_WINDOWS,
      warmup: config.WARDEN_DETECTOR_RULES_WARMUP_WINDOWS,
    }),
    model: () => models?.active,
    quietMs: config.WARDEN_DETECTOR_STREAM_QUIET_MS,
    alertScore: config.WARDEN_DETECTOR_ALERT_SCORE,
  });
  let receiver: Receiver | undefined;
  let expiring = false;
  const timer = setInterval(() => {
    if (expiring) return;
    expiring = true;
    publisher
      .expire()
      .then(() => publisher.publish(threats.sweep(Date.now())))
      .then(() => publisher.flushDeferred())
      .then(() => streaming.sweep(Date.now()))
      .catch((err: unknown) => log.error({ err }, 'publishing expired alerts failed; retried next tick'))
      .finally(() => {
        expiring = false;
      });
  }, config.WARDEN_DETECTOR_EXPIRY_INTERVAL_MS);
  let announced: Subscription | undefined;
  try {
    // What anyone announces, seen live: a standby drops what the holder already announced.
    announced = bus.subscribe(alert, (event) => publisher.observed(event.id));
    await lease.start();
    models = new ModelFollower({
      store: await ModelStore.open(deps.nc),
      log,
      gauge: metrics.model,
      loads: metrics.modelLoads,
    });
    await models.start();
    // Every replica reads every window, live: a workload's baselines, its model history and its
    // episodes need all of its windows in order (a durable shared by replicas split them, breaking
    // the model's sequences and raising one episode twice). Replicas judging alike announce
    // alike, and an alert's event id makes JetStream store it once. The rules' baselines warm
    // up on the present, not on a day of history replayed at start.
    featureSubscription = bus.subscribe(telemetryFeatures, async (event, subject) => {
      const [namespace = 'unknown', workload = 'unknown'] = subject.split('.').slice(4);
      const observed = streaming.observe({ namespace, workload }, event.data, Date.now());
      if (event.data.scope !== 'edge')
        metrics.featureWindows.inc({ window: `${event.data.windowSeconds ?? 0}s` });
      for (const hit of observed.hits) metrics.ruleHits.inc({ rule: hit.rule });
      metrics.baselineScores.inc(observed.scored);
      await publisher.receive(observed.alerts);
    });
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
    feeds.stop();
    await threatConsumer?.stop();
    featureSubscription?.unsubscribe();
    announced?.unsubscribe();
    await lease.stop();
    await models?.stop();
    throw err;
  }
  log.info(
    { receiver: `http://${config.WARDEN_DETECTOR_RECEIVER_HOST}:${receiver.port}/api/v2/alerts` },
    'alert receiver listening',
  );
  const running = receiver;
  const follower = models;
  const features = featureSubscription;
  const watching = announced;
  return {
    receiverPort: running.port,
    stop: async () => {
      clearInterval(timer);
      feeds.stop();
      await threatConsumer?.stop();
      features.unsubscribe();
      watching.unsubscribe();
      await lease.stop();
      await follower.stop();
      await running.close();
    },
  };
}
